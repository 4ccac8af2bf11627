//! The control plane's settings: flags, then `MCP_RUNTIME_*` environment variables, then the
//! reference system's `ARCHESTRA_ORCHESTRATOR_*` names, then defaults. The result is checked
//! against `schemas/runtime-config.schema.json` before anything uses it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::crd::{ResourceList, Resources};
use crate::render::{DEFAULT_BASE_IMAGE, Defaults, RenderContext};
use crate::schema::{SchemaKind, Violations};

/// Flags shared by every command that needs settings. Each has an `MCP_RUNTIME_*` variable;
/// see [`ARCHESTRA_FALLBACKS`] for the legacy names.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Settings {
    /// Namespace of the McpServers and their objects.
    #[arg(long, env = "MCP_RUNTIME_NAMESPACE")]
    pub namespace: Option<String>,
    /// Path of a kubeconfig file.
    #[arg(long, env = "MCP_RUNTIME_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, env = "MCP_RUNTIME_KUBE_CONTEXT")]
    pub context: Option<String>,
    /// Use the pod's service account (running inside the cluster).
    #[arg(long, env = "MCP_RUNTIME_IN_CLUSTER")]
    pub in_cluster: Option<bool>,
    /// DNS domain of the cluster.
    #[arg(long, env = "MCP_RUNTIME_CLUSTER_DOMAIN")]
    pub cluster_domain: Option<String>,
    /// Image for servers that give a command but no image.
    #[arg(long, env = "MCP_RUNTIME_BASE_IMAGE")]
    pub base_image: Option<String>,
    /// Image with the mcp-runtime binary for bridged stdio servers ("" turns bridging off).
    #[arg(long, env = "MCP_RUNTIME_BRIDGE_IMAGE")]
    pub bridge_image: Option<String>,
    /// Default egress isolation of servers: restricted, default or off.
    #[arg(long, env = "MCP_RUNTIME_NETWORK_POLICY")]
    pub network_policy: Option<String>,
    /// Pods allowed to call MCP servers, as `key=value[,key=value]`.
    #[arg(long, env = "MCP_RUNTIME_PLATFORM_POD_SELECTOR")]
    pub platform_pod_selector: Option<String>,
    /// Namespaces of those pods, as `key=value[,key=value]` (default: the servers' namespace).
    #[arg(long, env = "MCP_RUNTIME_PLATFORM_NAMESPACE_SELECTOR")]
    pub platform_namespace_selector: Option<String>,
    /// Default CPU request of an MCP container.
    #[arg(long, env = "MCP_RUNTIME_CPU_REQUEST")]
    pub cpu_request: Option<String>,
    /// Default CPU limit (none unless set).
    #[arg(long, env = "MCP_RUNTIME_CPU_LIMIT")]
    pub cpu_limit: Option<String>,
    /// Default memory request.
    #[arg(long, env = "MCP_RUNTIME_MEMORY_REQUEST")]
    pub memory_request: Option<String>,
    /// Default memory limit.
    #[arg(long, env = "MCP_RUNTIME_MEMORY_LIMIT")]
    pub memory_limit: Option<String>,
    /// Default ephemeral-storage request.
    #[arg(long, env = "MCP_RUNTIME_EPHEMERAL_STORAGE_REQUEST")]
    pub ephemeral_storage_request: Option<String>,
    /// Default ephemeral-storage limit.
    #[arg(long, env = "MCP_RUNTIME_EPHEMERAL_STORAGE_LIMIT")]
    pub ephemeral_storage_limit: Option<String>,
    /// UID for MCP containers whose image declares none.
    #[arg(long, env = "MCP_RUNTIME_RUN_AS_USER")]
    pub run_as_user: Option<i64>,
    /// RuntimeClass of MCP pods whose server names none (e.g. gVisor's `gvisor`).
    #[arg(long, env = "MCP_RUNTIME_RUNTIME_CLASS")]
    pub runtime_class: Option<String>,
    /// Read-only root filesystem for MCP containers unless a server says otherwise.
    #[arg(long, env = "MCP_RUNTIME_READ_ONLY_ROOT_FILESYSTEM")]
    pub read_only_root_filesystem: Option<bool>,
    /// Directory of plugins (one folder with a plugin.json each).
    #[arg(long, env = "MCP_RUNTIME_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Address of the HTTP API.
    #[arg(long, env = "MCP_RUNTIME_LISTEN")]
    pub listen: Option<String>,
    /// PEM certificate chain for the API listener (with --tls-key: HTTPS).
    #[arg(long, env = "MCP_RUNTIME_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the API listener.
    #[arg(long, env = "MCP_RUNTIME_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// File of API bearer tokens, one per line.
    #[arg(long, env = "MCP_RUNTIME_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Secret (`name/key`, in the namespace) holding API bearer tokens, one per line.
    #[arg(long, env = "MCP_RUNTIME_TOKEN_SECRET")]
    pub token_secret: Option<String>,
    /// No API authentication (local development only).
    #[arg(long, env = "MCP_RUNTIME_AUTH_DISABLED")]
    pub auth_disabled: Option<bool>,
    /// Require a bearer token for /metrics too.
    #[arg(long, env = "MCP_RUNTIME_METRICS_REQUIRE_AUTH")]
    pub metrics_require_auth: Option<bool>,
    /// Log format: text or json.
    #[arg(long, env = "MCP_RUNTIME_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Servers reconciled at once.
    #[arg(long, env = "MCP_RUNTIME_RECONCILE_CONCURRENCY")]
    pub reconcile_concurrency: Option<u32>,
    /// Seconds between MCP probes (`initialize` through the endpoint) of a healthy server;
    /// 0 turns the probe off.
    #[arg(long, env = "MCP_RUNTIME_MCP_PROBE_INTERVAL")]
    pub mcp_probe_interval: Option<u32>,
    /// Seconds one MCP probe may take in all.
    #[arg(long, env = "MCP_RUNTIME_MCP_PROBE_TIMEOUT")]
    pub mcp_probe_timeout: Option<u32>,
    /// `Ready` (and the phase Running) also needs an MCP answer; for control planes that can
    /// reach their servers (in the cluster).
    #[arg(long, env = "MCP_RUNTIME_MCP_PROBE_GATES_READY")]
    pub mcp_probe_gates_ready: Option<bool>,
    /// Seconds between sweeps that delete the failed (evicted) pods of managed servers;
    /// 0 turns the reaper off.
    #[arg(long, env = "MCP_RUNTIME_FAILED_POD_REAP_INTERVAL")]
    pub failed_pod_reap_interval: Option<u32>,
    /// Type of the servers' Services: ClusterIP, or NodePort for a platform outside the
    /// cluster (default: NodePort when a node host is set out of cluster, else ClusterIP).
    #[arg(long, env = "MCP_RUNTIME_SERVICE_TYPE")]
    pub service_type: Option<String>,
    /// Host (name or address) of a node, for the `status.nodeEndpoint` of NodePort Services.
    #[arg(long, env = "MCP_RUNTIME_NODE_HOST")]
    pub node_host: Option<String>,
    /// ServiceAccounts servers may name, comma-separated (unset: any but the control plane's).
    #[arg(long, env = "MCP_RUNTIME_ALLOWED_SERVICE_ACCOUNTS")]
    pub allowed_service_accounts: Option<String>,
    /// The control plane's own ServiceAccount, which no server may use.
    #[arg(long, env = "MCP_RUNTIME_OWN_SERVICE_ACCOUNT")]
    pub own_service_account: Option<String>,
}

