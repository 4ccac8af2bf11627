//! The route handlers. Each one validates, calls the runtime manager (or reads the cache) and
//! maps errors to problems; none of them keeps state.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::audit::Audited;
use super::problem::Problem;
use super::servers::Namespace;
use crate::api::store::Precondition;
use crate::crd::McpServer;
use crate::crd::resource::DOCUMENT_VERSION_PREFIX;
use crate::metrics::PhaseLabels;
use crate::render::ServerNames;

type Result<T> = std::result::Result<T, Problem>;

/// A server's name from the URL, checked before anything is asked of the API server: a name no
/// McpServer can have is a 404 that says the rule (never a 5xx from a request the API server
/// could not even be sent). The name itself is not echoed: it may hold anything.
pub struct ServerName(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ServerName {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<ServerName> {
        let unnamed = || {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "no server can have this name: a server's name is a DNS-1123 subdomain (at most 253 characters; lowercase letters, digits, '-' and '.'; each dot-separated part starts and ends with a letter or digit)",
            )
        };
        let Path(mut params) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| unnamed())?;
        let name = params.remove("name").ok_or_else(unnamed)?;
        if crate::render::names::is_object_name(&name) {
            Ok(ServerName(name))
        } else {
            Err(unnamed())
        }
    }
}

/// The API's view of a server: name, the document's version (the `ETag`, for optimistic
/// concurrency), the resourceVersion, the stored
/// spec (references only, never a secret value) and the status.
fn view(m: &McpServer) -> Value {
    json!({
        "name": m.name_any(),
        "version": m.document_version(),
        "resourceVersion": m.resource_version(),
        "generation": m.metadata.generation,
        "createdAt": m.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
        "spec": m.spec,
        "status": m.status,
    })
}

pub(super) fn json_body(body: std::result::Result<Bytes, BytesRejection>) -> Result<Value> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Body too large",
                format!("the body exceeds {} bytes", super::BODY_LIMIT),
            )
        } else {
            Problem::bad_json(e.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // Line and column only: the text around the error may be a secret value.
        Problem::bad_json(format!(
            "syntax error at line {} column {}",
            e.line(),
            e.column()
        ))
    })
}

/// What an `If-Match` requires: the document version of `GET`'s `ETag` (`"doc-…"`, quoted or
/// weak or bare), or a resourceVersion (a decimal number: Kubernetes' stricter rule, which a
/// status write also breaks). `None` without one or with `*`. Anything else matches no version
/// of the server: a 409, as a stale one is, and never a request to the API server.
fn if_match(headers: &HeaderMap) -> Result<Option<Precondition>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let version = value.to_str().ok().map(|v| {
        let v = v.trim();
        v.strip_prefix("W/")
            .unwrap_or(v)
            .trim_matches('"')
            .to_string()
    });
    let is_document = |v: &str| {
        v.strip_prefix(DOCUMENT_VERSION_PREFIX)
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    match version {
        Some(v) if v.is_empty() || v == "*" => Ok(None),
        Some(v) if is_document(&v) => Ok(Some(Precondition::Document(v))),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(Precondition::ResourceVersion(v)))
        }
        _ => Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            "Conflict",
            "If-Match names no version of this server (the ETag of GET, or a resourceVersion)",
        )),
    }
}

/// A defect of ours (a value that does not serialize): logged, a 500 that says so.
pub(super) fn internal(e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "internal error");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "the server could not be processed (logged)",
    )
}

/// A server's stored document as the audit trail compares it: its spec (secret values are
/// references there) and annotations (a restart is one).
fn stored(m: &McpServer) -> Value {
    json!({
        "spec": serde_json::to_value(m.server_spec()).unwrap_or_default(),
        "annotations": m.metadata.annotations,
    })
}

/// `resp` with what the write did, for the audit trail (outside the handler).
fn with_audit(mut resp: Response, audited: Audited) -> Response {
    resp.extensions_mut().insert(audited);
    resp
}

