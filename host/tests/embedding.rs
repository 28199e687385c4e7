//! The embedding example, `host/examples/embed.rs`, run against the test guest: the library's
//! imports in the example's own engine, linker and store read variables, use the key-value
//! backend the caller opened, and hold the guest to the outbound allow-list.

mod support;

#[path = "../examples/embed.rs"]
mod embed;

use std::sync::Arc;

use bytes::Bytes;
use efalia_host::RuntimeConfig;
use efalia_host::kv::{KvBackend, SqliteBackend, SqliteLocation};
use support::guest::guest_wasm;
use support::upstream::Upstream;
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// The test guest linked by the example, with the runtime configuration of `config_toml` and an
/// in-memory SQLite backend.
struct Embedder {
    engine: Engine,
    pre: ProxyPre<embed::RequestState>,
    runtime: RuntimeConfig,
    kv_backend: Arc<dyn KvBackend>,
}

impl Embedder {
    fn new(config_toml: &str) -> Self {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), config_toml).unwrap();
        let runtime = RuntimeConfig::load(Some(file.path()), std::iter::empty(), &[]).unwrap();
        let engine = Engine::default();
        let pre = embed::link(&engine, &guest_wasm()).unwrap();
        let kv_backend: Arc<dyn KvBackend> = Arc::new(SqliteBackend::open(SqliteLocation::InMemory).unwrap());
        Self { engine, pre, runtime, kv_backend }
    }

    /// Runs one request and returns the status code and the body as text.
    async fn handle(&self, method: &str, path: &str, body: &'static [u8]) -> (u16, String) {
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://localhost{path}"))
            .body(Bytes::from_static(body))
            .unwrap();
        let state = embed::RequestState::new(&self.runtime, self.kv_backend.clone());
        let (status, body) = embed::handle(&self.engine, &self.pre, state, request).await.unwrap();
        (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_guest_reads_variables() {
    let embedder = Embedder::new("[variables]\ngreeting = \"bonjour\"\n");
    assert_eq!(embedder.handle("GET", "/config/get?name=greeting", b"").await, (200, "bonjour".to_owned()));
    assert_eq!(embedder.handle("GET", "/config/get?name=absent", b"").await, (404, "missing".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_guest_uses_caller_backend() {
    let embedder = Embedder::new("");
    let (status, _) = embedder.handle("PUT", "/kv/set?store=default&key=colour", b"blue").await;
    assert_eq!(status, 204);

    let read_back = embedder.handle("GET", "/kv/get?store=default&key=colour", b"").await;
    assert_eq!(read_back, (200, "blue".to_owned()));
    let stored = embedder.kv_backend.get("default", "colour").await.unwrap();
    assert_eq!(stored, Some(b"blue".to_vec()));
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_guest_opens_only_listed_labels() {
    let embedder = Embedder::new("[key_value_store.archive]\n");
    let undefined = embedder.handle("GET", "/kv/get?store=cache&key=colour", b"").await;
    assert_eq!(undefined, (404, "no-such-store".to_owned()));
    let not_listed = embedder.handle("GET", "/kv/get?store=archive&key=colour", b"").await;
    assert_eq!(not_listed, (403, "access-denied".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_guest_follows_allow_list() {
    let upstream = Upstream::start();
    let origin = upstream.url("");
    let embedder = Embedder::new(&format!("[component]\nallowed_outbound_hosts = [\"{origin}\"]\n"));

    let allowed = embedder.handle("GET", &format!("/outbound?url={origin}/ok"), b"").await;
    assert_eq!(allowed, (200, "status 200\nhello".to_owned()));
    let other_host = origin.replace("127.0.0.1", "localhost");
    let denied = embedder.handle("GET", &format!("/outbound?url={other_host}/denied"), b"").await;
    assert_eq!(denied, (502, "error: HttpRequestDenied".to_owned()));
    assert_eq!(upstream.received(), vec!["/ok".to_owned()]);
}