/// Legacy variable names still honoured, as (setting, variable). Used only when neither the flag
/// nor the `MCP_RUNTIME_*` variable is set.
pub const ARCHESTRA_FALLBACKS: &[(&str, &str)] = &[
    ("namespace", "ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE"),
    ("kubeconfig", "ARCHESTRA_ORCHESTRATOR_KUBECONFIG"),
    (
        "in_cluster",
        "ARCHESTRA_ORCHESTRATOR_LOAD_KUBECONFIG_FROM_CURRENT_CLUSTER",
    ),
    (
        "cluster_domain",
        "ARCHESTRA_ORCHESTRATOR_K8S_CLUSTER_DOMAIN",
    ),
    ("base_image", "ARCHESTRA_ORCHESTRATOR_MCP_SERVER_BASE_IMAGE"),
    (
        "cpu_request",
        "ARCHESTRA_ORCHESTRATOR_MCP_SERVER_CPU_REQUEST",
    ),
    (
        "memory_request",
        "ARCHESTRA_ORCHESTRATOR_MCP_SERVER_MEMORY_REQUEST",
    ),
    (
        "memory_limit",
        "ARCHESTRA_ORCHESTRATOR_MCP_SERVER_MEMORY_LIMIT",
    ),
    (
        "ephemeral_storage_request",
        "ARCHESTRA_ORCHESTRATOR_MCP_SERVER_EPHEMERAL_STORAGE_REQUEST",
    ),
    (
        "ephemeral_storage_limit",
        "ARCHESTRA_ORCHESTRATOR_MCP_SERVER_EPHEMERAL_STORAGE_LIMIT",
    ),
    (
        "failed_pod_reap_interval",
        "ARCHESTRA_ORCHESTRATOR_FAILED_POD_REAP_INTERVAL_SECONDS",
    ),
    ("node_host", "ARCHESTRA_ORCHESTRATOR_K8S_NODE_HOST"),
];

