//! Runs every `KvBackend` operation on the SQLite backend and on a real Redis server.
//!
//! The Redis tests start `redis-server` on 127.0.0.1 and fail when it is not installed.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use efalia_host::kv::{BackendError, KvBackend, RedisBackend, SqliteBackend, SqliteLocation};
use support::redis::{RedisServer, free_port};
use tempfile::TempDir;

const STORE: &str = "default";

/// Number of concurrent tasks in the compare-and-swap tests.
const CAS_TASKS: usize = 50;

/// Bound on the attempts of one compare-and-swap loop. A swap fails only when another task's
/// swap succeeded, so 50 tasks need at most 50 attempts each.
const CAS_MAX_ATTEMPTS: usize = 1000;

/// A backend under test with the storage it uses.
struct Fixture {
    backend: Arc<dyn KvBackend>,
    storage: Storage,
}

enum Storage {
    Sqlite(TempDir),
    Redis(RedisServer),
}

impl Fixture {
    async fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("failed to create a temporary directory");
        let backend = SqliteBackend::open(SqliteLocation::Path(sqlite_path(&directory)))
            .expect("failed to open the SQLite backend");
        Self {
            backend: Arc::new(backend),
            storage: Storage::Sqlite(directory),
        }
    }

    async fn redis() -> Self {
        let server = RedisServer::start();
        let backend = RedisBackend::connect(&server.url())
            .await
            .expect("failed to connect to the test Redis server");
        Self {
            backend: Arc::new(backend),
            storage: Storage::Redis(server),
        }
    }

    /// Opens a second, independent backend on the same storage.
    async fn open_again(&self) -> Arc<dyn KvBackend> {
        match &self.storage {
            Storage::Sqlite(directory) => Arc::new(
                SqliteBackend::open(SqliteLocation::Path(sqlite_path(directory)))
                    .expect("failed to reopen the SQLite backend"),
            ),
            Storage::Redis(server) => Arc::new(
                RedisBackend::connect(&server.url())
                    .await
                    .expect("failed to connect again to the test Redis server"),
            ),
        }
    }
}

fn sqlite_path(directory: &TempDir) -> PathBuf {
    directory.path().join("kv.sqlite3")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

async fn sorted_keys(kv: &dyn KvBackend, store: &str) -> Vec<String> {
    let mut keys = kv.list_keys(store).await.expect("list_keys failed");
    keys.sort();
    keys
}

/// Generates one test per backend for each named test body.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Fixture::sqlite().await).await;
                }
            )*
        }

        mod redis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Fixture::redis().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    get_missing_key_returns_none,
    set_then_get_returns_value,
    set_replaces_value,
    delete_removes_key,
    delete_missing_key_succeeds,
    exists_reports_presence,
    list_keys_returns_store_keys,
    list_keys_of_empty_store_is_empty,
    list_keys_returns_many_keys,
    get_many_keeps_request_order,
    set_many_writes_every_entry,
    delete_many_skips_missing_keys,
    batches_accept_empty_lists,
    increment_creates_missing_counter,
    increment_adds_to_counter,
    increment_rejects_non_counter,
    increment_overflow_fails,
    cas_with_expected_value_swaps,
    cas_conflict_returns_current,
    cas_expecting_absent_creates_key,
    cas_expecting_absent_on_present_key_returns_current,
    cas_expecting_value_on_absent_key_returns_absent,
    empty_value_round_trips,
    large_value_round_trips,
    unusual_keys_round_trip,
    stores_are_isolated,
    concurrent_cas_increments_count_exactly,
    cas_is_atomic_across_connections,
);

async fn get_missing_key_returns_none(fixture: Fixture) {
    let kv = &*fixture.backend;

    let value = kv.get(STORE, "missing").await.unwrap();

    assert_eq!(value, None);
}

async fn set_then_get_returns_value(fixture: Fixture) {
    let kv = &*fixture.backend;

    kv.set(STORE, "greeting", b"hello").await.unwrap();

    assert_eq!(
        kv.get(STORE, "greeting").await.unwrap(),
        Some(b"hello".to_vec())
    );
}

