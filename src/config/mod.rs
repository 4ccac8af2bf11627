//! The control plane's settings: flags, then `MCP_RUNTIME_*` environment variables, then the
//! reference system's `ARCHESTRA_ORCHESTRATOR_*` names, then defaults. The result is checked
//! against `schemas/runtime-config.schema.json` before anything uses it.
//!
//! [`flags`] holds the clap arguments, [`legacy`] the reference's names, [`resolve`] the rules
//! that turn both into a [`RuntimeConfig`] ([`types`]).

mod flags;
mod legacy;
mod namespaced;
mod resolve;
#[cfg(test)]
mod tests;
mod types;

use std::path::Path;

pub use flags::Settings;
pub use legacy::{ARCHESTRA_FALLBACKS, ARCHESTRA_NOT_HONOURED, not_honoured};
pub use namespaced::{NamespaceSettings, RenderContexts};
pub use types::*;

/// What the settings are resolved against: environment variables and the file system. A trait
/// so tests can resolve without touching the process environment.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
    fn exists(&self, path: &Path) -> bool;
}

/// The real process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}
