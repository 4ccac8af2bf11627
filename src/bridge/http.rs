//! The HTTP side of the bridge: `POST <path>` in either era, the handshake era's session
//! stream (`GET`) and end (`DELETE`), and the health endpoints.
//!
//! A handshake client (`initialize`, then `Mcp-Session-Id`) and a 2026-07-28 client (no session,
//! the `_meta` envelope on every request) are served side by side, whichever era the child
//! speaks: requests pass as they are when the eras agree and are translated when they differ
//! ([`super::era`]). Answers are `application/json`; a modern request that carries a progress
//! token and accepts `text/event-stream` is answered as SSE: its progress, then its answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use super::era::{self, ClientSide, Era, Rejection};
use super::stdio::{Child, Stdio, StdioError};

pub(super) struct Shared {
    pub stdio: Arc<Stdio>,
    pub request_timeout: Duration,
    /// Keys of the streams of modern requests answered as SSE.
    pub next_stream: AtomicU64,
}

pub(super) async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    if s.stdio.alive() {
        "ok".into_response()
    } else {
        unavailable("the MCP server process has exited")
    }
}

pub(super) async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    match (s.stdio.alive(), s.stdio.opened()) {
        (true, Some(Ok(Child::Modern { .. }))) => {
            "ready: the MCP server speaks 2026-07-28".into_response()
        }
        (true, Some(Ok(Child::Handshake { initialize }))) => format!(
            "ready: the MCP server speaks the handshake era ({})",
            initialize["protocolVersion"]
                .as_str()
                .unwrap_or("no version")
        )
        .into_response(),
        (true, Some(Err(e))) => unavailable(&format!(
            "the MCP server refused initialize: {}",
            e["message"].as_str().unwrap_or("no message")
        )),
        (false, _) => unavailable("the MCP server process has exited"),
        (true, None) => unavailable("the MCP server has not answered initialize yet"),
    }
}

fn unavailable(message: &str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, message.to_string()).into_response()
}

fn plain(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn rejected(status: StatusCode, id: Option<Value>, rejection: Rejection) -> Response {
    plain(status, rejection.to_message(id.unwrap_or(Value::Null)))
}

/// A modern answer with the status the specification pairs with its error code.
fn modern_reply(answer: Value) -> Response {
    let status = answer
        .pointer("/error/code")
        .and_then(Value::as_i64)
        .map_or(StatusCode::OK, era::http_status);
    plain(status, answer)
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(era::SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// 128 bits from the OS's CSPRNG: a session id is a bearer credential for its session.
pub(super) fn new_session_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// One JSON-RPC message, checked for shape: a single 2.0 object.
fn parse_message(body: &[u8]) -> Result<Value, Rejection> {
    let message: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::new(era::PARSE_ERROR, format!("parse error: {e}")))?;
    if message.is_array() {
        return Err(Rejection::new(
            era::INVALID_REQUEST,
            "batches are not supported",
        ));
    }
    if !message.is_object() || message["jsonrpc"] != "2.0" {
        return Err(Rejection::new(
            era::INVALID_REQUEST,
            "not a JSON-RPC 2.0 message",
        ));
    }
    Ok(message)
}

/// Waits (within the request timeout) until the child was opened. `Err`: the answer a client
/// gets instead, the child's own refusal or "not initialized" when it exited or is silent.
async fn child(s: &Shared, id: &Option<Value>) -> Result<Child, (StatusCode, Value)> {
    let opened = tokio::time::timeout(s.request_timeout, s.stdio.wait_opened())
        .await
        .ok()
        .flatten();
    let id = id.clone().unwrap_or(Value::Null);
    match opened {
        Some(Ok(child)) => Ok(child),
        Some(Err(error)) => Err((
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id, "error": error}),
        )),
        None => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Rejection::new(
                -32000,
                "the MCP server is not initialized (exited or not answering)",
            )
            .to_message(id),
        )),
    }
}

pub(super) async fn post(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let message = match parse_message(&body) {
        Ok(m) => m,
        Err(rejection) => return rejected(StatusCode::BAD_REQUEST, None, rejection),
    };
    match era::request_era(&headers, &message) {
        Era::Modern => modern(&s, &headers, message).await,
        Era::Handshake => handshake(&s, &headers, message).await,
    }
}