async fn set_replaces_value(fixture: Fixture) {
    let kv = &*fixture.backend;

    kv.set(STORE, "greeting", b"hello").await.unwrap();
    kv.set(STORE, "greeting", b"bye").await.unwrap();

    assert_eq!(
        kv.get(STORE, "greeting").await.unwrap(),
        Some(b"bye".to_vec())
    );
}

async fn delete_removes_key(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.set(STORE, "doomed", b"value").await.unwrap();

    kv.delete(STORE, "doomed").await.unwrap();

    assert_eq!(kv.get(STORE, "doomed").await.unwrap(), None);
}

async fn delete_missing_key_succeeds(fixture: Fixture) {
    let kv = &*fixture.backend;

    let result = kv.delete(STORE, "never-set").await;

    assert!(result.is_ok(), "delete of a missing key failed: {result:?}");
}

async fn exists_reports_presence(fixture: Fixture) {
    let kv = &*fixture.backend;

    assert!(
        !kv.exists(STORE, "key").await.unwrap(),
        "key exists before set"
    );

    kv.set(STORE, "key", b"value").await.unwrap();
    assert!(
        kv.exists(STORE, "key").await.unwrap(),
        "key is missing after set"
    );

    kv.delete(STORE, "key").await.unwrap();
    assert!(
        !kv.exists(STORE, "key").await.unwrap(),
        "key exists after delete"
    );
}

async fn list_keys_returns_store_keys(fixture: Fixture) {
    let kv = &*fixture.backend;
    for key in ["a", "b", "c"] {
        kv.set(STORE, key, b"value").await.unwrap();
    }
    kv.set("other", "d", b"value").await.unwrap();

    assert_eq!(sorted_keys(kv, STORE).await, strings(&["a", "b", "c"]));
}

async fn list_keys_of_empty_store_is_empty(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.set("other", "key", b"value").await.unwrap();

    assert_eq!(sorted_keys(kv, STORE).await, Vec::<String>::new());
}

async fn list_keys_returns_many_keys(fixture: Fixture) {
    let kv = &*fixture.backend;
    // More keys than one SCAN call returns, so Redis needs several cursor rounds.
    let entries: Vec<(String, Vec<u8>)> = (0..2500)
        .map(|index| (format!("key-{index:05}"), index.to_string().into_bytes()))
        .collect();
    kv.set_many(STORE, &entries).await.unwrap();

    let keys = sorted_keys(kv, STORE).await;

    let expected: Vec<String> = entries.into_iter().map(|(key, _)| key).collect();
    assert_eq!(keys, expected);
}

async fn get_many_keeps_request_order(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.set(STORE, "a", b"1").await.unwrap();
    kv.set(STORE, "b", b"2").await.unwrap();

    let entries = kv
        .get_many(STORE, &strings(&["b", "missing", "a"]))
        .await
        .unwrap();

    let expected = vec![
        ("b".to_owned(), Some(b"2".to_vec())),
        ("missing".to_owned(), None),
        ("a".to_owned(), Some(b"1".to_vec())),
    ];
    assert_eq!(entries, expected);
}

