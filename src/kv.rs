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
    /// Writes `new` at `key` only if the key holds `expected` (`None`: absent); returns whether it
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
