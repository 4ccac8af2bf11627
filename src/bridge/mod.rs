//! `mcp-runtime bridge -- <command> [args…]`: serves a stdio MCP server as MCP streamable HTTP,
//! inside the server's own pod (no attach through the API server, no extra RBAC).
//!
//! The child is started once and initialized by the bridge; `/healthz` says the process is
//! alive, `/readyz` that it answered `initialize`. `POST <path>` takes one JSON-RPC message:
//! `initialize` opens a session (`Mcp-Session-Id`) answered from the child's initialize result;
//! requests are forwarded with remapped ids and answered as `application/json`; notifications
//! and responses get 202. `GET <path>` is the session's event stream (server-initiated
//! messages), `DELETE <path>` ends the session. Nothing is restarted: when the child exits, the
//! bridge answers what is pending with an error and exits with the child's status, so the
//! kubelet's restart policy (visible in the pod's status) decides what happens next.

mod stdio;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use serde_json::{Value, json};

pub use stdio::{PROTOCOL_VERSION, Stdio, StdioError};

const SESSION_HEADER: &str = "mcp-session-id";

/// How the bridge is run (flags of `mcp-runtime bridge`).
#[derive(Clone, Debug)]
pub struct Options {
    pub listen: SocketAddr,
    pub path: String,
    pub command: Vec<String>,
    /// How long one request may wait for the child's answer.
    pub request_timeout: Duration,
    /// How long the child may take to answer the bridge's `initialize`.
    pub init_timeout: Duration,
}

struct Shared {
    stdio: Arc<Stdio>,
    request_timeout: Duration,
}

/// Runs the bridge until the child exits; returns the exit code to leave with.
pub async fn run(options: Options) -> anyhow::Result<i32> {
    let (program, args) = options.command.split_first().ok_or_else(|| {
        anyhow::anyhow!("bridge: no command given (mcp-runtime bridge -- <command> [args…])")
    })?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("bridge: cannot start {program}: {e}"))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let stdio = Stdio::new(stdin);
    let reader = tokio::spawn(stdio.clone().read(stdout));
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, path = %options.path, command = %program, "bridge serving a stdio MCP server");
    let shared = Arc::new(Shared {
        stdio: stdio.clone(),
        request_timeout: options.request_timeout,
    });
    let app = router(&options.path, shared);
    let init = {
        let (stdio, timeout) = (stdio.clone(), options.init_timeout);
        tokio::spawn(async move {
            match stdio.initialize(timeout).await {
                Ok(answer) if answer.get("result").is_some() => {
                    tracing::info!(server = %answer["result"]["serverInfo"], "the MCP server answered initialize")
                }
                Ok(answer) => {
                    tracing::error!(error = %answer["error"], "the MCP server refused initialize")
                }
                Err(e) => tracing::error!(error = %e, "initialize failed"),
            }
        })
    };
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        use axum::serve::ListenerExt;
        // Small JSON-RPC answers go out at once, not held back by Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = exit_rx.await;
            })
            .await
    });
    let status = tokio::select! {
        s = child.wait() => s?,
        _ = shutdown_signal() => {
            tracing::info!("bridge: terminating the MCP server");
            terminate(&mut child).await
        }
    };
    let _ = reader.await;
    init.abort();
    let _ = exit_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let code = exit_code(status);
    tracing::info!(
        code,
        "the MCP server exited; the bridge exits with its status"
    );
    Ok(code)
}

fn router(path: &str, shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(path, get(stream).post(post).delete(delete))
        .layer(axum::extract::DefaultBodyLimit::max(4 << 20))
        .with_state(shared)
}

