//! The guest component in the real host over real HTTP: key-value on SQLite and Redis, config,
//! outbound allow-list, limits and failures.

mod support;

use std::sync::Arc;
use std::time::Duration;

use efalia_host::engine::Allocation;
use efalia_host::kv::{KvBackend, RedisBackend, SqliteBackend, SqliteLocation};
use support::guest::guest_wasm;
use support::host::{Setup, TestHost, delete, encode, get, post, post_chunked, put};
use support::redis::RedisServer;
use support::upstream::Upstream;

const LABELS: &str = "[key_value_store.archive]\n[key_value_store.private]\n\
                      [component]\nkey_value_stores = [\"default\", \"archive\"]\n";

fn sqlite_backend(dir: &tempfile::TempDir) -> Arc<dyn KvBackend> {
    Arc::new(SqliteBackend::open(SqliteLocation::Path(dir.path().join("kv.sqlite3"))).unwrap())
}

/// Connects to Redis on a runtime that outlives the test, because the connection's driver task
/// runs on the runtime that made it.
fn redis_backend(server: &RedisServer) -> Arc<dyn KvBackend> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
    });
    Arc::new(runtime.block_on(RedisBackend::connect(&server.url())).unwrap())
}

fn start(backend: Arc<dyn KvBackend>, config_toml: &str) -> TestHost {
    let setup = Setup { config_toml: config_toml.to_owned(), ..Setup::default() };
    TestHost::start(&guest_wasm(), backend, setup).unwrap()
}

fn kv_url(host: &TestHost, operation: &str, store: &str, key: &str) -> String {
    host.url(&format!("/kv/{operation}?store={store}&key={}", encode(key)))
}

/// Runs the same key-value checks on each backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(super::sqlite_backend(&dir));
            })*
        }
        mod redis {
            $(#[test] fn $name() {
                let server = super::RedisServer::start();
                super::$name(super::redis_backend(&server));
            })*
        }
    };
}

on_both_backends!(
    set_get_delete_exists,
    list_keys_and_cursor,
    batch_operations,
    increment_counts,
    cas_swaps_when_unchanged,
    cas_conflict_reports_latest,
    labels_are_checked,
    empty_and_large_values,
    unusual_keys_round_trip,
    parallel_cas_increments_are_exact,
);

fn set_get_delete_exists(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    assert_eq!(get(&kv_url(&host, "get", "default", "k")).status, 404);
    assert_eq!(get(&kv_url(&host, "exists", "default", "k")).text(), "false");
    assert_eq!(put(&kv_url(&host, "set", "default", "k"), b"v1").status, 204);
    assert_eq!(get(&kv_url(&host, "get", "default", "k")).body, b"v1");
    assert_eq!(get(&kv_url(&host, "exists", "default", "k")).text(), "true");
    assert_eq!(put(&kv_url(&host, "set", "default", "k"), b"v2").status, 204);
    assert_eq!(get(&kv_url(&host, "get", "default", "k")).body, b"v2");
    assert_eq!(delete(&kv_url(&host, "delete", "default", "k")).status, 204);
    assert_eq!(get(&kv_url(&host, "get", "default", "k")).status, 404);
    assert_eq!(delete(&kv_url(&host, "delete", "default", "k")).status, 204, "deleting a missing key");
}

fn list_keys_and_cursor(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    for key in ["b", "a", "c"] {
        assert_eq!(put(&kv_url(&host, "set", "archive", key), b"x").status, 204);
    }
    let keys = get(&host.url("/kv/keys?store=archive"));
    assert_eq!(keys.status, 200);
    assert_eq!(keys.text(), "a\nb\nc");
    let empty = get(&host.url("/kv/keys?store=default"));
    assert_eq!(empty.text(), "", "labels do not share keys");
    let with_cursor = get(&host.url("/kv/keys?store=archive&cursor=abc"));
    assert_eq!(with_cursor.status, 500);
    assert!(with_cursor.text().contains("cursor"), "{}", with_cursor.text());
}

