//! `POST /v1/render`: the desired state a document would have, made by the builder the
//! controller uses ([`crate::desired::build`]) with the loaded policies and the same facts the
//! controller observes, read from the cluster: the McpServer of that name if it exists (owner,
//! restart marker, the era its probe found), the revision of its own Secret and the hash of
//! what it refers to. So what a platform previews is what lands.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use super::AppState;
use super::problem::Problem;
use super::routes::{cached, internal, json_body};
use super::servers::Namespace;
use crate::crd::McpServerSpec;
use crate::desired::{self, BuildError, Desired, Inputs, PENDING_REVISION};
use crate::mcp::probe::stateless;
use crate::plugin::PolicyRejection;
use crate::render::labels::RESTARTED_AT_ANNOTATION;
use crate::render::{RenderError, ServerNames, parse_document, secret};
use crate::runtime::references::{self as refs, Checked, Kind, OwnSecret};

type Result<T> = std::result::Result<T, Problem>;

/// What-if: the objects the controller would apply for a document, the server's own Secrets
/// the API would write (values blanked: not needed to review a manifest, and plugins never see
/// them), and each plugin's patch.
pub async fn render(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Value>> {
    let spec = parse_document(&json_body(body)?)?;
    let (inputs, missing) = inputs(&state, &ns, &spec).await?;
    let (policies, ctx) = (state.plugins.clone(), state.render_in(&ns));
    let built = tokio::task::spawn_blocking(move || {
        desired::build(&spec, &inputs, &ctx, policies.as_ref())
    })
    .await
    .map_err(internal)?;
    let mut answer = answer(&built.map_err(problem)?);
    answer["missingReferences"] = json!(missing);
    Ok(Json(answer))
}

/// The facts the controller would observe for this document's server, and the references it
/// would find missing (it then applies nothing until they exist: `MissingReference`; the
/// preview still shows what it would apply then, without the references' hash).
async fn inputs(
    state: &AppState,
    namespace: &str,
    spec: &McpServerSpec,
) -> Result<(Inputs, Vec<String>)> {
    let names = ServerNames::new(&spec.name).ok_or(RenderError::Name)?;
    let existing = cached(state, namespace, &names.slug);
    let (stored, env_secret, _) = secret::split(spec, &names, namespace);
    // The own Secret is owned by the McpServer: a server not in the cluster has none to read.
    let own = match existing.is_some() && refs::refers_to(&stored, Kind::Secret, &names.secret) {
        true => own_secret(state, namespace, &names.secret).await?,
        false => None,
    };
    let secret_revision = secret_revision(spec, own.as_ref());
    let own_secret = OwnSecret {
        name: &names.secret,
        exists: env_secret.is_some() || own.is_some(),
    };
    let checked = refs::check(&state.client, namespace, &stored, own_secret)
        .await
        .map_err(crate::runtime::Error::from)?;
    let (references_hash, missing) = match checked {
        Checked::Resolved(hash) => (hash, Vec::new()),
        Checked::Missing(missing) => (None, missing),
        Checked::Unseen => (None, Vec::new()),
    };
    let era = existing
        .as_ref()
        .and_then(|m| m.status.as_ref()?.mcp.as_ref().map(|i| i.era.clone()));
    let inputs = Inputs {
        server_name: Some(names.slug.clone()),
        owner: existing.as_ref().and_then(|m| m.controller_owner_ref(&())),
        restarted_at: existing
            .as_ref()
            .and_then(|m| m.annotations().get(RESTARTED_AT_ANNOTATION).cloned()),
        secret_revision,
        references_hash,
        stateless: era.as_deref().is_some_and(stateless),
        namespace_labels: namespace_labels(state, namespace).await,
    };
    Ok((inputs, missing))
}

/// The labels of `namespace`, read as the controller's watch holds them; `None` when they
/// cannot be read (no right to, the API server away): a policy that selects by label then
/// fails the preview by name, as it would fail the reconcile.
async fn namespace_labels(state: &AppState, namespace: &str) -> Option<BTreeMap<String, String>> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(state.client.clone());
    match namespaces.get_metadata_opt(namespace).await {
        Ok(found) => Some(
            found
                .map(|n| n.metadata.labels.unwrap_or_default())
                .unwrap_or_default(),
        ),
        Err(e) => {
            tracing::debug!(error = %e, namespace, "the namespace's labels could not be read");
            None
        }
    }
}

/// The metadata of the server's own Secret (managed fields included), if it exists.
async fn own_secret(state: &AppState, namespace: &str, name: &str) -> Result<Option<ObjectMeta>> {
    let secrets: Api<Secret> = Api::namespaced(state.client.clone(), namespace);
    let meta = secrets
        .get_metadata_opt(name)
        .await
        .map_err(crate::runtime::Error::from)?;
    Ok(meta.map(|m| m.metadata))
}

/// The revision the controller will stamp: the Secret's as it is when the document brings no
/// values or the same values again (the API's write then changes nothing), else the one its
/// next write gives it, unknown until then ([`PENDING_REVISION`]).
fn secret_revision(spec: &McpServerSpec, own: Option<&ObjectMeta>) -> Option<String> {
    let data = secret::secret_data(spec);
    match own {
        Some(meta) if data.is_empty() || refs::holds_data(meta, &secret::data_hash(&data)) => {
            refs::own_secret_revision(meta)
        }
        _ if data.is_empty() => None,
        _ => Some(PENDING_REVISION.into()),
    }
}

fn problem(e: BuildError) -> Problem {
    match e {
        BuildError::Render(e) => e.into(),
        BuildError::Policy(PolicyRejection::Denied(m)) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy-denied",
            "Denied by a policy",
            m,
        ),
        BuildError::Policy(PolicyRejection::Failed(m)) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy-failed",
            "A policy failed",
            m,
        ),
        BuildError::Serialization(e) => internal(e),
    }
}

/// The answer: applied objects and the Secrets apart, Secret values blanked.
fn answer(desired: &Desired) -> Value {
    let secrets: Vec<Value> = desired
        .secrets
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
            if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
                data.values_mut()
                    .for_each(|v| *v = Value::String(String::new()));
            }
            let mut o = json!({"apiVersion": "v1", "kind": "Secret"});
            json_patch::merge(&mut o, &v);
            o
        })
        .collect();
    let report = desired.report.clone().unwrap_or_default();
    json!({
        "objects": desired.objects.iter().map(|o| &o.body).collect::<Vec<_>>(),
        "secrets": secrets,
        "endpoint": desired.endpoint,
        "patches": report.patches,
        "monitoredDenials": report.monitored_denials,
        "ignoredErrors": report.ignored_errors,
    })
}
