//! Instances made ahead of time, off the hot path, each used for exactly one call (so no state
//! leaks between calls). Off by default: see [`warm_instances`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use wasmtime::{Engine, Store};

use super::sandbox::bindings::{Policy, PolicyPre};
use super::sandbox::{State, fresh_store};

/// Epoch ticks (1 ms) a priming instantiation may take: it runs the component's start-up,
/// bounded like a call.
const PRIMING_TICKS: u64 = 10_000;

/// Ready instances kept per plugin: `MCP_RUNTIME_PLUGIN_WARM_INSTANCES`, default 0 (off).
/// Measured on the 2-vCPU machines here, calls on instances made ahead were slower than
/// instantiating inline (the refill competes with the hot path for the same cores; see the
/// README's figures), so it is opt-in for machines with cores to spare.
pub fn warm_instances() -> usize {
    std::env::var("MCP_RUNTIME_PLUGIN_WARM_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        .min(16)
}

/// The pool of one plugin. A background thread keeps `wanted` instances ready and ends when the
/// pool is dropped. A call that finds none ready instantiates inline.
pub(super) struct Warm {
    ready: Mutex<Vec<(Store<State>, Policy)>>,
    wanted: usize,
    taken: Condvar,
    /// Off only to measure the cost of inline instantiation.
    enabled: AtomicBool,
}

impl Warm {
    pub(super) fn new(wanted: usize) -> Arc<Warm> {
        Arc::new(Warm {
            ready: Mutex::new(Vec::new()),
            wanted,
            taken: Condvar::new(),
            enabled: AtomicBool::new(true),
        })
    }

    pub(super) fn wanted(&self) -> usize {
        self.wanted
    }

    pub(super) fn ready(&self) -> usize {
        self.ready.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub(super) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// A ready instance, if the pool is on and has one; the refill thread is woken.
    pub(super) fn take(&self) -> Option<(Store<State>, Policy)> {
        if !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        let taken = self.ready.lock().ok().and_then(|mut r| r.pop());
        if taken.is_some() {
            self.taken.notify_one();
        }
        taken
    }

    /// Starts the refill thread (when instances are wanted). Instances are primed with a
    /// `validate-settings` call on the plugin's own settings: it runs the guest's lazy start-up
    /// and faults its memory in off the hot path, and it carries nothing of any server (the
    /// settings are the same for every call). A failure ends the thread: calls instantiate inline.
    pub(super) fn start(
        self: &Arc<Self>,
        engine: Engine,
        pre: PolicyPre<State>,
        name: Arc<str>,
        memory_mib: u64,
        settings: String,
    ) {
        if self.wanted == 0 {
            return;
        }
        let weak = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name(format!("warm-{name}"))
            .spawn(move || {
                while let Some(warm) = weak.upgrade() {
                    if !warm.wait_for_room() {
                        continue;
                    }
                    let mut store = fresh_store(&engine, &name, memory_mib);
                    let Some(policy) = prime(&pre, &mut store, &settings) else {
                        return;
                    };
                    if let Ok(mut ready) = warm.ready.lock() {
                        ready.push((store, policy));
                    }
                }
            });
    }

    /// Whether the pool has room now; else waits until a call takes one, or a second passes
    /// (so the thread notices the pool was dropped).
    fn wait_for_room(&self) -> bool {
        let Ok(ready) = self.ready.lock() else {
            return false;
        };
        if ready.len() < self.wanted {
            return true;
        }
        let _ = self.taken.wait_timeout(ready, Duration::from_secs(1));
        false
    }
}

/// An instance of `pre` in `store`, its start-up run by a `validate-settings` call that
/// succeeded; `None` if either failed.
fn prime(pre: &PolicyPre<State>, store: &mut Store<State>, settings: &str) -> Option<Policy> {
    store.set_epoch_deadline(PRIMING_TICKS);
    store.epoch_deadline_trap();
    let policy = pre.instantiate(&mut *store).ok()?;
    let accepted = policy
        .mcp_runtime_plugin_hooks()
        .call_validate_settings(&mut *store, settings);
    if !matches!(accepted, Ok(Ok(()))) {
        return None;
    }
    store.data_mut().reset_logs();
    Some(policy)
}