pub(super) fn cached(state: &AppState, namespace: &str, name: &str) -> Option<Arc<McpServer>> {
    state.servers.get(namespace, name)
}

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.servers.synced().await {
        "ready".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the McpServer cache is not synced yet",
        )
            .into_response()
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.servers.clear();
    for m in state.servers.all() {
        let phase = m
            .status
            .as_ref()
            .map(|s| s.phase.as_str())
            .unwrap_or("Unknown");
        state
            .metrics
            .servers
            .get_or_create(&PhaseLabels {
                phase: phase.into(),
            })
            .inc();
    }
    let mut resp = state.metrics.encode().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

pub async fn openapi() -> Response {
    let mut resp = super::openapi::served().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub async fn list(State(state): State<Arc<AppState>>, Namespace(ns): Namespace) -> Json<Value> {
    let servers = state.servers.list(&ns);
    Json(json!({"items": servers.iter().map(|m| view(m)).collect::<Vec<_>>()}))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    uri: axum::http::Uri,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let doc = json_body(body)?;
    let created = state.manager(&ns).create(&doc).await?;
    // The server's URL in the form the request used.
    let location = format!(
        "{}/{}",
        uri.path().trim_end_matches('/'),
        created.name_any()
    );
    let mut resp = (StatusCode::CREATED, Json(view(&created))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    let audit = Audited::change(&created.name_any(), &Value::Null, &stored(&created), &doc);
    Ok(with_audit(resp, audit))
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
) -> Result<Response> {
    let server = match cached(&state, &ns, &name) {
        Some(m) => (*m).clone(),
        // Just created and not in the cache yet.
        None => state.manager(&ns).get(&name).await?,
    };
    let mut resp = Json(view(&server)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", server.document_version())) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// The document's name must be the server's: a PUT cannot rename.
fn check_name(doc: &Value, name: &str) -> Result<()> {
    let given = doc.get("name").and_then(Value::as_str).unwrap_or_default();
    match ServerNames::new(given) {
        Some(n) if n.slug == name => Ok(()),
        None if given.is_empty() => Ok(()),
        _ => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name-mismatch",
            "The name does not match the URL",
            format!(
                "the document names {given:?}, the URL names {name:?}; a server cannot be renamed"
            ),
        )),
    }
}

pub async fn replace(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let mut doc = json_body(body)?;
    check_name(&doc, &name)?;
    if doc.get("name").is_none()
        && let Some(m) = doc.as_object_mut()
    {
        m.insert("name".into(), name.clone().into());
    }
    let before = cached(&state, &ns, &name).map_or(Value::Null, |m| stored(&m));
    let updated = state.manager(&ns).update(&doc, if_match(&headers)?).await?;
    let audit = Audited::change(&name, &before, &stored(&updated), &doc);
    Ok(with_audit(Json(view(&updated)).into_response(), audit))
}

/// JSON merge patch (RFC 7386) onto the stored document.
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let patch = json_body(body)?;
    let manager = state.manager(&ns);
    let wanted = if_match(&headers)?;
    // Without If-Match, the patch is applied to the document it was computed from; if the
    // document changed meanwhile, it is recomputed on the new one, so no edit is overwritten
    // (status writes do not count: they leave the document's version as it was).
    let attempts = if wanted.is_some() { 1 } else { 5 };
    let mut outcome = None;
    let mut before = Value::Null;
    for _ in 0..attempts {
        let current = manager.get(&name).await?;
        before = stored(&current);
        let mut doc = serde_json::to_value(current.server_spec()).map_err(internal)?;
        json_patch::merge(&mut doc, &patch);
        check_name(&doc, &name)?;
        let expected = wanted
            .clone()
            .unwrap_or_else(|| Precondition::Document(current.document_version()));
        match manager.update(&doc, Some(expected)).await {
            Err(crate::runtime::Error::Conflict { .. }) if wanted.is_none() => continue,
            other => {
                outcome = Some(other);
                break;
            }
        }
    }
    let updated = match outcome {
        Some(result) => result?,
        None => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                format!("server {name} kept changing; try again"),
            ));
        }
    };
    let audit = Audited::change(&name, &before, &stored(&updated), &patch);
    Ok(with_audit(Json(view(&updated)).into_response(), audit))
}

