//! The build step: render the server's manifests (pure) and run the policy chain over them.
//! Skipped when the inputs are those of the last apply and the cluster still holds its result:
//! a probe result, a reference re-check or a pod event then costs no render and no policy run.

use crate::crd::{McpServer, McpServerSpec};
use crate::render::{Extras, Manifests, render_with};

use super::observe::Observed;
use super::rejection::Rejection;
use super::{Context, Server, Stop, sha256_hex};

/// What the apply step gets.
pub enum Built {
    /// Same inputs as the last apply, whose result the cluster still holds: nothing to do.
    Unchanged,
    /// The manifests to apply, and the hash of what they were made from (`None`: not to be
    /// remembered, the policies may answer differently for the same input).
    Manifests {
        manifests: Box<Manifests>,
        input: Option<String>,
    },
}

pub async fn build(ctx: &Context, server: &Server<'_>, observed: &Observed) -> Result<Built, Stop> {
    let input = match ctx.policies.revision() {
        Some(revision) => Some(input_hash(
            server.mcp,
            server.spec,
            &observed.extras,
            revision,
        )?),
        None => None,
    };
    let remembered = observed.intact.as_ref().and_then(|m| m.input.as_ref());
    if input.is_some() && remembered == input.as_ref() {
        return Ok(Built::Unchanged);
    }
    let manifests = render_with(
        server.spec,
        server.names.clone(),
        &ctx.render,
        observed.extras.clone(),
    )
    .map_err(|e| Stop::Rejected(Rejection::invalid(e.to_string())))?;
    let (manifests, memoizable) = police(ctx, server.mcp, manifests).await?;
    Ok(Built::Manifests {
        manifests: Box::new(manifests),
        input: input.filter(|_| memoizable),
    })
}

/// Runs the policy chain on a blocking thread (plugins are CPU-bound, bounded by their
/// deadline). Returns the manifests and whether the answer may be remembered.
async fn police(
    ctx: &Context,
    mcp: &McpServer,
    mut manifests: Manifests,
) -> Result<(Manifests, bool), Stop> {
    let policies = ctx.policies.clone();
    let server = mcp.clone();
    let ran = tokio::task::spawn_blocking(move || {
        let result = policies.apply(&server, &mut manifests);
        (manifests, result)
    })
    .await;
    let (manifests, result) = ran.map_err(|e| {
        Stop::Rejected(Rejection::policy(crate::plugin::PolicyRejection::Failed(
            format!("the policy chain panicked: {e}"),
        )))
    })?;
    let outcome = result.map_err(|r| Stop::Rejected(Rejection::policy(r)))?;
    if let Some(report) = &outcome.report {
        tracing::debug!(?report, "policies applied");
    }
    Ok((manifests, outcome.memoizable()))
}

/// What rendering and the policies are made from: the server (spec, identity), the
/// pod-template inputs from the cluster, and the policy set's revision.
fn input_hash(
    mcp: &McpServer,
    spec: &McpServerSpec,
    extras: &Extras,
    revision: u64,
) -> Result<String, Stop> {
    Ok(sha256_hex(&[
        mcp.metadata.uid.as_deref().unwrap_or_default().as_bytes(),
        &serde_json::to_vec(spec).map_err(Stop::serialization)?,
        &serde_json::to_vec(&extras.template_annotations).map_err(Stop::serialization)?,
        &[u8::from(extras.stateless)],
        &revision.to_le_bytes(),
    ]))
}
