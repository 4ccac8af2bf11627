//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager): every replica serves
//! reads, only the holder of the Lease reconciles.
//!
//! Leadership is all or nothing. Everything a leader starts (the controller, the MCP probes, the
//! reaper, the memo pruning) runs under one [`Term`], and [`run_while_leader`] waits for all of it
//! to end before it acts on the next change:
//! - **the Lease is lost**: the work stops at once. Another replica may already be writing, so
//!   an in-flight reconcile finishing now would be a split-brain write; it is dropped instead
//!   (its objects are server-side applied and idempotent: the new leader redoes it).
//! - **shutdown** while leading: in-flight reconciles finish, for at most [`DRAIN`], then the
//!   Lease is released so a standby takes over at once.
//!
//! Anything still running after [`DRAIN`] is aborted, so a regained leadership never finds a
//! previous term's task alive (`mcp_runtime_leader_tasks` counts them).

use std::future::Future;
use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use crate::runtime::client::identity;
pub use crate::term::Term;

/// Name of the Lease in the runtime's namespace.
pub const LEASE_NAME: &str = "mcp-runtime-controller";
/// Seconds a Lease is valid without renewal; a standby takes over within this time.
pub const LEASE_SECONDS: u64 = 15;
/// Longest wait for a term's work to end before it is aborted.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Runs `lead(term)` while this replica holds the Lease; ends the term when leadership is lost
/// and waits to lead again. Returns when `shutdown` completes, after the running term ended
/// (gracefully, at most [`DRAIN`]) and the Lease was released.
pub async fn run_while_leader<F, Fut>(
    client: Client,
    namespace: &str,
    identity: String,
    mut lead: F,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()>
where
    F: FnMut(Term) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let manager = LeaseManagerBuilder::new(client, LEASE_NAME)
        .with_namespace(namespace)
        .with_identity(identity.clone())
        .with_duration(LEASE_SECONDS)
        .with_grace(5)
        .with_field_manager(crate::runtime::CONTROLLER_MANAGER)
        .build()
        .await?;
    let (mut is_leader, task) = manager.watch().await;
    tokio::pin!(shutdown);
    let mut running: Option<(Term, JoinHandle<()>)> = None;
    loop {
        let leader = *is_leader.borrow_and_update();
        match (leader, running.take()) {
            (true, None) => {
                info!(%identity, "became leader: reconciling");
                let term = Term::new();
                running = Some((term.clone(), tokio::spawn(lead(term))));
            }
            (false, Some((term, handle))) => {
                warn!(%identity, "lost leadership: stopping everything this leader started");
                term.lose();
                finish(handle).await;
                info!(%identity, "lost leadership: stopped");
            }
            (_, still) => running = still,
        }
        tokio::select! {
            changed = is_leader.changed() => if changed.is_err() { break },
            _ = &mut shutdown => break,
        }
    }
    if let Some((term, handle)) = running.take() {
        term.end();
        finish(handle).await;
    }
    drop(is_leader);
    // Dropping the receiver makes the manager task release the Lease and end.
    match task.await {
        Ok(Ok(m)) => {
            let _ = m.release().await;
        }
        Ok(Err(e)) => warn!(error = %e, "lease manager ended with an error"),
        Err(e) => warn!(error = %e, "lease manager task failed"),
    }
    Ok(())
}

/// Waits for a term's work to end, aborting it after [`DRAIN`].
pub async fn finish(mut handle: JoinHandle<()>) {
    if tokio::time::timeout(DRAIN, &mut handle).await.is_err() {
        warn!(
            seconds = DRAIN.as_secs(),
            "the leader's work did not end in time: aborted"
        );
        handle.abort();
        let _ = handle.await;
    }
}

#[cfg(test)]
mod tests;
