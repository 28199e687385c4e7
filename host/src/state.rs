//! Per-request store data: the WASI, HTTP, key-value and config contexts of one instance.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::kv::{KvAccess, KvBackend, KvView};
use crate::outbound::OutboundHooks;
use crate::variables::{Variables, VariablesView};

/// Data of the `Store` that serves one request.
pub struct RequestState {
    pub(crate) request_id: u64,
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: OutboundHooks,
    pub(crate) limits: StoreLimits,
    pub(crate) kv_backend: Arc<dyn KvBackend>,
    pub(crate) kv_access: Arc<KvAccess>,
    pub(crate) variables: Arc<Variables>,
    /// Epoch ticks during which guest code ran, to bound its CPU time.
    pub(crate) cpu_ticks: u64,
}

impl RequestState {
    pub(crate) fn kv(&mut self) -> KvView<'_> {
        KvView {
            table: &mut self.table,
            backend: &self.kv_backend,
            access: &self.kv_access,
            request_id: self.request_id,
        }
    }

    pub(crate) fn variables(&mut self) -> VariablesView<'_> {
        VariablesView { variables: &self.variables }
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

/// Guest stdout or stderr, written to the log line by line with the request id.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    pub(crate) request_id: u64,
    pub(crate) stream: &'static str,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineLogger { output: self.clone(), pending: Vec::new() })
    }

    /// Logs guest writes as they arrive. Wasmtime's default adapter would spawn a task per
    /// stream and make every guest flush wait for it, about 100 µs per request that logs a line.
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(LineLogger { output: self.clone(), pending: Vec::new() })
    }
}

/// Maximum length of a logged guest line, in bytes; longer lines are logged in pieces.
const MAX_LINE_BYTES: usize = 4096;

struct LineLogger {
    output: GuestOutput,
    pending: Vec<u8>,
}

impl LineLogger {
    /// Logs one guest line, at the level it starts with (`level=error`, `level=warn`), else info.
    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        let (request_id, stream) = (self.output.request_id, self.output.stream);
        if line.starts_with("level=error") {
            tracing::error!(target: "guest", request_id, stream, "{line}");
        } else if line.starts_with("level=warn") {
            tracing::warn!(target: "guest", request_id, stream, "{line}");
        } else {
            tracing::info!(target: "guest", request_id, stream, "{line}");
        }
    }
}

impl LineLogger {
    /// Logs every complete line of `buf` and of what was pending before it.
    fn push(&mut self, buf: &[u8]) {
        self.pending.extend_from_slice(buf);
        while let Some(newline) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=newline).collect();
            self.emit(&line[..line.len() - 1]);
        }
        while self.pending.len() >= MAX_LINE_BYTES {
            let piece: Vec<u8> = self.pending.drain(..MAX_LINE_BYTES).collect();
            self.emit(&piece);
        }
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for LineLogger {
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for LineLogger {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(MAX_LINE_BYTES)
    }
}

impl tokio::io::AsyncWrite for LineLogger {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineLogger {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
        }
    }
}
