//! What is wrong with a server's pods, in the kubelet's own words: a container's (or init
//! container's) waiting reason, an exit with an error, the memory limit, an unschedulable pod;
//! and what the Deployment says (a replica failure, a stuck rollout), or the last apply's error.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::crd::resource::LastError;
use crate::render::deployment::CONTAINER;

use super::Observed;

/// Waiting reasons that will not fix themselves without a change (the reference's list).
pub const TERMINAL_WAITING: &[&str] = &[
    "CrashLoopBackOff",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "InvalidImageName",
];
/// Waiting reasons that may clear up on their own (registry outage, slow pull).
pub const TRANSIENT_WAITING: &[&str] = &["ImagePullBackOff", "ErrImagePull"];

/// The problem to report, most telling first: this reconcile's apply error, a replica failure
/// of the Deployment, a pod's problem, a rollout past its deadline.
pub fn problem(o: &Observed<'_>) -> Option<LastError> {
    let conditions = o
        .deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.conditions.as_ref());
    let deployment_condition =
        |matches: &dyn Fn(&k8s_openapi::api::apps::v1::DeploymentCondition) -> bool| {
            conditions.and_then(|cs| cs.iter().find(|c| matches(c)))
        };
    let apply = o.apply_error.as_ref().map(|(reason, message)| LastError {
        reason: reason.clone(),
        message: message.clone(),
        ..Default::default()
    });
    let replica_failure = deployment_condition(&|c| {
        c.type_ == "ReplicaFailure" && c.status == "True"
    })
    .map(|c| LastError {
        reason: c.reason.clone().unwrap_or_else(|| "ReplicaFailure".into()),
        message: c.message.clone().unwrap_or_default(),
        ..Default::default()
    });
    // A rollout the Deployment controller gave up on (`progressDeadlineSeconds` passed): the
    // schema's "a rollout is stuck", Degraded while old pods still serve.
    let stuck = deployment_condition(&|c| {
        c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    })
    .map(|c| LastError {
        reason: "ProgressDeadlineExceeded".into(),
        message: c.message.clone().unwrap_or_default(),
        ..Default::default()
    });
    apply
        .or(replica_failure)
        .or_else(|| pod_problem(&o.pods))
        .or(stuck)
}

/// Whether a problem will not fix itself without a change.
pub fn is_terminal(reason: &str) -> bool {
    TERMINAL_WAITING.contains(&reason)
        || matches!(
            reason,
            "Unschedulable"
                | "OOMKilled"
                | "Error"
                | "FailedCreate"
                | "PolicyDenied"
                | "InvalidSpec"
        )
}

/// The most telling problem among the pods, in the kubelet's own words: a container's (or init
/// container's) waiting reason, with OOMKilled when the last crash was the memory limit; a
/// container that exited with an error and has not restarted yet (`terminated/Error`, the first
/// seconds of a crash loop, before the kubelet says CrashLoopBackOff); else an unschedulable
/// pod.
fn pod_problem(pods: &[&Pod]) -> Option<LastError> {
    let mut found: Option<LastError> = None;
    for pod in pods {
        let name = pod.metadata.name.clone();
        let Some(status) = &pod.status else { continue };
        // A pod on its way out (deleted, or finished and replaced by its ReplicaSet: evicted)
        // has containers that ended, which says nothing about the server.
        let live = pod.metadata.deletion_timestamp.is_none()
            && !matches!(status.phase.as_deref(), Some("Failed" | "Succeeded"));
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in containers {
            let Some((reason, message)) = container_problem(cs, live) else {
                continue;
            };
            let candidate = LastError {
                reason,
                message,
                container: Some(cs.name.clone()),
                pod: name.clone(),
            };
            // Terminal beats transient; the MCP container beats others.
            let better = match &found {
                None => true,
                Some(f) => {
                    (is_terminal(&candidate.reason) && !is_terminal(&f.reason))
                        || (cs.name == CONTAINER && f.container.as_deref() != Some(CONTAINER))
                }
            };
            if better {
                found = Some(candidate);
            }
        }
        if found.is_none() {
            found = unschedulable(status).map(|message| LastError {
                reason: "Unschedulable".into(),
                message,
                container: None,
                pod: name,
            });
        }
    }
    found
}

/// What is wrong with one container now, as (reason, message), if anything; an exit counts only
/// in a `live` pod.
fn container_problem(cs: &ContainerStatus, live: bool) -> Option<(String, String)> {
    let state = cs.state.as_ref()?;
    let last_oom = cs
        .last_state
        .as_ref()
        .and_then(|l| l.terminated.as_ref())
        .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"));
    if let Some(waiting) = &state.waiting {
        let reason = waiting.reason.clone()?;
        if !TERMINAL_WAITING.contains(&reason.as_str())
            && !TRANSIENT_WAITING.contains(&reason.as_str())
        {
            return None;
        }
        if last_oom {
            let message = format!(
                "container {} was killed for exceeding its memory limit ({reason})",
                cs.name
            );
            return Some(("OOMKilled".into(), message));
        }
        return Some((reason, waiting.message.clone().unwrap_or_default()));
    }
    let terminated = state
        .terminated
        .as_ref()
        .filter(|t| live && t.exit_code != 0)?;
    let reason = terminated.reason.clone().unwrap_or_else(|| "Error".into());
    let message = if reason == "OOMKilled" {
        format!(
            "container {} was killed for exceeding its memory limit (exit code {})",
            cs.name, terminated.exit_code
        )
    } else {
        match terminated.message.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => format!(
                "container {} exited with code {}: {m}",
                cs.name, terminated.exit_code
            ),
            None => format!(
                "container {} exited with code {}",
                cs.name, terminated.exit_code
            ),
        }
    };
    Some((reason, message))
}

/// The scheduler's message when the pod cannot be placed.
fn unschedulable(status: &k8s_openapi::api::core::v1::PodStatus) -> Option<String> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .map(|c| c.message.clone().unwrap_or_default())
}
