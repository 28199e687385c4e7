//! Runs the host for tests: in process on a background runtime, or as the real binary.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use efalia_host::engine::{Allocation, EngineOptions};
use efalia_host::kv::KvBackend;
use efalia_host::outbound::OutboundTimeouts;
use efalia_host::{Host, HostOptions, RequestLimits, RuntimeConfig};

/// Settings of an in-process test host; `Default` gives generous limits.
pub struct Setup {
    pub config_toml: String,
    pub limits: RequestLimits,
    pub max_instance_memory: usize,
    pub allocation: Allocation,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            config_toml: String::new(),
            limits: RequestLimits {
                max_cpu_time: Duration::from_secs(30),
                max_request_body: 16 << 20,
                max_concurrent_requests: 64,
                max_header_bytes: 16 << 10,
                header_read_timeout: Duration::from_secs(10),
            },
            max_instance_memory: 128 << 20,
            allocation: Allocation::PoolingIfAvailable,
        }
    }
}

/// A host serving on 127.0.0.1 with a port chosen by the system, stopped on drop.
pub struct TestHost {
    pub address: SocketAddr,
    pub pooling: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestHost {
    pub fn start(wasm: &Path, kv_backend: Arc<dyn KvBackend>, setup: Setup) -> anyhow::Result<Self> {
        let config_file = tempfile::NamedTempFile::new()?;
        std::fs::write(config_file.path(), &setup.config_toml)?;
        let runtime_config = RuntimeConfig::load(Some(config_file.path()), std::iter::empty(), &[])?;
        let options = HostOptions {
            engine: EngineOptions {
                allocation: setup.allocation,
                max_instance_memory: setup.max_instance_memory,
                max_instances: setup.limits.max_concurrent_requests as u32,
            },
            limits: setup.limits,
            outbound_timeouts: OutboundTimeouts {
                connect: Duration::from_secs(5),
                first_byte: Duration::from_secs(10),
                between_bytes: Duration::from_secs(10),
            },
            runtime: runtime_config,
            kv_backend,
        };
        let host = Arc::new(Host::new(wasm, options)?);
        let pooling = host.is_pooling();
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("test runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
                address_tx.send(listener.local_addr().unwrap()).unwrap();
                let shutdown = async {
                    let _ = shutdown_rx.await;
                };
                host.serve(listener, shutdown, Duration::from_secs(5)).await.unwrap();
            });
        });
        let address = address_rx.recv_timeout(Duration::from_secs(30))?;
        Ok(Self { address, pooling, shutdown: Some(shutdown_tx), thread: Some(thread) })
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.address)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A response reduced to what tests check.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Returns the first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Parses the body as JSON, panicking with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| panic!("{err}: {}", self.text()))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn reply(response: http::Response<ureq::Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let body = response.into_body().with_config().limit(256 << 20).read_to_vec().expect("read response body");
    Reply { status, headers, body }
}

/// Sends a request with headers and an optional body.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.map(<[u8]>::to_vec).unwrap_or_default()).expect("valid request");
    reply(agent().run(request).expect("HTTP request"))
}

pub fn get(url: &str) -> Reply {
    reply(agent().get(url).call().expect("GET request"))
}

pub fn delete(url: &str) -> Reply {
    reply(agent().delete(url).call().expect("DELETE request"))
}

pub fn put(url: &str, body: &[u8]) -> Reply {
    reply(agent().put(url).send(body).expect("PUT request"))
}

pub fn post(url: &str, body: &[u8]) -> Reply {
    reply(agent().post(url).send(body).expect("POST request"))
}

/// Sends a body without a length, so it travels in chunked encoding.
pub fn post_chunked(url: &str, body: Vec<u8>) -> Reply {
    let reader = std::io::Cursor::new(body);
    reply(agent().post(url).send(ureq::SendBody::from_owned_reader(reader)).expect("POST request"))
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut encoded = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
