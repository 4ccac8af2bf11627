//! The bridge's own process and its child's: signals, ending the child, the exit code to leave
//! with, and the copy of this binary an init container makes.

use std::time::Duration;

pub(super) async fn shutdown_signal() {
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
pub(super) async fn terminate(child: &mut tokio::process::Child) -> std::process::ExitStatus {
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
pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
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