async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    if s.stdio.alive() {
        "ok".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the MCP server process has exited",
        )
            .into_response()
    }
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    match (s.stdio.alive(), s.stdio.initialize_result()) {
        (true, Some(Ok(_))) => "ready".into_response(),
        (true, Some(Err(e))) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the MCP server refused initialize: {}",
                e["message"].as_str().unwrap_or("no message")
            ),
        )
            .into_response(),
        (false, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the MCP server process has exited",
        )
            .into_response(),
        (true, None) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the MCP server has not answered initialize yet",
        )
            .into_response(),
    }
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn plain(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// 128 bits from the OS's CSPRNG: a session id is a bearer credential for its session.
fn new_session_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

async fn post(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                rpc_error(Value::Null, -32700, &format!("parse error: {e}")),
            );
        }
    };
    if message.is_array() {
        return plain(
            StatusCode::BAD_REQUEST,
            rpc_error(
                Value::Null,
                -32600,
                "batches are not supported (protocol 2025-06-18)",
            ),
        );
    }
    if !message.is_object() || message["jsonrpc"] != "2.0" {
        return plain(
            StatusCode::BAD_REQUEST,
            rpc_error(Value::Null, -32600, "not a JSON-RPC 2.0 message"),
        );
    }
    let id = message.get("id").cloned();
    let method = message["method"].as_str().map(str::to_string);
    if method.as_deref() == Some("initialize") {
        let id = id.unwrap_or(Value::Null);
        let Some(answer) = tokio::time::timeout(s.request_timeout, s.stdio.wait_initialized())
            .await
            .ok()
            .flatten()
        else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                rpc_error(
                    id,
                    -32000,
                    "the MCP server is not initialized (exited or not answering)",
                ),
            );
        };
        let result = match answer {
            Ok(result) => result,
            // The child's own refusal, as it gave it; no session is opened.
            Err(error) => {
                return plain(
                    StatusCode::OK,
                    json!({"jsonrpc": "2.0", "id": id, "error": error}),
                );
            }
        };
        let Some(session) = new_session_id() else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                rpc_error(id, -32000, "no randomness for a session id"),
            );
        };
        s.stdio.open_session(&session);
        let mut response = plain(
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id, "result": result}),
        );
        if let Ok(v) = HeaderValue::from_str(&session) {
            response.headers_mut().insert(SESSION_HEADER, v);
        }
        return response;
    }
    let Some(session) = session_of(&headers) else {
        return plain(
            StatusCode::BAD_REQUEST,
            rpc_error(
                id.unwrap_or(Value::Null),
                -32600,
                "missing Mcp-Session-Id (send initialize first)",
            ),
        );
    };
    if !s.stdio.has_session(&session) {
        return plain(
            StatusCode::NOT_FOUND,
            rpc_error(id.unwrap_or(Value::Null), -32001, "unknown session"),
        );
    }
    match (method.as_deref(), id) {
        // The child was initialized by the bridge; a session's own `initialized` is not news.
        (Some("notifications/initialized"), _) => StatusCode::ACCEPTED.into_response(),
        (Some(_), Some(id)) => match s.stdio.request(&session, message, s.request_timeout).await {
            Ok(answer) => plain(StatusCode::OK, answer),
            // The HTTP exchange worked; the JSON-RPC error says what happened to the request, so
            // MCP clients raise it as the request's error instead of a transport failure.
            Err(e @ StdioError::Timeout(_)) => {
                plain(StatusCode::OK, rpc_error(id, -32001, &e.to_string()))
            }
            Err(e) => plain(StatusCode::OK, rpc_error(id, -32000, &e.to_string())),
        },
        _ => match s.stdio.forward(&session, message).await {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(e) => plain(
                StatusCode::BAD_GATEWAY,
                rpc_error(Value::Null, -32000, &e.to_string()),
            ),
        },
    }
}

async fn stream(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(session) = session_of(&headers).filter(|id| s.stdio.has_session(id)) else {
        return (StatusCode::NOT_FOUND, "unknown or missing Mcp-Session-Id").into_response();
    };
    let rx = s.stdio.subscribe(&session);
    let events = tokio_stream_from(rx)
        .map(|v| Ok::<_, std::convert::Infallible>(Event::default().data(v.to_string())));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Value>,
) -> impl futures::Stream<Item = Value> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn delete(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match session_of(&headers).filter(|id| s.stdio.has_session(id)) {
        Some(id) => {
            s.stdio.close_session(&id).await;
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, "unknown or missing Mcp-Session-Id").into_response(),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGTERM to the child, SIGKILL after 5 s (inside the pod's 10 s grace period); its status.
async fn terminate(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    #[cfg(unix)]
    if let Some(pid) = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            return s;
        }
    }
    let _ = child.start_kill();
    child.wait().await.unwrap_or_default()
}

/// The child's exit code, or 128 + signal when a signal ended it (the shell's convention).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    status.code().unwrap_or(1)
}

/// Copies this very binary into `dir` (the init container of a bridged pod), so the MCP
/// container can run the bridge from a shared `emptyDir` whatever its own image is.
pub fn copy_self(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let me = std::env::current_exe()?;
    std::fs::create_dir_all(dir)?;
    let target = dir.join("mcp-runtime");
    let tmp = dir.join(".mcp-runtime.tmp");
    std::fs::copy(&me, &tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::rename(&tmp, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(9)), 137);
    }

    #[test]
    fn session_ids_are_128_bit_and_distinct() {
        let (a, b) = (new_session_id().unwrap(), new_session_id().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
