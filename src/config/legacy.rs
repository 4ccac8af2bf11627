//! The reference system's `ARCHESTRA_ORCHESTRATOR_*` names: the ones still honoured (used only
//! when neither the flag nor the `MCP_RUNTIME_*` variable is set) and the ones named at start
//! because nothing acts on them.

use super::Environment;

/// Legacy variable names still honoured, as (setting, variable). Used only when neither the flag
/// nor the `MCP_RUNTIME_*` variable is set.
pub const ARCHESTRA_FALLBACKS: &[(&str, &str)] = &[
    ("namespace", "ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE"),
    // Extra namespaces besides the main one (the reference's meaning: `namespace` is kept).
    (
        "namespaces",
        "ARCHESTRA_ORCHESTRATOR_ENVIRONMENT_NAMESPACES",
    ),
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
