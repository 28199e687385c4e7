//! Log set-up shared by the binary and embedders.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::FilterFn;

/// Returns a filter that drops TRACE spans and events of Wasmtime's WASI crates.
///
/// Their generated bindings log host-call arguments at TRACE, among them the request path with
/// its query (where download and callback tokens travel) and the URLs of outbound requests
/// (signed Document Server URLs). Dropping them keeps those out of logs at every level.
pub fn without_wasi_argument_traces() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    FilterFn::new(keeps as fn(&Metadata<'_>) -> bool)
}

fn keeps(metadata: &Metadata<'_>) -> bool {
    !(*metadata.level() == Level::TRACE && metadata.target().starts_with("wasmtime_wasi"))
}
