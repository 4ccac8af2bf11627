//! One loaded plugin: its manifest, its compiled component behind an `InstancePre`, and the
//! bounded calls into it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, ResourceLimiter, Store, Trap};

use super::engine::{self, Source};
use super::manifest::{Hook, ManifestError, PluginManifest};

mod bindings {
    wasmtime::component::bindgen!({
        path: "plugins/wit",
        world: "policy",
    });
}

pub use bindings::mcp_runtime::plugin::types::{Context, Hook as WitHook, Level, Violation};
use bindings::{Policy, PolicyPre};

/// Log lines a plugin may emit per call, and their length.
const MAX_LOG_LINES: usize = 64;
const MAX_LOG_BYTES: usize = 1024;

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

/// Per-call store data: the memory limiter and the plugin's log lines.
pub struct State {
    limiter: Limiter,
    logs: usize,
    plugin: Arc<str>,
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
        Ok(desired <= 200_000)
    }
}

impl bindings::mcp_runtime::plugin::types::Host for State {}

impl bindings::mcp_runtime::plugin::host::Host for State {
    fn log(&mut self, level: Level, message: String) {
        if self.logs >= MAX_LOG_LINES {
            return;
        }
        self.logs += 1;
        let mut message = message;
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.plugin;
        match level {
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// A plugin ready to be called: manifest, `InstancePre`, and how it was loaded.
pub struct LoadedPlugin {
    pub manifest: PluginManifest,
    pub digest: String,
    pub source: Source,
    pub load_time: Duration,
    /// The component, or `None` for a webhook.
    wasm: Option<(Engine, PolicyPre<State>)>,
    webhook: Option<super::webhook::Webhook>,
    name: Arc<str>,
    settings: String,
    last_error: std::sync::Mutex<Option<String>>,
    warm: Arc<Warm>,
}

/// Instances made ahead of time, off the hot path, each used for exactly one call (so no state
/// leaks between calls). A background thread keeps `wanted` of them ready and ends when the
/// plugin is dropped. A call that finds none ready instantiates inline.
struct Warm {
    ready: std::sync::Mutex<Vec<(Store<State>, Policy)>>,
    wanted: usize,
    taken: std::sync::Condvar,
    /// Off only to measure the cost of inline instantiation.
    enabled: std::sync::atomic::AtomicBool,
}

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

fn fresh_store(engine: &Engine, name: &Arc<str>, memory_mib: u64) -> Store<State> {
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

/// Instances are primed with a `validate-settings` call on the plugin's own settings: it runs
/// the guest's lazy start-up and faults its memory in off the hot path, and it carries nothing
/// of any server (the settings are the same for every call).
fn start_warming(
    warm: &Arc<Warm>,
    engine: Engine,
    pre: PolicyPre<State>,
    name: Arc<str>,
    memory_mib: u64,
    settings: String,
) {
    let weak = Arc::downgrade(warm);
    let _ = std::thread::Builder::new()
        .name(format!("warm-{name}"))
        .spawn(move || {
            loop {
                let Some(warm) = weak.upgrade() else { return };
                {
                    let Ok(ready) = warm.ready.lock() else { return };
                    if ready.len() >= warm.wanted {
                        // Wake up when a call takes one, or now and then to notice the drop.
                        let _ = warm.taken.wait_timeout(ready, Duration::from_secs(1));
                        continue;
                    }
                }
                let mut store = fresh_store(&engine, &name, memory_mib);
                // Instantiation runs the component's start-up; bound it like a call.
                store.set_epoch_deadline(10_000);
                store.epoch_deadline_trap();
                match pre.instantiate(&mut store) {
                    Ok(policy) => {
                        if !matches!(
                            policy
                                .mcp_runtime_plugin_hooks()
                                .call_validate_settings(&mut store, &settings),
                            Ok(Ok(()))
                        ) {
                            return;
                        }
                        store.data_mut().logs = 0;
                        if let Ok(mut ready) = warm.ready.lock() {
                            ready.push((store, policy));
                        }
                    }
                    Err(_) => return,
                }
            }
        });
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("plugin", &self.manifest.id())
            .finish()
    }
}

/// Outcome of one call.
pub enum Answer<T> {
    Ok(T),
    Denied(Vec<Violation>),
}

impl LoadedPlugin {
    fn error(manifest: &PluginManifest, hook: &str, kind: PluginErrorKind) -> PluginError {
        PluginError {
            plugin: manifest.name.clone(),
            version: manifest.version.clone(),
            hook: hook.into(),
            kind,
        }
    }

    /// Loads `<dir>/plugin.json` and its component: verifies the digest, refuses imports other
    /// than our host interface and contracts other than ours, compiles (or takes the cached
    /// compilation) and runs validate-settings.
    pub fn load(dir: &Path) -> Result<LoadedPlugin, PluginError> {
        Self::load_with(dir, None)
    }

    /// Like [`LoadedPlugin::load`], with other settings than plugin.json's (fixtures).
    ///
    /// Long (over 80 lines) because it is one sandbox set-up read top to bottom: manifest,
    /// digest pin, engine limits, compile cache, linker with no ambient capability; each step
    /// feeds the next and splitting it would scatter the sandbox's guarantees.
    pub fn load_with(
        dir: &Path,
        settings: Option<&serde_json::Value>,
    ) -> Result<LoadedPlugin, PluginError> {
        let started = Instant::now();
        let manifest = PluginManifest::load_with(dir, settings).map_err(|e| {
            let name = match &e {
                ManifestError::Settings { plugin, .. }
                | ManifestError::SettingsSchema { plugin, .. } => plugin.clone(),
                _ => dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            PluginError {
                plugin: name,
                version: "?".into(),
                hook: "load".into(),
                kind: PluginErrorKind::Load(e.to_string()),
            }
        })?;
        if let Some(target) = manifest.webhook.clone() {
            let plugin = LoadedPlugin {
                name: manifest.id().into(),
                settings: manifest.settings.to_string(),
                manifest,
                digest: String::new(),
                source: Source::Remote,
                load_time: Duration::ZERO,
                wasm: None,
                webhook: Some(super::webhook::Webhook::new(&target.url)),
                last_error: std::sync::Mutex::new(None),
                warm: Arc::new(Warm {
                    ready: std::sync::Mutex::new(Vec::new()),
                    wanted: 0,
                    taken: std::sync::Condvar::new(),
                    enabled: std::sync::atomic::AtomicBool::new(false),
                }),
            };
            plugin.settings_accepted()?;
            return Ok(LoadedPlugin {
                load_time: started.elapsed(),
                ..plugin
            });
        }
        let load_err = |m: String| Self::error(&manifest, "load", PluginErrorKind::Load(m));
        let path = dir.join(&manifest.component);
        let bytes = std::fs::read(&path)
            .map_err(|e| load_err(format!("cannot read {}: {e}", path.display())))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if manifest.digest != format!("sha256:{digest}") {
            return Err(load_err(format!(
                "digest mismatch: plugin.json pins {}, {} is sha256:{digest}",
                manifest.digest, manifest.component
            )));
        }
        let engine = engine::engine().map_err(load_err)?;
        let cache = engine::cache_dir(&engine);
        let (component, source) = engine::component(&engine, &bytes, &digest, Some(&cache))
            .map_err(|e| load_err(format!("not a valid component: {e:#}")))?;

        // Capabilities: only our own interfaces may be imported.
        let ty = component.component_type();
        for (name, _) in ty.imports(&engine) {
            if !name.starts_with("mcp-runtime:plugin/") {
                return Err(load_err(format!(
                    "imports {name}, which the host does not provide (no WASI capability is granted)"
                )));
            }
            check_version(name).map_err(load_err)?;
        }
        let hooks_export = ty
            .exports(&engine)
            .map(|(n, _)| n.to_string())
            .find(|n| n.starts_with("mcp-runtime:plugin/hooks@"));
        match hooks_export {
            Some(name) => check_version(&name).map_err(load_err)?,
            None => {
                return Err(load_err(format!(
                    "exports no mcp-runtime:plugin/hooks interface: not built against {}",
                    super::CONTRACT
                )));
            }
        }

        let mut linker: Linker<State> = Linker::new(&engine);
        Policy::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| load_err(format!("linking: {e:#}")))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| load_err(format!("cannot be instantiated: {e:#}")))?;
        let pre = PolicyPre::new(pre)
            .map_err(|e| load_err(format!("does not fit the contract: {e:#}")))?;
        let settings = manifest.settings.to_string();
        let plugin = LoadedPlugin {
            name: manifest.id().into(),
            manifest,
            digest,
            source,
            load_time: Duration::ZERO,
            wasm: Some((engine, pre)),
            webhook: None,
            settings,
            last_error: std::sync::Mutex::new(None),
            warm: Arc::new(Warm {
                ready: std::sync::Mutex::new(Vec::new()),
                wanted: warm_instances(),
                taken: std::sync::Condvar::new(),
                enabled: std::sync::atomic::AtomicBool::new(true),
            }),
        };
        plugin.settings_accepted()?;
        if let (true, Some((engine, pre))) = (plugin.warm.wanted > 0, &plugin.wasm) {
            start_warming(
                &plugin.warm,
                engine.clone(),
                pre.clone(),
                plugin.name.clone(),
                plugin.manifest.limits.memory_mi_b,
                plugin.settings.clone(),
            );
        }
        Ok(LoadedPlugin {
            load_time: started.elapsed(),
            ..plugin
        })
    }

    pub fn id(&self) -> &str {
        &self.name
    }

    /// Runs validate-settings at load (at least a second, whatever the call limit).
    fn settings_accepted(&self) -> Result<(), PluginError> {
        let deadline =
            Instant::now() + Duration::from_millis(self.manifest.limits.timeout_ms.max(1000));
        match self.validate_settings(deadline)? {
            Answer::Ok(()) => Ok(()),
            Answer::Denied(v) => {
                let m = v.iter().map(|v| match &v.path {
                    Some(p) => format!("{p}: {}", v.message),
                    None => v.message.clone(),
                });
                Err(Self::error(
                    &self.manifest,
                    "validate-settings",
                    PluginErrorKind::SettingsRefused(m.collect::<Vec<_>>().join("; ")),
                ))
            }
        }
    }

    /// The same call, answered by the plugin's webhook.
    #[allow(clippy::too_many_arguments)]
    fn call_webhook(
        &self,
        webhook: &super::webhook::Webhook,
        hook: &str,
        server_name: &str,
        namespace: &str,
        server: &str,
        manifest: Option<&str>,
        deadline: Instant,
    ) -> Result<Answer<Option<String>>, PluginError> {
        let call = super::webhook::Call {
            hook,
            server_name,
            namespace,
            settings: &self.settings,
            server,
            manifest,
            deadline,
            limit_ms: self.manifest.limits.timeout_ms,
            max_output: self.manifest.limits.max_output_bytes,
        };
        match webhook.call(&call) {
            Ok(super::webhook::Reply::Allowed(m)) => Ok(Answer::Ok(m.map(|m| m.to_string()))),
            Ok(super::webhook::Reply::Denied(v)) => Ok(Answer::Denied(
                v.into_iter()
                    .map(|v| Violation {
                        message: v.message,
                        path: v.path,
                    })
                    .collect(),
            )),
            Err(kind) => Err(Self::error(&self.manifest, hook, kind)),
        }
    }

    /// Whether calls take instances made ahead of time (on by default; benchmarks turn it off
    /// to measure inline instantiation).
    pub fn set_warm(&self, on: bool) {
        self.warm
            .enabled
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Instances this plugin keeps ready (0: off).
    pub fn warm_wanted(&self) -> usize {
        self.warm.wanted
    }

    /// Instances ready right now.
    pub fn warm_ready(&self) -> usize {
        self.warm.ready.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// The most recent failure of this plugin, for `/v1/plugins`.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn record_error(&self, e: &PluginError) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(e.to_string());
        }
    }

    /// A fresh store bounded by the plugin's memory limit and the deadline.
    fn store(&self, hook: &str, deadline: Instant) -> Result<Store<State>, PluginError> {
        let Some((engine, _)) = &self.wasm else {
            return Err(Self::error(
                &self.manifest,
                hook,
                PluginErrorKind::Load("not a component".into()),
            ));
        };
        let mut store = fresh_store(engine, &self.name, self.manifest.limits.memory_mi_b);
        self.arm(&mut store, hook, deadline)?;
        store.epoch_deadline_trap();
        Ok(store)
    }

    /// Sets the store's epoch deadline to `deadline` (1 ms ticks), or fails with a timeout when
    /// it has already passed (a chain whose earlier plugins used up the shared budget).
    fn arm(
        &self,
        store: &mut Store<State>,
        hook: &str,
        deadline: Instant,
    ) -> Result<(), PluginError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Self::error(
                &self.manifest,
                hook,
                PluginErrorKind::Timeout {
                    limit_ms: self.manifest.limits.timeout_ms,
                },
            ));
        }
        let ticks = (left.as_micros() as u64)
            .div_ceil(engine::TICK.as_micros() as u64)
            .max(1);
        store.set_epoch_deadline(ticks);
        Ok(())
    }

    fn classify(&self, hook: &str, store: &Store<State>, error: wasmtime::Error) -> PluginError {
        let kind = if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            PluginErrorKind::Timeout {
                limit_ms: self.manifest.limits.timeout_ms,
            }
        } else if store.data().limiter.hit {
            PluginErrorKind::OutOfMemory {
                limit_mib: self.manifest.limits.memory_mi_b,
            }
        } else {
            let text = format!("{error:#}");
            PluginErrorKind::Trap(
                text.lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect(),
            )
        };
        Self::error(&self.manifest, hook, kind)
    }

    fn instantiate(
        &self,
        hook: &str,
        deadline: Instant,
    ) -> Result<(Store<State>, Policy), PluginError> {
        let use_warm = self.warm.enabled.load(std::sync::atomic::Ordering::Relaxed);
        let ready = use_warm
            .then(|| self.warm.ready.lock().ok().and_then(|mut r| r.pop()))
            .flatten();
        if let Some((mut store, policy)) = ready {
            self.warm.taken.notify_one();
            self.arm(&mut store, hook, deadline)?;
            return Ok((store, policy));
        }
        let mut store = self.store(hook, deadline)?;
        let Some((_, pre)) = &self.wasm else {
            return Err(Self::error(
                &self.manifest,
                hook,
                PluginErrorKind::Load("not a component".into()),
            ));
        };
        match pre.instantiate(&mut store) {
            Ok(p) => Ok((store, p)),
            Err(e) => Err(self.classify(hook, &store, e)),
        }
    }

    pub fn validate_settings(&self, deadline: Instant) -> Result<Answer<()>, PluginError> {
        let hook = "validate-settings";
        if let Some(w) = &self.webhook {
            return Ok(
                match self.call_webhook(w, hook, "", "", "null", None, deadline)? {
                    Answer::Ok(_) => Answer::Ok(()),
                    Answer::Denied(v) => Answer::Denied(v),
                },
            );
        }
        let (mut store, policy) = self.instantiate(hook, deadline)?;
        match policy
            .mcp_runtime_plugin_hooks()
            .call_validate_settings(&mut store, &self.settings)
        {
            Ok(Ok(())) => Ok(Answer::Ok(())),
            Ok(Err(v)) => Ok(Answer::Denied(v)),
            Err(e) => Err(self.classify(hook, &store, e)),
        }
    }

    fn context(&self, hook: Hook, server_name: &str, namespace: &str, server: &str) -> Context {
        Context {
            server_name: server_name.into(),
            namespace: namespace.into(),
            hook: match hook {
                Hook::ValidateConfig => WitHook::ValidateConfig,
                Hook::MutateDeployment => WitHook::MutateDeployment,
                Hook::MutateService => WitHook::MutateService,
                Hook::MutateNetworkPolicy => WitHook::MutateNetworkPolicy,
            },
            settings: self.settings.clone(),
            server: server.into(),
        }
    }

    pub fn validate_config(
        &self,
        server_name: &str,
        namespace: &str,
        server: &str,
        deadline: Instant,
    ) -> Result<Answer<()>, PluginError> {
        let hook = Hook::ValidateConfig.as_str();
        if let Some(w) = &self.webhook {
            return Ok(
                match self.call_webhook(w, hook, server_name, namespace, server, None, deadline)? {
                    Answer::Ok(_) => Answer::Ok(()),
                    Answer::Denied(v) => Answer::Denied(v),
                },
            );
        }
        let (mut store, policy) = self.instantiate(hook, deadline)?;
        let ctx = self.context(Hook::ValidateConfig, server_name, namespace, server);
        match policy
            .mcp_runtime_plugin_hooks()
            .call_validate_config(&mut store, &ctx)
        {
            Ok(Ok(())) => Ok(Answer::Ok(())),
            Ok(Err(v)) => Ok(Answer::Denied(v)),
            Err(e) => Err(self.classify(hook, &store, e)),
        }
    }

    /// Calls `mutate` for `hook` on a fresh instance; the answer is bounded in size.
    #[allow(clippy::too_many_arguments)]
    pub fn mutate(
        &self,
        hook: Hook,
        server_name: &str,
        namespace: &str,
        server: &str,
        manifest: &str,
        deadline: Instant,
    ) -> Result<Answer<String>, PluginError> {
        if let Some(w) = &self.webhook {
            return Ok(
                match self.call_webhook(
                    w,
                    hook.as_str(),
                    server_name,
                    namespace,
                    server,
                    Some(manifest),
                    deadline,
                )? {
                    // An allowed answer without a manifest leaves it unchanged.
                    Answer::Ok(m) => Answer::Ok(m.unwrap_or_else(|| manifest.to_string())),
                    Answer::Denied(v) => Answer::Denied(v),
                },
            );
        }
        let (mut store, policy) = self.instantiate(hook.as_str(), deadline)?;
        let ctx = self.context(hook, server_name, namespace, server);
        match policy
            .mcp_runtime_plugin_hooks()
            .call_mutate(&mut store, &ctx, manifest)
        {
            Ok(Ok(out)) if out.len() as u64 > self.manifest.limits.max_output_bytes => {
                Err(Self::error(
                    &self.manifest,
                    hook.as_str(),
                    PluginErrorKind::BadOutput(format!(
                        "{} bytes, over the limit of {}",
                        out.len(),
                        self.manifest.limits.max_output_bytes
                    )),
                ))
            }
            Ok(Ok(out)) => Ok(Answer::Ok(out)),
            Ok(Err(v)) => Ok(Answer::Denied(v)),
            Err(e) => Err(self.classify(hook.as_str(), &store, e)),
        }
    }
}

/// `mcp-runtime:plugin/<iface>@<version>` must be semver-compatible with the host's contract
/// (same major, and for 0.x the same minor).
fn check_version(name: &str) -> Result<(), String> {
    let Some((_, version)) = name.split_once('@') else {
        return Err(format!("{name} has no version"));
    };
    let ours = super::CONTRACT
        .rsplit_once('@')
        .and_then(|(_, v)| semver::Version::parse(v).ok());
    let compatible = match (semver::Version::parse(version), ours) {
        (Ok(a), Some(b)) => a.major == b.major && (b.major != 0 || a.minor == b.minor),
        _ => false,
    };
    if compatible {
        Ok(())
    } else {
        Err(format!(
            "built against mcp-runtime:plugin@{version}, this host speaks {}",
            super::CONTRACT
        ))
    }
}

#[cfg(test)]
mod tests;
