//! Key-value backend on one SQLite file, in the table layout Spin uses, so an existing Spin
//! database can be opened as it is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension as _, TransactionBehavior, params};

use super::{BackendError, KvBackend};

/// How long a statement waits for a lock held by another connection, possibly in another host
/// process, before it fails with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (\
     store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))";
const SELECT_VALUE: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";
const SELECT_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)";
const SELECT_KEYS: &str = "SELECT key FROM spin_key_value WHERE store = ?1";
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) \
     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2";

/// Location of the SQLite database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteLocation {
    /// A private database that disappears with the backend, for tests and trials.
    InMemory,
    /// A database file, created with its parent directories when missing.
    Path(PathBuf),
}

/// Key-value backend on one SQLite database with Spin's `spin_key_value` table.
///
/// Counters are 8-byte little-endian `i64` values, as in Spin. One connection serves every
/// request of the process, so calls from this process run one at a time on the blocking thread
/// pool. Other processes may open the same file: WAL mode, a busy timeout and `BEGIN IMMEDIATE`
/// transactions keep `increment` and `compare_and_swap` atomic across them.
pub struct SqliteBackend {
    connection: Arc<Mutex<Connection>>,
    summary: String,
}

impl SqliteBackend {
    /// Opens the database at `location`, creating the file, its parent directories and the
    /// table when missing.
    ///
    /// # Errors
    /// Fails when a directory or the file cannot be created, when the file is not a SQLite
    /// database, or when the table cannot be created.
    pub fn open(location: SqliteLocation) -> anyhow::Result<Self> {
        let (connection, summary) = match &location {
            SqliteLocation::InMemory => {
                let connection = Connection::open_in_memory()
                    .context("failed to open an in-memory SQLite database")?;
                prepare_connection(&connection, false)
                    .context("failed to prepare the in-memory SQLite database")?;
                (connection, "sqlite in memory".to_owned())
            }
            SqliteLocation::Path(path) => {
                let connection = open_file(path)?;
                (connection, format!("sqlite file {}", path.display()))
            }
        };

        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            summary,
        })
    }

    /// Runs `operation` with the connection on the blocking thread pool.
    async fn run<T, F>(&self, operation: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, BackendError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            // A panic while the lock was held leaves the connection usable, because an open
            // `rusqlite::Transaction` rolls back when it is dropped during unwinding.
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            operation(&mut connection)
        })
        .await
        .context("SQLite task failed")?
    }

    /// Runs a read of a few keys on the calling thread when the connection is free, else on the
    /// blocking thread pool as [`SqliteBackend::run`] does.
    ///
    /// In WAL mode a read does not wait for writers, in this process or another, so it takes
    /// microseconds, less than the two thread hand-offs of a trip through the blocking pool.
    // NOTE: a read still waits, up to the busy timeout, while another process recovers the
    // write-ahead log index after a crash, and reads pages from disk when they are not cached.
    async fn run_read<T, F>(&self, operation: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, BackendError> + Send + 'static,
    {
        let operation = match self.connection.try_lock() {
            Ok(mut connection) => return operation(&mut connection),
            Err(TryLockError::Poisoned(poisoned)) => return operation(&mut poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => operation,
        };
        self.run(operation).await
    }

    /// Same as [`SqliteBackend::run`], inside [`durable_transaction`].
    async fn run_durable<T, F>(&self, operation: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, BackendError> + Send + 'static,
    {
        self.run(move |connection| durable_transaction(connection, operation)).await
    }
}

/// Opens the database file at `path` and prepares it.
fn open_file(path: &Path) -> anyhow::Result<Connection> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "failed to create directory {} for the key-value database",
                parent.display()
            )
        })?;
    }

    let connection = Connection::open(path)
        .with_context(|| format!("failed to open SQLite database {}", path.display()))?;
    prepare_connection(&connection, true).map_err(|error| {
        let not_a_database = error
            .downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
            == Some(ErrorCode::NotADatabase);
        if not_a_database {
            error.context(format!(
                "{} is not a SQLite database. Move it away or point the key-value store to another file",
                path.display()
            ))
        } else {
            error.context(format!(
                "failed to prepare SQLite database {}",
                path.display()
            ))
        }
    })?;
    Ok(connection)
}

