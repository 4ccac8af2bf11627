//! A chain of plugins over one server: ordered by priority then name; each change becomes a
//! JSON Patch attributed to the plugin that made it; a change outside the plugin's write scope,
//! or one that breaks the manifest (no longer a valid Deployment/Service, or its name,
//! namespace, owners, selector or our labels changed), is refused and blamed on that plugin.
//! One deadline covers the whole chain.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde::Serialize;
use serde_json::Value;

use super::deadline::{self, Budget, Cut};
use super::host::{Answer, LoadedPlugin, PluginError, PluginErrorKind, Violation};
use super::manifest::{FailurePolicy, Hook, Mode};
use super::policy::{PolicyOutcome, PolicyRejection, Subject};
use super::scope;
use crate::metrics::{Metrics, PluginLabels};
use crate::render::Manifests;
use crate::render::labels::SERVER_LABEL;

/// Annotation on the Deployment summarising which plugin changed how many paths.
pub const POLICIES_ANNOTATION: &str = "mcp-runtime.dev/policies";
/// The longest a whole chain may take, whatever its plugins' limits add up to.
pub const MAX_CHAIN: Duration = Duration::from_secs(10);

/// One plugin's change to one manifest.
#[derive(Clone, Debug, Serialize)]
pub struct PluginPatch {
    pub plugin: String,
    pub hook: &'static str,
    /// RFC 6902 operations.
    pub patch: Value,
    /// `monitor`: recorded, not applied.
    pub applied: bool,
}

