//! Pure rendering: an MCP server document in, Kubernetes manifests out. No I/O, no clock, no
//! randomness, so the same input always gives byte-identical output (golden tests rely on it,
//! and server-side apply of an unchanged server writes nothing).

pub mod deployment;
pub mod labels;
pub mod names;
pub mod network;
pub mod secret;
pub mod service;
pub mod service_account;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use serde::Serialize;
use serde_json::Value;

use crate::crd::{McpServerSpec, ResourceList, Resources};
use crate::schema::{SchemaKind, Violations};

pub use names::ServerNames;

/// What rendering needs besides the server: where it goes and the runtime's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderContext {
    pub namespace: String,
    pub defaults: Defaults,
    pub network: network::NetworkDefaults,
}

/// Defaults from the runtime's configuration, applied where the server says nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Defaults {
    /// Image for servers that give a command but no image.
    pub image: String,
    /// Image with the mcp-runtime binary for bridged stdio servers; `None`: no bridging.
    pub bridge_image: Option<String>,
    pub resources: Resources,
    pub run_as_user: Option<i64>,
    pub read_only_root_filesystem: bool,
    pub termination_grace_period_seconds: Option<i64>,
    /// RuntimeClass for servers that name none (a sandboxed runtime such as gVisor).
    pub runtime_class_name: Option<String>,
    /// Type of the servers' Services.
    pub service_type: service::ServiceType,
    /// Which ServiceAccounts servers may name.
    pub service_accounts: service_account::ServiceAccounts,
    /// The built-in local cluster's real node, when it has one: where servers of its own images
    /// run (see [`LocalNode`]).
    pub local_node: Option<LocalNode>,
}

/// The built-in local cluster's real node (deploy/local-cluster/node-up.sh): servers that say
/// nothing of their placement and run an image of `image_prefix` (the images built on this
/// machine) are placed there, so they really run. Every other image stays on the simulated kwok
/// node: the real node must never pull from a registry, which would send traffic off the
/// machine. Set by `serve` on the local cluster only, never from settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalNode {
    pub node_selector: BTreeMap<String, String>,
    /// (key, effect) of the taint that keeps other pods off it.
    pub taint: (String, String),
    pub image_prefix: String,
}

impl Default for Defaults {
    /// The reference system's defaults: requests cpu 50m, memory 128Mi, ephemeral-storage 256Mi;
    /// limits memory 512Mi, ephemeral-storage 1Gi; no CPU limit (throttling MCP servers that
    /// burst on a tool call hurts more than it protects).
    fn default() -> Self {
        Defaults {
            image: DEFAULT_BASE_IMAGE.into(),
            bridge_image: Some(DEFAULT_BRIDGE_IMAGE.into()),
            resources: Resources {
                requests: ResourceList {
                    cpu: Some("50m".into()),
                    memory: Some("128Mi".into()),
                    ephemeral_storage: Some("256Mi".into()),
                },
                limits: ResourceList {
                    cpu: None,
                    memory: Some("512Mi".into()),
                    ephemeral_storage: Some("1Gi".into()),
                },
            },
            run_as_user: None,
            read_only_root_filesystem: false,
            termination_grace_period_seconds: Some(DEFAULT_TERMINATION_GRACE_SECONDS),
            runtime_class_name: None,
            local_node: None,
            service_type: service::ServiceType::ClusterIP,
            service_accounts: service_account::ServiceAccounts::default(),
        }
    }
}

/// Seconds a server's pod gets to stop after SIGTERM, unless its spec says otherwise. MCP servers
/// keep no durable state, and many run as PID 1 without an init (Node.js, Python), where SIGTERM
/// has no default action: such a process ignores it and would hold every stop, restart, rollout
/// and migration for Kubernetes' default 30 s. Ten seconds lets requests in flight finish; a
/// bridged stdio server stops at once (the bridge is PID 1 and ends its child on SIGTERM).
pub const DEFAULT_TERMINATION_GRACE_SECONDS: i64 = 10;

/// The control plane's own image, whose binary bridges stdio servers (same version).
pub const DEFAULT_BRIDGE_IMAGE: &str = concat!(
    "ghcr.io/mcp-runtime/mcp-runtime:",
    env!("CARGO_PKG_VERSION")
);

/// Base image used when neither the server nor the configuration names one.
pub const DEFAULT_BASE_IMAGE: &str =
    "europe-west1-docker.pkg.dev/friendly-path-465518-r6/archestra-public/mcp-server-base:latest";

impl Default for RenderContext {
    fn default() -> Self {
        RenderContext {
            namespace: "default".into(),
            defaults: Defaults::default(),
            network: network::NetworkDefaults::default(),
        }
    }
}

