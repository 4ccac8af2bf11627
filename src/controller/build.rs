//! The build step: the server's desired state ([`crate::desired::build`]: render and the policy
//! chain) from its stored spec and what observe found. Skipped when the inputs are those of the
//! last apply and the cluster still holds its result: a probe result, a reference re-check or
//! a pod event then costs no render and no policy run.

use crate::crd::McpServerSpec;
use crate::desired::{self, BuildError, Desired, Inputs};

use super::observe::Observed;
use super::rejection::Rejection;
use super::{Context, Server, Stop, sha256_hex};

/// What the apply step gets.
pub enum Built {
    /// Same inputs as the last apply, whose result the cluster still holds: nothing to do.
    Unchanged,
    /// The desired state, and the hash of what it was made from (`None`: not to be
    /// remembered, the policies may answer differently for the same input).
    Desired {
        desired: Box<Desired>,
        input: Option<String>,
    },
}

pub async fn build(ctx: &Context, server: &Server<'_>, observed: &Observed) -> Result<Built, Stop> {
    let input = match ctx.policies.revision() {
        Some(revision) => Some(input_hash(server.spec, &observed.inputs, revision)?),
        None => None,
    };
    let remembered = observed.intact.as_ref().and_then(|m| m.input.as_ref());
    if input.is_some() && remembered == input.as_ref() {
        return Ok(Built::Unchanged);
    }
    let desired = build_blocking(ctx, server, &observed.inputs).await?;
    if let Some(report) = &desired.report {
        tracing::debug!(?report, "policies applied");
    }
    Ok(Built::Desired {
        input: input.filter(|_| desired.memoizable),
        desired: Box::new(desired),
    })
}

/// Builds on a blocking thread (plugins are CPU-bound, bounded by their deadline).
async fn build_blocking(
    ctx: &Context,
    server: &Server<'_>,
    inputs: &Inputs,
) -> Result<Desired, Stop> {
    let (spec, namespace) = (server.spec, server.namespace);
    let (policies, render) = (ctx.policies.clone(), ctx.render.of(namespace));
    let (spec, inputs) = (spec.clone(), inputs.clone());
    let built = tokio::task::spawn_blocking(move || {
        desired::build(&spec, &inputs, &render, policies.as_ref())
    })
    .await
    .map_err(|e| {
        Stop::Rejected(Rejection::policy(crate::plugin::PolicyRejection::Failed(
            format!("building the desired state panicked: {e}"),
        )))
    })?;
    built.map_err(|e| match e {
        BuildError::Render(e) => Stop::Rejected(Rejection::invalid(e.to_string())),
        BuildError::Policy(r) => Stop::Rejected(Rejection::policy(r)),
        BuildError::Serialization(e) => Stop::serialization(e),
    })
}

/// What the desired state is made from: the stored spec, the cluster's inputs and the policy
/// set's revision.
fn input_hash(spec: &McpServerSpec, inputs: &Inputs, revision: u64) -> Result<String, Stop> {
    Ok(sha256_hex(&[
        &serde_json::to_vec(spec).map_err(Stop::serialization)?,
        &serde_json::to_vec(inputs).map_err(Stop::serialization)?,
        &revision.to_le_bytes(),
    ]))
}
