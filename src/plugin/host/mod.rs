//! One loaded plugin: its manifest and its backend (a compiled component behind an
//! `InstancePre`, or a webhook), and the bounded calls into it.

mod error;
mod load;
mod sandbox;
mod warm;
pub mod webhook;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, Trap};

use super::deadline::Deadline;
use super::engine::{self, Source};
use super::manifest::{Hook, PluginManifest};
pub use error::{PluginError, PluginErrorKind};
use sandbox::bindings::{Policy, PolicyPre};
pub use sandbox::{Context, Level, Violation, WitHook};
use sandbox::{State, fresh_store};
use warm::Warm;
pub use warm::warm_instances;
use webhook::Webhook;

/// A plugin ready to be called: manifest, backend, and how it was loaded.
pub struct LoadedPlugin {
    pub manifest: PluginManifest,
    /// The component's sha256 (hex); empty for a webhook.
    pub digest: String,
    pub source: Source,
    pub load_time: Duration,
    backend: Backend,
    name: Arc<str>,
    settings: String,
    last_error: Mutex<Option<String>>,
}

/// What answers a plugin's calls.
enum Backend {
    /// A WebAssembly component run in the sandbox, a fresh instance per call.
    Component {
        engine: Engine,
        pre: PolicyPre<State>,
        warm: Arc<Warm>,
    },
    /// An HTTPS endpoint of the organisation's, called with the same inputs and bounds.
    Webhook(Webhook),
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

impl<T> Answer<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Ok(t) => Answer::Ok(f(t)),
            Answer::Denied(v) => Answer::Denied(v),
        }
    }
}

