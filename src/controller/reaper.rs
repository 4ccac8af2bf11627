//! The failed-pod reaper: deletes the managed pods that ended in phase `Failed` (evicted under
//! node pressure, stopped by a node shutdown). Their ReplicaSet replaced them at once, but
//! nothing removes them: the kube-controller-manager collects terminated pods only past 12,500
//! of them (`--terminated-pod-gc-threshold`), and the system we replace saw 565 evicted pods
//! pile up in one namespace before it got its reaper. Same setting as there
//! (`ARCHESTRA_ORCHESTRATOR_FAILED_POD_REAP_INTERVAL_SECONDS`, 600 s, 0 = off), but a sweep reads
//! the pod watch's cache instead of listing: it costs one DELETE per failed pod and nothing
//! when there is none. A failed pod stays for up to one interval, so `kubectl get pods` and the
//! server's Events still show what happened; each deletion is an Event on the server.
//!
//! Only pods a ReplicaSet controls are reaped: a bare pod carrying our labels is someone
//! else's (or a legacy pod the migration handles), and is left alone.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource};
use tracing::{info, warn};

use crate::crd::McpServer;
use crate::metrics::Metrics;
use crate::render::labels::OWNER_ANNOTATION;

use crate::term::Term;

/// A failed pod to delete, with what the kubelet said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedPod {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// The server it belongs to (the owner annotation of the pod template).
    pub server: Option<String>,
    /// The pod's reason and message, e.g. `Evicted: The node was low on resource: memory.`
    pub why: String,
}

/// The pods to reap: phase `Failed`, controlled by a ReplicaSet, not already being deleted.
pub fn failed_pods<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Vec<FailedPod> {
    let mut failed: Vec<FailedPod> = pods
        .into_iter()
        .filter(|p| {
            let status = p.status.as_ref();
            status.and_then(|s| s.phase.as_deref()) == Some("Failed")
                && p.metadata.deletion_timestamp.is_none()
                && p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "ReplicaSet" && o.controller == Some(true))
        })
        .filter_map(|p| {
            let status = p.status.as_ref();
            let reason = status.and_then(|s| s.reason.as_deref()).unwrap_or("Failed");
            let why = match status.and_then(|s| s.message.as_deref()) {
                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                _ => reason.to_string(),
            };
            Some(FailedPod {
                name: p.metadata.name.clone()?,
                namespace: p.metadata.namespace.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone()?,
                server: p
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(OWNER_ANNOTATION).cloned()),
                why,
            })
        })
        .collect();
    failed.sort_by(|a, b| a.name.cmp(&b.name));
    failed
}

/// What a sweep needs: the client, the caches it reads (one scope's) and where it reports.
pub struct Reaper {
    pub client: Client,
    pub interval: Duration,
    pub pods: Store<Pod>,
    pub servers: Store<McpServer>,
    pub recorder: Recorder,
    pub metrics: std::sync::Arc<Metrics>,
}

/// Sweeps every `interval` (the first sweep once the pod cache is ready) until `term` ends; a
/// sweep under way stops at once when it does (no deletion after a lost Lease).
pub async fn run(reaper: Reaper, term: Term) {
    let _running = crate::metrics::Running::new(&reaper.metrics.leader_tasks);
    let ending = term.ending();
    tokio::select! {
        _ = ending => {}
        _ = sweep_every(&reaper) => {}
    }
}

async fn sweep_every(r: &Reaper) {
    if r.pods.wait_until_ready().await.is_err() {
        return;
    }
    let mut every = tokio::time::interval(r.interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let state = r.pods.state();
        for pod in failed_pods(state.iter().map(|p| p.as_ref())) {
            let api: Api<Pod> = Api::namespaced(r.client.clone(), &pod.namespace);
            if reap(&api, &pod).await {
                r.metrics.failed_pods_reaped.inc();
                record(r, &pod).await;
            }
        }
    }
}

/// Logs a deletion and records it as an Event on the server.
async fn record(r: &Reaper, pod: &FailedPod) {
    info!(server = pod.server.as_deref().unwrap_or_default(), pod = %pod.name, why = %pod.why, "deleted a failed pod (its ReplicaSet replaced it)");
    let server = pod
        .server
        .as_deref()
        .and_then(|s| r.servers.get(&ObjectRef::new(s).within(&pod.namespace)));
    let Some(server) = server else { return };
    let event = Event {
        type_: EventType::Normal,
        reason: "FailedPodDeleted".into(),
        note: Some(cut(&format!(
            "deleted failed pod {} ({})",
            pod.name, pod.why
        ))),
        action: "Reap".into(),
        secondary: None,
    };
    if let Err(e) = r.recorder.publish(&event, &server.object_ref(&())).await {
        warn!(error = %e, "could not record the reap event");
    }
}

/// Deletes one pod if it is still the one seen (UID precondition); whether it was deleted.
async fn reap(api: &Api<Pod>, pod: &FailedPod) -> bool {
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(pod.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&pod.name, &dp).await {
        Ok(_) => true,
        // Gone already, or a new pod of the same name: nothing to do.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => false,
        Err(e) => {
            warn!(pod = %pod.name, error = %e, "could not delete a failed pod; next sweep retries");
            false
        }
    }
}

/// Event notes are bounded by the API server (1 KiB); the kubelet's message can be long.
fn cut(note: &str) -> String {
    const MAX: usize = 1000;
    if note.len() <= MAX {
        return note.to_string();
    }
    let mut end = MAX;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

#[cfg(test)]
mod tests;
