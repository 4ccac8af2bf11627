//! The first steps of a reconcile: validate the spec against the full JSON Schema (the CRD
//! carries only its structural part), then observe what the server's objects depend on: its
//! references (must exist, their data's hash rolls the pods on rotation), the pod-template
//! inputs from the cluster and the live objects the last apply left.

use std::time::Duration;

use kube::{Resource, ResourceExt};

use crate::crd::McpServerSpec;
use crate::desired::Inputs;
use crate::render::labels::RESTARTED_AT_ANNOTATION;
use crate::runtime::references::{self as refs, Checked, Kind, Seen};
use crate::schema::SchemaKind;

use super::memo::LastApply;
use super::rejection::Rejection;
use super::{Context, Server, Stop};

/// When a server's own Secret exists but the watch has not delivered it yet: look again after
/// this long if the watch event has not already done so.
const UNSEEN_RETRY: Duration = Duration::from_secs(1);

/// Every violation of the JSON Schema, in one message.
pub fn validate(spec: &McpServerSpec) -> Result<(), Stop> {
    let doc = serde_json::to_value(spec)
        .map_err(|e| Stop::Rejected(Rejection::invalid(format!("the spec as JSON: {e}"))))?;
    SchemaKind::McpServer.validate(&doc).map_err(|v| {
        let message = v
            .violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        Stop::Rejected(Rejection::invalid(message))
    })
}

/// What a reconcile works from after observing.
pub struct Observed {
    /// The cluster's part of the desired state (owner, restart marker, Secret revision,
    /// references hash, era).
    pub inputs: Inputs,
    /// Whether the references must be checked again later (the server has some).
    pub recheck: bool,
    /// Whether the server's Deployment is in the cache (a legacy bare Pod is migrated first).
    pub has_deployment: bool,
    /// The last apply, if the cluster still holds what it left.
    pub intact: Option<LastApply>,
}

pub async fn observe(ctx: &Context, server: &Server<'_>) -> Result<Observed, Stop> {
    let mut recheck = false;
    let references_hash = match check_references(ctx, server).await? {
        // No references: nothing to check again later.
        Checked::Resolved(None) => None,
        Checked::Resolved(Some(hash)) => {
            recheck = true;
            Some(hash)
        }
        Checked::Missing(missing) => return Err(Stop::Rejected(Rejection::missing(&missing))),
        // The Secret watch triggers the next reconcile; the requeue is only a backstop.
        Checked::Unseen => return Err(Stop::Wait(UNSEEN_RETRY)),
    };
    let has_deployment = ctx
        .caches
        .meta("Deployment", server.namespace, &server.names.deployment)
        .is_some();
    let intact = ctx
        .memos
        .last_apply(&server.key)
        .filter(|m| m.intact(|kind, name| ctx.caches.meta(kind, server.namespace, name)));
    Ok(Observed {
        inputs: inputs(ctx, server, references_hash),
        recheck,
        has_deployment,
        intact,
    })
}

/// What the desired state takes from the cluster: the McpServer as owner, the restart marker,
/// the server's own Secret's revision (so a rotation rolls the pods), the references' hash and
/// whether the MCP probe found the server stateless (its Service's session affinity; the
/// status's era until this term's probe answered).
fn inputs(ctx: &Context, server: &Server<'_>, references_hash: Option<String>) -> Inputs {
    let own = ctx.caches.secrets.get(&server.here(&server.names.secret));
    let era = ctx
        .readiness
        .spoken(&server.key)
        .map(str::to_string)
        .or_else(|| {
            let status = server.mcp.status.as_ref()?;
            Some(status.mcp.as_ref()?.era.clone())
        });
    Inputs {
        server_name: Some(server.name.to_string()),
        owner: server.mcp.controller_owner_ref(&()),
        restarted_at: server
            .mcp
            .annotations()
            .get(RESTARTED_AT_ANNOTATION)
            .cloned(),
        secret_revision: own.and_then(|s| refs::own_secret_revision(&s.metadata)),
        references_hash,
        stateless: era.as_deref().is_some_and(crate::mcp::probe::stateless),
        namespace_labels: ctx.caches.namespace_labels(server.namespace),
    }
}

/// Checks a server's references, reading their values only when a referenced object's
/// cached resourceVersion changed since the last check (or there was none).
async fn check_references(ctx: &Context, server: &Server<'_>) -> Result<Checked, Stop> {
    let (spec, names) = (server.spec, server.names);
    let own_exists = ctx
        .caches
        .secrets
        .get(&server.here(&names.secret))
        .is_some();
    let seen = Seen::of(spec, &names.secret, |kind, object| match kind {
        Kind::Secret => ctx
            .caches
            .referable_secrets
            .get(&server.here(object))
            .and_then(|s| s.metadata.resource_version.clone()),
        Kind::ConfigMap => ctx
            .caches
            .referable_config_maps
            .get(&server.here(object))
            .and_then(|c| c.metadata.resource_version.clone()),
    });
    // The memo answers for the other references; the own Secret is checked from its cache.
    let own_ok = own_exists || !refs::refers_to(spec, Kind::Secret, &names.secret);
    if own_ok && let Some(checked) = ctx.memos.references(&server.key, &seen) {
        return Ok(checked);
    }
    let own = refs::OwnSecret {
        name: &names.secret,
        exists: own_exists,
    };
    let checked = refs::check(&ctx.client, server.namespace, spec, own)
        .await
        .map_err(|e| Stop::Failed(e.into()))?;
    if own_ok {
        ctx.memos.checked(&server.key, seen, checked.clone());
    }
    Ok(checked)
}