/// Sets the locking and durability options and creates the table.
fn prepare_connection(connection: &Connection, is_file: bool) -> anyhow::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;

    if is_file {
        // WAL lets readers in other processes go on while one process writes.
        let mode: String =
            connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                journal_mode = %mode,
                "SQLite did not switch the key-value database to WAL mode"
            );
        }
    }

    // Durability: in WAL mode, `synchronous=NORMAL` survives a process crash but may lose the
    // last commits on a power loss. Compare-and-swap and increment commit with FULL (see
    // `durable_transaction`), which syncs the log and so every earlier commit in it. A guest
    // that writes chunks with `set` and switches its metadata with compare-and-swap, as the
    // connector does, has everything on disk once the swap returns, at half the cost of syncing
    // every chunk.
    // NOTE: a plain `set` never followed by a swap or increment is not synced at once.
    connection.pragma_update(None, "synchronous", "NORMAL")?;

    connection.execute(CREATE_TABLE, [])?;
    Ok(())
}

/// Runs `operation` with `synchronous=FULL`, so its commit syncs the write-ahead log, and with
/// it every commit made before under `synchronous=NORMAL`.
fn durable_transaction<T>(
    connection: &mut Connection,
    operation: impl FnOnce(&mut Connection) -> Result<T, BackendError>,
) -> Result<T, BackendError> {
    connection
        .pragma_update(None, "synchronous", "FULL")
        .context("failed to set SQLite synchronous=FULL")?;
    let result = operation(connection);
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .context("failed to set SQLite synchronous=NORMAL")?;
    result
}

/// Reads the value of `key` with the cached statement of `connection`.
fn select_value(
    connection: &Connection,
    store: &str,
    key: &str,
) -> rusqlite::Result<Option<Vec<u8>>> {
    connection
        .prepare_cached(SELECT_VALUE)?
        .query_row(params![store, key], |row| row.get(0))
        .optional()
}

fn upsert(connection: &Connection, store: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    connection
        .prepare_cached(UPSERT)?
        .execute(params![store, key, value])?;
    Ok(())
}

fn delete(connection: &Connection, store: &str, key: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached(DELETE)?
        .execute(params![store, key])?;
    Ok(())
}

/// Decodes a counter stored as 8 little-endian bytes.
fn decode_counter(value: &[u8]) -> Result<i64, BackendError> {
    let bytes: [u8; 8] = value.try_into().map_err(|_| BackendError::NotACounter)?;
    Ok(i64::from_le_bytes(bytes))
}

