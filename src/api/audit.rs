//! The audit trail of writes through the API: one structured log line per write (who, verb,
//! namespace, server, outcome, the names of the fields it changed) and a counter by verb and
//! outcome. Never a value: the changed fields are JSON pointers into the stored document, whose
//! secret values are references, and the env variables given a secret value are named only.
//!
//! The line has the target `mcp_runtime::audit` (`RUST_LOG=mcp_runtime::audit=info` keeps only
//! these), and is written whatever the outcome: refused tokens, invalid documents and conflicts
//! included, so the trail shows attempts as well as changes.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use tracing::info;

use super::AppState;
use crate::metrics::AuditLabels;

/// Most changed fields named in one line; more are counted ("… and N more").
const MAX_FIELDS: usize = 64;

/// Who made a request: the name of the token it presented (its `#` comment line in the token
/// file, or `token-<n>`), `unauthenticated`, or `anonymous` when authentication is off. Put on
/// the response by the token check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller(pub String);

/// What a write did, put on its response by the handler: the server, the fields whose stored
/// value changed, and the env variables given a secret value (names only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audited {
    pub server: String,
    pub changed: Vec<String>,
    pub secret_values: Vec<String>,
}

impl Audited {
    /// A write that changed `old` into `new` (stored documents), given `doc` (the request's
    /// document, for the secret values it carried).
    pub fn change(server: &str, old: &Value, new: &Value, doc: &Value) -> Audited {
        let mut changed = Vec::new();
        changed_paths(old, new, &mut String::new(), &mut changed);
        Audited {
            server: server.to_string(),
            changed,
            secret_values: secret_value_names(doc),
        }
    }

    /// A write with no document (delete, start, stop, restart).
    pub fn of(server: &str) -> Audited {
        Audited {
            server: server.to_string(),
            ..Default::default()
        }
    }
}

/// The audited verb of a request, from its method and route template (either form: `/v1/...`
/// or `/v1/namespaces/{namespace}/...`); `None` for reads and for the render routes, which
/// write nothing.
pub fn verb(method: &Method, route: &str) -> Option<&'static str> {
    let route = match route.strip_prefix(super::servers::NAMESPACED_PREFIX) {
        Some(rest) => format!("/v1{rest}"),
        None => route.to_string(),
    };
    Some(match (method.as_str(), route.as_str()) {
        ("POST", "/v1/servers") => "create",
        ("PUT", "/v1/servers/{name}") => "replace",
        ("PATCH", "/v1/servers/{name}") => "patch",
        ("DELETE", "/v1/servers/{name}") => "delete",
        ("POST", "/v1/servers/{name}/start") => "start",
        ("POST", "/v1/servers/{name}/stop") => "stop",
        ("POST", "/v1/servers/{name}/restart") => "restart",
        _ => return None,
    })
}

/// The outcome of a write, by its status.
pub fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        401 | 403 => "denied",
        404 => "not-found",
        409 | 412 => "conflict",
        400..=499 => "rejected",
        _ => "error",
    }
}

/// The middleware: after the request, one line and one count for every write.
pub async fn record(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str());
    let Some(verb) = route.and_then(|r| verb(req.method(), r)) else {
        return next.run(req).await;
    };
    // The URL's namespace and name, only if they are ones a namespace and a server can have
    // (anything else is never echoed).
    let (namespace, path) = super::servers::split_path(req.uri().path());
    let namespace = namespace.unwrap_or(state.home()).to_string();
    let named = path
        .split('/')
        .nth(3)
        .filter(|n| crate::render::names::is_object_name(n))
        .map(str::to_string);
    let resp = next.run(req).await;
    let audited = resp.extensions().get::<Audited>().cloned();
    let caller = resp
        .extensions()
        .get::<Caller>()
        .map_or("unauthenticated", |c| c.0.as_str());
    let outcome = outcome(resp.status());
    let server = audited
        .as_ref()
        .map(|a| a.server.clone())
        .or(named)
        .unwrap_or_default();
    let (changed, secret_values) = audited
        .map(|a| (fields(&a.changed), a.secret_values.join(",")))
        .unwrap_or_default();
    info!(
        target: "mcp_runtime::audit",
        caller,
        verb,
        namespace = %namespace,
        server = %server,
        status = resp.status().as_u16(),
        outcome,
        changed = %changed,
        secret_values = %secret_values,
        "api write"
    );
    state
        .metrics
        .api_writes
        .get_or_create(&AuditLabels {
            verb: verb.into(),
            outcome: outcome.into(),
        })
        .inc();
    resp
}

/// The changed fields as one comma-separated list, at most [`MAX_FIELDS`] named.
fn fields(changed: &[String]) -> String {
    let mut text = changed
        .iter()
        .take(MAX_FIELDS)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if changed.len() > MAX_FIELDS {
        text.push_str(&format!(" and {} more", changed.len() - MAX_FIELDS));
    }
    text
}

/// JSON pointers (RFC 6901) of every leaf where `old` and `new` differ, under `at`: objects key
/// by key, arrays index by index, an object or array added or removed by each of its leaves,
/// anything else as a whole.
pub fn changed_paths(old: &Value, new: &Value, at: &mut String, out: &mut Vec<String>) {
    let len = at.len();
    // A field added or removed whole is named by each of its leaves.
    let (empty_map, empty_list) = (Value::Object(Default::default()), Value::Array(Vec::new()));
    let (old, new) = match (old, new) {
        (Value::Null, b @ Value::Object(_)) => (&empty_map, b),
        (a @ Value::Object(_), Value::Null) => (a, &empty_map),
        (Value::Null, b @ Value::Array(_)) => (&empty_list, b),
        (a @ Value::Array(_), Value::Null) => (a, &empty_list),
        pair => pair,
    };
    let mut child = |segment: &str, x: Option<&Value>, y: Option<&Value>| {
        at.push('/');
        at.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        let missing = Value::Null;
        changed_paths(x.unwrap_or(&missing), y.unwrap_or(&missing), at, out);
        at.truncate(len);
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a
                .keys()
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .collect();
            keys.sort();
            for k in keys {
                child(k, a.get(k), b.get(k));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                child(&i.to_string(), a.get(i), b.get(i));
            }
        }
        (a, b) if a != b => out.push(if at.is_empty() {
            "/".into()
        } else {
            at.clone()
        }),
        _ => {}
    }
}

/// The names of the env variables `doc` gives a secret value.
fn secret_value_names(doc: &Value) -> Vec<String> {
    doc["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e.get("secretValue").is_some())
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests;