async fn set_many_writes_every_entry(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.set(STORE, "a", b"old").await.unwrap();
    let entries = vec![
        ("a".to_owned(), b"1".to_vec()),
        ("b".to_owned(), b"2".to_vec()),
    ];

    kv.set_many(STORE, &entries).await.unwrap();

    assert_eq!(kv.get(STORE, "a").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(kv.get(STORE, "b").await.unwrap(), Some(b"2".to_vec()));
}

async fn delete_many_skips_missing_keys(fixture: Fixture) {
    let kv = &*fixture.backend;
    for key in ["a", "b", "kept"] {
        kv.set(STORE, key, b"value").await.unwrap();
    }

    kv.delete_many(STORE, &strings(&["a", "missing", "b"]))
        .await
        .unwrap();

    assert_eq!(sorted_keys(kv, STORE).await, strings(&["kept"]));
}

async fn batches_accept_empty_lists(fixture: Fixture) {
    let kv = &*fixture.backend;

    let entries = kv.get_many(STORE, &[]).await.unwrap();
    let set_result = kv.set_many(STORE, &[]).await;
    let delete_result = kv.delete_many(STORE, &[]).await;

    assert!(
        entries.is_empty(),
        "get_many of no keys returned {entries:?}"
    );
    assert!(
        set_result.is_ok(),
        "set_many of no entries failed: {set_result:?}"
    );
    assert!(
        delete_result.is_ok(),
        "delete_many of no keys failed: {delete_result:?}"
    );
}

async fn increment_creates_missing_counter(fixture: Fixture) {
    let kv = &*fixture.backend;

    let value = kv.increment(STORE, "counter", 5).await.unwrap();

    assert_eq!(value, 5);
}

async fn increment_adds_to_counter(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.increment(STORE, "counter", 5).await.unwrap();

    assert_eq!(kv.increment(STORE, "counter", 3).await.unwrap(), 8);
    assert_eq!(kv.increment(STORE, "counter", -10).await.unwrap(), -2);
    assert_eq!(kv.increment(STORE, "counter", 0).await.unwrap(), -2);
}

async fn increment_rejects_non_counter(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.set(STORE, "text", b"hello").await.unwrap();

    let result = kv.increment(STORE, "text", 1).await;

    assert!(
        matches!(result, Err(BackendError::NotACounter)),
        "expected NotACounter, got {result:?}"
    );
    assert_eq!(
        kv.get(STORE, "text").await.unwrap(),
        Some(b"hello".to_vec())
    );
}

async fn increment_overflow_fails(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.increment(STORE, "high", i64::MAX).await.unwrap();
    kv.increment(STORE, "low", i64::MIN).await.unwrap();

    let above = kv.increment(STORE, "high", 1).await;
    let below = kv.increment(STORE, "low", -1).await;

    assert!(
        matches!(above, Err(BackendError::Overflow)),
        "expected Overflow above i64::MAX, got {above:?}"
    );
    assert!(
        matches!(below, Err(BackendError::Overflow)),
        "expected Overflow below i64::MIN, got {below:?}"
    );
    assert_eq!(kv.increment(STORE, "high", 0).await.unwrap(), i64::MAX);
    assert_eq!(kv.increment(STORE, "low", 0).await.unwrap(), i64::MIN);
}

async fn cas_with_expected_value_swaps(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.set(STORE, "key", b"old").await.unwrap();

    let outcome = kv
        .compare_and_swap(STORE, "key", Some(b"old"), b"new")
        .await
        .unwrap();

    assert_eq!(outcome, None);
    assert_eq!(kv.get(STORE, "key").await.unwrap(), Some(b"new".to_vec()));
}

async fn cas_conflict_returns_current(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.set(STORE, "key", b"current").await.unwrap();

    let outcome = kv
        .compare_and_swap(STORE, "key", Some(b"stale"), b"new")
        .await
        .unwrap();

    assert_eq!(outcome, Some(Some(b"current".to_vec())));
    assert_eq!(
        kv.get(STORE, "key").await.unwrap(),
        Some(b"current".to_vec())
    );
}

async fn cas_expecting_absent_creates_key(fixture: Fixture) {
    let kv = &*fixture.backend;

    let outcome = kv
        .compare_and_swap(STORE, "key", None, b"first")
        .await
        .unwrap();

    assert_eq!(outcome, None);
    assert_eq!(kv.get(STORE, "key").await.unwrap(), Some(b"first".to_vec()));
}

async fn cas_expecting_absent_on_present_key_returns_current(fixture: Fixture) {
    let kv = &*fixture.backend;
    kv.set(STORE, "key", b"present").await.unwrap();

    let outcome = kv
        .compare_and_swap(STORE, "key", None, b"new")
        .await
        .unwrap();

    assert_eq!(outcome, Some(Some(b"present".to_vec())));
    assert_eq!(
        kv.get(STORE, "key").await.unwrap(),
        Some(b"present".to_vec())
    );
}

async fn cas_expecting_value_on_absent_key_returns_absent(fixture: Fixture) {
    let kv = &*fixture.backend;

    let outcome = kv
        .compare_and_swap(STORE, "key", Some(b"expected"), b"new")
        .await
        .unwrap();

    assert_eq!(outcome, Some(None));
    assert!(
        !kv.exists(STORE, "key").await.unwrap(),
        "failed swap created the key"
    );
}

async fn empty_value_round_trips(fixture: Fixture) {
    let kv = &*fixture.backend;

    kv.set(STORE, "empty", b"").await.unwrap();

    assert_eq!(kv.get(STORE, "empty").await.unwrap(), Some(Vec::new()));
    assert!(
        kv.exists(STORE, "empty").await.unwrap(),
        "empty value reads as absent"
    );
    let absent_outcome = kv
        .compare_and_swap(STORE, "empty", None, b"new")
        .await
        .unwrap();
    assert_eq!(absent_outcome, Some(Some(Vec::new())));
    let empty_outcome = kv
        .compare_and_swap(STORE, "empty", Some(b""), b"new")
        .await
        .unwrap();
    assert_eq!(empty_outcome, None);
}

async fn large_value_round_trips(fixture: Fixture) {
    let kv = &*fixture.backend;
    let value: Vec<u8> = (0..1024 * 1024)
        .map(|index: u32| (index % 251) as u8)
        .collect();

    kv.set(STORE, "large", &value).await.unwrap();
    let stored = kv.get(STORE, "large").await.unwrap();

    assert!(
        stored.as_ref() == Some(&value),
        "1 MiB value changed on the way"
    );
}

async fn unusual_keys_round_trip(fixture: Fixture) {
    let kv = &*fixture.backend;
    let keys = strings(&[
        "with space",
        "a:b:c",
        ":leading-colon",
        "dir/file.docx",
        "star*",
        "*",
        "question?",
        "[bracket",
        "close]",
        "back\\slash",
        "\"double quotes\"",
        "'single quotes'",
        "café",
        "résumé été",
        "日本語",
    ]);
    for (index, key) in keys.iter().enumerate() {
        kv.set(STORE, key, index.to_string().as_bytes())
            .await
            .unwrap();
    }

    for (index, key) in keys.iter().enumerate() {
        let value = kv.get(STORE, key).await.unwrap();
        assert_eq!(
            value,
            Some(index.to_string().into_bytes()),
            "value of key {key:?}"
        );
    }
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(sorted_keys(kv, STORE).await, expected);
    kv.delete_many(STORE, &keys).await.unwrap();
    assert_eq!(sorted_keys(kv, STORE).await, Vec::<String>::new());
}

async fn stores_are_isolated(fixture: Fixture) {
    let kv = &*fixture.backend;
    // `alph` is a prefix of `alpha`, so a prefix match without the separator would mix them.
    kv.set("alpha", "shared", b"from alpha").await.unwrap();
    kv.set("alph", "shared", b"from alph").await.unwrap();
    kv.set("beta", "shared", b"from beta").await.unwrap();

    kv.delete("beta", "shared").await.unwrap();

    assert_eq!(
        kv.get("alpha", "shared").await.unwrap(),
        Some(b"from alpha".to_vec())
    );
    assert_eq!(
        kv.get("alph", "shared").await.unwrap(),
        Some(b"from alph".to_vec())
    );
    assert_eq!(kv.get("beta", "shared").await.unwrap(), None);
    assert_eq!(sorted_keys(kv, "alph").await, strings(&["shared"]));
    assert_eq!(sorted_keys(kv, "beta").await, Vec::<String>::new());
}

async fn concurrent_cas_increments_count_exactly(fixture: Fixture) {
    let backends = vec![Arc::clone(&fixture.backend)];

    let total = run_cas_increments(&backends, "counter").await;

    assert_eq!(total, CAS_TASKS as u64);
}

async fn cas_is_atomic_across_connections(fixture: Fixture) {
    let backends = vec![Arc::clone(&fixture.backend), fixture.open_again().await];

    let total = run_cas_increments(&backends, "counter").await;

    assert_eq!(total, CAS_TASKS as u64);
}

/// Runs [`CAS_TASKS`] concurrent tasks that each add one to a decimal counter with a
/// compare-and-swap loop, spread over `backends`, and returns the final count.
async fn run_cas_increments(backends: &[Arc<dyn KvBackend>], key: &'static str) -> u64 {
    let tasks: Vec<_> = (0..CAS_TASKS)
        .map(|index| {
            let kv = Arc::clone(&backends[index % backends.len()]);
            tokio::spawn(async move { cas_increment(&*kv, key).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("compare-and-swap task panicked");
    }

    let value = backends[0].get(STORE, key).await.unwrap();
    decode_count(value.as_deref())
}

/// Adds one to the decimal counter at `key`, retrying with the value returned by each failed
/// swap.
async fn cas_increment(kv: &dyn KvBackend, key: &str) {
    let mut current = kv.get(STORE, key).await.unwrap();
    for _ in 0..CAS_MAX_ATTEMPTS {
        let next = (decode_count(current.as_deref()) + 1).to_string();
        match kv
            .compare_and_swap(STORE, key, current.as_deref(), next.as_bytes())
            .await
            .unwrap()
        {
            None => return,
            Some(found) => current = found,
        }
    }
    panic!("no successful swap of {key:?} after {CAS_MAX_ATTEMPTS} attempts");
}

fn decode_count(value: Option<&[u8]>) -> u64 {
    match value {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .expect("counter is not UTF-8")
            .parse()
            .expect("counter is not a decimal number"),
    }
}

// SQLite only.

#[tokio::test]
async fn sqlite_data_persists_after_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let path = sqlite_path(&directory);
    let backend = SqliteBackend::open(SqliteLocation::Path(path.clone())).unwrap();
    backend.set(STORE, "document", b"saved").await.unwrap();
    drop(backend);

    let reopened = SqliteBackend::open(SqliteLocation::Path(path)).unwrap();

    assert_eq!(
        reopened.get(STORE, "document").await.unwrap(),
        Some(b"saved".to_vec())
    );
}

#[tokio::test]
async fn sqlite_open_creates_parent_directories() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nested/deeper/kv.sqlite3");

    let backend = SqliteBackend::open(SqliteLocation::Path(path.clone())).unwrap();
    backend.set(STORE, "key", b"value").await.unwrap();

    assert!(path.is_file(), "{} was not created", path.display());
}

#[test]
fn sqlite_open_rejects_non_database_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("notes.txt");
    std::fs::write(&path, "plain text, not a database\n".repeat(200)).unwrap();

    let error = SqliteBackend::open(SqliteLocation::Path(path.clone()))
        .err()
        .expect("opening a text file as a database succeeded");

    let message = format!("{error:#}");
    assert!(
        message.contains("not a SQLite database"),
        "message: {message}"
    );
    assert!(
        message.contains(&path.display().to_string()),
        "message: {message}"
    );
}

#[test]
fn sqlite_open_reports_directory_creation_failure() {
    let directory = tempfile::tempdir().unwrap();
    let blocker = directory.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let path = blocker.join("kv.sqlite3");

    let error = SqliteBackend::open(SqliteLocation::Path(path))
        .err()
        .expect("creating a directory under a file succeeded");

    let message = format!("{error:#}");
    assert!(
        message.contains(&blocker.display().to_string()),
        "message: {message}"
    );
}

#[tokio::test]
async fn sqlite_counter_is_little_endian_i64() {
    let kv = SqliteBackend::open(SqliteLocation::InMemory).unwrap();
    kv.increment(STORE, "counter", 258).await.unwrap();

    let stored = kv.get(STORE, "counter").await.unwrap();
    kv.set(STORE, "preset", &41_i64.to_le_bytes())
        .await
        .unwrap();
    let incremented = kv.increment(STORE, "preset", 1).await.unwrap();

    assert_eq!(stored, Some(258_i64.to_le_bytes().to_vec()));
    assert_eq!(incremented, 42);
}

#[tokio::test]
async fn sqlite_rejects_counter_of_wrong_length() {
    let kv = SqliteBackend::open(SqliteLocation::InMemory).unwrap();
    kv.set(STORE, "short", &[1, 2, 3, 4]).await.unwrap();

    let result = kv.increment(STORE, "short", 1).await;

    assert!(
        matches!(result, Err(BackendError::NotACounter)),
        "expected NotACounter, got {result:?}"
    );
}

#[tokio::test]
async fn sqlite_in_memory_stores_values() {
    let kv = SqliteBackend::open(SqliteLocation::InMemory).unwrap();

    kv.set(STORE, "key", b"value").await.unwrap();

    assert_eq!(kv.get(STORE, "key").await.unwrap(), Some(b"value".to_vec()));
    assert_eq!(kv.summary(), "sqlite in memory");
}

#[test]
fn sqlite_summary_names_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = sqlite_path(&directory);

    let kv = SqliteBackend::open(SqliteLocation::Path(path.clone())).unwrap();

    assert_eq!(kv.summary(), format!("sqlite file {}", path.display()));
}

