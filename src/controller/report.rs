//! The report step: the status computed from what the last apply applied (endpoint, Service
//! address), the caches (the Deployment, the Pods) and the MCP probe, and written with the
//! controller's field manager only when it changed.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use tracing::info;

use crate::controller::status::{self, Acceptance, Observed};
use crate::crd::{McpServer, McpServerStatus};
use crate::mcp::readiness::Serving;
use crate::render::deployment::CONTAINER;
use crate::render::labels;
use crate::runtime::ssa::yaml_safe;
use crate::runtime::{CONTROLLER_MANAGER, Error};

use super::{Context, Server};

/// Computes the status and writes it if it changed. Returns when the server's next MCP probe
/// is due, if one is scheduled.
pub async fn report(
    ctx: &Context,
    server: &Server<'_>,
    acceptance: Acceptance,
    apply_error: Option<(String, String)>,
) -> Result<Option<Duration>, Error> {
    let (spec, names) = (server.spec, server.names);
    let deployment = ctx.caches.deployments.get(&server.here(&names.deployment));
    let last = ctx.memos.last_apply(&server.key);
    let endpoint = last.as_ref().and_then(|l| l.endpoint.clone());
    let http = last.as_ref().and_then(|l| l.http.clone());
    let node_endpoint = last.as_ref().and_then(|l| {
        let (host, port) = (ctx.node_host.as_deref()?, l.left.node_port?);
        Some(url(host, port, &l.http.as_ref()?.1))
    });
    let selector = labels::selector(names);
    let pods = ctx.caches.pods.state_filter(|p| {
        p.labels().get(labels::SERVER_LABEL) == selector.get(labels::SERVER_LABEL)
    });
    let route = probe_route(
        node_endpoint.as_deref(),
        last.as_ref().and_then(|l| l.http.as_ref()),
        last.as_ref().and_then(|l| l.left.cluster_ip.as_deref()),
        &pods,
    );
    let serving = serving(
        &acceptance,
        spec.stopped,
        route.or(endpoint.clone().map(Route::Service)),
        deployment.as_deref(),
    );
    let (mcp, next_probe) = ctx.readiness.observe(&server.key, serving);
    let has_secret = ctx
        .caches
        .secrets
        .get(&server.here(&names.secret))
        .is_some();
    let observed = Observed {
        generation: server.mcp.metadata.generation,
        wanted_replicas: spec.replicas,
        stopped: spec.stopped,
        acceptance,
        deployment: deployment.as_deref(),
        pods: pods.iter().map(|p| p.as_ref()).collect(),
        endpoint,
        node_endpoint,
        deployment_name: names.deployment.clone(),
        service_name: http.map(|_| names.service.clone()),
        secret_name: has_secret.then(|| names.secret.clone()),
        apply_error,
        mcp,
        mcp_gates_ready: ctx.mcp_gates_ready,
    };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new = status::derive(&observed, server.mcp.status.as_ref(), &now);
    write(ctx, server.mcp, new).await?;
    Ok(next_probe)
}

/// `http://<host>:<port><path>`, an IPv6 address in brackets.
fn url(host: &str, port: i32, path: &str) -> String {
    if host.contains(':') {
        format!("http://[{host}]:{port}{path}")
    } else {
        format!("http://{host}:{port}{path}")
    }
}

/// Where a server's MCP probe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    /// A pod at its own IP (its UID): probed from the moment its server container runs, before
    /// the kubelet's readiness and kube-proxy's routing, which the pod's `Ready` condition and
    /// the Service report on their own.
    Pod { url: String, uid: String },
    /// The Service (its ClusterIP or DNS name) or a node port, once the Deployment has an
    /// available replica.
    Service(String),
}

/// The probe's route: a control plane given a node host is outside the cluster and reaches its
/// servers there; else the newest pod that can answer, at its IP; else, while no pod can, the
/// Service's ClusterIP (no cluster DNS needed: the local cluster has none).
fn probe_route(
    node_endpoint: Option<&str>,
    http: Option<&(u16, String)>,
    cluster_ip: Option<&str>,
    pods: &[std::sync::Arc<Pod>],
) -> Option<Route> {
    if let Some(node) = node_endpoint {
        return Some(Route::Service(node.to_string()));
    }
    let (port, path) = http?;
    if let Some((ip, uid)) = answering_pod(pods) {
        return Some(Route::Pod {
            url: url(ip, i32::from(*port), path),
            uid: uid.to_string(),
        });
    }
    cluster_ip.map(|ip| Route::Service(url(ip, i32::from(*port), path)))
}

/// The newest pod not being deleted that has an IP and whose server container runs (any
/// container, when a policy renamed it): its IP and UID.
fn answering_pod(pods: &[std::sync::Arc<Pod>]) -> Option<(&str, &str)> {
    let runs = |p: &Pod| {
        let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
        let running = |c: &ContainerStatus| c.state.as_ref().is_some_and(|s| s.running.is_some());
        let server = statuses.iter().find(|c| c.name == CONTAINER);
        Some(server.map_or_else(|| statuses.iter().any(running), running))
    };
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && runs(p) == Some(true))
        .filter_map(|p| {
            let ip = p.status.as_ref()?.pod_ip.as_deref()?;
            Some((
                p.metadata.creation_timestamp.clone(),
                ip,
                p.metadata.uid.as_deref()?,
            ))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, ip, uid)| (ip, uid))
}

/// Whether and where the server can be probed over MCP now: a pod from the moment it can
/// answer (a new pod, a new target: probed at once), the Service once the Deployment has an
/// available replica (a rollout, a scale or a lost pod changes the revision: probed again).
fn serving(
    acceptance: &Acceptance,
    stopped: bool,
    route: Option<Route>,
    deployment: Option<&Deployment>,
) -> Serving {
    if *acceptance != Acceptance::Accepted || stopped {
        return Serving::NotServing;
    }
    let url = match route {
        None => return Serving::NoEndpoint,
        Some(Route::Pod { url, uid }) => {
            return Serving::Available {
                endpoint: url,
                revision: format!("pod/{uid}"),
            };
        }
        Some(Route::Service(url)) => url,
    };
    let Some(d) = deployment else {
        return Serving::NotServing;
    };
    let s = d.status.as_ref();
    let available = s.and_then(|s| s.available_replicas).unwrap_or(0);
    if available == 0 {
        return Serving::NotServing;
    }
    let updated = s.and_then(|s| s.updated_replicas).unwrap_or(0);
    Serving::Available {
        endpoint: url,
        revision: format!(
            "{}/{updated}/{available}",
            d.metadata.generation.unwrap_or(0)
        ),
    }
}

/// Writes `new` as the server's status, unless it is what the server already says.
async fn write(ctx: &Context, mcp: &McpServer, new: McpServerStatus) -> Result<(), Error> {
    if mcp.status.as_ref() == Some(&new) {
        return Ok(());
    }
    if let Some(old) = &mcp.status
        && old.phase != new.phase
    {
        info!(server = %mcp.name_any(), from = old.phase.as_str(), to = new.phase.as_str(), "phase changed");
    }
    let status = serde_json::to_value(&new)?;
    let body = yaml_safe(&serde_json::json!({
        "apiVersion": "mcp-runtime.dev/v1alpha1",
        "kind": "McpServer",
        "status": status,
    }))?;
    let api: Api<McpServer> = Api::namespaced(
        ctx.client.clone(),
        mcp.namespace().as_deref().unwrap_or_default(),
    );
    api.patch_status(
        &mcp.name_any(),
        &PatchParams::apply(CONTROLLER_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