pub async fn remove(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
) -> Result<Response> {
    state.manager(&ns).remove(&name).await?;
    // Reads come from the watch cache: answer once it has seen the deletion (a few ms), so a
    // client's next GET does not find the server it just deleted. Bounded: the deletion stands
    // either way.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while cached(&state, &ns, &name).is_some_and(|m| m.metadata.deletion_timestamp.is_none())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(with_audit(
        StatusCode::NO_CONTENT.into_response(),
        Audited::of(&name),
    ))
}

pub async fn start(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
) -> Result<Response> {
    let manager = state.manager(&ns);
    accepted(&state, &ns, &name, manager.start(&name)).await
}

pub async fn stop(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
) -> Result<Response> {
    let manager = state.manager(&ns);
    accepted(&state, &ns, &name, manager.stop(&name)).await
}

pub async fn restart(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
) -> Result<Response> {
    let manager = state.manager(&ns);
    accepted(&state, &ns, &name, manager.restart(&name)).await
}

/// A lifecycle write (start, stop, restart): 202 with the server, audited against the cached
/// document from before `write` ran (a future does nothing until awaited).
async fn accepted(
    state: &AppState,
    namespace: &str,
    name: &str,
    write: impl std::future::Future<Output = crate::runtime::Result<McpServer>>,
) -> Result<Response> {
    let before = cached(state, namespace, name).map_or(Value::Null, |m| stored(&m));
    let done = write.await?;
    let audit = Audited::change(name, &before, &stored(&done), &Value::Null);
    let resp = (StatusCode::ACCEPTED, Json(view(&done))).into_response();
    Ok(with_audit(resp, audit))
}

/// Served from the watch cache: no request to the API server (but on a miss).
pub async fn status(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
) -> Result<Json<Value>> {
    // Just created and not in the cache yet: one GET (a miss is rare; hits cost no request).
    let m = match cached(&state, &ns, &name) {
        Some(m) => m,
        None => Arc::new(state.manager(&ns).get(&name).await?),
    };
    Ok(Json(json!({
        "name": name,
        "observedGeneration": m.status.as_ref().and_then(|s| s.observed_generation),
        "generation": m.metadata.generation,
        "status": m.status,
        "kubernetes": state.kubernetes.get(),
    })))
}

#[derive(Deserialize)]
pub struct LogQuery {
    tail: Option<i64>,
    #[serde(default)]
    follow: bool,
}

pub async fn logs(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
    query: std::result::Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let Query(q) = query.map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "Invalid query",
            e.body_text(),
        )
    })?;
    if let Some(t) = q.tail
        && !(0..=100_000).contains(&t)
    {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "Invalid query",
            "tail must be between 0 and 100000",
        ));
    }
    let manager = state.manager(&ns);
    manager.get(&name).await?;
    let lines = manager.logs(&name, q.tail.or(Some(100)), q.follow).await?;
    let body = Body::from_stream(lines.map(|l| {
        l.map(|mut s| {
            s.push('\n');
            Bytes::from(s)
        })
    }));
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

pub async fn events(
    State(state): State<Arc<AppState>>,
    Namespace(ns): Namespace,
    ServerName(name): ServerName,
) -> Result<Json<Value>> {
    let server = state.manager(&ns).get(&name).await?;
    let names =
        ServerNames::new(&name).ok_or_else(|| Problem::not_found(&format!("server {name}")))?;
    let api: Api<Event> = Api::namespaced(state.client.clone(), &ns);
    let mut out = Vec::new();
    for object in [server.name_any(), names.deployment.clone()] {
        let lp = ListParams::default().fields(&format!("involvedObject.name={object}"));
        let list = api.list(&lp).await.map_err(crate::runtime::Error::from)?;
        out.extend(list.items);
    }
    out.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
    });
    Ok(Json(json!({"items": out.iter().map(|e| json!({
        "type": e.type_,
        "reason": e.reason,
        "message": e.message,
        "object": format!("{}/{}", e.involved_object.kind.clone().unwrap_or_default(), e.involved_object.name.clone().unwrap_or_default()),
        "count": e.count,
        "time": e.last_timestamp.as_ref().map(|t| t.0.to_string()).or(e.event_time.as_ref().map(|t| t.0.to_string())),
    })).collect::<Vec<_>>()})))
}

pub async fn plugins(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.plugins.describe())
}

pub async fn fallback() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no-route",
        "No such route",
        "see /openapi.json for the routes",
    )
}
