//! The Wasmtime engine: compilation settings, the pooling allocator with its fallback, and the
//! epoch ticker that bounds guest CPU time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Interval between two epoch increments; CPU time limits are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Allocation strategy of instance memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// The pooling allocator when the machine can reserve its address space, else on demand.
    PoolingIfAvailable,
    /// Allocation on demand for every instance.
    OnDemand,
}

/// Settings the engine is built with.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Pooling or on-demand allocation.
    pub allocation: Allocation,
    /// Largest linear memory of one instance, in bytes.
    pub max_instance_memory: usize,
    /// Instances alive at once; sizes the pool.
    pub max_instances: u32,
}

/// Bytes at the start of each pooled linear memory that are reset with `memset` and kept mapped,
/// in place of `madvise` and page faults at the next instance. 512 KiB raised the connector's
/// requests per second by about 12 % in `bench/routes_bench.py`.
const MEMORY_KEEP_RESIDENT_BYTES: usize = 512 * 1024;
/// Same for each pooled table.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 * 1024;

/// Builds the engine, trying the pooling allocator first when allowed.
///
/// Returns the engine and whether it pools. The pool reserves virtual address space up front,
/// which fails on machines with a small address space or a strict overcommit policy. The
/// on-demand allocator then takes over, with a warning.
///
/// # Errors
/// Fails when even the on-demand engine cannot be built.
pub fn build_engine(options: &EngineOptions) -> anyhow::Result<(Engine, bool)> {
    if options.allocation == Allocation::PoolingIfAvailable {
        let mut pool = PoolingAllocationConfig::default();
        // Each request has one component instance; a Rust component has a handful of core
        // instances, one memory and one table each.
        pool.total_component_instances(options.max_instances)
            .total_core_instances(options.max_instances.saturating_mul(4))
            .total_memories(options.max_instances)
            .total_tables(options.max_instances.saturating_mul(2))
            .total_stacks(options.max_instances)
            .max_memory_size(options.max_instance_memory)
            .max_memories_per_component(2)
            .max_tables_per_component(4)
            .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT_BYTES)
            .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);
        let mut config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&config) {
            Ok(engine) => return Ok((engine, true)),
            Err(err) => tracing::warn!(
                error = format!("{err:#}"),
                "pooling allocator unavailable on this machine, using on-demand allocation"
            ),
        }
    }
    Ok((Engine::new(&base_config())?, false))
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts the ticker thread.
    ///
    /// # Errors
    /// Fails when the thread cannot be spawned.
    pub fn start(engine: &Engine) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let thread = std::thread::Builder::new().name("epoch-ticker".to_owned()).spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            }
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // NB: the thread only sleeps and ticks, so it cannot panic; a join error is ignored.
            let _ = thread.join();
        }
    }
}
