//! The apply step: migrate a legacy bare Pod of the same name (once, before the first
//! Deployment), then server-side apply the manifests with the controller's field manager and
//! remember what the apply left. Skipped when the manifests hash as the last apply's and the
//! cluster still holds its result: pod and status churn costs no write.

use kube::Resource;
use kube::ResourceExt;

use crate::render::Manifests;
use crate::runtime::Error;
use crate::runtime::k8s_deployment::{Existing, K8sDeployment};

use super::build::Built;
use super::memo::LastApply;
use super::observe::Observed;
use super::{Context, Server, Stop, sha256_hex};

/// Applies what the build step made. An apply error is returned as `Ok(Err(..))`: the status
/// reports it before the reconcile fails with it.
pub async fn apply(
    ctx: &Context,
    server: &Server<'_>,
    observed: &Observed,
    built: Built,
) -> Result<Result<(), Error>, Stop> {
    let Built::Manifests { manifests, input } = built else {
        return Ok(Ok(()));
    };
    let owner = server
        .mcp
        .controller_owner_ref(&())
        .ok_or_else(|| Stop::Failed(Error::NotFound(server.mcp.name_any())))?;
    let desired = manifest_hash(&manifests, &owner)?;
    if observed
        .intact
        .as_ref()
        .is_some_and(|m| m.desired == desired)
    {
        return Ok(Ok(()));
    }
    let objects = K8sDeployment::new(ctx.client.clone(), &ctx.namespace, server.names.clone());
    let applied = async {
        if observed.deployment.is_none() {
            let reference = server.mcp.object_ref(&());
            objects
                .migrate_legacy_pod(&ctx.recorder, &server.mcp.metadata, &reference)
                .await?;
        }
        let existing = Existing {
            service: observed.service.is_some(),
            network_policy: observed.network_policy.is_some(),
        };
        objects.apply(&manifests, &owner, existing).await
    }
    .await;
    Ok(applied.map(|left| {
        let last = LastApply {
            desired,
            input,
            left,
        };
        ctx.memos.applied(server.name, last);
    }))
}

fn manifest_hash(
    manifests: &Manifests,
    owner: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> Result<String, Stop> {
    Ok(sha256_hex(&[
        &serde_json::to_vec(&manifests.deployment).map_err(Stop::serialization)?,
        &serde_json::to_vec(&manifests.service).map_err(Stop::serialization)?,
        &serde_json::to_vec(&manifests.network_policy).map_err(Stop::serialization)?,
        owner.uid.as_bytes(),
    ]))
}
