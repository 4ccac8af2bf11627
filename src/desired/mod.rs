//! One server's desired state, built in one place for everyone who needs it: the controller
//! (what it applies), `POST /v1/render` and `mcp-runtime render` (what-if previews). So a
//! preview with an organisation's policies shows exactly the objects that land.
//!
//! [`build`] is pure but for the policies it is given: the stored document (secret values
//! split off into the server's own Secret, whatever the caller passed), what the cluster adds
//! ([`Inputs`]: the owner, the restart marker, the Secret's revision, the references' hash,
//! the era the probe found), the runtime's settings, and the policy chain. Its answer keeps the
//! objects the controller applies ([`Desired::objects`]) apart from the Secrets with the
//! document's values, which only the API writes ([`Desired::secrets`]).

mod inputs;
mod object;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::crd::McpServerSpec;
use crate::plugin::{ChainReport, PolicyChain, PolicyRejection, Subject};
use crate::render::{Manifests, RenderContext, RenderError, ServerNames, render_with, secret};

pub use inputs::{
    Inputs, NAMESPACE_NAME_LABEL, PENDING_REVISION, REFERENCES_HASH_ANNOTATION,
    offline_namespace_labels,
};
pub use object::{Object, fingerprint};

/// What a server should be.
#[derive(Clone, Debug)]
pub struct Desired {
    pub names: ServerNames,
    /// What the controller applies, in order (Deployment, then Service and NetworkPolicy when
    /// the server has them), owned by the McpServer when its owner is known.
    pub objects: Vec<Object>,
    /// The server's own Secrets with the document's values (env values, registry
    /// credentials): written by the API beside the McpServer, never by the controller, and
    /// empty when built from a stored spec (which holds references only).
    pub secrets: Vec<Secret>,
    /// Where MCP clients reach the server, when it has a Service.
    pub endpoint: Option<String>,
    /// Port and path of the MCP endpoint on the Service.
    pub http: Option<(u16, String)>,
    /// What the policies did (`None`: none ran).
    pub report: Option<ChainReport>,
    /// Whether the same inputs give the same answer again (no failure was let through).
    pub memoizable: bool,
}

impl Desired {
    /// The applied object of `kind`, if there is one.
    pub fn object(&self, kind: &str) -> Option<&Object> {
        self.objects.iter().find(|o| o.kind() == kind)
    }
}

/// Why no desired state could be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The document cannot be rendered (schema, names, ServiceAccount).
    #[error("{0}")]
    Render(#[from] RenderError),
    /// The policies refused the server, or one failed.
    #[error("{}", .0.message())]
    Policy(PolicyRejection),
    /// A manifest could not be turned into JSON (a defect of ours).
    #[error("serializing: {0}")]
    Serialization(#[from] serde_json::Error),
}

/// Builds the desired state of the server `spec` (a document or a stored spec: either way its
/// secret values go to [`Desired::secrets`] and the rest reads them by reference).
pub fn build(
    spec: &McpServerSpec,
    inputs: &Inputs,
    ctx: &RenderContext,
    policies: &dyn PolicyChain,
) -> Result<Desired, BuildError> {
    let names = ServerNames::new(inputs.server_name(spec)).ok_or(RenderError::Name)?;
    let (stored, env_secret, pull_secret) = secret::split(spec, &names, &ctx.namespace);
    let extras = inputs.extras(&stored, &names);
    let mut manifests = render_with(&stored, names.clone(), ctx, extras)?;
    let document = serde_json::to_value(&stored)?;
    let subject = Subject {
        name: &names.slug,
        namespace: &ctx.namespace,
        namespace_labels: inputs.namespace_labels.as_ref(),
        document: &document,
    };
    let outcome = policies
        .apply(&subject, &mut manifests)
        .map_err(BuildError::Policy)?;
    let http = crate::render::service::serving(&stored, ctx)
        .http()
        .map(|(port, path)| (port, path.to_string()));
    Ok(Desired {
        objects: objects(&manifests, inputs)?,
        secrets: env_secret.into_iter().chain(pull_secret).collect(),
        endpoint: manifests.endpoint.clone(),
        http,
        memoizable: outcome.memoizable(),
        report: outcome.report,
        names,
    })
}

/// The objects the controller applies, owned by the McpServer when the owner is known.
fn objects(manifests: &Manifests, inputs: &Inputs) -> Result<Vec<Object>, serde_json::Error> {
    let owner = inputs.owner.as_ref();
    let mut out = vec![Object::of::<Deployment>(&manifests.deployment, owner)?];
    if let Some(s) = &manifests.service {
        // A Service exposes exactly our ports: a port added by hand would be served too.
        out.push(Object::of::<Service>(s, owner)?.exclusive(&["/spec/ports"]));
    }
    if let Some(n) = &manifests.network_policy {
        out.push(Object::of::<NetworkPolicy>(n, owner)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