#[async_trait]
impl KvBackend for SqliteBackend {
    async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run_read(move |connection| {
            let value = select_value(connection, &store, &key)
                .with_context(|| format!("failed to read key {key:?} of store {store:?}"))?;
            Ok(value)
        })
        .await
    }

    async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), BackendError> {
        let (store, key, value) = (store.to_owned(), key.to_owned(), value.to_vec());
        self.run(move |connection| {
            upsert(connection, &store, &key, &value)
                .with_context(|| format!("failed to write key {key:?} of store {store:?}"))?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, store: &str, key: &str) -> Result<(), BackendError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run(move |connection| {
            delete(connection, &store, &key)
                .with_context(|| format!("failed to delete key {key:?} of store {store:?}"))?;
            Ok(())
        })
        .await
    }

    async fn exists(&self, store: &str, key: &str) -> Result<bool, BackendError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run_read(move |connection| {
            let exists = connection
                .prepare_cached(SELECT_EXISTS)
                .and_then(|mut statement| {
                    statement.query_row(params![store, key], |row| row.get(0))
                })
                .with_context(|| format!("failed to look up key {key:?} of store {store:?}"))?;
            Ok(exists)
        })
        .await
    }

    async fn list_keys(&self, store: &str) -> Result<Vec<String>, BackendError> {
        let store = store.to_owned();
        self.run(move |connection| {
            let keys = connection
                .prepare_cached(SELECT_KEYS)
                .and_then(|mut statement| {
                    statement
                        .query_map(params![store], |row| row.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .with_context(|| format!("failed to list the keys of store {store:?}"))?;
            Ok(keys)
        })
        .await
    }

    async fn get_many(
        &self,
        store: &str,
        keys: &[String],
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, BackendError> {
        let (store, keys) = (store.to_owned(), keys.to_vec());
        self.run_read(move |connection| {
            // One read transaction gives every value from the same snapshot.
            let transaction = connection
                .transaction()
                .context("failed to begin a SQLite read transaction")?;
            let mut entries = Vec::with_capacity(keys.len());
            for key in keys {
                let value = select_value(&transaction, &store, &key)
                    .with_context(|| format!("failed to read key {key:?} of store {store:?}"))?;
                entries.push((key, value));
            }
            transaction
                .commit()
                .context("failed to end a SQLite read transaction")?;
            Ok(entries)
        })
        .await
    }

    async fn set_many(
        &self,
        store: &str,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), BackendError> {
        let (store, entries) = (store.to_owned(), entries.to_vec());
        self.run(move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("failed to begin a SQLite write transaction")?;
            for (key, value) in &entries {
                upsert(&transaction, &store, key, value)
                    .with_context(|| format!("failed to write key {key:?} of store {store:?}"))?;
            }
            transaction
                .commit()
                .with_context(|| format!("failed to commit writes to store {store:?}"))?;
            Ok(())
        })
        .await
    }

    async fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), BackendError> {
        let (store, keys) = (store.to_owned(), keys.to_vec());
        self.run(move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("failed to begin a SQLite write transaction")?;
            for key in &keys {
                delete(&transaction, &store, key)
                    .with_context(|| format!("failed to delete key {key:?} of store {store:?}"))?;
            }
            transaction
                .commit()
                .with_context(|| format!("failed to commit deletions from store {store:?}"))?;
            Ok(())
        })
        .await
    }

    async fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, BackendError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.run_durable(move |connection| {
            // `BEGIN IMMEDIATE` takes the write lock before the read, so no other connection
            // can change the counter between the read and the write.
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("failed to begin a SQLite write transaction")?;
            let current = select_value(&transaction, &store, &key)
                .with_context(|| format!("failed to read key {key:?} of store {store:?}"))?;
            let value = match current {
                None => delta,
                Some(bytes) => decode_counter(&bytes)?
                    .checked_add(delta)
                    .ok_or(BackendError::Overflow)?,
            };
            upsert(&transaction, &store, &key, &value.to_le_bytes())
                .with_context(|| format!("failed to write key {key:?} of store {store:?}"))?;
            transaction.commit().with_context(|| {
                format!("failed to commit the counter {key:?} of store {store:?}")
            })?;
            Ok(value)
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<Option<Option<Vec<u8>>>, BackendError> {
        let (store, key) = (store.to_owned(), key.to_owned());
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.to_vec());
        self.run_durable(move |connection| {
            // As in `increment`, the write lock is taken before the read.
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("failed to begin a SQLite write transaction")?;
            let current = select_value(&transaction, &store, &key)
                .with_context(|| format!("failed to read key {key:?} of store {store:?}"))?;
            if current != expected {
                transaction
                    .rollback()
                    .context("failed to end a SQLite transaction")?;
                return Ok(Some(current));
            }

            upsert(&transaction, &store, &key, &new)
                .with_context(|| format!("failed to write key {key:?} of store {store:?}"))?;
            transaction
                .commit()
                .with_context(|| format!("failed to commit key {key:?} of store {store:?}"))?;
            Ok(None)
        })
        .await
    }

    fn summary(&self) -> String {
        self.summary.clone()
    }
}
