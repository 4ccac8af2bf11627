//! The one wasmtime `Engine` (pooling allocator, copy-on-write memory images, epoch
//! interruption), the epoch ticker that gives deadlines millisecond precision, and the on-disk
//! cache of compiled components.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Epoch ticks per second: deadlines are in milliseconds.
pub const TICK: Duration = Duration::from_millis(1);
/// Upper bound of any plugin's memory (plugin.schema.json allows up to 1024 MiB).
pub const MAX_MEMORY: usize = 1024 << 20;

/// The shared engine, created once with its ticker thread.
pub fn engine() -> Result<Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let engine = build().map_err(|e| e.to_string())?;
            let ticker = engine.weak();
            // A plain thread: ticking must not depend on the async runtime being responsive.
            let spawned = std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || tick(ticker));
            spawned.map_err(|e| e.to_string())?;
            Ok(engine)
        })
        .clone()
}

/// When the ticker started, and how many [`TICK`]s it has added to the engine's epoch since.
/// The count is published after each increment, so it never runs ahead of the epoch.
struct Clock {
    start: std::time::Instant,
    ticked: AtomicU64,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

fn clock() -> &'static Clock {
    CLOCK.get_or_init(|| Clock {
        start: std::time::Instant::now(),
        ticked: AtomicU64::new(0),
    })
}

/// Keeps the epoch at the number of [`TICK`]s since the engine started, whatever the sleeps
/// took. A plain "sleep 1 ms, add one" runs slow on a busy machine, where a 1 ms sleep often
/// lasts several: on a busy node every late wake was added to every deadline (a 50 ms limit
/// stopped 11 ms late at p50, 81 ms at worst). Catching up on each wake leaves only the last
/// wake's lateness.
fn tick(ticker: wasmtime::EngineWeak) {
    let clock = clock();
    while let Some(engine) = ticker.upgrade() {
        let due = (clock.start.elapsed().as_micros() / TICK.as_micros()) as u64;
        while clock.ticked.load(Ordering::Acquire) < due {
            engine.increment_epoch();
            clock.ticked.fetch_add(1, Ordering::Release);
        }
        drop(engine);
        std::thread::sleep(TICK);
    }
}

/// How many epoch ticks from now a store's deadline must be so that it traps no sooner than
/// `at`. Counted from the ticks already added, not from the wall clock: when the ticker is late
/// the epoch lags the clock, and its catch-up would otherwise spend part of a deadline measured
/// from the clock at once (a 20 ms cap cut a call after 18.9 ms on a busy CI machine). The tick
/// that reaches the deadline is added only once the clock has passed `at`.
pub fn ticks_until(at: std::time::Instant) -> u64 {
    let clock = clock();
    let due = at.saturating_duration_since(clock.start).as_micros();
    let target = due.div_ceil(TICK.as_micros()) as u64;
    target
        .saturating_sub(clock.ticked.load(Ordering::Acquire))
        .max(1)
}

fn build() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(256)
        .total_core_instances(1024)
        .total_memories(256)
        .total_tables(1024)
        .max_memory_size(MAX_MEMORY)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_memories_per_module(4)
        .max_tables_per_module(8)
        .table_elements(200_000)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(4 << 20);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Where compiled components are kept: `$MCP_RUNTIME_CACHE/plugins/<engine>`.
pub fn cache_dir(engine: &Engine) -> PathBuf {
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let base = std::env::var("MCP_RUNTIME_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/mcp-runtime")
        });
    base.join("plugins").join(format!("{:016x}", h.finish()))
}

/// How a component was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Compiled,
    Cache,
    /// A webhook: nothing compiled.
    Remote,
}

/// The component for `bytes` (whose sha256 hex is `digest`): from the cache when present,
/// otherwise compiled and written to the cache (atomically; a failed write only costs a
/// compile next time).
pub fn component(
    engine: &Engine,
    bytes: &[u8],
    digest: &str,
    cache: Option<&Path>,
) -> wasmtime::Result<(Arc<Component>, Source)> {
    if let Some(dir) = cache {
        let file = dir.join(format!("{digest}.cwasm"));
        if file.exists() {
            // SAFETY: the file was written by `Component::serialize` of this engine
            // configuration (the directory is keyed by its compatibility hash) and named by the
            // digest of the verified source; wasmtime still checks its header.
            if let Ok(c) = unsafe { Component::deserialize_file(engine, &file) } {
                return Ok((Arc::new(c), Source::Cache));
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Some(dir) = cache
        && std::fs::create_dir_all(dir).is_ok()
        && let Ok(serialized) = component.serialize()
    {
        let tmp = dir.join(format!(".{digest}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, serialized).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join(format!("{digest}.cwasm")));
        }
    }
    Ok((Arc::new(component), Source::Compiled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_deadline_is_never_armed_sooner_than_asked_however_late_the_ticker() {
        engine().unwrap();
        // Whether the ticker is on time or behind, the ticks still to come cover the wait.
        for ms in [1u64, 20, 50, 1_000] {
            let ticks = ticks_until(Instant::now() + Duration::from_millis(ms));
            assert!(ticks >= ms, "{ms} ms armed as {ticks} ticks");
        }
        // A moment already past still gets one tick, so the call can trap.
        assert_eq!(ticks_until(Instant::now() - Duration::from_millis(5)), 1);
    }
}