fn batch_operations(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    let set = post(&host.url("/kv/set-many?store=default"), br#"{"one":"1","two":"2","three":"3"}"#);
    assert_eq!(set.status, 204);
    let got = post(&host.url("/kv/get-many?store=default"), br#"["one","missing","three"]"#);
    assert_eq!(got.status, 200);
    assert_eq!(got.text(), r#"[["one","1"],["missing",null],["three","3"]]"#);
    assert_eq!(post(&host.url("/kv/delete-many?store=default"), br#"["one","three","missing"]"#).status, 204);
    assert_eq!(get(&host.url("/kv/keys?store=default")).text(), "two");
}

fn increment_counts(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    let url = |delta: i64| host.url(&format!("/kv/increment?store=default&key=n&delta={delta}"));
    assert_eq!(post(&url(5), b"").text(), "5");
    assert_eq!(post(&url(-7), b"").text(), "-2");
    assert_eq!(post(&url(2), b"").text(), "0");
    assert_eq!(put(&kv_url(&host, "set", "default", "text"), b"not a number").status, 204);
    let not_counter = post(&host.url("/kv/increment?store=default&key=text&delta=1"), b"");
    assert_eq!(not_counter.status, 500);
    assert_eq!(not_counter.text(), "other: value is not a counter");
}

fn cas_swaps_when_unchanged(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    let on_absent = post(&kv_url(&host, "cas", "default", "c"), b"first");
    assert_eq!(on_absent.status, 200);
    assert_eq!(on_absent.text(), "swapped");
    let on_present = post(&kv_url(&host, "cas", "default", "c"), b"second");
    assert_eq!(on_present.text(), "swapped");
    assert_eq!(get(&kv_url(&host, "get", "default", "c")).body, b"second");
}

fn cas_conflict_reports_latest(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    assert_eq!(put(&kv_url(&host, "set", "default", "c"), b"before").status, 204);
    let url = host.url(&format!("/kv/cas?store=default&key=c&interfere=1"));
    let conflict = post(&url, b"mine");
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.text(), "conflict\ninterfering");
    assert_eq!(get(&kv_url(&host, "get", "default", "c")).body, b"interfering", "the losing swap wrote nothing");
}

fn labels_are_checked(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    assert_eq!(put(&kv_url(&host, "set", "archive", "k"), b"v").status, 204);
    let denied = get(&kv_url(&host, "get", "private", "k"));
    assert_eq!(denied.status, 403);
    assert_eq!(denied.text(), "access-denied");
    let unknown = get(&kv_url(&host, "get", "nowhere", "k"));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.text(), "no-such-store");
}

fn empty_and_large_values(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    assert_eq!(put(&kv_url(&host, "set", "default", "empty"), b"").status, 204);
    let empty = get(&kv_url(&host, "get", "default", "empty"));
    assert_eq!(empty.status, 200, "an empty value exists");
    assert!(empty.body.is_empty());

    let large: Vec<u8> = (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    assert_eq!(put(&kv_url(&host, "set", "default", "large"), &large).status, 204);
    let read = get(&kv_url(&host, "get", "default", "large"));
    assert_eq!(read.body.len(), large.len());
    assert!(read.body == large, "1 MiB value differs after a round trip");
}

fn unusual_keys_round_trip(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    let keys = ["with space", "a:b:c", "slash/and\\back", "glob*?[x]", "quote\"'`", "é à ü", "#hash%25"];
    for (index, key) in keys.iter().enumerate() {
        let value = format!("value {index}");
        assert_eq!(put(&kv_url(&host, "set", "default", key), value.as_bytes()).status, 204, "{key}");
        assert_eq!(get(&kv_url(&host, "get", "default", key)).text(), value, "{key}");
    }
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort();
    assert_eq!(get(&host.url("/kv/keys?store=default")).text(), expected.join("\n"));
}

fn parallel_cas_increments_are_exact(backend: Arc<dyn KvBackend>) {
    let host = start(backend, LABELS);
    let url = host.url("/kv/cas-increment?store=default&key=counter");
    let workers: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || post(&url, b"").status)
        })
        .collect();
    for worker in workers {
        assert_eq!(worker.join().unwrap(), 200);
    }
    assert_eq!(get(&kv_url(&host, "get", "default", "counter")).text(), "50");
}

#[test]
fn config_get_all_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[variables]\nalpha = \"one\"\nbeta_2 = \"two words\"\n";
    let host = start(sqlite_backend(&dir), config);
    let alpha = get(&host.url("/config/get?name=alpha"));
    assert_eq!(alpha.status, 200);
    assert_eq!(alpha.text(), "one");
    assert_eq!(get(&host.url("/config/get?name=missing")).status, 404);
    assert_eq!(get(&host.url("/config/get?name=Alpha")).status, 404, "an invalid name reads as unset");
    assert_eq!(get(&host.url("/config/all")).text(), "alpha=one\nbeta_2=two words");
}

