//! The Kubernetes side of the control plane, shared by the controller and the API: a client for
//! the cluster the settings name ([`client`]), one server's objects in the cluster
//! ([`k8s_deployment::K8sDeployment`]: one server-side apply path for every kind, and prune),
//! the helpers of server-side apply ([`ssa`]), the references a server makes to Secrets and
//! ConfigMaps ([`references`]), the field managers and the error type. The reconcile loop is in
//! `controller`, the API's writer in `api::store`.

pub mod client;
pub mod k8s_deployment;
pub mod references;
pub mod scope;
pub mod ssa;

/// Field manager of the controller (children and status; forces).
pub const CONTROLLER_MANAGER: &str = "mcp-runtime";
/// Field manager of the API facade: specs (never forced: a conflicting writer is a 409) and the
/// servers' own Secrets (applied with force: nothing else should write them, and a rotation must
/// not fail on a field someone else took).
pub const API_MANAGER: &str = "mcp-runtime-api";

/// Parameters of a JSON merge patch written as `manager` (so `managedFields` names it).
pub fn merge_params(manager: &str) -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("server {name}: {source}")]
    Render {
        name: String,
        source: crate::render::RenderError,
    },
    #[error("server {0} not found")]
    NotFound(String),
    #[error("server {0} already exists")]
    AlreadyExists(String),
    #[error("server {name}: {message}")]
    Conflict { name: String, message: String },
    #[error("kubeconfig: {0}")]
    Config(String),
    /// A value could not be turned into JSON (a defect of ours, never silently `null`).
    #[error("serializing: {0}")]
    Serialization(#[from] serde_json::Error),
}

impl Error {
    /// A short CamelCase category, used as the Event and condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "Conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 422 => "Rejected",
            Error::Kube(kube::Error::Api(s)) if s.code == 403 => "Forbidden",
            Error::Kube(_) => "ApiError",
            Error::Render { .. } => "InvalidSpec",
            Error::NotFound(_) => "NotFound",
            Error::AlreadyExists(_) => "AlreadyExists",
            Error::Conflict { .. } => "Conflict",
            Error::Config(_) => "Config",
            Error::Serialization(_) => "SerializationFailed",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
