//! Links the host's `wasi:keyvalue` and `wasi:config` implementations into a caller's `Linker`,
//! for programs that run components with their own engine and store instead of [`crate::Host`].

use wasmtime::component::Linker;

use crate::kv::KvView;
use crate::variables::VariablesView;

/// Adds `wasi:keyvalue/{store,batch,atomics}@0.2.0-draft2` and
/// `wasi:config/store@0.2.0-draft-2024-09-27` to `linker`.
///
/// `kv` and `variables` return the per-store views the imports run on, built with
/// [`KvView::new`] and [`VariablesView::new`] from the store's data. The linker also needs
/// WASI and `wasi:http`, which `wasmtime_wasi::p2::add_to_linker_async` and
/// `wasmtime_wasi_http::p2::add_only_http_to_linker_async` add.
///
/// # Errors
/// Fails when `linker` already defines one of these interfaces.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    kv: fn(&mut T) -> KvView<'_>,
    variables: fn(&mut T) -> VariablesView<'_>,
) -> anyhow::Result<()> {
    use crate::bindings::wasi::{config, keyvalue};
    keyvalue::store::add_to_linker::<_, KvView<'static>>(linker, kv)?;
    keyvalue::batch::add_to_linker::<_, KvView<'static>>(linker, kv)?;
    keyvalue::atomics::add_to_linker::<_, KvView<'static>>(linker, kv)?;
    config::store::add_to_linker::<_, VariablesView<'static>>(linker, variables)?;
    Ok(())
}
