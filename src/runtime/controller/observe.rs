//! The first steps of a reconcile: validate the spec against the full JSON Schema (the CRD
//! carries only its structural part), then observe what the server's objects depend on: its
//! references (must exist, their data's hash rolls the pods on rotation), the pod-template
//! inputs from the cluster and the live objects the last apply left.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;

use crate::crd::McpServerSpec;
use crate::render::Extras;
use crate::render::labels::{
    OWNER_ANNOTATION, RESTARTED_AT_ANNOTATION, SECRET_REVISION_ANNOTATION,
};
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
    /// Pod-template annotations from the cluster (owner, restart marker, Secret revision,
    /// references hash).
    pub extras: Extras,
    /// Whether the references must be checked again later (the server has some).
    pub recheck: bool,
    pub deployment: Option<Arc<Deployment>>,
    pub service: Option<Arc<PartialObjectMeta<Service>>>,
    pub network_policy: Option<Arc<PartialObjectMeta<NetworkPolicy>>>,
    /// The last apply, if the cluster still holds what it left.
    pub intact: Option<LastApply>,
}

pub async fn observe(ctx: &Context, server: &Server<'_>) -> Result<Observed, Stop> {
    let mut extras = extras(ctx, server);
    let mut recheck = false;
    match check_references(ctx, server).await? {
        // No references: nothing to check again later.
        Checked::Resolved(None) => {}
        Checked::Resolved(Some(hash)) => {
            recheck = true;
            extras
                .template_annotations
                .insert(refs::REFERENCES_HASH_ANNOTATION.into(), hash);
        }
        Checked::Missing(missing) => return Err(Stop::Rejected(Rejection::missing(&missing))),
        // The Secret watch triggers the next reconcile; the requeue is only a backstop.
        Checked::Unseen => return Err(Stop::Wait(UNSEEN_RETRY)),
    }
    let names = server.names;
    let deployment = ctx.caches.deployments.get(&ctx.here(&names.deployment));
    let service = ctx.caches.services.get(&ctx.here(&names.service));
    let network_policy = ctx
        .caches
        .network_policies
        .get(&ctx.here(&names.deployment));
    let intact = ctx.memos.last_apply(server.name).filter(|m| {
        m.intact(
            deployment.as_deref(),
            service.as_deref(),
            network_policy.as_deref(),
        )
    });
    Ok(Observed {
        extras,
        recheck,
        deployment,
        service,
        network_policy,
        intact,
    })
}

/// What rendering takes from the cluster: pod-template annotations (the server's own Secret's
/// revision, so a rotation rolls the pods; the restart marker; the owner for Pod events) and
/// whether the MCP probe found the server stateless (its Service's session affinity).
fn extras(ctx: &Context, server: &Server<'_>) -> Extras {
    let mut extras = Extras::default();
    let annotations = &mut extras.template_annotations;
    annotations.insert(OWNER_ANNOTATION.into(), server.mcp.name_any());
    if let Some(at) = server.mcp.annotations().get(RESTARTED_AT_ANNOTATION) {
        annotations.insert(RESTARTED_AT_ANNOTATION.into(), at.clone());
    }
    let secret = ctx.caches.secrets.get(&ctx.here(&server.names.secret));
    if let Some(rv) = secret.and_then(|s| s.metadata.resource_version.clone()) {
        annotations.insert(SECRET_REVISION_ANNOTATION.into(), format!("rv-{rv}"));
    }
    extras.stateless =
        ctx.readiness.era(server.name) == Some(crate::runtime::mcp_probe::Era::Modern);
    extras
}

/// Checks a server's references, reading their values only when a referenced object's
/// cached resourceVersion changed since the last check (or there was none).
async fn check_references(ctx: &Context, server: &Server<'_>) -> Result<Checked, Stop> {
    let (spec, names) = (server.spec, server.names);
    let own_exists = ctx.caches.secrets.get(&ctx.here(&names.secret)).is_some();
    let seen = Seen::of(spec, &names.secret, |kind, object| match kind {
        Kind::Secret => ctx
            .caches
            .referable_secrets
            .get(&ctx.here(object))
            .and_then(|s| s.metadata.resource_version.clone()),
        Kind::ConfigMap => ctx
            .caches
            .referable_config_maps
            .get(&ctx.here(object))
            .and_then(|c| c.metadata.resource_version.clone()),
    });
    // The memo answers for the other references; the own Secret is checked from its cache.
    let own_ok = own_exists || !refs::refers_to(spec, Kind::Secret, &names.secret);
    if own_ok && let Some(checked) = ctx.memos.references(server.name, &seen) {
        return Ok(checked);
    }
    let own = refs::OwnSecret {
        name: &names.secret,
        exists: own_exists,
    };
    let checked = refs::check(&ctx.client, &ctx.namespace, spec, own)
        .await
        .map_err(|e| Stop::Failed(e.into()))?;
    if own_ok {
        ctx.memos.checked(server.name, seen, checked.clone());
    }
    Ok(checked)
}
