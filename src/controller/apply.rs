//! The apply step: migrate a legacy bare Pod of the same name (before the first Deployment),
//! server-side apply the desired objects through one path for every kind, remove the objects
//! of those kinds the server owns that its desired state no longer has, and remember what the
//! apply left. Skipped when the objects hash as the last apply's and the cluster still holds
//! them: pod and status churn costs no write.

use std::time::Duration;

use kube::Resource;

use crate::desired::Desired;
use crate::runtime::Error;
use crate::runtime::k8s_deployment::K8sDeployment;

use super::build::Built;
use super::memo::LastApply;
use super::observe::Observed;
use super::watches::owned_kinds;
use super::{Context, Server, Stop, sha256_hex};

/// How soon a server whose legacy bare Pod is going away is looked at again (that Pod carries
/// none of our labels, so no watch event announces it is gone).
const MIGRATION_POLL: Duration = Duration::from_secs(2);

/// Applies what the build step made. An apply error is returned as `Ok(Err(..))`: the status
/// reports it before the reconcile fails with it.
pub async fn apply(
    ctx: &Context,
    server: &Server<'_>,
    observed: &Observed,
    built: Built,
) -> Result<Result<(), Error>, Stop> {
    let Built::Desired { desired, input } = built else {
        return Ok(Ok(()));
    };
    let hash = desired_hash(&desired)?;
    if observed.intact.as_ref().is_some_and(|m| m.desired == hash) {
        return Ok(Ok(()));
    }
    let cluster = K8sDeployment {
        client: &ctx.client,
        namespace: server.namespace,
        names: server.names,
    };
    if !observed.has_deployment {
        let reference = server.mcp.object_ref(&());
        match cluster.migrate_legacy_pod(&ctx.recorder, &reference).await {
            Ok(true) => return Err(Stop::Wait(MIGRATION_POLL)),
            Ok(false) => {}
            Err(e) => return Ok(Err(e)),
        }
    }
    let applied = async {
        let left = cluster.apply(&desired.objects).await?;
        prune(ctx, server, &cluster, &desired).await?;
        Ok::<_, Error>(left)
    }
    .await;
    Ok(applied.map(|left| {
        let last = LastApply {
            desired: hash,
            input,
            endpoint: desired.endpoint.clone(),
            http: desired.http.clone(),
            left,
        };
        ctx.memos.applied(&server.key, last);
    }))
}

/// Removes what the server owns (by owner UID, in the caches of the kinds the controller
/// applies) that this apply did not apply: a Service the transport no longer needs, the
/// NetworkPolicy of a server whose network mode went `off`.
async fn prune(
    ctx: &Context,
    server: &Server<'_>,
    cluster: &K8sDeployment<'_>,
    desired: &Desired,
) -> Result<(), Error> {
    let Some(uid) = server.mcp.metadata.uid.as_deref() else {
        return Ok(());
    };
    let mut gone = Vec::new();
    for resource in owned_kinds() {
        for name in ctx.caches.owned(&resource.kind, server.namespace, uid) {
            let kept = desired
                .objects
                .iter()
                .any(|o| o.kind() == resource.kind && o.name == name);
            if !kept {
                gone.push((resource.clone(), name));
            }
        }
    }
    let removals = gone.iter().map(|(r, name)| cluster.remove(r, name));
    futures::future::try_join_all(removals).await.map(drop)
}

/// Hash of every object to apply (owner references included).
fn desired_hash(desired: &Desired) -> Result<String, Stop> {
    let bodies = desired
        .objects
        .iter()
        .map(|o| serde_json::to_vec(&o.body))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Stop::serialization)?;
    let parts: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    Ok(sha256_hex(&parts))
}