/// What a chain did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChainReport {
    pub patches: Vec<PluginPatch>,
    /// Denials of plugins in monitor mode (recorded, not enforced).
    pub monitored_denials: Vec<String>,
    /// Errors of plugins whose failure policy is `ignore`.
    pub ignored_errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("denied by plugin {plugin}: {}", messages(.violations))]
    Denied {
        plugin: String,
        violations: Vec<(String, Option<String>)>,
    },
    #[error("{0}")]
    Failed(#[from] PluginError),
    /// A manifest could not be turned into JSON for the plugins (a defect, never a silent null).
    #[error("serializing the manifests for the policies: {0}")]
    Serialization(#[from] serde_json::Error),
}

fn messages(v: &[(String, Option<String>)]) -> String {
    v.iter()
        .map(|(m, p)| match p {
            Some(p) => format!("{p}: {m}"),
            None => m.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn owned(v: Vec<Violation>) -> Vec<(String, Option<String>)> {
    v.into_iter().map(|v| (v.message, v.path)).collect()
}

/// A denial: an error in `enforce` mode, a record in `monitor` mode.
fn denied(p: &LoadedPlugin, v: Vec<Violation>, report: &mut ChainReport) -> Result<(), ChainError> {
    let e = ChainError::Denied {
        plugin: p.id().into(),
        violations: owned(v),
    };
    if p.manifest.mode == Mode::Monitor {
        report.monitored_denials.push(e.to_string());
        Ok(())
    } else {
        Err(e)
    }
}

/// A chain loaded by itself (`mcp-runtime render --plugin-dir`) answers as the loaded set does.
impl super::PolicyChain for Chain {
    fn apply(
        &self,
        subject: &Subject<'_>,
        manifests: &mut Manifests,
    ) -> Result<PolicyOutcome, PolicyRejection> {
        Chain::apply(self, subject, manifests)
    }

    /// Never remembered for a webhook, which may answer differently for the same input.
    fn revision(&self) -> Option<u64> {
        let webhook = self.plugins.iter().any(|p| p.manifest.webhook.is_some());
        (!webhook).then_some(0)
    }
}

#[derive(Clone, Default)]
pub struct Chain {
    plugins: Vec<Arc<LoadedPlugin>>,
    metrics: Option<Arc<Metrics>>,
    timeout_cap_ms: Option<u64>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.plugins.iter().map(|p| p.id()))
            .finish()
    }
}

impl Chain {
    pub fn new(mut plugins: Vec<Arc<LoadedPlugin>>) -> Chain {
        plugins.sort_by(|a, b| {
            (a.manifest.priority, &a.manifest.name).cmp(&(b.manifest.priority, &b.manifest.name))
        });
        Chain {
            plugins,
            metrics: None,
            timeout_cap_ms: None,
        }
    }

    /// Caps every plugin's own `limits.timeoutMs` at `cap_ms` (the operator's
    /// `MCP_RUNTIME_PLUGIN_TIMEOUT_MAX_MS`); `None`: the plugins' limits stand.
    pub fn with_timeout_cap(mut self, cap_ms: Option<u64>) -> Chain {
        self.timeout_cap_ms = cap_ms;
        self
    }

    /// A plugin's limit under the operator's cap, and which of the two it is.
    fn limit(&self, p: &LoadedPlugin) -> (u64, Cut) {
        deadline::plugin_limit(p.manifest.limits.timeout_ms, self.timeout_cap_ms)
    }

    /// The chain's time: the sum of its plugins' (capped) limits, at most [`MAX_CHAIN`].
    fn budget(&self) -> Budget {
        let sum: u64 = self.plugins.iter().map(|p| self.limit(p).0).sum();
        Budget::new(sum.min(MAX_CHAIN.as_millis() as u64))
    }

    /// Records call durations and failures per plugin in `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Arc<Metrics>>) -> Chain {
        self.metrics = metrics;
        self
    }

    fn observe(&self, p: &LoadedPlugin, hook: Hook, started: Instant) {
        if let Some(m) = &self.metrics {
            let labels = PluginLabels {
                plugin: p.id().into(),
                kind: hook.as_str().into(),
            };
            m.plugin_duration
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
        }
    }

    /// Loads every `<dir>/*/plugin.json`, or, when `dir` holds a `plugin.json` itself, that one
    /// plugin; the first plugin that fails to load fails the set (a policy silently missing is
    /// worse than no start).
    pub fn load_dir(dir: &Path) -> Result<Chain, PluginError> {
        if dir.join("plugin.json").exists() {
            return Ok(Chain::new(vec![Arc::new(LoadedPlugin::load(dir)?)]));
        }
        let mut plugins = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| PluginError {
                plugin: dir.display().to_string(),
                version: "-".into(),
                hook: "load".into(),
                kind: PluginErrorKind::Load(format!("cannot read the plugin directory: {e}")),
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("plugin.json").exists())
            .collect();
        entries.sort();
        for p in entries {
            plugins.push(Arc::new(LoadedPlugin::load(&p)?));
        }
        Ok(Chain::new(plugins))
    }

    /// The chain as the policy layer's answer: a report, or why the server is refused.
    pub fn apply(
        &self,
        subject: &Subject<'_>,
        manifests: &mut Manifests,
    ) -> Result<PolicyOutcome, PolicyRejection> {
        let chain = self
            .applicable(subject.namespace, subject.namespace_labels)
            .map_err(PolicyRejection::Failed)?;
        if chain.is_empty() {
            return Ok(PolicyOutcome::default());
        }
        let ran = chain.run(subject.name, subject.namespace, subject.document, manifests);
        match ran {
            Ok(report) => Ok(PolicyOutcome {
                report: Some(report),
            }),
            Err(e @ ChainError::Denied { .. }) => Err(PolicyRejection::Denied(e.to_string())),
            Err(e @ (ChainError::Failed(_) | ChainError::Serialization(_))) => {
                Err(PolicyRejection::Failed(e.to_string()))
            }
        }
    }

    /// The chain of the plugins that apply in `namespace` (each plugin's `namespaces`), in the
    /// same order; an `Err` names a plugin that cannot tell (its selector, without `labels`).
    pub fn applicable(
        &self,
        namespace: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Result<Chain, String> {
        let mut plugins = Vec::with_capacity(self.plugins.len());
        for p in &self.plugins {
            let applies = p
                .manifest
                .applies_in(namespace, labels)
                .map_err(|reason| format!("plugin {}: {reason}", p.id()))?;
            if applies {
                plugins.push(p.clone());
            }
        }
        Ok(Chain {
            plugins,
            metrics: self.metrics.clone(),
            timeout_cap_ms: self.timeout_cap_ms,
        })
    }

    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Runs validate-config and the manifest hooks over `manifests` in place. `server` is the
    /// server document without secret values.
    ///
    /// Long (over 80 lines): the chain's ordering, scopes, attribution and failure policy live
    /// in one loop on purpose, so what one plugin may see and change is checked in one place.
    pub fn run(
        &self,
        server_name: &str,
        namespace: &str,
        server: &Value,
        manifests: &mut Manifests,
    ) -> Result<ChainReport, ChainError> {
        let mut report = ChainReport::default();
        if self.plugins.is_empty() {
            return Ok(report);
        }
        let budget = self.budget();
        let deadline = |p: &LoadedPlugin| {
            let (ms, cut) = self.limit(p);
            budget.deadline(ms, cut)
        };
        let server_text = server.to_string();

        for p in self
            .plugins
            .iter()
            .filter(|p| p.manifest.handles(Hook::ValidateConfig))
        {
            let started = Instant::now();
            let answer = p.validate_config(server_name, namespace, &server_text, deadline(p));
            budget.spend(started.elapsed());
            self.observe(p, Hook::ValidateConfig, started);
            match answer {
                Ok(Answer::Ok(())) => {}
                Ok(Answer::Denied(v)) => denied(p, v, &mut report)?,
                Err(e) => self.failed(p, e, &mut report)?,
            }
        }

        let mut deployment = serde_json::to_value(&manifests.deployment)?;
        self.mutate_all(
            Hook::MutateDeployment,
            server_name,
            namespace,
            &server_text,
            &mut deployment,
            &mut report,
            &budget,
        )?;
        // The optional manifests, each under its own hook.
        let mut service = manifests
            .service
            .as_ref()
            .map(serde_json::to_value)
            .transpose()?;
        let mut network_policy = manifests
            .network_policy
            .as_ref()
            .map(serde_json::to_value)
            .transpose()?;
        for (hook, object) in [
            (Hook::MutateService, &mut service),
            (Hook::MutateNetworkPolicy, &mut network_policy),
        ] {
            if let Some(object) = object.as_mut() {
                self.mutate_all(
                    hook,
                    server_name,
                    namespace,
                    &server_text,
                    object,
                    &mut report,
                    &budget,
                )?;
            }
        }

        // Attribution: which plugin changed how many paths, on the Deployment itself.
        let summary: Vec<String> = self
            .plugins
            .iter()
            .filter_map(|p| {
                let n: usize = report
                    .patches
                    .iter()
                    .filter(|x| x.applied && x.plugin == p.id())
                    .map(|x| x.patch.as_array().map_or(0, Vec::len))
                    .sum();
                (n > 0).then(|| format!("{}:{n}", p.id()))
            })
            .collect();
        if !summary.is_empty() {
            deployment["metadata"]["annotations"][POLICIES_ANNOTATION] =
                Value::String(summary.join(","));
        }
        manifests.deployment = serde_json::from_value(deployment).map_err(|e| PluginError {
            plugin: "chain".into(),
            version: "-".into(),
            hook: "mutate-deployment".into(),
            kind: PluginErrorKind::BadOutput(e.to_string()),
        })?;
        if let Some(s) = service {
            manifests.service = serde_json::from_value(s).ok();
        }
        if let Some(n) = network_policy {
            manifests.network_policy = serde_json::from_value(n).ok();
        }
        Ok(report)
    }

    fn failed(
        &self,
        p: &LoadedPlugin,
        e: PluginError,
        report: &mut ChainReport,
    ) -> Result<(), ChainError> {
        tracing::warn!(plugin = p.id(), kind = e.kind_name(), error = %e, "plugin failed");
        p.record_error(&e);
        if let Some(m) = &self.metrics {
            m.plugin_failures
                .get_or_create(&PluginLabels {
                    plugin: p.id().into(),
                    kind: e.kind_name().into(),
                })
                .inc();
        }
        if p.manifest.failure_policy == FailurePolicy::Ignore {
            report.ignored_errors.push(e.to_string());
            Ok(())
        } else {
            Err(ChainError::Failed(e))
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mutate_all(
        &self,
        hook: Hook,
        server_name: &str,
        namespace: &str,
        server: &str,
        object: &mut Value,
        report: &mut ChainReport,
        budget: &Budget,
    ) -> Result<(), ChainError> {
        for p in self.plugins.iter().filter(|p| p.manifest.handles(hook)) {
            let (ms, cut) = self.limit(p);
            let deadline = budget.deadline(ms, cut);
            let started = Instant::now();
            let answer = p.mutate(
                hook,
                server_name,
                namespace,
                server,
                &object.to_string(),
                deadline,
            );
            budget.spend(started.elapsed());
            self.observe(p, hook, started);
            let out = match answer {
                Ok(Answer::Ok(out)) => out,
                Ok(Answer::Denied(v)) => {
                    denied(p, v, report)?;
                    continue;
                }
                Err(e) => {
                    self.failed(p, e, report)?;
                    continue;
                }
            };
            match checked_change(p, hook, object, &out) {
                Ok((after, patch)) => {
                    let changed = patch.as_array().is_some_and(|a| !a.is_empty());
                    let applied = p.manifest.mode == Mode::Enforce;
                    if changed {
                        report.patches.push(PluginPatch {
                            plugin: p.id().into(),
                            hook: hook.as_str(),
                            patch,
                            applied,
                        });
                    }
                    if applied {
                        *object = after;
                    }
                }
                Err(e) => self.failed(p, e, report)?,
            }
        }
        Ok(())
    }
}

/// Parses a plugin's answer, computes its patch and checks scope and invariants.
fn checked_change(
    p: &LoadedPlugin,
    hook: Hook,
    before: &Value,
    out: &str,
) -> Result<(Value, Value), PluginError> {
    let err = |kind| PluginError {
        plugin: p.manifest.name.clone(),
        version: p.manifest.version.clone(),
        hook: hook.as_str().into(),
        kind,
    };
    let after: Value = serde_json::from_str(out)
        .map_err(|e| err(PluginErrorKind::BadOutput(format!("not JSON: {e}"))))?;
    let patch = serde_json::to_value(json_patch::diff(before, &after)).map_err(|e| {
        err(PluginErrorKind::BadOutput(format!(
            "its patch as JSON: {e}"
        )))
    })?;
    for op in patch.as_array().into_iter().flatten() {
        for pointer in scope::written_pointers(op) {
            if !p
                .manifest
                .write_scope
                .iter()
                .any(|g| scope::matches(g, &pointer))
            {
                return Err(err(PluginErrorKind::OutOfScope { path: pointer }));
            }
        }
    }
    invariants(hook, before, &after).map_err(|m| err(PluginErrorKind::BadOutput(m)))?;
    Ok((after, patch))
}

/// What no plugin may change, whatever its scope: the object must stay a valid object of its
/// kind with the same identity, owners, selector and our labels.
fn invariants(hook: Hook, before: &Value, after: &Value) -> Result<(), String> {
    let fixed = [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
        "/metadata/ownerReferences",
        "/spec/selector",
        "/spec/podSelector",
    ];
    for ptr in fixed {
        if before.pointer(ptr) != after.pointer(ptr) {
            return Err(format!("changed {ptr}, which no plugin may change"));
        }
    }
    let label = format!(
        "/metadata/labels/{}",
        crate::schema::escape_pointer_segment(SERVER_LABEL)
    );
    let managed = "/metadata/labels/app.kubernetes.io~1managed-by";
    let mut labels = vec![label.clone(), managed.to_string()];
    if hook == Hook::MutateDeployment {
        labels.push(format!("/spec/template{label}"));
    }
    for ptr in labels {
        if before.pointer(&ptr) != after.pointer(&ptr) {
            return Err(format!("changed {ptr}, which no plugin may change"));
        }
    }
    let valid = match hook {
        Hook::MutateDeployment => serde_json::from_value::<Deployment>(after.clone()).map(|_| ()),
        Hook::MutateService => serde_json::from_value::<Service>(after.clone()).map(|_| ()),
        Hook::MutateNetworkPolicy => {
            serde_json::from_value::<k8s_openapi::api::networking::v1::NetworkPolicy>(after.clone())
                .map(|_| ())
        }
        _ => Ok(()),
    };
    valid.map_err(|e| {
        format!(
            "no longer a valid {}: {e}",
            match hook {
                Hook::MutateService => "Service",
                Hook::MutateNetworkPolicy => "NetworkPolicy",
                _ => "Deployment",
            }
        )
    })
}

#[cfg(test)]
mod tests;
