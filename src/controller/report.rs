//! The report step: the status computed from what the last apply applied (endpoint, Service
//! address), the caches (the Deployment, the Pods) and the MCP probe, and written with the
//! controller's field manager only when it changed.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::info;

use crate::controller::status::{self, Acceptance, Observed};
use crate::crd::{McpServer, McpServerStatus};
use crate::mcp::readiness::Serving;
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
    let deployment = ctx.caches.deployments.get(&ctx.here(&names.deployment));
    let last = ctx.memos.last_apply(server.name);
    let endpoint = last.as_ref().and_then(|l| l.endpoint.clone());
    let http = last.as_ref().and_then(|l| l.http.clone());
    let node_endpoint = last.as_ref().and_then(|l| {
        let (host, port) = (ctx.node_host.as_deref()?, l.left.node_port?);
        Some(url(host, port, &l.http.as_ref()?.1))
    });
    // A control plane given a node host reaches its servers there (it is outside the cluster);
    // else the probe goes to the Service's ClusterIP: no cluster DNS needed (the local cluster
    // has none), while clients are given the DNS name.
    let cluster_ip = last.as_ref().and_then(|l| {
        let ((port, path), ip) = (l.http.as_ref()?, l.left.cluster_ip.as_deref()?);
        Some(url(ip, i32::from(*port), path))
    });
    let probed = node_endpoint
        .clone()
        .or(cluster_ip)
        .or_else(|| endpoint.clone());
    let serving = serving(
        &acceptance,
        spec.stopped,
        probed.as_deref(),
        deployment.as_deref(),
    );
    let (mcp, next_probe) = ctx
        .readiness
        .observe(&ObjectRef::from_obj(server.mcp), serving);
    let selector = labels::selector(names);
    let pods = ctx.caches.pods.state_filter(|p| {
        p.labels().get(labels::SERVER_LABEL) == selector.get(labels::SERVER_LABEL)
    });
    let has_secret = ctx.caches.secrets.get(&ctx.here(&names.secret)).is_some();
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

/// Whether and where the server can be probed over MCP now.
fn serving(
    acceptance: &Acceptance,
    stopped: bool,
    url: Option<&str>,
    deployment: Option<&Deployment>,
) -> Serving {
    if *acceptance != Acceptance::Accepted || stopped {
        return Serving::NotServing;
    }
    let Some(url) = url else {
        return Serving::NoEndpoint;
    };
    let Some(d) = deployment else {
        return Serving::NotServing;
    };
    let s = d.status.as_ref();
    let available = s.and_then(|s| s.available_replicas).unwrap_or(0);
    if available == 0 {
        return Serving::NotServing;
    }
    // A rollout finishing, a scale or a lost pod changes the revision: re-probe.
    let updated = s.and_then(|s| s.updated_replicas).unwrap_or(0);
    Serving::Available {
        endpoint: url.to_string(),
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
    let api: Api<McpServer> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    api.patch_status(
        &mcp.name_any(),
        &PatchParams::apply(CONTROLLER_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}
