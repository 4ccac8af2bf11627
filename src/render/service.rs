//! The Service of a `streamable-http` server; stdio servers get none.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::{McpServerSpec, Transport};

use super::labels;
use super::names::ServerNames;

/// Name of the MCP port on the container and the Service.
pub const PORT_NAME: &str = "mcp";

/// A ClusterIP Service selecting the server's pods, or `None` for stdio servers.
pub fn service(spec: &McpServerSpec, names: &ServerNames, namespace: &str) -> Option<Service> {
    let Transport::StreamableHttp { port, .. } = &spec.transport else {
        return None;
    };
    Some(Service {
        metadata: ObjectMeta {
            name: Some(names.service.clone()),
            namespace: Some(namespace.to_string()),
            labels: Some(labels::labels(spec, names)),
            annotations: Some(labels::annotations(spec)),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(labels::selector(names)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                protocol: Some("TCP".into()),
                port: i32::from(*port),
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                app_protocol: Some("http".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Where MCP clients reach an HTTP server: `http://<service>.<namespace>.svc:<port><path>`.
pub fn endpoint(spec: &McpServerSpec, names: &ServerNames, namespace: &str) -> Option<String> {
    match &spec.transport {
        Transport::StreamableHttp { port, path } => Some(format!(
            "http://{}.{namespace}.svc:{port}{path}",
            names.service
        )),
        Transport::Stdio => None,
    }
}
