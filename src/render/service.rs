//! The Service of a server reachable over HTTP: a `streamable-http` server, or a stdio server
//! served through the bridge (`mcp-runtime bridge -- <command>` in its pod). A stdio server whose
//! command is unknown (it relies on the image's entrypoint) cannot be wrapped and gets none.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::{McpServerSpec, SessionAffinity, Transport};

use super::names::ServerNames;
use super::{RenderContext, labels};

/// How Services are exposed (`MCP_RUNTIME_SERVICE_TYPE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ServiceType {
    /// Reachable inside the cluster only.
    #[default]
    ClusterIP,
    /// Also on a port of every node, allocated by the API server: the reference system's way
    /// for a platform outside the cluster.
    NodePort,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
        }
    }
}

/// Port and path of the bridge in a bridged stdio server's pod.
pub const BRIDGE_PORT: u16 = 8080;
pub const BRIDGE_PATH: &str = "/mcp";

/// How a server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serving<'a> {
    /// The server speaks streamable HTTP itself.
    Http { port: u16, path: &'a str },
    /// A stdio server wrapped by the bridge, which serves streamable HTTP.
    Bridged {
        port: u16,
        path: &'static str,
        image: &'a str,
    },
    /// A stdio server left as it is: no command to wrap, or bridging turned off.
    Stdio,
}

impl<'a> Serving<'a> {
    pub fn http(self) -> Option<(u16, &'a str)> {
        match self {
            Serving::Http { port, path } => Some((port, path)),
            Serving::Bridged { port, path, .. } => Some((port, path)),
            Serving::Stdio => None,
        }
    }
}

/// Bridged when the transport is stdio, the command is known and a bridge image is configured.
pub fn serving<'a>(spec: &'a McpServerSpec, ctx: &'a RenderContext) -> Serving<'a> {
    match (&spec.transport, &ctx.defaults.bridge_image) {
        (Transport::StreamableHttp { port, path }, _) => Serving::Http { port: *port, path },
        (Transport::Stdio, Some(image)) if !spec.command.is_empty() => Serving::Bridged {
            port: BRIDGE_PORT,
            path: BRIDGE_PATH,
            image,
        },
        (Transport::Stdio, _) => Serving::Stdio,
    }
}

/// Name of the MCP port on the container and the Service.
pub const PORT_NAME: &str = "mcp";

/// A Service (ClusterIP, or NodePort by setting) selecting the server's pods, or `None` for unbridged stdio servers.
/// The server's Service, when it speaks HTTP (natively or through the bridge). `stateless`: the
/// MCP probe found it speaks only 2026-07-28 (see [`session_affinity`]).
pub fn service(
    spec: &McpServerSpec,
    names: &ServerNames,
    ctx: &RenderContext,
    stateless: bool,
) -> Option<Service> {
    let (port, _) = serving(spec, ctx).http()?;
    let namespace = &ctx.namespace;
    Some(Service {
        metadata: ObjectMeta {
            name: Some(names.service.clone()),
            namespace: Some(namespace.to_string()),
            labels: Some(labels::labels(spec, names)),
            annotations: Some(labels::annotations(spec)),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(ctx.defaults.service_type.as_str().into()),
            selector: Some(labels::selector(names)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                protocol: Some("TCP".into()),
                port: i32::from(port),
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                app_protocol: Some("http".into()),
                ..Default::default()
            }]),
            session_affinity: Some(session_affinity(spec, stateless).as_str().into()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The Service's session affinity: the spec's, else by era. A handshake-era MCP session
/// (`Mcp-Session-Id`) lives in one process: with several replicas its requests must reach the
/// pod that created it, or the server answers "unknown session"; per client IP is the only
/// stickiness a Service offers (harmless with one replica, and kept so that scaling does not
/// change the Service). A server that speaks only 2026-07-28 holds no session: any replica may
/// answer any request, so it gets none. A server that also speaks the handshake era keeps
/// `ClientIP`: its older clients may hold sessions. Until a probe answered, `ClientIP`.
pub fn session_affinity(spec: &McpServerSpec, stateless: bool) -> SessionAffinity {
    match spec.session_affinity {
        Some(a) => a,
        None if stateless => SessionAffinity::Unset,
        None => SessionAffinity::ClientIp,
    }
}

/// Where MCP clients reach the server: `http://<service>.<namespace>.svc:<port><path>`.
pub fn endpoint(spec: &McpServerSpec, names: &ServerNames, ctx: &RenderContext) -> Option<String> {
    let (port, path) = serving(spec, ctx).http()?;
    Some(format!(
        "http://{}.{}.svc:{port}{path}",
        names.service, ctx.namespace
    ))
}

#[cfg(test)]
mod tests;