#[tokio::test]
async fn sqlite_file_uses_spin_table_and_wal() {
    let directory = tempfile::tempdir().unwrap();
    let path = sqlite_path(&directory);
    let kv = SqliteBackend::open(SqliteLocation::Path(path.clone())).unwrap();
    kv.set(STORE, "written-by-host", b"host").await.unwrap();

    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "INSERT INTO spin_key_value (store, key, value) VALUES ('default', 'written-by-spin', x'01')",
        [],
    )
    .unwrap();
    let host_row: Vec<u8> = raw
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'written-by-host'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let journal_mode: String = raw
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();

    assert_eq!(host_row, b"host".to_vec());
    assert_eq!(journal_mode, "wal");
    assert_eq!(
        kv.get(STORE, "written-by-spin").await.unwrap(),
        Some(vec![1])
    );
}

// Redis only.

#[tokio::test]
async fn redis_counter_is_decimal_text() {
    let server = RedisServer::start();
    let kv = RedisBackend::connect(&server.url()).await.unwrap();
    kv.increment(STORE, "counter", 258).await.unwrap();

    let stored = kv.get(STORE, "counter").await.unwrap();
    kv.set(STORE, "preset", b"41").await.unwrap();
    let incremented = kv.increment(STORE, "preset", 1).await.unwrap();

    assert_eq!(stored, Some(b"258".to_vec()));
    assert_eq!(incremented, 42);
}

