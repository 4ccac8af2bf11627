//! A plugin's failure, classified and named: which plugin, which version, which hook. These
//! texts reach status conditions, events, metrics (by kind) and `/v1/plugins`.

/// What went wrong in a plugin, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginErrorKind {
    /// The manifest or the component is not acceptable (digest, imports, contract version …).
    Load(String),
    /// The deadline passed.
    Timeout { limit_ms: u64 },
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

fn describe(kind: &PluginErrorKind) -> String {
    match kind {
        PluginErrorKind::Load(m) => format!("refused at load: {m}"),
        PluginErrorKind::Timeout { limit_ms } => format!("timed out (deadline {limit_ms} ms)"),
        PluginErrorKind::OutOfMemory { limit_mib } => {
            format!("out of memory (limit {limit_mib} MiB)")
        }
        PluginErrorKind::Trap(m) => format!("trapped: {m}"),
        PluginErrorKind::BadOutput(m) => format!("bad output: {m}"),
        PluginErrorKind::OutOfScope { path } => format!("changed {path}, outside its write scope"),
        PluginErrorKind::SettingsRefused(m) => format!("refused its settings: {m}"),
    }
}
