//! The settings as flags: every one also an `MCP_RUNTIME_*` variable (clap's `env`). What they
//! become is decided in [`super::resolve`].

use std::path::PathBuf;

/// Flags shared by every command that needs settings. Each has an `MCP_RUNTIME_*` variable;
/// see [`super::ARCHESTRA_FALLBACKS`] for the legacy names.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Settings {
    /// The control plane's own namespace: its Lease, its token Secret, and the namespace
    /// `/v1/servers` addresses (and, unless --namespaces says otherwise, the one it serves).
    #[arg(long, env = "MCP_RUNTIME_NAMESPACE")]
    pub namespace: Option<String>,
    /// Namespaces whose McpServers this control plane runs, comma-separated, or `*` for every
    /// namespace (default: --namespace).
    #[arg(long, env = "MCP_RUNTIME_NAMESPACES")]
    pub namespaces: Option<String>,
    /// Settings that differ per namespace, as a JSON object by namespace name, e.g.
    /// `{"team-a": {"networkMode": "restricted", "allowedServiceAccounts": ["tools"]}}`
    /// (schemas/runtime-config.schema.json, `namespaceSettings`).
    #[arg(long, env = "MCP_RUNTIME_NAMESPACE_SETTINGS")]
    pub namespace_settings: Option<String>,
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
    /// Cap on every plugin's own time limit (`limits.timeoutMs`), in milliseconds.
    #[arg(long, env = "MCP_RUNTIME_PLUGIN_TIMEOUT_MAX_MS")]
    pub plugin_timeout_max_ms: Option<u64>,
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
    /// Also accept bearer tokens the cluster accepts (TokenReview), each call authorised by
    /// a SubjectAccessReview on mcpservers in the addressed namespace (default: true).
    #[arg(long, env = "MCP_RUNTIME_KUBERNETES_AUTH")]
    pub kubernetes_auth: Option<bool>,
    /// Audiences a Kubernetes token must be meant for, comma-separated (default: the API
    /// server's own).
    #[arg(long, env = "MCP_RUNTIME_TOKEN_AUDIENCES")]
    pub token_audiences: Option<String>,
    /// Seconds a token or access review's answer is reused (never past the token's expiry).
    #[arg(long, env = "MCP_RUNTIME_AUTH_CACHE_SECONDS")]
    pub auth_cache_seconds: Option<u32>,
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
