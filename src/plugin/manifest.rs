//! `plugin.json`: what a plugin is, what it may do and how it is bounded; checked against
//! `schemas/plugin.schema.json`, and its settings against the plugin's own settings schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::{CustomSchema, SchemaKind, Violation};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    ValidateConfig,
    MutateDeployment,
    MutateService,
    MutateNetworkPolicy,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::ValidateConfig => "validate-config",
            Hook::MutateDeployment => "mutate-deployment",
            Hook::MutateService => "mutate-service",
            Hook::MutateNetworkPolicy => "mutate-network-policy",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    #[default]
    Fail,
    Ignore,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Monitor,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default = "default_memory")]
    pub memory_mi_b: u64,
    #[serde(default = "default_output")]
    pub max_output_bytes: u64,
}

fn default_timeout() -> u64 {
    100
}
fn default_memory() -> u64 {
    64
}
fn default_output() -> u64 {
    1024 * 1024
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: default_timeout(),
            memory_mi_b: default_memory(),
            max_output_bytes: default_output(),
        }
    }
}

/// Where a webhook policy lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginManifest {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "default_contract")]
    pub contract: String,
    /// Empty for a webhook.
    #[serde(default)]
    pub component: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
    pub hooks: Vec<Hook>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub write_scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_schema: Option<Value>,
    #[serde(default = "empty_object")]
    pub settings: Value,
    #[serde(default)]
    pub limits: Limits,
    /// Where the policy applies; `None`: in every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<NamespaceMatch>,
}

/// The namespaces a policy applies to (`namespaces` in plugin.json): those `names` lists and
/// those whose labels `selector` matches. Both, when both are given (as in Gatekeeper's
/// `match`): a policy for "team-a, if it is labelled production" is one document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceMatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// A Kubernetes label selector on the namespace's labels (every namespace has
    /// `kubernetes.io/metadata.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

