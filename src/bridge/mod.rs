//! `mcp-runtime bridge -- <command> [args…]`: serves a stdio MCP server as MCP streamable HTTP,
//! inside the server's own pod (no attach through the API server, no extra RBAC).
//!
//! The child is started once and opened by the bridge in the newest era it speaks
//! (`server/discover` at 2026-07-28, else `initialize`); `/healthz` says the process is alive,
//! `/readyz` that it answered (and in which era). `POST <path>` takes one JSON-RPC message of
//! either era ([`era`]): a 2026-07-28 request (no session, the `_meta` envelope) or a
//! handshake-era one (`initialize` opens a session, `Mcp-Session-Id`); requests are forwarded
//! with remapped ids, translated when the client's era is not the child's, and answered as
//! `application/json` (SSE for a modern request with a progress token); notifications and
//! responses get 202. `GET <path>` is a handshake session's event stream (server-initiated
//! messages), `DELETE <path>` ends the session. Nothing is restarted: when the child exits, the
//! bridge answers what is pending with an error and exits with the child's status, so the
//! kubelet's restart policy (visible in the pod's status) decides what happens next.

pub mod era;
mod http;
mod process;
mod stdio;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;

use http::Shared;
pub use process::copy_self;
use process::{exit_code, shutdown_signal, terminate};
pub use stdio::{Child, PROTOCOL_VERSION, Stdio, StdioError};

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
        next_stream: Default::default(),
    });
    let app = router(&options.path, shared);
    let init = {
        let (stdio, timeout) = (stdio.clone(), options.init_timeout);
        tokio::spawn(async move {
            match stdio.open(timeout).await {
                Ok(Ok(child)) => {
                    let server = child.server_info().cloned().unwrap_or_default();
                    match child.era() {
                        era::Era::Modern => {
                            tracing::info!(%server, "the MCP server speaks 2026-07-28: modern requests pass as they are, handshake sessions are translated")
                        }
                        era::Era::Handshake => {
                            tracing::info!(%server, "the MCP server speaks the handshake era: its sessions pass as they are, 2026-07-28 requests are translated")
                        }
                    }
                }
                Ok(Err(error)) => tracing::error!(%error, "the MCP server refused initialize"),
                Err(e) => tracing::error!(error = %e, "opening the MCP server failed"),
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
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route(
            path,
            get(http::stream).post(http::post).delete(http::delete),
        )
        .layer(axum::extract::DefaultBodyLimit::max(4 << 20))
        .with_state(shared)
}

#[cfg(test)]
mod tests;
