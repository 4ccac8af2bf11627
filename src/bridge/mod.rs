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
mod stdio;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;

use http::Shared;
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
        let (a, b) = (
            http::new_session_id().unwrap(),
            http::new_session_id().unwrap(),
        );
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
