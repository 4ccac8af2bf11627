//! The `McpServer` kind (`mcp-runtime.dev/v1alpha1`, short name `mcps`) and its status.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::openapi;
use super::spec::{McpServer, McpServerSpec};

/// What a server reports; shaped by `schemas/runtime-status.schema.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpServerStatus {
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The NodePort URL for clients outside the cluster (`MCP_RUNTIME_SERVICE_TYPE=NodePort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpInfoStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
}

/// What the server said over MCP (`status.mcp`), from the latest successful probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpInfoStatus {
    /// `modern` (only 2026-07-28: stateless, `server/discover`), `handshake` (`initialize` and
    /// a session) or `both`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub era: String,
    pub protocol_version: String,
    /// What `server/discover` listed, or the version `initialize` negotiated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_versions: Vec<String>,
    pub server_info: ServerInfo,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_hash: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    #[default]
    Pending,
    Starting,
    Running,
    Degraded,
    Failed,
    Stopped,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Starting => "Starting",
            Phase::Running => "Running",
            Phase::Degraded => "Degraded",
            Phase::Failed => "Failed",
            Phase::Stopped => "Stopped",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

impl McpServer {
    /// The spec as a server document, with `name` defaulted to `metadata.name`.
    pub fn server_spec(&self) -> McpServerSpec {
        let mut spec = self.spec.clone();
        if spec.name.is_empty() {
            spec.name = self.metadata.name.clone().unwrap_or_default();
        }
        spec
    }

    /// The version of the server's document, for HTTP `ETag` and `If-Match`: a hash of what a
    /// client writes (the spec, the labels and the annotations). Unlike `resourceVersion`, it
    /// does not move when the controller writes status, so a client that reads a server, edits
    /// it and writes it back with this version loses only to a real edit of the document.
    /// Prefixed, so it is never taken for a `resourceVersion` (a decimal number).
    pub fn document_version(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"mcp-runtime/document/v1\0");
        for part in [
            serde_json::to_vec(&self.spec),
            serde_json::to_vec(&self.metadata.labels),
            serde_json::to_vec(&self.metadata.annotations),
        ] {
            // These types always serialise; an empty part still separates the others.
            let bytes = part.unwrap_or_default();
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
        }
        format!(
            "{DOCUMENT_VERSION_PREFIX}{}",
            hex::encode(&h.finalize()[..8])
        )
    }
}

/// What starts every [`McpServer::document_version`].
pub const DOCUMENT_VERSION_PREFIX: &str = "doc-";

/// The CRD, with the structural schema converted from `schemas/mcp-server.schema.json` and
/// `schemas/runtime-status.schema.json`.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = McpServer::crd();
    let schema: JSONSchemaProps = serde_json::from_value(json!({
        "type": "object",
        "description": "An MCP server run by mcp-runtime.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": openapi::server_spec_schema(),
            "status": openapi::status_schema(),
        }
    }))
    .unwrap_or_default();
    for version in &mut crd.spec.versions {
        version.schema = Some(CustomResourceValidation {
            open_api_v3_schema: Some(schema.clone()),
        });
    }
    crd
}

/// Whether an installed CRD has this version's schema for every version we serve. A stale one
/// is the classic upgrade trap (Helm never upgrades `crds/`): the API server prunes the fields
/// its schema lacks, silently, from every server written.
pub fn same_schema(installed: &CustomResourceDefinition) -> bool {
    let ours = crd();
    ours.spec.versions.iter().all(|v| {
        installed
            .spec
            .versions
            .iter()
            .find(|i| i.name == v.name)
            .is_some_and(|i| i.schema == v.schema)
    })
}