#[test]
fn outbound_allowed_denied_and_redirect() {
    let upstream = Upstream::start();
    let other = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[component]\nallowed_outbound_hosts = [\"http://{}\"]\n", upstream.address);
    let host = start(sqlite_backend(&dir), &config);

    let allowed = get(&host.url(&format!("/outbound?url={}", encode(&upstream.url("/ok")))));
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.text(), "status 200\nhello");

    let denied = get(&host.url(&format!("/outbound?url={}", encode(&other.url("/ok")))));
    assert_eq!(denied.status, 502);
    assert_eq!(denied.text(), "error: HttpRequestDenied");
    assert!(other.received().is_empty(), "a denied request must not reach the server");

    let redirect = get(&host.url(&format!("/outbound?url={}", encode(&upstream.url("/redirect")))));
    assert_eq!(redirect.text(), "status 302\n");
    assert_eq!(upstream.received(), ["/ok", "/redirect"], "the redirect target was not requested");
}

#[test]
fn request_body_over_limit_gets_413() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::default();
    setup.limits.max_request_body = 1000;
    let host = TestHost::start(&guest_wasm(), sqlite_backend(&dir), setup).unwrap();

    assert_eq!(post(&host.url("/echo-length"), &[7; 1000]).text(), "1000");
    assert_eq!(post(&host.url("/echo-length"), &[7; 1001]).status, 413, "declared length");
    assert_eq!(post_chunked(&host.url("/echo-length"), vec![7; 1000]).text(), "1000");
    assert_eq!(post_chunked(&host.url("/echo-length"), vec![7; 5000]).status, 413, "chunked body");
    assert_eq!(get(&host.url("/")).text(), "ok", "the host keeps serving");
}

/// More clients than the concurrency limit: requests past it wait for a permit, and each one
/// must find a free instance slot in the pool once it gets the permit.
// NOTE: a permit released before its store dropped lost a slot only when the thread was
// preempted between the two. This test passed even with that bug; `bench/load_run.py` with 200
// sessions on two busy cores got 500s from it within seconds.
#[test]
fn requests_over_concurrency_limit_all_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::default();
    setup.limits.max_concurrent_requests = 1;
    let host = TestHost::start(&guest_wasm(), sqlite_backend(&dir), setup).unwrap();

    let clients: Vec<_> = (0..32)
        .map(|_| {
            let url = host.url("/");
            std::thread::spawn(move || (0..50).map(|_| get(&url).status).filter(|&status| status != 200).count())
        })
        .collect();
    let failures: usize = clients.into_iter().map(|client| client.join().unwrap()).sum();
    assert_eq!(failures, 0, "responses other than 200 out of 1600");
}

#[test]
fn endless_loop_gets_500_and_host_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::default();
    setup.limits.max_cpu_time = Duration::from_millis(300);
    let host = TestHost::start(&guest_wasm(), sqlite_backend(&dir), setup).unwrap();

    let looping = std::thread::spawn({
        let url = host.url("/loop");
        move || get(&url).status
    });
    assert_eq!(get(&host.url("/")).text(), "ok", "served while a guest loops");
    assert_eq!(looping.join().unwrap(), 500);
    assert_eq!(get(&host.url("/")).text(), "ok", "served after the loop was stopped");
}

#[test]
fn memory_over_limit_gets_500() {
    for allocation in [Allocation::PoolingIfAvailable, Allocation::OnDemand] {
        let dir = tempfile::tempdir().unwrap();
        let setup = Setup { max_instance_memory: 32 << 20, allocation, ..Setup::default() };
        let host = TestHost::start(&guest_wasm(), sqlite_backend(&dir), setup).unwrap();
        assert_eq!(get(&host.url("/alloc?mb=4")).text(), "ok", "{allocation:?}");
        assert_eq!(get(&host.url("/alloc?mb=64")).status, 500, "{allocation:?}");
        assert_eq!(get(&host.url("/alloc?mb=4")).text(), "ok", "{allocation:?} after a failure");
    }
}

#[test]
fn unknown_route_is_guest_404() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(sqlite_backend(&dir), "");
    assert_eq!(get(&host.url("/nothing-here")).status, 404);
}

#[test]
fn header_limit_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(sqlite_backend(&dir), "");
    let under = "a".repeat(12_000);
    let reply = support::host::send("GET", &host.url("/"), &[("x-filler", &under)], None);
    assert_eq!(reply.status, 200);
    let over = "a".repeat(17_000);
    let reply = support::host::send("GET", &host.url("/"), &[("x-filler", &over)], None);
    assert_eq!(reply.status, 431, "the default test limit is 16 KiB");
}