/// Everything one server turns into, in the order it is applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifests {
    /// The server's own Secret with its secret values (only when it has some).
    pub secret: Option<Secret>,
    /// The pull Secret built from registry credentials (only when there are some).
    pub pull_secret: Option<Secret>,
    pub deployment: Deployment,
    /// For servers reachable over HTTP (`streamable-http`, or stdio through the bridge).
    pub service: Option<Service>,
    /// Unless the server's network mode is `off`.
    pub network_policy: Option<k8s_openapi::api::networking::v1::NetworkPolicy>,
    /// Where clients reach the server, when it has a Service.
    #[serde(skip)]
    pub endpoint: Option<String>,
    #[serde(skip)]
    pub names: ServerNames,
}

impl Manifests {
    /// Every object with `apiVersion` and `kind`, in apply order (Secrets before the Deployment
    /// that reads them).
    pub fn objects(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut push = |api_version: &str, kind: &str, v: Value| {
            if let Value::Object(mut m) = v {
                // Put apiVersion/kind first for readable output.
                let mut o = serde_json::Map::new();
                o.insert("apiVersion".into(), api_version.into());
                o.insert("kind".into(), kind.into());
                o.append(&mut m);
                out.push(Value::Object(o));
            }
        };
        for s in [&self.secret, &self.pull_secret].into_iter().flatten() {
            push("v1", "Secret", to_value(s));
        }
        push("apps/v1", "Deployment", to_value(&self.deployment));
        if let Some(s) = &self.service {
            push("v1", "Service", to_value(s));
        }
        if let Some(n) = &self.network_policy {
            push("networking.k8s.io/v1", "NetworkPolicy", to_value(n));
        }
        out
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    // k8s-openapi types always serialise to JSON objects.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Invalid(#[from] Violations),
    #[error("the document does not fit the MCP server types at {path}: {message}")]
    Shape { path: String, message: String },
    #[error("server name has no ASCII letter or digit, so it cannot name Kubernetes objects")]
    Name,
    #[error(
        "environment variable {name} must have exactly one of value, secretValue, secretKeyRef, configMapKeyRef"
    )]
    EnvSource { name: String },
}

/// Validates a raw document against `schemas/mcp-server.schema.json`, then parses it.
pub fn parse_document(doc: &Value) -> Result<McpServerSpec, RenderError> {
    SchemaKind::McpServer.validate(doc)?;
    // JSON Schema counts 8080.0 as an integer; serde's integers do not.
    let doc = &integral_floats_as_integers(doc.clone());
    // The schema already checked the shape; this only fails if the types and the schema drift.
    // The message names the path, never the value.
    serde_path_to_error::deserialize(doc).map_err(|e| RenderError::Shape {
        path: format!("/{}", e.path().to_string().replace('.', "/")),
        message: "does not match the MCP server types".into(),
    })
}

/// `value` with every number that has no fractional part (`8080.0`, `1e3`) written as an
/// integer, as JSON Schema reads it.
fn integral_floats_as_integers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => {
            Value::Array(items.into_iter().map(integral_floats_as_integers).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_floats_as_integers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// What the controller knows beyond the spec: the object names (from the McpServer's
/// `metadata.name`) and pod-template annotations that roll the pods when they change.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    pub template_annotations: BTreeMap<String, String>,
    /// The MCP probe found the server speaks only the stateless 2026-07-28 revision: its Service
    /// needs no session affinity unless the spec asks for it.
    pub stateless: bool,
}

/// Renders a server document into its manifests (names from the server's name; a content hash
/// of its secret values on the pod template).
pub fn render(spec: &McpServerSpec, ctx: &RenderContext) -> Result<Manifests, RenderError> {
    let names = ServerNames::new(&spec.name).ok_or(RenderError::Name)?;
    let mut extras = Extras::default();
    let data = secret::secret_data(spec);
    if !data.is_empty() {
        extras.template_annotations.insert(
            labels::SECRET_REVISION_ANNOTATION.into(),
            secret::data_hash(&data),
        );
    }
    render_with(spec, names, ctx, extras)
}

/// Renders with names and extras given by the caller (the controller).
pub fn render_with(
    spec: &McpServerSpec,
    names: ServerNames,
    ctx: &RenderContext,
    extras: Extras,
) -> Result<Manifests, RenderError> {
    ctx.defaults.service_accounts.check(spec)?;
    let stateless = extras.stateless;
    let deployment = deployment::deployment(spec, &names, ctx, extras.template_annotations)?;
    Ok(Manifests {
        secret: secret::env_secret(spec, &names, &ctx.namespace),
        pull_secret: secret::pull_secret(spec, &names, &ctx.namespace),
        service: service::service(spec, &names, ctx, stateless),
        network_policy: network::network_policy(spec, &names, ctx),
        endpoint: service::endpoint(spec, &names, ctx),
        deployment,
        names,
    })
}

/// Validates, parses and renders a raw document.
pub fn render_document(doc: &Value, ctx: &RenderContext) -> Result<Manifests, RenderError> {
    render(&parse_document(doc)?, ctx)
}

#[cfg(test)]
mod tests;
