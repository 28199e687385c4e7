//! The key-value store the connector keeps its documents in, behind a small trait so that the
//! storage and route logic also runs natively in unit tests.
//!
//! [`WasiKv`] uses `wasi:keyvalue/{store,batch,atomics}@0.2.0-draft2` (store label `default`);
//! [`MemoryKv`] is an in-memory map for tests.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// Failure of a key-value operation; the text is for the log only.
#[derive(Debug, thiserror::Error)]
#[error("key-value store failed: {0}")]
pub struct KvError(pub String);

/// Operations the connector needs from a key-value store.
pub trait Kv {
    /// Returns the value of `key`, or `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Sets `key` to `value`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Deletes `key`; succeeds when it is absent.
    fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Returns the values of `keys`, in order.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError>;
    /// Deletes `keys`, skipping absent ones.
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError>;
    /// Writes `new` at `key` only if the key contains `expected` (`None`: absent); returns whether it
    /// wrote. Atomic against every other writer.
    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError>;
}

/// In-memory store for unit tests, with optional failure injection.
#[derive(Debug, Default)]
pub struct MemoryKv {
    entries: RefCell<BTreeMap<String, Vec<u8>>>,
    /// When set, every write fails once this many more writes have succeeded.
    pub fail_writes_after: RefCell<Option<usize>>,
}

impl MemoryKv {
    /// Returns every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    fn check_write(&self) -> Result<(), KvError> {
        let mut budget = self.fail_writes_after.borrow_mut();
        match budget.as_mut() {
            Some(0) => Err(KvError("injected write failure".to_owned())),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.entries.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.check_write()?;
        self.entries.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.check_write()?;
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let entries = self.entries.borrow();
        Ok(keys.iter().map(|key| entries.get(key).cloned()).collect())
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        self.check_write()?;
        let mut entries = self.entries.borrow_mut();
        for key in keys {
            entries.remove(key);
        }
        Ok(())
    }

    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError> {
        self.check_write()?;
        let mut entries = self.entries.borrow_mut();
        if entries.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        entries.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }
}

/// The `default` store of `wasi:keyvalue@0.2.0-draft2`.
pub struct WasiKv {
    bucket: crate::bindings::wasi::keyvalue::store::Bucket,
}

/// Label of the store the connector keeps everything in.
pub const STORE_LABEL: &str = "default";

impl WasiKv {
    /// Opens the `default` store.
    ///
    /// # Errors
    /// [`KvError`] when the host does not provide it or denies access.
    pub fn open() -> Result<Self, KvError> {
        let bucket = crate::bindings::wasi::keyvalue::store::open(STORE_LABEL).map_err(wasi_error)?;
        Ok(Self { bucket })
    }
}

fn wasi_error(err: crate::bindings::wasi::keyvalue::store::Error) -> KvError {
    use crate::bindings::wasi::keyvalue::store::Error;
    KvError(match err {
        Error::NoSuchStore => "no such store".to_owned(),
        Error::AccessDenied => "access denied".to_owned(),
        Error::Other(detail) => detail,
    })
}

impl Kv for WasiKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket.get(key).map_err(wasi_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.bucket.set(key, value).map_err(wasi_error)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.bucket.delete(key).map_err(wasi_error)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let pairs = crate::bindings::wasi::keyvalue::batch::get_many(&self.bucket, keys).map_err(wasi_error)?;
        // Hosts return pairs in request order, but match by key so a reordering cannot mix values.
        let mut by_key: BTreeMap<String, Option<Vec<u8>>> = pairs.into_iter().collect();
        Ok(keys.iter().map(|key| by_key.remove(key).flatten()).collect())
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        crate::bindings::wasi::keyvalue::batch::delete_many(&self.bucket, keys).map_err(wasi_error)
    }

    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError> {
        use crate::bindings::wasi::keyvalue::atomics::{self, Cas, CasError};
        let cas = Cas::new(&self.bucket, key).map_err(wasi_error)?;
        if cas.current().map_err(wasi_error)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(CasError::CasFailed(_)) => Ok(false),
            Err(CasError::StoreError(err)) => Err(wasi_error(err)),
        }
    }
}