/// A request of the 2026-07-28 era: checked, then passed to a modern child as it is, or
/// translated for a handshake child (`server/discover` answered from its `initialize`, the
/// envelope taken off, the answer given the fields the modern wire requires).
async fn modern(s: &Shared, headers: &HeaderMap, mut message: Value) -> Response {
    let id = message.get("id").cloned();
    if id.is_none() {
        return modern_notification(headers);
    }
    if message.get("method").is_none() {
        return rejected(
            StatusCode::BAD_REQUEST,
            id,
            Rejection::new(
                era::INVALID_REQUEST,
                "Body must be a single JSON-RPC request or notification object",
            ),
        );
    }
    if let Err(rejection) = era::check_modern(headers, &message) {
        return rejected(era::http_status(rejection.code), id, rejection);
    }
    let child = match child(s, &id).await {
        Ok(c) => c,
        Err((status, answer)) => return plain(status, answer),
    };
    let method = message["method"].as_str().unwrap_or_default().to_string();
    let id = id.unwrap_or(Value::Null);
    if let Child::Handshake { initialize } = &child {
        if method == "server/discover" {
            return modern_reply(
                json!({"jsonrpc": "2.0", "id": id, "result": era::discover_from_initialize(initialize)}),
            );
        }
        era::strip_envelope(&mut message);
    }
    let translate = matches!(child, Child::Handshake { .. });
    let server_info = child.server_info().cloned();
    let key = format!(
        "modern-request-{}",
        s.next_stream.fetch_add(1, Ordering::Relaxed)
    );
    let shape = move |mut answer: Value| {
        if translate {
            era::modern_answer(&mut answer, &method, server_info.as_ref());
        }
        answer
    };
    let wants_stream =
        message.pointer("/params/_meta/progressToken").is_some() && accepts_event_stream(headers);
    if wants_stream {
        return modern_stream(s, key, id, message, shape);
    }
    let answer = forward(&s.stdio, s.request_timeout, &key, id, message).await;
    s.stdio.unsubscribe(&key);
    modern_reply(shape(answer))
}