/// Variables of the reference system that mcp-runtime reads but does not act on, with what
/// happens instead. `serve` and `config` warn once for each one set, so that nobody moving over
/// believes a setting took effect.
pub const ARCHESTRA_NOT_HONOURED: &[(&str, &str)] = &[
    (
        "ARCHESTRA_ORCHESTRATOR_MCP_RUNTIME_OWNER_ROLE",
        "every object of a server carries an ownerReference to its McpServer, which garbage collection follows",
    ),
    (
        "ARCHESTRA_ORCHESTRATOR_HELM_RELEASE_NAME",
        "objects are named after their server (mcp-<slug>) and labelled app.kubernetes.io/managed-by=mcp-runtime",
    ),
    (
        "ARCHESTRA_ORCHESTRATOR_ENVIRONMENT_NAMESPACES",
        "one control plane serves one namespace (MCP_RUNTIME_NAMESPACE); run one per namespace",
    ),
    (
        "ARCHESTRA_ORCHESTRATOR_MCP_K8S_SERVICE_ACCOUNT_NAME",
        "a server names its ServiceAccount in its own spec (serviceAccountName), within MCP_RUNTIME_ALLOWED_SERVICE_ACCOUNTS",
    ),
    (
        "ARCHESTRA_ORCHESTRATOR_MCP_IDLE_HIBERNATION_ENABLED",
        "idle hibernation is not implemented; a server is stopped with its `stopped` field",
    ),
    (
        "ARCHESTRA_ORCHESTRATOR_MCP_IDLE_HIBERNATION_SECONDS",
        "idle hibernation is not implemented; a server is stopped with its `stopped` field",
    ),
    (
        "ARCHESTRA_ORCHESTRATOR_MCP_IMAGE_PREPULL_ENABLED",
        "the image pre-puller belongs to idle hibernation, which is not implemented",
    ),
    (
        "ARCHESTRA_ORCHESTRATOR_DOCKER_ENABLED",
        "mcp-runtime runs servers on Kubernetes only",
    ),
];

/// The [`ARCHESTRA_NOT_HONOURED`] variables set in `env`, with what happens instead.
pub fn not_honoured(env: &dyn Environment) -> Vec<(&'static str, &'static str)> {
    ARCHESTRA_NOT_HONOURED
        .iter()
        .copied()
        .filter(|(var, _)| env.var(var).is_some())
        .collect()
}

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

