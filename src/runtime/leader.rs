//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager): every replica serves
//! reads, only the holder of the Lease reconciles.

use std::future::Future;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tracing::{info, warn};

/// Name of the Lease in the runtime's namespace.
pub const LEASE_NAME: &str = "mcp-runtime-controller";
/// Seconds a Lease is valid without renewal; a standby takes over within this time.
pub const LEASE_SECONDS: u64 = 15;

/// Runs `lead()` while this replica holds the Lease; stops it when leadership is lost and waits
/// to lead again. Returns when `shutdown` completes, releasing the Lease.
pub async fn run_while_leader<F, Fut>(
    client: Client,
    namespace: &str,
    identity: String,
    mut lead: F,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let manager = LeaseManagerBuilder::new(client, LEASE_NAME)
        .with_namespace(namespace)
        .with_identity(identity.clone())
        .with_duration(LEASE_SECONDS)
        .with_grace(5)
        .with_field_manager(super::CONTROLLER_MANAGER)
        .build()
        .await?;
    let (mut is_leader, task) = manager.watch().await;
    tokio::pin!(shutdown);
    let mut running: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let leader = *is_leader.borrow_and_update();
        match (leader, running.is_some()) {
            (true, false) => {
                info!(%identity, "became leader: reconciling");
                running = Some(tokio::spawn(lead()));
            }
            (false, true) => {
                warn!(%identity, "lost leadership: stopped reconciling");
                if let Some(h) = running.take() {
                    h.abort();
                }
            }
            _ => {}
        }
        tokio::select! {
            changed = is_leader.changed() => if changed.is_err() { break },
            _ = &mut shutdown => break,
        }
    }
    if let Some(h) = running.take() {
        h.abort();
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