/// A modern notification is acknowledged and dropped, as the SDKs' modern entry does: the
/// 2026-07-28 wire has no client notification for the server to act on (a client cancels by
/// closing its request's stream, which the bridge passes on). Only the version is checked.
fn modern_notification(headers: &HeaderMap) -> Response {
    let requested = headers
        .get(era::PROTOCOL_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if requested != era::MODERN_VERSION {
        return rejected(
            StatusCode::BAD_REQUEST,
            None,
            Rejection::unsupported(requested),
        );
    }
    StatusCode::ACCEPTED.into_response()
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// A request forwarded to the child, its answer (the JSON-RPC error of a timeout or an exit
/// when there is none): the HTTP exchange worked, the error says what happened to the request.
async fn forward(stdio: &Stdio, timeout: Duration, key: &str, id: Value, message: Value) -> Value {
    match stdio.request(key, message, timeout).await {
        Ok(answer) => answer,
        Err(e @ StdioError::Timeout(_)) => Rejection::new(-32001, e.to_string()).to_message(id),
        Err(e) => Rejection::new(-32000, e.to_string()).to_message(id),
    }
}

/// A modern request answered as SSE: the child's notifications about it (progress) as they
/// come, then its answer, then the end. Dropping the response (the client went away) drops the
/// request, which cancels it in the child.
fn modern_stream(
    s: &Shared,
    key: String,
    id: Value,
    message: Value,
    shape: impl FnOnce(Value) -> Value + Send + 'static,
) -> Response {
    let notifications = s.stdio.subscribe(&key);
    let (stdio, timeout) = (s.stdio.clone(), s.request_timeout);
    let answer = Box::pin(async move {
        let answer = forward(&stdio, timeout, &key, id, message).await;
        stdio.unsubscribe(&key);
        shape(answer)
    });
    let messages = futures::stream::unfold(
        (Some(answer), notifications),
        |(answer, mut notifications)| async move {
            let mut answer = answer?;
            tokio::select! {
                biased;
                Some(n) = notifications.recv() => Some((n, (Some(answer), notifications))),
                last = &mut answer => Some((last, (None, notifications))),
            }
        },
    );
    let events = messages.map(|m| {
        Ok::<_, std::convert::Infallible>(Event::default().event("message").data(m.to_string()))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A request of the handshake era: `initialize` opens a session (answered from the child's
/// `initialize`, or made from a modern child's `server/discover`); the session's requests pass
/// as they are to a handshake child and with the session's envelope to a modern one.
async fn handshake(s: &Shared, headers: &HeaderMap, message: Value) -> Response {
    let id = message.get("id").cloned();
    if message["method"] == "initialize" {
        return initialize(s, id, &message["params"]).await;
    }
    let Some(session) = session_of(headers) else {
        return rejected(
            StatusCode::BAD_REQUEST,
            id,
            Rejection::new(
                era::INVALID_REQUEST,
                "missing Mcp-Session-Id (send initialize first, or speak protocol 2026-07-28)",
            ),
        );
    };
    if !s.stdio.has_session(&session) {
        return rejected(
            StatusCode::NOT_FOUND,
            id,
            Rejection::new(-32001, "unknown session"),
        );
    }
    let child = match child(s, &id).await {
        Ok(c) => c,
        Err((status, answer)) => return plain(status, answer),
    };
    let method = message["method"].as_str().map(str::to_string);
    match (method.as_deref(), id) {
        // The child was opened by the bridge; a session's own `initialized` is not news.
        (Some("notifications/initialized"), _) => StatusCode::ACCEPTED.into_response(),
        (Some(method), Some(id)) if child.era() == Era::Modern => {
            session_request_to_modern(s, &session, method, id, message).await
        }
        (Some(_), Some(id)) => plain(
            StatusCode::OK,
            forward(&s.stdio, s.request_timeout, &session, id, message).await,
        ),
        _ => match s.stdio.forward(&session, message).await {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(e) => rejected(
                StatusCode::BAD_GATEWAY,
                None,
                Rejection::new(-32000, e.to_string()),
            ),
        },
    }
}

/// A handshake session's request to a modern child. `ping` and `logging/setLevel` are the
/// session's own business (2026-07-28 removed both): the bridge answers them and carries the
/// level in the envelope of the session's later requests.
async fn session_request_to_modern(
    s: &Shared,
    session: &str,
    method: &str,
    id: Value,
    mut message: Value,
) -> Response {
    let answer = match method {
        "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        "logging/setLevel" => {
            s.stdio
                .set_log_level(session, message["params"]["level"].clone());
            json!({"jsonrpc": "2.0", "id": id, "result": {}})
        }
        _ => {
            // What the client said in its initialize: read only for a modern child, which
            // needs it in every envelope (a session closed meanwhile sends none).
            let client = s.stdio.session_client(session).unwrap_or_default();
            era::add_envelope(&mut message, &client);
            let mut answer = forward(&s.stdio, s.request_timeout, session, id, message).await;
            era::handshake_answer(&mut answer);
            answer
        }
    };
    plain(StatusCode::OK, answer)
}

async fn initialize(s: &Shared, id: Option<Value>, params: &Value) -> Response {
    let child = match child(s, &id).await {
        Ok(c) => c,
        Err((status, answer)) => return plain(status, answer),
    };
    let id = id.unwrap_or(Value::Null);
    let result = match &child {
        Child::Handshake { initialize } => initialize.clone(),
        Child::Modern { discover } => era::initialize_from_discover(discover, params),
    };
    let Some(session) = new_session_id() else {
        return rejected(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(id),
            Rejection::new(-32000, "no randomness for a session id"),
        );
    };
    s.stdio
        .open_session(&session, ClientSide::from_initialize(params));
    let mut response = plain(
        StatusCode::OK,
        json!({"jsonrpc": "2.0", "id": id, "result": result}),
    );
    if let Ok(v) = HeaderValue::from_str(&session) {
        response.headers_mut().insert(era::SESSION_HEADER, v);
    }
    response
}

/// A handshake session's event stream; a modern client has none (405, as the SDKs answer).
pub(super) async fn stream(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(response) = no_session_verbs_in_modern(&headers) {
        return response;
    }
    let Some(session) = session_of(&headers).filter(|id| s.stdio.has_session(id)) else {
        return (StatusCode::NOT_FOUND, "unknown or missing Mcp-Session-Id").into_response();
    };
    let rx = s.stdio.subscribe(&session);
    let events = futures::stream::poll_fn({
        let mut rx = rx;
        move |cx| rx.poll_recv(cx)
    })
    .map(|v| Ok::<_, std::convert::Infallible>(Event::default().data(v.to_string())));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

pub(super) async fn delete(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(response) = no_session_verbs_in_modern(&headers) {
        return response;
    }
    match session_of(&headers).filter(|id| s.stdio.has_session(id)) {
        Some(id) => {
            s.stdio.close_session(&id).await;
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, "unknown or missing Mcp-Session-Id").into_response(),
    }
}

/// `GET` and `DELETE` belong to sessions; a request at a modern version gets `405` with
/// `Allow: POST`.
fn no_session_verbs_in_modern(headers: &HeaderMap) -> Option<Response> {
    let version = headers.get(era::PROTOCOL_VERSION_HEADER)?.to_str().ok()?;
    if era::HANDSHAKE_VERSIONS.contains(&version) || headers.contains_key(era::SESSION_HEADER) {
        return None;
    }
    Some(
        (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "2026-07-28 has no sessions: POST one request at a time",
        )
            .into_response(),
    )
}
