//! Runs a `wasi:http` component inside your own Wasmtime program, with efalia-host's
//! `wasi:keyvalue` and `wasi:config` imports, and handles one request without a server.
//!
//! ```sh
//! cargo run -p efalia-host --example embed -- COMPONENT.wasm CONFIG.toml [PATH]
//! ```
//!
//! CONFIG.toml is an efalia-host configuration file. Its `[variables]` become the component's
//! `wasi:config` values and its `[key_value_store.default]` table picks the store, an in-memory
//! SQLite database when no table sets a `type`. PATH is the request path, `/health` by default.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use efalia_host::RuntimeConfig;
use efalia_host::kv::{KvAccess, KvBackend, KvView, SqliteBackend, SqliteLocation};
use efalia_host::outbound::{OutboundHooks, OutboundTimeouts};
use efalia_host::variables::{Variables, VariablesView};
use http_body_util::{BodyExt as _, Full};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Data of the store that runs one request: your program's own type.
pub struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    kv_backend: Arc<dyn KvBackend>,
    kv_access: Arc<KvAccess>,
    variables: Arc<Variables>,
}

impl RequestState {
    /// Builds the data of one request's store from the runtime configuration.
    pub fn new(runtime: &RuntimeConfig, kv_backend: Arc<dyn KvBackend>) -> Self {
        let timeouts = OutboundTimeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(60),
            between_bytes: Duration::from_secs(30),
        };
        Self {
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks::new(Arc::new(runtime.allowed_hosts.clone()), timeouts, 1),
            kv_backend,
            kv_access: Arc::new(runtime.kv_access.clone()),
            variables: Arc::new(runtime.variables.clone()),
        }
    }

    fn kv(&mut self) -> KvView<'_> {
        KvView::new(&mut self.table, &self.kv_backend, &self.kv_access, 1)
    }

    fn variables(&mut self) -> VariablesView<'_> {
        VariablesView::new(&self.variables)
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// Compiles the component and links it: WASI and `wasi:http` from Wasmtime, key-value and
/// config from efalia-host.
pub fn link(engine: &Engine, component_path: &Path) -> anyhow::Result<ProxyPre<RequestState>> {
    let component = Component::from_file(engine, component_path)
        .map_err(|err| anyhow::anyhow!("cannot load {}: {err:#}", component_path.display()))?;
    let mut linker = Linker::<RequestState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    efalia_host::imports::add_to_linker(&mut linker, RequestState::kv, RequestState::variables)?;
    Ok(ProxyPre::new(linker.instantiate_pre(&component)?)?)
}

/// Runs one request in a new store, as `wasi:http` components expect, and returns the
/// response's status and body.
pub async fn handle(
    engine: &Engine,
    pre: &ProxyPre<RequestState>,
    state: RequestState,
    request: hyper::Request<Bytes>,
) -> anyhow::Result<(hyper::StatusCode, Bytes)> {
    let mut store = Store::new(engine, state);
    let request = request.map(|body| {
        Full::new(body).map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
    });
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;

    // The guest may stream the body after it sets the response, so the call runs in its own task.
    let pre = pre.clone();
    let call = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
    });
    let response = receiver.await.context("the component set no response")??;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    call.await??;
    Ok((status, body))
}

#[tokio::main]
#[allow(dead_code, reason = "host/tests/embedding.rs includes this file as a module")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let usage = "usage: embed COMPONENT.wasm CONFIG.toml [PATH]";
    let component_path = PathBuf::from(args.next().context(usage)?);
    let config_path = PathBuf::from(args.next().context(usage)?);
    let path = args.next().map_or_else(|| "/health".to_owned(), |path| path.to_string_lossy().into_owned());

    // Variables, store labels and allow-list, with EFALIA_VARIABLE_<NAME> overrides.
    let runtime = RuntimeConfig::load(Some(&config_path), std::env::vars(), &[])?;
    let kv_backend: Arc<dyn KvBackend> = match &runtime.kv_store {
        Some(store) => store.open().await?,
        None => Arc::new(SqliteBackend::open(SqliteLocation::InMemory)?),
    };

    let engine = Engine::default();
    let pre = link(&engine, &component_path)?;
    let request = hyper::Request::get(format!("http://localhost{path}")).body(Bytes::new())?;
    let (status, body) = handle(&engine, &pre, RequestState::new(&runtime, kv_backend), request).await?;
    println!("{status}");
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}