/// The resolved settings, shaped like `schemas/runtime-config.schema.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeConfig {
    pub namespace: String,
    pub kubeconfig: KubeconfigSource,
    pub cluster_domain: String,
    pub defaults: ServerDefaults,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_dir: Option<String>,
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
    /// Seconds between sweeps of failed pods ([`crate::runtime::reaper`]); 0: off.
    #[serde(default = "default_reap_interval")]
    pub failed_pod_reap_interval_seconds: u32,
    #[serde(default)]
    pub service: ServiceSettings,
    #[serde(default)]
    pub service_accounts: ServiceAccountSettings,
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
fn default_reap_interval() -> u32 {
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

/// `k=v[,k=v]` into a label map.
fn label_map(text: &str) -> Option<std::collections::BTreeMap<String, String>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

impl Settings {
    /// Resolves flags and environment into a checked [`RuntimeConfig`].
    pub fn resolve(&self, env: &dyn Environment) -> Result<RuntimeConfig, ConfigError> {
        let legacy = |setting: &str| -> Option<(&'static str, String)> {
            ARCHESTRA_FALLBACKS
                .iter()
                .find(|(s, _)| *s == setting)
                .and_then(|(_, var)| env.var(var).map(|v| (*var, v)))
        };
        let text = |own: &Option<String>, setting: &str| -> Option<String> {
            own.clone()
                .or_else(|| legacy(setting).map(|(_, v)| v.trim().to_string()))
        };

        let in_cluster = match self.in_cluster {
            Some(b) => b,
            // The reference compares this variable to the string "true".
            None => legacy("in_cluster").is_some_and(|(_, v)| v.trim() == "true"),
        };
        let kubeconfig_path = self
            .kubeconfig
            .as_ref()
            .map(|p| p.display().to_string())
            .or_else(|| legacy("kubeconfig").map(|(_, v)| v));
        let kubeconfig = if in_cluster {
            KubeconfigSource {
                source: KubeconfigKind::InCluster,
                path: None,
                context: None,
            }
        } else if let Some(path) = kubeconfig_path {
            if !env.exists(Path::new(&path)) {
                return Err(ConfigError::Variable {
                    var: "MCP_RUNTIME_KUBECONFIG",
                    reason: format!("kubeconfig file {path} does not exist"),
                });
            }
            KubeconfigSource {
                source: KubeconfigKind::File,
                path: Some(path),
                context: self.context.clone(),
            }
        } else if env.var("KUBECONFIG").is_some()
            || env
                .var("HOME")
                .is_some_and(|h| env.exists(&Path::new(&h).join(".kube/config")))
        {
            KubeconfigSource {
                source: KubeconfigKind::Default,
                path: None,
                context: self.context.clone(),
            }
        } else {
            KubeconfigSource {
                source: KubeconfigKind::Local,
                path: Some(local_cluster_kubeconfig(env).display().to_string()),
                context: None,
            }
        };

        let d = Defaults::default();
        let requests = ResourceList {
            cpu: text(&self.cpu_request, "cpu_request").or(d.resources.requests.cpu),
            memory: text(&self.memory_request, "memory_request").or(d.resources.requests.memory),
            ephemeral_storage: text(&self.ephemeral_storage_request, "ephemeral_storage_request")
                .or(d.resources.requests.ephemeral_storage),
        };
        let limits = ResourceList {
            cpu: self.cpu_limit.clone(),
            memory: text(&self.memory_limit, "memory_limit").or(d.resources.limits.memory),
            ephemeral_storage: text(&self.ephemeral_storage_limit, "ephemeral_storage_limit")
                .or(d.resources.limits.ephemeral_storage),
        };
        let log_format = match self.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => {
                return Err(ConfigError::Variable {
                    var: "MCP_RUNTIME_LOG_FORMAT",
                    reason: "must be text or json".into(),
                });
            }
        };
        let config = RuntimeConfig {
            namespace: text(&self.namespace, "namespace")
                .or_else(|| env.var("POD_NAMESPACE"))
                .unwrap_or_else(|| "default".into()),
            kubeconfig,
            cluster_domain: text(&self.cluster_domain, "cluster_domain")
                .unwrap_or_else(|| "cluster.local".into()),
            defaults: ServerDefaults {
                image: text(&self.base_image, "base_image")
                    .unwrap_or_else(|| DEFAULT_BASE_IMAGE.into()),
                bridge_image: match &self.bridge_image {
                    Some(b) => b.trim().to_string(),
                    None => crate::render::DEFAULT_BRIDGE_IMAGE.to_string(),
                },
                resources: Resources { requests, limits },
                run_as_user: self.run_as_user,
                read_only_root_filesystem: self.read_only_root_filesystem.unwrap_or(false),
                runtime_class_name: self
                    .runtime_class
                    .as_deref()
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(String::from),
            },
            plugin_dir: self.plugin_dir.as_ref().map(|p| p.display().to_string()),
            listen: self
                .listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(c), Some(k)) => Some(Tls {
                    cert_file: c.display().to_string(),
                    key_file: k.display().to_string(),
                }),
                _ => None,
            },
            auth: Auth {
                token_file: self.token_file.as_ref().map(|p| p.display().to_string()),
                token_secret: match &self.token_secret {
                    None => None,
                    Some(s) => match s.split_once('/') {
                        Some((name, key)) if !name.is_empty() && !key.is_empty() => {
                            Some(SecretKey {
                                name: name.into(),
                                key: key.into(),
                            })
                        }
                        _ => {
                            return Err(ConfigError::Variable {
                                var: "MCP_RUNTIME_TOKEN_SECRET",
                                reason: "must be <secret name>/<key>".into(),
                            });
                        }
                    },
                },
                metrics_require_auth: self.metrics_require_auth.unwrap_or(false),
                disabled: self.auth_disabled.unwrap_or(false),
            },
            log_format,
            reconcile_concurrency: self.reconcile_concurrency.unwrap_or(16),
            mcp_probe: {
                let d = McpProbeSettings::default();
                McpProbeSettings {
                    interval_seconds: self.mcp_probe_interval.unwrap_or(d.interval_seconds),
                    timeout_seconds: self.mcp_probe_timeout.unwrap_or(d.timeout_seconds),
                    gates_ready: self.mcp_probe_gates_ready.unwrap_or(d.gates_ready),
                }
            },
            failed_pod_reap_interval_seconds: match self.failed_pod_reap_interval {
                Some(s) => s,
                None => match legacy("failed_pod_reap_interval") {
                    None => default_reap_interval(),
                    Some((var, v)) => v.trim().parse().map_err(|_| ConfigError::Variable {
                        var,
                        reason: "must be a whole number of seconds".into(),
                    })?,
                },
            },
            service: {
                let node_host = text(&self.node_host, "node_host").filter(|h| !h.is_empty());
                use crate::render::service::ServiceType;
                ServiceSettings {
                    type_: match self.service_type.as_deref().map(str::trim) {
                        Some("ClusterIP") => ServiceType::ClusterIP,
                        Some("NodePort") => ServiceType::NodePort,
                        Some(_) => {
                            return Err(ConfigError::Variable {
                                var: "MCP_RUNTIME_SERVICE_TYPE",
                                reason: "must be ClusterIP or NodePort".into(),
                            });
                        }
                        // The reference: NodePort unless it runs in the cluster.
                        None if node_host.is_some() && !in_cluster => ServiceType::NodePort,
                        None => ServiceType::ClusterIP,
                    },
                    node_host,
                }
            },
            service_accounts: ServiceAccountSettings {
                allowed: self.allowed_service_accounts.as_deref().map(|list| {
                    // In the given order (a schema error's index points into it), once each.
                    let mut names: Vec<String> = Vec::new();
                    for n in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        if !names.iter().any(|m| m == n) {
                            names.push(n.to_string());
                        }
                    }
                    names
                }),
                control_plane: self
                    .own_service_account
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(String::from),
            },
            network: {
                let d = crate::render::network::NetworkDefaults::default();
                let selector =
                    |v: &Option<String>, var: &'static str| -> Result<Option<_>, ConfigError> {
                        match v {
                            None => Ok(None),
                            Some(t) => label_map(t).filter(|m| !m.is_empty()).map(Some).ok_or(
                                ConfigError::Variable {
                                    var,
                                    reason: "must be key=value[,key=value]".into(),
                                },
                            ),
                        }
                    };
                NetworkSettings {
                    mode: match self.network_policy.as_deref().map(str::trim) {
                        None | Some("default") => crate::crd::NetworkMode::Default,
                        Some("restricted") => crate::crd::NetworkMode::Restricted,
                        Some("off") => crate::crd::NetworkMode::Off,
                        Some(_) => {
                            return Err(ConfigError::Variable {
                                var: "MCP_RUNTIME_NETWORK_POLICY",
                                reason: "must be restricted, default or off".into(),
                            });
                        }
                    },
                    platform_pod_selector: selector(
                        &self.platform_pod_selector,
                        "MCP_RUNTIME_PLATFORM_POD_SELECTOR",
                    )?
                    .unwrap_or(d.platform_pods),
                    platform_namespace_selector: selector(
                        &self.platform_namespace_selector,
                        "MCP_RUNTIME_PLATFORM_NAMESPACE_SELECTOR",
                    )?,
                    control_plane_pod_selector: d.control_plane,
                }
            },
        };
        let doc = serde_json::to_value(&config).map_err(|e| ConfigError::Variable {
            var: "MCP_RUNTIME_*",
            reason: e.to_string(),
        })?;
        SchemaKind::RuntimeConfig.validate(&doc)?;
        Ok(config)
    }
}

