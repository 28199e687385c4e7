//! Serving: the component compiled and pre-instantiated once, one store per request, limits,
//! request spans, and graceful shutdown.

use std::convert::Infallible;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument as _;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView as _};

use crate::engine::{EPOCH_TICK, EngineOptions, EpochTicker, build_engine};
use crate::kv::KvBackend;
use crate::outbound::{OutboundHooks, OutboundTimeouts};
use crate::runtime_config::RuntimeConfig;
use crate::state::{GuestOutput, RequestState};

/// Bounds applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Guest CPU time per request, counted in epoch ticks while guest code runs.
    pub max_cpu_time: Duration,
    /// Largest request body, in bytes.
    pub max_request_body: u64,
    /// Requests served at once; others wait for a free slot.
    pub max_concurrent_requests: usize,
    /// Largest request header section, in bytes.
    pub max_header_bytes: usize,
    /// Time a client has to send the request headers.
    pub header_read_timeout: Duration,
}

/// Everything needed to serve one component.
pub struct HostOptions {
    /// Engine settings (allocation strategy, memory per instance).
    pub engine: EngineOptions,
    /// Per-request bounds.
    pub limits: RequestLimits,
    /// Upper bounds of outbound HTTP timeouts.
    pub outbound_timeouts: OutboundTimeouts,
    /// Variables, store labels and allow-list of the component.
    pub runtime: RuntimeConfig,
    /// The key-value backend every store label lives in.
    pub kv_backend: Arc<dyn KvBackend>,
}

/// A component ready to serve: compiled, linked and pre-instantiated once.
pub struct Host {
    engine: Engine,
    pre: ProxyPre<RequestState>,
    limits: RequestLimits,
    outbound_timeouts: OutboundTimeouts,
    runtime: RuntimeConfig,
    kv_backend: Arc<dyn KvBackend>,
    kv_access: Arc<crate::kv::KvAccess>,
    variables: Arc<crate::variables::Variables>,
    allowed_hosts: Arc<crate::outbound::AllowedHosts>,
    permits: Arc<Semaphore>,
    next_request_id: AtomicU64,
    pooling: bool,
    max_instance_memory: usize,
    _ticker: EpochTicker,
}

/// Error of a guest that ran past its CPU time limit.
#[derive(Debug, thiserror::Error)]
#[error("guest exceeded its CPU time limit of {0:?}")]
pub struct CpuTimeExceeded(Duration);