/// A hook's inputs besides the plugin's own settings.
struct Call<'a> {
    hook: &'a str,
    server_name: &'a str,
    namespace: &'a str,
    server: &'a str,
    manifest: Option<&'a str>,
    deadline: Deadline,
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
    pub fn load_with(
        dir: &Path,
        settings: Option<&serde_json::Value>,
    ) -> Result<LoadedPlugin, PluginError> {
        let started = Instant::now();
        let manifest = load::manifest(dir, settings)?;
        let (backend, digest, source) = match manifest.webhook.clone() {
            Some(target) => (
                Backend::Webhook(Webhook::new(&target.url)),
                String::new(),
                Source::Remote,
            ),
            None => {
                let linked = load::component(dir, &manifest)
                    .map_err(|m| Self::error(&manifest, "load", PluginErrorKind::Load(m)))?;
                let backend = Backend::Component {
                    engine: linked.engine,
                    pre: linked.pre,
                    warm: Warm::new(warm_instances()),
                };
                (backend, linked.digest, linked.source)
            }
        };
        let mut plugin = LoadedPlugin {
            name: manifest.id().into(),
            settings: manifest.settings.to_string(),
            manifest,
            digest,
            source,
            load_time: Duration::ZERO,
            backend,
            last_error: Mutex::new(None),
        };
        plugin.settings_accepted()?;
        if let Backend::Component { engine, pre, warm } = &plugin.backend {
            warm.start(
                engine.clone(),
                pre.clone(),
                plugin.name.clone(),
                plugin.manifest.limits.memory_mi_b,
                plugin.settings.clone(),
            );
        }
        plugin.load_time = started.elapsed();
        Ok(plugin)
    }

    pub fn id(&self) -> &str {
        &self.name
    }

    /// Runs validate-settings at load (at least a second, whatever the call limit).
    fn settings_accepted(&self) -> Result<(), PluginError> {
        let limit_ms = self.manifest.limits.timeout_ms.max(1000);
        match self.validate_settings(Deadline::after(limit_ms, super::deadline::Cut::Plugin))? {
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

    /// The call answered by the plugin's webhook: the answer's manifest, if it sent one.
    fn call_webhook(
        &self,
        webhook: &Webhook,
        call: &Call,
    ) -> Result<Answer<Option<String>>, PluginError> {
        let request = webhook::Call {
            hook: call.hook,
            server_name: call.server_name,
            namespace: call.namespace,
            settings: &self.settings,
            server: call.server,
            manifest: call.manifest,
            deadline: call.deadline,
            max_output: self.manifest.limits.max_output_bytes,
        };
        match webhook.call(&request) {
            Ok(webhook::Reply::Allowed(m)) => Ok(Answer::Ok(m.map(|m| m.to_string()))),
            Ok(webhook::Reply::Denied(v)) => Ok(Answer::Denied(
                v.into_iter()
                    .map(|v| Violation {
                        message: v.message,
                        path: v.path,
                    })
                    .collect(),
            )),
            Err(kind) => Err(Self::error(&self.manifest, call.hook, kind)),
        }
    }

    /// The component's pool of instances made ahead, if it is a component.
    fn warm(&self) -> Option<&Warm> {
        match &self.backend {
            Backend::Component { warm, .. } => Some(warm),
            Backend::Webhook(_) => None,
        }
    }

    /// Whether calls take instances made ahead of time (on by default; benchmarks turn it off
    /// to measure inline instantiation).
    pub fn set_warm(&self, on: bool) {
        if let Some(warm) = self.warm() {
            warm.set_enabled(on);
        }
    }

    /// Instances this plugin keeps ready (0: off, and always for a webhook).
    pub fn warm_wanted(&self) -> usize {
        self.warm().map_or(0, Warm::wanted)
    }

    /// Instances ready right now.
    pub fn warm_ready(&self) -> usize {
        self.warm().map_or(0, Warm::ready)
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

    /// Sets the store's epoch deadline so that it traps no sooner than `deadline`, or fails with a timeout when
    /// it has already passed (a chain whose earlier plugins used up the shared budget).
    fn arm(
        &self,
        store: &mut Store<State>,
        hook: &str,
        deadline: Deadline,
    ) -> Result<(), PluginError> {
        let left = deadline.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timeout(hook, deadline));
        }
        store.set_epoch_deadline(engine::ticks_until(deadline.at));
        Ok(())
    }

    /// A timeout naming the limit that set `deadline`.
    fn timeout(&self, hook: &str, deadline: Deadline) -> PluginError {
        let kind = PluginErrorKind::Timeout {
            limit_ms: deadline.limit_ms,
            cut: deadline.cut,
        };
        Self::error(&self.manifest, hook, kind)
    }

    /// A guest failure named for what caused it: the deadline, the memory limit, or the trap's
    /// first line (bounded).
    fn classify(
        &self,
        call: (&str, Deadline),
        store: &Store<State>,
        error: wasmtime::Error,
    ) -> PluginError {
        let (hook, deadline) = call;
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return self.timeout(hook, deadline);
        }
        let kind = if store.data().memory_limit_hit() {
            PluginErrorKind::OutOfMemory {
                limit_mib: self.manifest.limits.memory_mi_b,
            }
        } else {
            let text = format!("{error:#}");
            let first = text.lines().next().unwrap_or_default();
            PluginErrorKind::Trap(first.chars().take(300).collect())
        };
        Self::error(&self.manifest, hook, kind)
    }

    /// An instance for one call: one made ahead if the pool has it, else a fresh one in a store
    /// bounded by the plugin's memory limit, both armed with the deadline.
    fn instantiate(
        &self,
        (engine, pre, warm): (&Engine, &PolicyPre<State>, &Warm),
        hook: &str,
        deadline: Deadline,
    ) -> Result<(Store<State>, Policy), PluginError> {
        if let Some((mut store, policy)) = warm.take() {
            self.arm(&mut store, hook, deadline)?;
            return Ok((store, policy));
        }
        let mut store = fresh_store(engine, &self.name, self.manifest.limits.memory_mi_b);
        self.arm(&mut store, hook, deadline)?;
        store.epoch_deadline_trap();
        match pre.instantiate(&mut store) {
            Ok(p) => Ok((store, p)),
            Err(e) => Err(self.classify((hook, deadline), &store, e)),
        }
    }

    /// Runs `f` on a fresh instance for `call`, or sends `call` to the webhook; a trap is
    /// classified, a violation list is a denial.
    fn dispatch<T>(
        &self,
        call: &Call,
        from_webhook: impl FnOnce(Option<String>) -> T,
        f: impl FnOnce(&Policy, &mut Store<State>) -> wasmtime::Result<Result<T, Vec<Violation>>>,
    ) -> Result<Answer<T>, PluginError> {
        let (engine, pre, warm) = match &self.backend {
            Backend::Webhook(w) => return Ok(self.call_webhook(w, call)?.map(from_webhook)),
            Backend::Component { engine, pre, warm } => (engine, pre, &**warm),
        };
        let (mut store, policy) =
            self.instantiate((engine, pre, warm), call.hook, call.deadline)?;
        match f(&policy, &mut store) {
            Ok(Ok(t)) => Ok(Answer::Ok(t)),
            Ok(Err(v)) => Ok(Answer::Denied(v)),
            Err(e) => Err(self.classify((call.hook, call.deadline), &store, e)),
        }
    }

    pub fn validate_settings(
        &self,
        deadline: impl Into<Deadline>,
    ) -> Result<Answer<()>, PluginError> {
        let call = Call {
            hook: "validate-settings",
            server_name: "",
            namespace: "",
            server: "null",
            manifest: None,
            deadline: deadline.into(),
        };
        self.dispatch(
            &call,
            |_| (),
            |policy, store| {
                policy
                    .mcp_runtime_plugin_hooks()
                    .call_validate_settings(store, &self.settings)
            },
        )
    }

    /// The guest's view of `call`, built only for a component (a webhook gets its own JSON).
    fn context(&self, hook: Hook, call: &Call) -> Context {
        Context {
            server_name: call.server_name.into(),
            namespace: call.namespace.into(),
            hook: match hook {
                Hook::ValidateConfig => WitHook::ValidateConfig,
                Hook::MutateDeployment => WitHook::MutateDeployment,
                Hook::MutateService => WitHook::MutateService,
                Hook::MutateNetworkPolicy => WitHook::MutateNetworkPolicy,
            },
            settings: self.settings.clone(),
            server: call.server.into(),
        }
    }

    pub fn validate_config(
        &self,
        server_name: &str,
        namespace: &str,
        server: &str,
        deadline: impl Into<Deadline>,
    ) -> Result<Answer<()>, PluginError> {
        let call = Call {
            hook: Hook::ValidateConfig.as_str(),
            server_name,
            namespace,
            server,
            manifest: None,
            deadline: deadline.into(),
        };
        self.dispatch(
            &call,
            |_| (),
            |policy, store| {
                let ctx = self.context(Hook::ValidateConfig, &call);
                policy
                    .mcp_runtime_plugin_hooks()
                    .call_validate_config(store, &ctx)
            },
        )
    }

    /// Calls `mutate` for `hook` on a fresh instance (or the webhook); the answer is bounded in
    /// size.
    pub fn mutate(
        &self,
        hook: Hook,
        server_name: &str,
        namespace: &str,
        server: &str,
        manifest: &str,
        deadline: impl Into<Deadline>,
    ) -> Result<Answer<String>, PluginError> {
        let call = Call {
            hook: hook.as_str(),
            server_name,
            namespace,
            server,
            manifest: Some(manifest),
            deadline: deadline.into(),
        };
        let answer = self.dispatch(
            &call,
            // An allowed answer without a manifest leaves it unchanged.
            |m| m.unwrap_or_else(|| manifest.to_string()),
            |policy, store| {
                let ctx = self.context(hook, &call);
                policy
                    .mcp_runtime_plugin_hooks()
                    .call_mutate(store, &ctx, manifest)
            },
        )?;
        let limit = self.manifest.limits.max_output_bytes;
        match answer {
            Answer::Ok(out) if out.len() as u64 > limit => Err(Self::error(
                &self.manifest,
                hook.as_str(),
                PluginErrorKind::BadOutput(format!(
                    "{} bytes, over the limit of {limit}",
                    out.len()
                )),
            )),
            answer => Ok(answer),
        }
    }
}

#[cfg(test)]
mod tests;