impl RuntimeConfig {
    /// The part of the settings rendering needs.
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
                termination_grace_period_seconds: None,
                runtime_class_name: self.defaults.runtime_class_name.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, &'static str>, Vec<&'static str>);
    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
        fn exists(&self, path: &Path) -> bool {
            self.1.iter().any(|p| Path::new(p) == path)
        }
    }

    fn env(vars: &[(&'static str, &'static str)], files: &[&'static str]) -> FakeEnv {
        FakeEnv(vars.iter().copied().collect(), files.to_vec())
    }

    #[test]
    fn archestra_names_are_honoured() {
        let e = env(
            &[
                ("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "platform"),
                ("ARCHESTRA_ORCHESTRATOR_KUBECONFIG", "/etc/kube/config"),
                (
                    "ARCHESTRA_ORCHESTRATOR_MCP_SERVER_BASE_IMAGE",
                    "registry.example/base:1",
                ),
                ("ARCHESTRA_ORCHESTRATOR_MCP_SERVER_MEMORY_LIMIT", "2Gi"),
            ],
            &["/etc/kube/config"],
        );
        let c = Settings::default().resolve(&e).unwrap();
        assert_eq!(c.namespace, "platform");
        assert_eq!(c.kubeconfig.source, KubeconfigKind::File);
        assert_eq!(c.kubeconfig.path.as_deref(), Some("/etc/kube/config"));
        assert_eq!(c.defaults.image, "registry.example/base:1");
        assert_eq!(c.defaults.resources.limits.memory.as_deref(), Some("2Gi"));
        assert_eq!(c.defaults.resources.requests.cpu.as_deref(), Some("50m"));
    }

    #[test]
    fn own_names_win_over_archestra_names() {
        let e = env(
            &[
                ("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "platform"),
                (
                    "ARCHESTRA_ORCHESTRATOR_LOAD_KUBECONFIG_FROM_CURRENT_CLUSTER",
                    "true",
                ),
            ],
            &[],
        );
        let s = Settings {
            namespace: Some("mine".into()),
            in_cluster: Some(false),
            ..Default::default()
        };
        let c = s.resolve(&e).unwrap();
        assert_eq!(c.namespace, "mine");
        assert_eq!(c.kubeconfig.source, KubeconfigKind::Local);
    }

    #[test]
    fn allowed_service_accounts_are_a_checked_list_and_reach_rendering() {
        let home = ("HOME", "/home/x");
        let c = Settings::default().resolve(&env(&[home], &[])).unwrap();
        assert_eq!(c.service_accounts, ServiceAccountSettings::default());
        let set = Settings {
            allowed_service_accounts: Some(" reader, k8s-mcp,,reader ".into()),
            own_service_account: Some("mcp-runtime".into()),
            ..Default::default()
        };
        let c = set.resolve(&env(&[home], &[])).unwrap();
        assert_eq!(
            c.service_accounts.allowed,
            Some(vec!["reader".to_string(), "k8s-mcp".to_string()])
        );
        let rule = c.render_context().defaults.service_accounts;
        assert_eq!(rule.control_plane.as_deref(), Some("mcp-runtime"));
        assert!(rule.allowed.unwrap().contains("reader"));
        let bad = Settings {
            allowed_service_accounts: Some("reader,Not_A_Name".into()),
            ..Default::default()
        };
        match bad.resolve(&env(&[home], &[])) {
            Err(ConfigError::Invalid(v)) => {
                assert!(v.to_string().contains("/serviceAccounts/allowed/1"), "{v}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn node_ports_as_in_the_reference_out_of_cluster_with_a_node_host() {
        use crate::render::service::ServiceType;
        let home = ("HOME", "/home/x");
        let c = Settings::default().resolve(&env(&[home], &[])).unwrap();
        assert_eq!(c.service, ServiceSettings::default());
        assert_eq!(c.service.type_, ServiceType::ClusterIP);
        let host = ("ARCHESTRA_ORCHESTRATOR_K8S_NODE_HOST", " 192.168.49.2 ");
        let c = Settings::default()
            .resolve(&env(&[home, host], &[]))
            .unwrap();
        assert_eq!(c.service.type_, ServiceType::NodePort);
        assert_eq!(c.service.node_host.as_deref(), Some("192.168.49.2"));
        assert_eq!(
            c.render_context().defaults.service_type,
            ServiceType::NodePort
        );
        // In the cluster the reference used ClusterIP, node host or not.
        let inside = (
            "ARCHESTRA_ORCHESTRATOR_LOAD_KUBECONFIG_FROM_CURRENT_CLUSTER",
            "true",
        );
        let c = Settings::default()
            .resolve(&env(&[home, host, inside], &[]))
            .unwrap();
        assert_eq!(c.service.type_, ServiceType::ClusterIP);
        // An explicit type wins; a wrong one is named.
        let own = Settings {
            service_type: Some("NodePort".into()),
            ..Default::default()
        };
        assert_eq!(
            own.resolve(&env(&[home], &[])).unwrap().service.type_,
            ServiceType::NodePort
        );
        let bad = Settings {
            service_type: Some("LoadBalancer".into()),
            ..Default::default()
        };
        match bad.resolve(&env(&[home], &[])) {
            Err(ConfigError::Variable { var, .. }) => assert_eq!(var, "MCP_RUNTIME_SERVICE_TYPE"),
            other => panic!("{other:?}"),
        }
        // A node host that is not a host name or address is refused by the schema.
        let bad_host = ("ARCHESTRA_ORCHESTRATOR_K8S_NODE_HOST", "http://node:80/");
        match Settings::default().resolve(&env(&[home, bad_host], &[])) {
            Err(ConfigError::Invalid(v)) => {
                assert!(v.to_string().contains("/service/nodeHost"), "{v}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_reaper_interval_comes_from_either_name_and_a_bad_one_is_named() {
        let home = ("HOME", "/home/x");
        let c = Settings::default().resolve(&env(&[home], &[])).unwrap();
        assert_eq!(
            c.failed_pod_reap_interval_seconds, 600,
            "the reference's default"
        );
        let legacy = (
            "ARCHESTRA_ORCHESTRATOR_FAILED_POD_REAP_INTERVAL_SECONDS",
            " 0 ",
        );
        let c = Settings::default()
            .resolve(&env(&[home, legacy], &[]))
            .unwrap();
        assert_eq!(c.failed_pod_reap_interval_seconds, 0, "0 turns it off");
        let own = Settings {
            failed_pod_reap_interval: Some(30),
            ..Default::default()
        };
        let c = own.resolve(&env(&[home, legacy], &[])).unwrap();
        assert_eq!(c.failed_pod_reap_interval_seconds, 30);
        let bad = (
            "ARCHESTRA_ORCHESTRATOR_FAILED_POD_REAP_INTERVAL_SECONDS",
            "10m",
        );
        match Settings::default().resolve(&env(&[home, bad], &[])) {
            Err(ConfigError::Variable { var, reason }) => {
                assert_eq!(
                    var,
                    "ARCHESTRA_ORCHESTRATOR_FAILED_POD_REAP_INTERVAL_SECONDS"
                );
                assert!(reason.contains("seconds"), "{reason}");
            }
            other => panic!("a bad interval is refused, got {other:?}"),
        }
        let far = Settings {
            failed_pod_reap_interval: Some(90_000),
            ..Default::default()
        };
        match far.resolve(&env(&[home], &[])) {
            Err(ConfigError::Invalid(v)) => {
                assert!(
                    v.to_string().contains("/failedPodReapIntervalSeconds"),
                    "{v}"
                )
            }
            other => panic!("past the schema's maximum, got {other:?}"),
        }
    }

    #[test]
    fn legacy_names_that_are_not_acted_on_are_reported_with_why() {
        let e = env(
            &[
                (
                    "ARCHESTRA_ORCHESTRATOR_MCP_IDLE_HIBERNATION_ENABLED",
                    "true",
                ),
                ("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "platform"),
            ],
            &[],
        );
        let found = not_honoured(&e);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].0,
            "ARCHESTRA_ORCHESTRATOR_MCP_IDLE_HIBERNATION_ENABLED"
        );
        assert!(found[0].1.contains("not implemented"));
        let honoured: Vec<_> = ARCHESTRA_FALLBACKS.iter().map(|(_, v)| *v).collect();
        for (var, _) in ARCHESTRA_NOT_HONOURED {
            assert!(!honoured.contains(var), "{var} is both honoured and not");
        }
    }

    #[test]
    fn in_cluster_only_for_the_string_true() {
        for (value, expected) in [
            ("true", KubeconfigKind::InCluster),
            ("1", KubeconfigKind::Local),
        ] {
            let e = FakeEnv(
                HashMap::from([
                    (
                        "ARCHESTRA_ORCHESTRATOR_LOAD_KUBECONFIG_FROM_CURRENT_CLUSTER",
                        value,
                    ),
                    ("HOME", "/home/x"),
                ]),
                vec![],
            );
            let c = Settings::default().resolve(&e).unwrap();
            assert_eq!(c.kubeconfig.source, expected, "value {value}");
        }
    }

    #[test]
    fn no_cluster_given_means_the_local_cluster() {
        let e = env(&[("HOME", "/home/x")], &[]);
        let c = Settings::default().resolve(&e).unwrap();
        assert_eq!(c.kubeconfig.source, KubeconfigKind::Local);
        assert_eq!(
            c.kubeconfig.path.as_deref(),
            Some("/home/x/.cache/mcp-runtime/cluster/kubeconfig")
        );
        let e = env(&[("HOME", "/home/x")], &["/home/x/.kube/config"]);
        let c = Settings::default().resolve(&e).unwrap();
        assert_eq!(c.kubeconfig.source, KubeconfigKind::Default);
    }

    #[test]
    fn bad_values_are_refused_with_their_path() {
        let e = env(
            &[("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "Not A Namespace")],
            &[],
        );
        let err = Settings::default().resolve(&e).unwrap_err();
        let ConfigError::Invalid(v) = err else {
            panic!("expected schema violations, got {err}");
        };
        assert_eq!(v.pairs(), vec![("/namespace", "pattern")]);

        let s = Settings {
            memory_request: Some("lots".into()),
            ..Default::default()
        };
        let ConfigError::Invalid(v) = s.resolve(&env(&[], &[])).unwrap_err() else {
            panic!("expected schema violations");
        };
        assert_eq!(
            v.pairs(),
            vec![("/defaults/resources/requests/memory", "pattern")]
        );
    }

    #[test]
    fn a_missing_kubeconfig_file_is_named() {
        let s = Settings {
            kubeconfig: Some("/nope".into()),
            ..Default::default()
        };
        let err = s.resolve(&env(&[], &[])).unwrap_err().to_string();
        assert!(err.contains("/nope does not exist"), "{err}");
    }
}
