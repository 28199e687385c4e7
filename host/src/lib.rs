//! A Wasmtime host that serves one `wasi:http/proxy@0.2` component over HTTP/1.1, and gives it
//! what Spin gives it:
//!
//! - `wasi:keyvalue/{store,batch,atomics}@0.2.0-draft2` backed by SQLite (one file, Spin's
//!   `spin_key_value` table) or Redis, with store labels checked as Spin checks them;
//! - `wasi:config/store@0.2.0-draft-2024-09-27` serving variables from a TOML file and the
//!   environment;
//! - `wasi:http/outgoing-handler` restricted to an allow-list in Spin's `allowed_outbound_hosts`
//!   grammar, with no redirect followed and capped timeouts.
//!
//! The component is compiled and pre-instantiated once; each request gets its own store, with
//! bounds on memory, CPU time, body size and concurrency.
//!
//! Embedding it in a program:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use efalia_host::{Host, HostOptions, RequestLimits, RuntimeConfig};
//! use efalia_host::engine::{Allocation, EngineOptions};
//! use efalia_host::kv::{SqliteBackend, SqliteLocation};
//! use efalia_host::outbound::OutboundTimeouts;
//!
//! # async fn run() -> anyhow::Result<()> {
//! let kv_backend = Arc::new(SqliteBackend::open(SqliteLocation::Path("data/kv.sqlite3".into()))?);
//! let options = HostOptions {
//!     engine: EngineOptions {
//!         allocation: Allocation::PoolingIfAvailable,
//!         max_instance_memory: 128 << 20,
//!         max_instances: 100,
//!     },
//!     limits: RequestLimits {
//!         max_cpu_time: Duration::from_secs(30),
//!         max_request_body: 256 << 20,
//!         max_concurrent_requests: 100,
//!         max_header_bytes: 64 << 10,
//!         header_read_timeout: Duration::from_secs(30),
//!     },
//!     outbound_timeouts: OutboundTimeouts {
//!         connect: Duration::from_secs(10),
//!         first_byte: Duration::from_secs(60),
//!         between_bytes: Duration::from_secs(30),
//!     },
//!     runtime: RuntimeConfig::load(Some("host.toml".as_ref()), std::env::vars(), &[])?,
//!     kv_backend,
//! };
//! let host = Arc::new(Host::new("connector.wasm".as_ref(), options)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! host.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }, Duration::from_secs(30)).await
//! # }
//! ```

mod bindings;
pub mod dev;
pub mod engine;
pub mod imports;
pub mod kv;
pub mod logging;
pub mod outbound;
pub mod runtime_config;
mod server;
mod state;
pub mod variables;

pub use self::runtime_config::{KvStoreConfig, RuntimeConfig};
pub use self::server::{CpuTimeExceeded, Host, HostOptions, RequestLimits};
