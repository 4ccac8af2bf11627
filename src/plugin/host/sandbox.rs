//! What a guest runs inside: the bindings of the WIT world, the per-call store with its memory
//! limiter, and the one host function a plugin may import (`log`, bounded). Nothing else is
//! linked, so a plugin has no file, network, clock or environment access.

use std::sync::Arc;

use wasmtime::{Engine, ResourceLimiter, Store};

pub(super) mod bindings {
    wasmtime::component::bindgen!({
        path: "plugins/wit",
        world: "policy",
    });
}

pub use bindings::mcp_runtime::plugin::types::{Context, Hook as WitHook, Level, Violation};

/// Log lines a plugin may emit per call, and their length.
const MAX_LOG_LINES: usize = 64;
const MAX_LOG_BYTES: usize = 1024;

/// Tables a guest may grow to, in elements: far above what a policy needs, far below what
/// would exhaust the host.
const MAX_TABLE_ELEMENTS: usize = 200_000;

/// Per-call store data: the memory limiter and the plugin's log lines.
pub struct State {
    limiter: Limiter,
    logs: usize,
    plugin: Arc<str>,
}

impl State {
    /// Whether the call failed because it reached the memory limit (a trap alone cannot say).
    pub(super) fn memory_limit_hit(&self) -> bool {
        self.limiter.hit
    }

    /// Forgets the log lines of a priming call, so the real call gets its full allowance.
    pub(super) fn reset_logs(&mut self) {
        self.logs = 0;
    }
}

struct Limiter {
    max_memory: usize,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl bindings::mcp_runtime::plugin::types::Host for State {}

impl bindings::mcp_runtime::plugin::host::Host for State {
    fn log(&mut self, level: Level, message: String) {
        if self.logs >= MAX_LOG_LINES {
            return;
        }
        self.logs += 1;
        let message = bounded(message);
        let plugin = &*self.plugin;
        match level {
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// A log line cut to `MAX_LOG_BYTES` on a character boundary, marked when cut.
fn bounded(mut message: String) -> String {
    if message.len() > MAX_LOG_BYTES {
        let mut cut = MAX_LOG_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// A store for one call of plugin `name`, its memory bounded to `memory_mib`.
pub(super) fn fresh_store(engine: &Engine, name: &Arc<str>, memory_mib: u64) -> Store<State> {
    let mut store = Store::new(
        engine,
        State {
            limiter: Limiter {
                max_memory: (memory_mib as usize) << 20,
                hit: false,
            },
            logs: 0,
            plugin: name.clone(),
        },
    );
    store.limiter(|s| &mut s.limiter);
    store
}