#[tokio::test]
async fn redis_keys_are_prefixed_by_store() {
    let server = RedisServer::start();
    let kv = RedisBackend::connect(&server.url()).await.unwrap();
    kv.set("alpha", "a:b", b"value").await.unwrap();

    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("alpha:a:b")
        .query_async(&mut raw)
        .await
        .unwrap();

    assert_eq!(stored, Some(b"value".to_vec()));
}

#[tokio::test]
async fn redis_connects_with_password() {
    let server = RedisServer::start_with_password("correct-horse");

    let kv = RedisBackend::connect(&server.url()).await.unwrap();
    kv.set(STORE, "key", b"value").await.unwrap();

    assert_eq!(kv.get(STORE, "key").await.unwrap(), Some(b"value".to_vec()));
}

#[tokio::test]
async fn redis_summary_hides_credentials() {
    let server = RedisServer::start_with_password("correct-horse");

    let kv = RedisBackend::connect(&server.url()).await.unwrap();

    assert_eq!(kv.summary(), format!("redis://127.0.0.1:{}", server.port()));
}

#[tokio::test]
async fn redis_wrong_password_error_hides_password() {
    let server = RedisServer::start_with_password("correct-horse");
    let url = format!("redis://:wrong-battery@127.0.0.1:{}", server.port());

    let error = RedisBackend::connect(&url)
        .await
        .err()
        .expect("connecting with a wrong password succeeded");

    let message = format!("{error:#} {error:?}");
    assert!(!message.contains("wrong-battery"), "message: {message}");
    assert!(
        message.contains(&format!("127.0.0.1:{}", server.port())),
        "message: {message}"
    );
}

#[tokio::test]
async fn redis_unreachable_server_fails_fast() {
    // Nothing listens on this port once the probe listener is dropped.
    let port = free_port();
    let url = format!("redis://user:secret-password@127.0.0.1:{port}");
    let started = Instant::now();

    let error = RedisBackend::connect(&url)
        .await
        .err()
        .expect("connecting to a closed port succeeded");

    let elapsed = started.elapsed();
    let message = format!("{error:#} {error:?}");
    // A refused connection needs no retry delay, so it fails well before the 5 s deadline.
    assert!(elapsed < Duration::from_secs(3), "connect took {elapsed:?}");
    assert!(
        message.contains(&format!("127.0.0.1:{port}")),
        "message: {message}"
    );
    assert!(!message.contains("secret-password"), "message: {message}");
}

#[tokio::test]
async fn redis_invalid_url_is_rejected() {
    let error = RedisBackend::connect("http://user:secret-password@127.0.0.1:1")
        .await
        .err()
        .expect("a non-Redis URL was accepted");

    let message = format!("{error:#} {error:?}");
    assert!(message.contains("invalid Redis URL"), "message: {message}");
    assert!(!message.contains("secret-password"), "message: {message}");
}
