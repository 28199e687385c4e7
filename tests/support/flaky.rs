//! A key-value backend that fails writes on demand, to test storage failures during saves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use efalia_host::kv::{BackendError, KvBackend};

/// Wraps a backend; while `failing_writes` is above zero, each write fails and decrements it.
pub struct FlakyBackend {
    inner: Arc<dyn KvBackend>,
    failing_writes: AtomicUsize,
}

impl FlakyBackend {
    pub fn new(inner: Arc<dyn KvBackend>) -> Arc<Self> {
        Arc::new(Self { inner, failing_writes: AtomicUsize::new(0) })
    }

    /// Makes the next `count` writes fail.
    pub fn fail_next_writes(&self, count: usize) {
        self.failing_writes.store(count, Ordering::SeqCst);
    }

    fn write_allowed(&self) -> Result<(), BackendError> {
        let failed = self
            .failing_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
            .is_ok();
        if failed { Err(BackendError::Backend(anyhow::anyhow!("injected write failure"))) } else { Ok(()) }
    }
}

#[async_trait]
impl KvBackend for FlakyBackend {
    async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        self.inner.get(store, key).await
    }

    async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.write_allowed()?;
        self.inner.set(store, key, value).await
    }

    async fn delete(&self, store: &str, key: &str) -> Result<(), BackendError> {
        self.inner.delete(store, key).await
    }

    async fn exists(&self, store: &str, key: &str) -> Result<bool, BackendError> {
        self.inner.exists(store, key).await
    }

    async fn list_keys(&self, store: &str) -> Result<Vec<String>, BackendError> {
        self.inner.list_keys(store).await
    }

    async fn get_many(&self, store: &str, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>, BackendError> {
        self.inner.get_many(store, keys).await
    }

    async fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> Result<(), BackendError> {
        self.write_allowed()?;
        self.inner.set_many(store, entries).await
    }

    async fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), BackendError> {
        self.inner.delete_many(store, keys).await
    }

    async fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, BackendError> {
        self.write_allowed()?;
        self.inner.increment(store, key, delta).await
    }

    async fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<Option<Option<Vec<u8>>>, BackendError> {
        self.write_allowed()?;
        self.inner.compare_and_swap(store, key, expected, new).await
    }

    fn summary(&self) -> String {
        format!("flaky {}", self.inner.summary())
    }
}
