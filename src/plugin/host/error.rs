//! A plugin's failure, classified and named: which plugin, which version, which hook. These
//! texts reach status conditions, events, metrics (by kind) and `/v1/plugins`.

use crate::plugin::deadline::Cut;

/// What went wrong in a plugin, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginErrorKind {
    /// The manifest or the component is not acceptable (digest, imports, contract version …).
    Load(String),
    /// The deadline passed; `cut` says whose limit it was.
    Timeout { limit_ms: u64, cut: Cut },
    /// The memory limit was hit.
    OutOfMemory { limit_mib: u64 },
    /// The guest trapped (an exception, `unreachable`, a stack overflow …).
    Trap(String),
    /// The answer is unusable: too large, not JSON, not a valid manifest.
    BadOutput(String),
    /// A change outside the plugin's write scope.
    OutOfScope { path: String },
    /// The plugin refused its settings.
    SettingsRefused(String),
}

/// An error, naming the plugin, its version and the hook.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin}@{version}, hook {hook}: {}", describe(.kind))]
pub struct PluginError {
    pub plugin: String,
    pub version: String,
    pub hook: String,
    pub kind: PluginErrorKind,
}

impl PluginError {
    /// Short category for metrics.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            PluginErrorKind::Load(_) => "load",
            PluginErrorKind::Timeout { .. } => "timeout",
            PluginErrorKind::OutOfMemory { .. } => "out_of_memory",
            PluginErrorKind::Trap(_) => "trap",
            PluginErrorKind::BadOutput(_) => "bad_output",
            PluginErrorKind::OutOfScope { .. } => "out_of_scope",
            PluginErrorKind::SettingsRefused(_) => "settings_refused",
        }
    }
}

/// The limit that cut a call, in words.
fn limit(cut: Cut, ms: u64) -> String {
    match cut {
        Cut::Plugin => format!("its limits.timeoutMs, {ms} ms"),
        Cut::Operator => format!("the operator's cap MCP_RUNTIME_PLUGIN_TIMEOUT_MAX_MS, {ms} ms"),
        Cut::Chain => format!("the chain's budget of {ms} ms, used up by the calls before it"),
        Cut::Caller => format!("deadline {ms} ms"),
    }
}

fn describe(kind: &PluginErrorKind) -> String {
    match kind {
        PluginErrorKind::Load(m) => format!("refused at load: {m}"),
        PluginErrorKind::Timeout { limit_ms, cut } => {
            format!("timed out ({})", limit(*cut, *limit_ms))
        }
        PluginErrorKind::OutOfMemory { limit_mib } => {
            format!("out of memory (limit {limit_mib} MiB)")
        }
        PluginErrorKind::Trap(m) => format!("trapped: {m}"),
        PluginErrorKind::BadOutput(m) => format!("bad output: {m}"),
        PluginErrorKind::OutOfScope { path } => format!("changed {path}, outside its write scope"),
        PluginErrorKind::SettingsRefused(m) => format!("refused its settings: {m}"),
    }
}
