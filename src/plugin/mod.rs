//! The WebAssembly policy layer: the host that runs plugins ([`host`]: components in wasmtime,
//! the only code that touches it, and webhooks beside them), chains of them ([`chain`]), the
//! loaded set ([`set`]) and the contract the controller calls ([`policy`]). The policy
//! developer's tools (`plugin build|test|bench`) are apart, in [`tools`].
//!
//! Plugins are components built against `plugins/wit` (`mcp-runtime:plugin@0.1.0`). The host
//! links no WASI at all (a plugin importing any interface but ours is refused at load, naming
//! the import), bounds every call in time (epoch interruption, one deadline per chain), memory
//! (a `ResourceLimiter`) and output size, and names the plugin, its version and the hook in
//! every error. Each call runs on a fresh instance made from an `InstancePre`, with the pooling
//! allocator and copy-on-write memory images so that costs microseconds, and no state leaks
//! from one server to the next. Compiled components are cached on disk, keyed by digest and
//! engine, so a restart loads without compiling.

pub mod chain;
pub mod deadline;
pub mod engine;
pub mod host;
pub mod manifest;
pub mod policy;
pub mod scope;
pub mod set;
pub mod tools;

pub use chain::{Chain, ChainError, ChainReport, PluginPatch};
pub use host::{LoadedPlugin, PluginError, PluginErrorKind};
pub use manifest::{FailurePolicy, Hook, Mode, PluginManifest};
pub use policy::{NoPolicies, PolicyChain, PolicyOutcome, PolicyRejection, Subject};
pub use set::PluginSet;

/// The contract version this host speaks.
pub const CONTRACT: &str = "mcp-runtime:plugin@0.1.0";
/// The WIT package, embedded so `plugin build` works from anywhere.
pub const WIT: &str = include_str!("../../plugins/wit/plugin.wit");
