//! Key-value storage behind `wasi:keyvalue/{store,batch,atomics}@0.2.0-draft2`.
//!
//! [`KvBackend`] is the seam between the WIT host implementation (`host.rs`) and a concrete store:
//! [`SqliteBackend`] (one file, Spin's `spin_key_value(store, key, value)` table) or [`RedisBackend`]
//! (a shared server). Every method takes the store label, so one backend serves every label.

mod host;
mod redis;
mod sqlite;

pub use self::host::{Bucket, Cas, DEFAULT_LABEL, KvAccess, KvView};
pub use self::redis::RedisBackend;
pub use self::sqlite::{SqliteBackend, SqliteLocation};

use async_trait::async_trait;

/// Failure of a backend operation.
///
/// The detail stays in the host log, and the guest gets only a short fixed text (see `host.rs`).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The value at a counter key is not a counter in this backend's encoding.
    #[error("value at key is not a counter")]
    NotACounter,
    /// Adding the delta overflows a signed 64-bit counter.
    #[error("counter overflow")]
    Overflow,
    /// The backend itself failed (I/O, connection, SQL, protocol).
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

/// A key-value store shared by every request of the host.
///
/// Implementations must be safe to call from many requests at once, keep blocking work off the
/// async workers, and make [`KvBackend::compare_and_swap`] and [`KvBackend::increment`] atomic
/// against every other writer of the same store, including other host processes.
#[async_trait]
pub trait KvBackend: Send + Sync + 'static {
    /// Returns the value of `key` in `store`, or `None` when the key does not exist.
    async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError>;

    /// Sets `key` to `value`, replacing any previous value.
    async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), BackendError>;

    /// Deletes `key`; succeeds when it does not exist.
    async fn delete(&self, store: &str, key: &str) -> Result<(), BackendError>;

    /// Returns whether `key` exists.
    async fn exists(&self, store: &str, key: &str) -> Result<bool, BackendError>;

    /// Returns every key of `store`, in no particular order.
    async fn list_keys(&self, store: &str) -> Result<Vec<String>, BackendError>;

    /// Returns each key with its value, in the order of `keys`.
    async fn get_many(
        &self,
        store: &str,
        keys: &[String],
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, BackendError>;

    /// Sets every pair; not atomic as a whole.
    async fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> Result<(), BackendError>;

    /// Deletes every key, skipping missing ones; not atomic as a whole.
    async fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), BackendError>;

    /// Adds `delta` to the counter at `key`, creating it with `delta` when absent, and returns
    /// the new value.
    ///
    /// # Errors
    /// [`BackendError::NotACounter`] when the key contains a value that is not a counter, and
    /// [`BackendError::Overflow`] when the sum does not fit in an `i64`.
    async fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, BackendError>;

    /// Atomically writes `new` at `key` if the key still contains `expected` (`None`: the key must
    /// not exist). Returns `Ok(None)` on success, or `Ok(Some(current))` with the value found
    /// (`current` is `None` when the key does not exist) when the comparison fails.
    async fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<Option<Option<Vec<u8>>>, BackendError>;

    /// Describes the backend for logs, without credentials.
    fn summary(&self) -> String;
}
