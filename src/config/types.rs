//! The resolved settings' types, shaped like `schemas/runtime-config.schema.json`, and what
//! rendering takes from them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::crd::Resources;
use crate::render::{Defaults, RenderContext};
use crate::schema::Violations;

use super::Environment;

/// The resolved settings, shaped like `schemas/runtime-config.schema.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeConfig {
    /// The control plane's own namespace (Lease, token Secret, what `/v1/servers` means).
    pub namespace: String,
    /// The namespaces served (`["*"]`: every one; none given: `namespace`); see
    /// [`crate::runtime::scope`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// What differs per namespace ([`super::NamespaceSettings`]), by namespace name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_settings: BTreeMap<String, super::NamespaceSettings>,
    pub kubeconfig: KubeconfigSource,
    pub cluster_domain: String,
    pub defaults: ServerDefaults,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_dir: Option<String>,
    /// The operator's cap on every plugin's own `limits.timeoutMs`, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_timeout_max_ms: Option<u64>,
    pub listen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    #[serde(default)]
    pub auth: Auth,
    pub log_format: LogFormat,
    pub reconcile_concurrency: u32,
    pub network: NetworkSettings,
    #[serde(default)]
    pub mcp_probe: McpProbeSettings,
    /// Seconds between sweeps of failed pods ([`crate::controller::reaper`]); 0: off.
    #[serde(default = "default_reap_interval")]
    pub failed_pod_reap_interval_seconds: u32,
    #[serde(default)]
    pub service: ServiceSettings,
    #[serde(default)]
    pub service_accounts: ServiceAccountSettings,
    /// The built-in local cluster's real node, found by `serve` when it starts that cluster: not
    /// a setting (never read from or written to the settings document).
    #[serde(skip)]
    pub local_node: Option<crate::render::LocalNode>,
}

/// Which ServiceAccounts servers may run as ([`crate::render::service_account`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountSettings {
    /// `None`: any but the control plane's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<String>,
}

/// How servers' Services are exposed. `NodePort` is the reference system's way for a platform
/// running outside the cluster (local development): the API server allocates a port on every
/// node, and with a node host the status carries `nodeEndpoint`, which the MCP probe uses too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSettings {
    #[serde(rename = "type")]
    pub type_: crate::render::service::ServiceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_host: Option<String>,
}

/// The reference system's reaper interval.
pub(super) fn default_reap_interval() -> u32 {
    600
}

/// How often and how long the controller checks that a server speaks MCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpProbeSettings {
    /// Seconds between probes of a server that answered; 0: no probes.
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    /// `Ready` and the phase Running also need the probe's answer.
    #[serde(default)]
    pub gates_ready: bool,
}

impl Default for McpProbeSettings {
    fn default() -> Self {
        McpProbeSettings {
            interval_seconds: 300,
            timeout_seconds: 5,
            gates_ready: false,
        }
    }
}

/// Who may call servers and where servers may call, by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSettings {
    pub mode: crate::crd::NetworkMode,
    pub platform_pod_selector: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub platform_namespace_selector: Option<std::collections::BTreeMap<String, String>>,
    pub control_plane_pod_selector: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeconfigSource {
    pub source: KubeconfigKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KubeconfigKind {
    InCluster,
    File,
    Local,
    Default,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerDefaults {
    pub image: String,
    /// Empty: stdio servers are not bridged.
    #[serde(default)]
    pub bridge_image: String,
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default)]
    pub read_only_root_filesystem: bool,
    /// RuntimeClass of servers that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Auth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<SecretKey>,
    #[serde(default)]
    pub metrics_require_auth: bool,
    #[serde(default)]
    pub disabled: bool,
    /// Tokens the cluster accepts are callers too ([`crate::api::review`]).
    #[serde(default = "yes")]
    pub kubernetes: bool,
    /// Audiences such a token must be meant for; empty: the API server's own.
    #[serde(default)]
    pub token_audiences: Vec<String>,
    /// Longest a review's answer is reused.
    #[serde(default = "default_review_cache_seconds")]
    pub review_cache_seconds: u32,
}

fn yes() -> bool {
    true
}

pub(super) fn default_review_cache_seconds() -> u32 {
    10
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            token_file: None,
            token_secret: None,
            metrics_require_auth: false,
            disabled: false,
            kubernetes: true,
            token_audiences: Vec::new(),
            review_cache_seconds: default_review_cache_seconds(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tls {
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKey {
    pub name: String,
    pub key: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {var}: {reason}")]
    Variable { var: &'static str, reason: String },
    #[error("invalid settings: {0}")]
    Invalid(#[from] Violations),
}

/// Where the local cluster's scripts write their kubeconfig (see deploy/local-cluster/up.sh).
pub fn local_cluster_kubeconfig(env: &dyn Environment) -> PathBuf {
    let cache = env
        .var("MCP_RUNTIME_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            env.var("HOME")
                .map(|h| Path::new(&h).join(".cache/mcp-runtime"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/mcp-runtime"));
    cache.join("cluster/kubeconfig")
}

impl RuntimeConfig {
    /// The namespaces served, as the controller and the API use them.
    pub fn served(&self) -> crate::runtime::scope::Served {
        match self.namespaces.as_slice() {
            [] => crate::runtime::scope::Served::from_list(std::slice::from_ref(&self.namespace)),
            listed => crate::runtime::scope::Served::from_list(listed),
        }
    }

    /// The render settings of every namespace: [`RuntimeConfig::render_context`] with each
    /// namespace's own settings over it.
    pub fn render_contexts(&self) -> super::RenderContexts {
        super::RenderContexts {
            home: self.render_context(),
            per_namespace: self.namespace_settings.clone(),
        }
    }

    /// The part of the settings rendering needs (the control plane's own namespace, the
    /// defaults before any namespace's settings).
    pub fn render_context(&self) -> RenderContext {
        RenderContext {
            namespace: self.namespace.clone(),
            defaults: Defaults {
                image: self.defaults.image.clone(),
                bridge_image: (!self.defaults.bridge_image.is_empty())
                    .then(|| self.defaults.bridge_image.clone()),
                resources: self.defaults.resources.clone(),
                run_as_user: self.defaults.run_as_user,
                read_only_root_filesystem: self.defaults.read_only_root_filesystem,
                termination_grace_period_seconds: Some(
                    crate::render::DEFAULT_TERMINATION_GRACE_SECONDS,
                ),
                runtime_class_name: self.defaults.runtime_class_name.clone(),
                local_node: self.local_node.clone(),
                service_type: self.service.type_,
                service_accounts: crate::render::service_account::ServiceAccounts {
                    allowed: self
                        .service_accounts
                        .allowed
                        .as_ref()
                        .map(|a| a.iter().cloned().collect()),
                    control_plane: self.service_accounts.control_plane.clone(),
                },
            },
            network: crate::render::network::NetworkDefaults {
                mode: self.network.mode,
                control_plane: self.network.control_plane_pod_selector.clone(),
                platform_pods: self.network.platform_pod_selector.clone(),
                platform_namespaces: self.network.platform_namespace_selector.clone(),
            },
        }
    }
}
