//! `plugin.json`: what a plugin is, what it may do and how it is bounded; checked against
//! `schemas/plugin.schema.json`, and its settings against the plugin's own settings schema.

use std::path::{Path, PathBuf};

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

    /// `name@version`, how a plugin is named in errors, logs and annotations.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}