impl Host {
    /// Compiles the component at `path`, links it and pre-instantiates it.
    ///
    /// # Errors
    /// Fails with a one-line reason when the file is missing, is not a component, lacks the
    /// `wasi:http/incoming-handler` export, or imports something the host does not provide.
    pub fn new(path: &Path, options: HostOptions) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read component {}", path.display()))?;
        Self::from_bytes(&bytes, &path.display().to_string(), options)
    }

    /// Same as [`Host::new`] with the component's bytes; `name` is used in errors.
    ///
    /// # Errors
    /// As [`Host::new`].
    pub fn from_bytes(bytes: &[u8], name: &str, options: HostOptions) -> anyhow::Result<Self> {
        let max_instances = u32::try_from(options.limits.max_concurrent_requests).unwrap_or(u32::MAX);
        let engine_options = EngineOptions { max_instances, ..options.engine };
        let (engine, pooling) = build_engine(&engine_options)?;
        let component = load_component(&engine, bytes, name)?;

        let mut linker = Linker::<RequestState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::imports::add_to_linker(&mut linker, RequestState::kv, RequestState::variables)?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|err| anyhow::anyhow!("{name}: {}", one_line(&err)))?;
        let pre = ProxyPre::new(instance_pre).map_err(|err| {
            anyhow::anyhow!("{name} does not export wasi:http/incoming-handler@0.2.x: {}", one_line(&err))
        })?;

        let ticker = EpochTicker::start(&engine)?;
        let runtime = options.runtime;
        Ok(Self {
            engine,
            pre,
            limits: options.limits,
            outbound_timeouts: options.outbound_timeouts,
            kv_access: Arc::new(runtime.kv_access.clone()),
            variables: Arc::new(runtime.variables.clone()),
            allowed_hosts: Arc::new(runtime.allowed_hosts.clone()),
            runtime,
            kv_backend: options.kv_backend,
            permits: Arc::new(Semaphore::new(options.limits.max_concurrent_requests.max(1))),
            next_request_id: AtomicU64::new(1),
            pooling,
            max_instance_memory: engine_options.max_instance_memory,
            _ticker: ticker,
        })
    }

    /// Returns whether instances come from the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.pooling
    }

    /// Returns the runtime configuration the host serves the component with.
    pub fn runtime(&self) -> &RuntimeConfig {
        &self.runtime
    }

    /// Accepts connections on `listener` until `shutdown` resolves, then stops accepting and waits
    /// at most `grace` for in-flight requests.
    ///
    /// # Errors
    /// Fails only when the listener's address cannot be read.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> anyhow::Result<()> {
        let address = listener.local_addr()?;
        tracing::info!(%address, pooling = self.pooling, kv = %self.kv_backend.summary(), "serving");

        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_buf_size(self.limits.max_header_bytes.max(8192))
            .keep_alive(true);
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Running out of file descriptors is the usual cause: back off briefly.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Small response chunks of streaming guests should leave at once.
            let _ = stream.set_nodelay(true);
            let host = self.clone();
            let service = hyper::service::service_fn(move |request| {
                let host = host.clone();
                async move { Ok::<_, Infallible>(host.handle(request).await) }
            });
            let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
            });
        }

        drop(listener);
        tracing::info!("shutting down: no new connections, waiting for requests in flight");
        match tokio::time::timeout(grace, graceful.shutdown()).await {
            Ok(()) => tracing::info!("all requests finished"),
            Err(_) => tracing::warn!(grace_seconds = grace.as_secs(), "shutdown deadline passed with requests in flight"),
        }
        Ok(())
    }

    /// Serves one request: runs the component in a new store and returns its response, or a
    /// host error response (400, 413, 500).
    pub async fn handle(self: Arc<Self>, request: hyper::Request<Incoming>) -> hyper::Response<HyperOutgoingBody> {
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        // The query is left out of the span and logs because it may carry tokens.
        let span = tracing::info_span!(
            "request",
            request_id,
            method = %request.method(),
            path = %request.uri().path(),
        );
        async move {
            let response = self.dispatch(request_id, request).await;
            tracing::info!(
                status = response.status().as_u16(),
                duration_us = started.elapsed().as_micros() as u64,
                "request served"
            );
            response
        }
        .instrument(span)
        .await
    }

    async fn dispatch(&self, request_id: u64, request: hyper::Request<Incoming>) -> hyper::Response<HyperOutgoingBody> {
        // hyper's read buffer bounds the header section only roughly, so count it exactly here.
        let header_bytes: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
        if header_bytes > self.limits.max_header_bytes {
            tracing::warn!(header_bytes, max = self.limits.max_header_bytes, "request headers over the limit");
            return host_response(http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large\n");
        }
        let max_body = self.limits.max_request_body;
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max_body) {
            tracing::warn!(declared, max_body, "request body over the limit");
            return host_response(http::StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        }

        // NB: the semaphore is never closed, so acquiring a permit cannot fail.
        let permit = self.permits.clone().acquire_owned().await.expect("semaphore closed");
        let body_exceeded = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| LimitedBody {
            inner: body,
            remaining: max_body,
            limit: max_body,
            exceeded: body_exceeded.clone(),
        });

        let mut store = self.new_store(request_id);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let resources = store.data_mut().http().new_incoming_request(Scheme::Http, request).and_then(|request| {
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok((request, out))
        });
        let (incoming, outparam) = match resources {
            Ok(resources) => resources,
            Err(err) => {
                tracing::warn!(error = %one_line(&err), "invalid request");
                return host_response(http::StatusCode::BAD_REQUEST, "invalid request\n");
            }
        };

        let pre = self.pre.clone();
        let task = tokio::spawn(
            async move {
                let result = async {
                    let proxy = pre.instantiate_async(&mut store).await?;
                    proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
                }
                .await;
                // The instance gives its pool slot back when the store drops. Releasing the permit
                // first would let a waiting request instantiate while every slot is still taken,
                // and fail with "maximum concurrent limit ... reached".
                drop(store);
                drop(permit);
                if let Err(err) = &result {
                    tracing::error!(error = %one_line(err), "guest failed");
                }
                result.is_ok()
            }
            .in_current_span(),
        );

        match receiver.await {
            Ok(Ok(response)) if body_exceeded.load(Ordering::Relaxed) => {
                tracing::warn!(guest_status = response.status().as_u16(), max_body, "request body over the limit");
                host_response(http::StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
            }
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                tracing::error!(error_code = ?code, "guest returned an error code instead of a response");
                host_response(http::StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
            }
            Err(_) => {
                // The guest dropped the outparam without a response; its task logged why.
                if let Ok(true) = task.await {
                    tracing::error!("guest returned without setting a response");
                }
                host_response(http::StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
            }
        }
    }

    fn new_store(&self, request_id: u64) -> Store<RequestState> {
        let wasi = WasiCtx::builder()
            .stdout(GuestOutput { request_id, stream: "stdout" })
            .stderr(GuestOutput { request_id, stream: "stderr" })
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(self.limits.max_header_bytes);
        let state = RequestState {
            request_id,
            table: ResourceTable::new(),
            wasi,
            http,
            hooks: OutboundHooks {
                allowed: self.allowed_hosts.clone(),
                timeouts: self.outbound_timeouts,
                request_id,
            },
            limits: StoreLimitsBuilder::new().memory_size(self.max_instance_memory).build(),
            kv_backend: self.kv_backend.clone(),
            kv_access: self.kv_access.clone(),
            variables: self.variables.clone(),
            cpu_ticks: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);

        let max_cpu_time = self.limits.max_cpu_time;
        let max_ticks = (max_cpu_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(1);
        // Each callback means guest code was running when a tick passed; time spent waiting on
        // the host (I/O, key-value) does not count. Yielding keeps a busy guest from holding a
        // worker thread.
        store.epoch_deadline_callback(move |mut context| {
            let state = context.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_ticks > max_ticks {
                return Err(CpuTimeExceeded(max_cpu_time).into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

}

fn load_component(engine: &Engine, bytes: &[u8], name: &str) -> anyhow::Result<Component> {
    const CORE_MODULE_HEADER: [u8; 8] = [0, b'a', b's', b'm', 1, 0, 0, 0];
    if bytes.starts_with(&CORE_MODULE_HEADER) {
        anyhow::bail!("{name} is a core WebAssembly module, not a component; build it for wasm32-wasip2");
    }
    if !bytes.starts_with(b"\0asm") {
        anyhow::bail!("{name} is not a WebAssembly component (no `\\0asm` header)");
    }
    Component::new(engine, bytes)
        .map_err(|err| anyhow::anyhow!("{name} is not a valid WebAssembly component: {}", one_line(&err)))
}

/// Formats an error chain on one line, for logs and start-up errors.
pub(crate) fn one_line(err: &impl std::fmt::Display) -> String {
    format!("{err:#}").replace('\n', " ")
}

fn host_response(status: http::StatusCode, text: &'static str) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(text.as_bytes())).map_err(|never: Infallible| match never {});
    let mut response = hyper::Response::new(BodyExt::boxed_unsync(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Request body that fails once more than `limit` bytes arrive, and records that it did.
struct LimitedBody {
    inner: Incoming,
    remaining: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(match frame {
            Some(Ok(frame)) => {
                let length = frame.data_ref().map_or(0, |data| data.len() as u64);
                if length > self.remaining {
                    self.exceeded.store(true, Ordering::Relaxed);
                    Some(Err(wasmtime_wasi_http::Error::HttpRequestBodySize(Some(self.limit))))
                } else {
                    self.remaining -= length;
                    Some(Ok(frame))
                }
            }
            Some(Err(err)) => Some(Err(wasmtime_wasi_http::Error::Hyper(err))),
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