impl NamespaceMatch {
    /// Whether a server in `namespace` is the policy's. `labels` are the namespace's (`None`:
    /// not known, as before the control plane's watch of it answered); a selector cannot be
    /// answered without them, and a policy never silently skips a server: that is an `Err`.
    pub fn matches(
        &self,
        namespace: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Result<bool, String> {
        if !self.names.is_empty() && !self.names.iter().any(|n| n == namespace) {
            return Ok(false);
        }
        if self.selector.is_none() {
            return Ok(true);
        }
        let labels = labels.ok_or_else(|| {
            format!("it selects namespaces by label, and the labels of namespace {namespace} are not known yet")
        })?;
        // An empty selector (`{}`) matches every namespace, as in Kubernetes.
        Ok(self.selector()?.is_some_and(|s| s.matches(labels)))
    }

    /// The selector, parsed (checked when the manifest loads).
    fn selector(&self) -> Result<Option<Selector>, String> {
        self.selector
            .clone()
            .map(Selector::try_from)
            .transpose()
            .map_err(|e| format!("its namespace selector: {e}"))
    }
}

fn default_contract() -> String {
    super::CONTRACT.into()
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Parse {
        path: PathBuf,
        error: crate::input::InputError,
    },
    #[error("{path}: {violations}")]
    Invalid {
        path: PathBuf,
        violations: crate::schema::Violations,
    },
    #[error("plugin {plugin}: its settingsSchema does not compile: {reason}")]
    SettingsSchema { plugin: String, reason: String },
    #[error("plugin {plugin}: {reason}")]
    Namespaces { plugin: String, reason: String },
    #[error("plugin {plugin}: settings refused by its settingsSchema: {}", list(.violations))]
    Settings {
        plugin: String,
        violations: Vec<Violation>,
    },
}

fn list(v: &[Violation]) -> String {
    v.iter()
        .map(Violation::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl PluginManifest {
    /// Reads and checks `<dir>/plugin.json`, including the settings against the plugin's
    /// settings schema (before the plugin's own validate-settings ever runs).
    pub fn load(dir: &Path) -> Result<PluginManifest, ManifestError> {
        Self::load_with(dir, None)
    }

    /// Like [`PluginManifest::load`], with `settings` replacing plugin.json's.
    pub fn load_with(
        dir: &Path,
        settings: Option<&Value>,
    ) -> Result<PluginManifest, ManifestError> {
        let path = dir.join("plugin.json");
        let text = std::fs::read_to_string(&path).map_err(|error| ManifestError::Read {
            path: path.clone(),
            error,
        })?;
        let mut doc =
            crate::input::parse_document(&text, &path.display().to_string()).map_err(|error| {
                ManifestError::Parse {
                    path: path.clone(),
                    error,
                }
            })?;
        if let Some(s) = settings {
            doc["settings"] = s.clone();
        }
        Self::from_value(&doc, &path)
    }

    pub fn from_value(doc: &Value, path: &Path) -> Result<PluginManifest, ManifestError> {
        SchemaKind::Plugin
            .validate(doc)
            .map_err(|violations| ManifestError::Invalid {
                path: path.to_path_buf(),
                violations,
            })?;
        let manifest: PluginManifest =
            serde_json::from_value(doc.clone()).map_err(|e| ManifestError::SettingsSchema {
                plugin: doc["name"].as_str().unwrap_or_default().into(),
                reason: e.to_string(),
            })?;
        if let Some(m) = &manifest.namespaces {
            m.selector().map_err(|reason| ManifestError::Namespaces {
                plugin: manifest.name.clone(),
                reason,
            })?;
        }
        if let Some(schema) = &manifest.settings_schema {
            let compiled =
                CustomSchema::compile(schema).map_err(|reason| ManifestError::SettingsSchema {
                    plugin: manifest.name.clone(),
                    reason,
                })?;
            let violations = compiled.violations(&manifest.settings);
            if !violations.is_empty() {
                return Err(ManifestError::Settings {
                    plugin: manifest.name.clone(),
                    violations,
                });
            }
        }
        Ok(manifest)
    }

    pub fn handles(&self, hook: Hook) -> bool {
        self.hooks.contains(&hook)
    }

    /// Whether the policy applies to a server in `namespace` ([`NamespaceMatch::matches`]).
    pub fn applies_in(
        &self,
        namespace: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Result<bool, String> {
        self.namespaces
            .as_ref()
            .map_or(Ok(true), |m| m.matches(namespace, labels))
    }

    /// `name@version`, how a plugin is named in errors, logs and annotations.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matching(m: Value) -> NamespaceMatch {
        serde_json::from_value(m).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_and_a_selector_must_both_hold() {
        let m = matching(json!({
            "names": ["team-a", "team-b"],
            "selector": {"matchLabels": {"tier": "production"},
                         "matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]}
        }));
        let prod = labels(&[("tier", "production")]);
        assert_eq!(m.matches("team-a", Some(&prod)), Ok(true));
        assert_eq!(m.matches("team-c", Some(&prod)), Ok(false), "not listed");
        let staging = labels(&[("tier", "staging")]);
        assert_eq!(
            m.matches("team-b", Some(&staging)),
            Ok(false),
            "not selected"
        );
        let legacy = labels(&[("tier", "production"), ("legacy", "yes")]);
        assert_eq!(m.matches("team-a", Some(&legacy)), Ok(false));
    }

    #[test]
    fn a_selector_without_the_labels_is_an_error_and_names_alone_need_none() {
        let by_label = matching(json!({"selector": {"matchLabels": {"tier": "production"}}}));
        let err = by_label.matches("team-a", None).unwrap_err();
        assert!(err.contains("labels of namespace team-a"), "{err}");
        let by_name = matching(json!({"names": ["team-a"]}));
        assert_eq!(by_name.matches("team-a", None), Ok(true));
        assert_eq!(by_name.matches("team-b", None), Ok(false));
        let everything = matching(json!({"selector": {}}));
        assert_eq!(everything.matches("any", Some(&labels(&[]))), Ok(true));
    }

    #[test]
    fn a_manifest_without_namespaces_applies_everywhere_and_a_bad_selector_is_refused() {
        let base = json!({"name": "p", "version": "1.0.0", "hooks": ["mutate-deployment"],
                          "webhook": {"url": "http://127.0.0.1:9/hook"}});
        let plain = PluginManifest::from_value(&base, Path::new("plugin.json")).unwrap();
        assert_eq!(plain.applies_in("anywhere", None), Ok(true));

        let mut bad = base.clone();
        bad["namespaces"] =
            json!({"selector": {"matchExpressions": [{"key": "tier", "operator": "In"}]}});
        let err = PluginManifest::from_value(&bad, Path::new("plugin.json")).unwrap_err();
        assert!(
            err.to_string()
                .contains("/namespaces/selector/matchExpressions/0"),
            "{err}"
        );
        let mut empty = base;
        empty["namespaces"] = json!({});
        assert!(PluginManifest::from_value(&empty, Path::new("plugin.json")).is_err());
    }
}
