//! Status of one server, derived from what the watches saw: its Deployment and its Pods.
//!
//! Pure: the same observations give the same status, and `lastTransitionTime` moves only when a
//! condition's status really changes, so an idle server's status is never rewritten. Conditions
//! are the contract (Accepted, Progressing, Available, Ready); the phase is derived from them.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::resource::{LastError, McpInfoStatus, McpServerStatus, Phase};
use crate::render::deployment::CONTAINER;

use super::mcp_readiness::McpObservation;

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

/// Whether the spec was accepted, and if not why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acceptance {
    Accepted,
    Rejected { reason: String, message: String },
}

/// Everything the status is computed from.
pub struct Observed<'a> {
    pub generation: Option<i64>,
    pub wanted_replicas: i32,
    pub stopped: bool,
    pub acceptance: Acceptance,
    pub deployment: Option<&'a Deployment>,
    pub pods: Vec<&'a Pod>,
    pub endpoint: Option<String>,
    /// The NodePort URL, when Services are NodePorts and a node host is set.
    pub node_endpoint: Option<String>,
    pub deployment_name: String,
    pub service_name: Option<String>,
    pub secret_name: Option<String>,
    /// An apply or migration error of this reconcile.
    pub apply_error: Option<(String, String)>,
    /// What the MCP probe found (the `McpReady` condition and `status.mcp`).
    pub mcp: McpObservation,
    /// Whether `Ready` (and the phase Running) also needs the MCP probe's answer
    /// (`MCP_RUNTIME_MCP_PROBE_GATES_READY`).
    pub mcp_gates_ready: bool,
}

/// Derives the status; `previous` keeps transition times of unchanged conditions.
pub fn derive(o: &Observed<'_>, previous: Option<&McpServerStatus>, now: &Time) -> McpServerStatus {
    let generation = o.generation;
    let mut conditions = Vec::new();
    // `status` is "True", "False" or "Unknown".
    let mut cond = |type_: &str, status: &str, reason: &str, message: String| {
        let last = previous
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        conditions.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            observed_generation: generation,
            last_transition_time: last,
        });
    };

    let base = McpServerStatus {
        observed_generation: generation,
        deployment_name: Some(o.deployment_name.clone()),
        service_name: o.service_name.clone(),
        secret_name: o.secret_name.clone(),
        endpoint: o.endpoint.clone(),
        node_endpoint: o.node_endpoint.clone(),
        ..Default::default()
    };

    if let Acceptance::Rejected { reason, message } = &o.acceptance {
        cond("Accepted", "False", reason, message.clone());
        cond(
            "Ready",
            "False",
            reason,
            "not deployed: the spec was not accepted".into(),
        );
        return McpServerStatus {
            phase: Phase::Failed,
            conditions,
            last_error: Some(LastError {
                reason: reason.clone(),
                message: message.clone(),
                ..Default::default()
            }),
            ..base
        };
    }
    cond("Accepted", "True", "Valid", "spec accepted".into());

    let wanted = if o.stopped { 0 } else { o.wanted_replicas };
    let dstatus = o.deployment.and_then(|d| d.status.as_ref());
    let ready = dstatus.and_then(|s| s.ready_replicas).unwrap_or(0);
    let updated = dstatus.and_then(|s| s.updated_replicas).unwrap_or(0);
    let total = dstatus.and_then(|s| s.replicas).unwrap_or(0);
    let dep_generation = o.deployment.and_then(|d| d.metadata.generation);
    let observed_gen = dstatus.and_then(|s| s.observed_generation);
    let rolled_out = o.deployment.is_some()
        && observed_gen >= dep_generation
        && updated >= wanted
        && total == updated;

    // Progressing
    match o.deployment {
        None => cond(
            "Progressing",
            "True",
            "Creating",
            "the Deployment is being created".into(),
        ),
        Some(_) if rolled_out => cond(
            "Progressing",
            "False",
            "RolloutComplete",
            format!("{updated}/{wanted} replicas up to date"),
        ),
        Some(_) => cond(
            "Progressing",
            "True",
            "RollingOut",
            format!("{updated}/{wanted} replicas updated"),
        ),
    }

    let pod_problem = pod_problem(&o.pods);
    let replica_failure = dstatus
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        })
        .map(|c| LastError {
            reason: c.reason.clone().unwrap_or_else(|| "ReplicaFailure".into()),
            message: c.message.clone().unwrap_or_default(),
            ..Default::default()
        });
    let apply_problem = o.apply_error.as_ref().map(|(reason, message)| LastError {
        reason: reason.clone(),
        message: message.clone(),
        ..Default::default()
    });
    // A rollout the Deployment controller gave up on (`progressDeadlineSeconds` passed): the
    // schema's "a rollout is stuck", Degraded while old pods still serve.
    let stuck = dstatus
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter().find(|c| {
                c.type_ == "Progressing"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            })
        })
        .map(|c| LastError {
            reason: "ProgressDeadlineExceeded".into(),
            message: c.message.clone().unwrap_or_default(),
            ..Default::default()
        });
    let problem = apply_problem.or(replica_failure).or(pod_problem).or(stuck);

    // Available
    let available = dstatus.and_then(|s| s.available_replicas).unwrap_or(0);
    if wanted == 0 {
        cond(
            "Available",
            "False",
            "Stopped",
            "scaled to zero on request".into(),
        );
    } else if available > 0 {
        cond(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            format!("{available}/{wanted} available"),
        );
    } else {
        let reason = problem
            .as_ref()
            .map(|p| p.reason.as_str())
            .unwrap_or("NoReplicasAvailable");
        cond(
            "Available",
            "False",
            reason,
            format!("0/{wanted} available"),
        );
    }

    // Ready
    let terminal = problem.as_ref().is_some_and(|p| is_terminal(&p.reason));
    let phase = if o.stopped && total == 0 {
        cond("Ready", "False", "Stopped", "stopped on request".into());
        Phase::Stopped
    } else if o.stopped {
        cond(
            "Ready",
            "False",
            "Stopping",
            format!("{total} pod(s) still terminating"),
        );
        Phase::Stopped
    } else if ready >= wanted && problem.is_none() {
        // All wanted replicas serve. A rollout in progress (a restart, a new spec) keeps the
        // server Running: the old pods serve until new ones are ready, and the Progressing
        // condition says RollingOut. Only a stuck or failing rollout is a problem (above).
        // Gated: ready pods are not enough; the server must have answered over MCP (servers
        // with nothing to probe, or with probes off, are not held back).
        match &o.mcp {
            McpObservation::Probing if o.mcp_gates_ready => {
                cond(
                    "Ready",
                    "False",
                    "McpProbing",
                    format!("{ready}/{wanted} replicas ready; waiting for an MCP initialize"),
                );
                Phase::Starting
            }
            McpObservation::Failed(f) if o.mcp_gates_ready => {
                cond("Ready", "False", f.reason(), f.to_string());
                Phase::Degraded
            }
            _ => {
                let rolling = if rolled_out {
                    String::new()
                } else {
                    format!("; rolling out, {updated}/{wanted} updated")
                };
                cond(
                    "Ready",
                    "True",
                    "AllReplicasReady",
                    format!("{ready}/{wanted} replicas ready{rolling}"),
                );
                Phase::Running
            }
        }
    } else if let Some(p) = &problem {
        cond("Ready", "False", &p.reason, p.message.clone());
        if terminal {
            Phase::Failed
        } else if ready > 0 {
            Phase::Degraded
        } else if o.pods.is_empty() {
            Phase::Pending
        } else {
            Phase::Starting
        }
    } else if ready > 0 {
        cond(
            "Ready",
            "False",
            "PartiallyReady",
            format!("{ready}/{wanted} replicas ready"),
        );
        Phase::Degraded
    } else if o.pods.is_empty() {
        cond("Ready", "False", "Pending", "no pod yet".into());
        Phase::Pending
    } else {
        cond(
            "Ready",
            "False",
            "Starting",
            format!("0/{wanted} replicas ready"),
        );
        Phase::Starting
    };

    // McpReady: reported beside Ready, never changing it or the phase (see mcp_readiness).
    let (status, reason, message) = mcp_condition(&o.mcp, o.stopped);
    cond("McpReady", status, reason, message);
    let mcp = match &o.mcp {
        McpObservation::Answered(info) => Some(McpInfoStatus::from(info)),
        _ => None,
    };

    McpServerStatus {
        phase,
        conditions,
        replicas: Some(wanted),
        ready_replicas: Some(ready),
        last_error: problem,
        mcp,
        ..base
    }
}

/// The `McpReady` condition's status, reason and message.
fn mcp_condition(o: &McpObservation, stopped: bool) -> (&'static str, &'static str, String) {
    match o {
        McpObservation::Answered(i) => {
            let tools = match &i.tools {
                Some((n, _)) => format!(", {n} tool(s)"),
                None => String::new(),
            };
            let version = if i.server_version.is_empty() {
                String::new()
            } else {
                format!(" {}", i.server_version)
            };
            (
                "True",
                "Initialized",
                format!(
                    "{}{version} answered initialize with protocol {}{tools}",
                    i.server_name, i.protocol_version
                ),
            )
        }
        McpObservation::Failed(f) => ("False", f.reason(), f.to_string()),
        McpObservation::Probing => (
            "Unknown",
            "Probing",
            "available; waiting for the first MCP initialize through the endpoint".into(),
        ),
        McpObservation::NotServing if stopped => ("False", "Stopped", "stopped on request".into()),
        McpObservation::NotServing => (
            "False",
            "NotServing",
            "no replica available to probe".into(),
        ),
        McpObservation::NoEndpoint => (
            "Unknown",
            "NoEndpoint",
            "a stdio server without the bridge has no endpoint to probe".into(),
        ),
        McpObservation::Disabled => (
            "Unknown",
            "ProbeDisabled",
            "MCP probes are off (MCP_RUNTIME_MCP_PROBE_INTERVAL=0)".into(),
        ),
    }
}

fn is_terminal(reason: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Time {
        serde_json::from_value(json!("2026-11-24T10:00:00Z")).unwrap()
    }

    fn deployment(ready: i32, replicas: i32) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "mcp-x", "generation": 2},
            "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": ready, "availableReplicas": ready}
        }))
        .unwrap()
    }

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "mcp-x-abc"}, "status": status}))
            .unwrap()
    }

    fn observed<'a>(d: Option<&'a Deployment>, pods: Vec<&'a Pod>) -> Observed<'a> {
        Observed {
            generation: Some(3),
            wanted_replicas: 1,
            stopped: false,
            acceptance: Acceptance::Accepted,
            deployment: d,
            pods,
            endpoint: None,
            node_endpoint: None,
            deployment_name: "mcp-x".into(),
            service_name: None,
            secret_name: None,
            apply_error: None,
            mcp: McpObservation::Probing,
            mcp_gates_ready: false,
        }
    }

    fn check_schema(s: &McpServerStatus) {
        let v = serde_json::to_value(s).unwrap();
        crate::schema::SchemaKind::RuntimeStatus
            .validate(&v)
            .unwrap();
    }

    #[test]
    fn ready_deployment_is_running() {
        let d = deployment(1, 1);
        let p = pod(json!({"phase": "Running"}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert_eq!(s.phase, Phase::Running);
        assert!(
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        );
        assert_eq!(s.observed_generation, Some(3));
        check_schema(&s);
    }

    /// A restart's rollout: the old pod is ready, the new one not yet. The server serves, so it
    /// stays Running (it read Degraded for a moment before, which broke `phase=Running` counts).
    #[test]
    fn a_healthy_rollout_stays_running() {
        let d = mid_rollout(json!([]));
        let old = pod(json!({"phase": "Running"}));
        let new = pod(json!({"phase": "Pending"}));
        let s = derive(&observed(Some(&d), vec![&old, &new]), None, &now());
        assert_eq!(s.phase, Phase::Running);
        assert!(has(&s, "Progressing", "True", "RollingOut"));
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert!(
            ready.message.contains("rolling out, 1/1 updated"),
            "{}",
            ready.message
        );
        check_schema(&s);
    }

    /// A rollout past its progress deadline is the schema's "stuck rollout": Degraded while the
    /// old pod still serves, with the Deployment's own message.
    #[test]
    fn a_stuck_rollout_is_degraded() {
        let d = mid_rollout(json!([{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet \"mcp-x-2\" has timed out progressing."}]));
        let old = pod(json!({"phase": "Running"}));
        let s = derive(&observed(Some(&d), vec![&old]), None, &now());
        assert_eq!(s.phase, Phase::Degraded);
        let e = s.last_error.clone().unwrap();
        assert_eq!(e.reason, "ProgressDeadlineExceeded");
        assert!(e.message.contains("timed out progressing"), "{}", e.message);
        assert!(has(&s, "Ready", "False", "ProgressDeadlineExceeded"));
        check_schema(&s);
    }

    /// One wanted replica, halfway through a rollout: the old pod ready, the new one not yet.
    fn mid_rollout(conditions: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "mcp-x", "generation": 3},
            "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 1,
                       "readyReplicas": 1, "availableReplicas": 1, "conditions": conditions}
        }))
        .unwrap()
    }

    fn has(s: &McpServerStatus, type_: &str, status: &str, reason: &str) -> bool {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == status && c.reason == reason)
    }

    #[test]
    fn crash_loop_is_failed_with_the_real_reason() {
        let d = deployment(0, 1);
        let p = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "mcp-server", "image": "x", "imageID": "", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
        }]}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert_eq!(s.phase, Phase::Failed);
        let e = s.last_error.clone().unwrap();
        assert_eq!(
            (e.reason.as_str(), e.pod.as_deref()),
            ("CrashLoopBackOff", Some("mcp-x-abc"))
        );
        check_schema(&s);
    }

    #[test]
    fn oom_kill_is_named() {
        let d = deployment(0, 1);
        let p = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "mcp-server", "image": "x", "imageID": "", "ready": false, "restartCount": 3,
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}
        }]}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert_eq!(s.last_error.unwrap().reason, "OOMKilled");
        assert_eq!(s.phase, Phase::Failed);
    }

    #[test]
    fn a_crash_before_the_back_off_is_failed_with_its_exit_code() {
        let d = deployment(0, 1);
        let p = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "mcp-server", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "reason": "Error"}}
        }]}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert_eq!(s.phase, Phase::Failed);
        let e = s.last_error.unwrap();
        assert_eq!(
            (e.reason.as_str(), e.message.as_str()),
            ("Error", "container mcp-server exited with code 1")
        );
    }

    #[test]
    fn an_oom_kill_seen_as_terminated_is_named() {
        let d = deployment(0, 1);
        let p = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "mcp-server", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
        }]}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert_eq!(s.phase, Phase::Failed);
        assert_eq!(s.last_error.unwrap().reason, "OOMKilled");
    }

    #[test]
    fn containers_of_a_pod_being_deleted_say_nothing() {
        let d = deployment(1, 1);
        let mut p = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "mcp-server", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 143, "reason": "Error"}}
        }]}));
        p.metadata.deletion_timestamp = Some(now());
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert!(s.last_error.is_none(), "{:?}", s.last_error);
    }

    #[test]
    fn a_clean_exit_is_no_problem() {
        let d = deployment(0, 1);
        let p = pod(json!({"phase": "Running", "initContainerStatuses": [{
            "name": "bridge", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
        }]}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert!(s.last_error.is_none(), "{:?}", s.last_error);
    }

    #[test]
    fn a_failing_init_container_is_named() {
        let d = deployment(0, 1);
        let p = pod(json!({"phase": "Pending", "initContainerStatuses": [{
            "name": "bridge", "image": "localhost/missing:1", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "image not present"}}
        }]}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert_eq!(s.phase, Phase::Failed);
        let e = s.last_error.unwrap();
        assert_eq!(
            (e.reason.as_str(), e.container.as_deref()),
            ("ErrImageNeverPull", Some("bridge"))
        );
    }

    #[test]
    fn image_pull_backoff_is_starting_not_failed() {
        let d = deployment(0, 1);
        let p = pod(json!({"phase": "Pending", "containerStatuses": [{
            "name": "mcp-server", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}
        }]}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert_eq!(s.phase, Phase::Starting);
        assert_eq!(s.last_error.unwrap().reason, "ImagePullBackOff");
    }

    #[test]
    fn unschedulable_is_failed() {
        let d = deployment(0, 1);
        let p = pod(json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes"
        }]}));
        let s = derive(&observed(Some(&d), vec![&p]), None, &now());
        assert_eq!(s.phase, Phase::Failed);
        assert_eq!(s.last_error.unwrap().message, "0/1 nodes");
    }

    #[test]
    fn stopped_and_rejected() {
        let d = deployment(0, 0);
        let mut o = observed(Some(&d), vec![]);
        o.stopped = true;
        let s = derive(&o, None, &now());
        assert_eq!(s.phase, Phase::Stopped);
        check_schema(&s);
        o.acceptance = Acceptance::Rejected {
            reason: "InvalidSpec".into(),
            message: "/transport/port: must be at most 65535".into(),
        };
        let s = derive(&o, None, &now());
        assert_eq!(s.phase, Phase::Failed);
        assert!(
            s.conditions
                .iter()
                .any(|c| c.type_ == "Accepted" && c.status == "False")
        );
        check_schema(&s);
    }

    fn mcp_ready(s: &McpServerStatus) -> (&str, &str) {
        let c = s
            .conditions
            .iter()
            .find(|c| c.type_ == "McpReady")
            .expect("an McpReady condition");
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn mcp_readiness_is_reported_beside_ready_without_changing_the_phase() {
        use crate::runtime::mcp_probe::{McpInfo, ProbeFailure};
        let d = deployment(1, 1);
        let mut o = observed(Some(&d), vec![]);
        let s = derive(&o, None, &now());
        assert_eq!(
            (s.phase, mcp_ready(&s)),
            (Phase::Running, ("Unknown", "Probing"))
        );
        assert_eq!(s.mcp, None);

        o.mcp = McpObservation::Failed(ProbeFailure::NotReachable("dns error".into()));
        let s = derive(&o, Some(&s), &now());
        assert_eq!(
            (s.phase, mcp_ready(&s)),
            (Phase::Running, ("False", "NotReachable")),
            "an unreachable endpoint does not fail a running server"
        );
        check_schema(&s);

        o.mcp = McpObservation::Answered(McpInfo {
            protocol_version: "2025-06-18".into(),
            server_name: "fixture".into(),
            server_version: "1.2.0".into(),
            capabilities: vec!["tools".into(), "tools.listChanged".into()],
            tools: Some((5, "ab".repeat(32))),
        });
        let s = derive(&o, Some(&s), &now());
        assert_eq!(mcp_ready(&s), ("True", "Initialized"));
        let info = s.mcp.clone().expect("status.mcp");
        assert_eq!(
            (info.server_info.name.as_str(), info.tools),
            ("fixture", Some(5))
        );
        let message = &s
            .conditions
            .iter()
            .find(|c| c.type_ == "McpReady")
            .unwrap()
            .message;
        assert_eq!(
            message,
            "fixture 1.2.0 answered initialize with protocol 2025-06-18, 5 tool(s)"
        );
        check_schema(&s);

        for (observation, expect) in [
            (McpObservation::NoEndpoint, ("Unknown", "NoEndpoint")),
            (McpObservation::Disabled, ("Unknown", "ProbeDisabled")),
            (McpObservation::NotServing, ("False", "NotServing")),
            (
                McpObservation::Failed(ProbeFailure::NotMcp("HTTP 404".into())),
                ("False", "NotMcp"),
            ),
            (
                McpObservation::Failed(ProbeFailure::InitializeError("-32602".into())),
                ("False", "InitializeError"),
            ),
        ] {
            o.mcp = observation;
            let s = derive(&o, None, &now());
            assert_eq!(mcp_ready(&s), expect);
            assert_eq!(s.mcp, None, "status.mcp only while McpReady is True");
            check_schema(&s);
        }
    }

    #[test]
    fn a_gated_ready_waits_for_the_mcp_answer() {
        use crate::runtime::mcp_probe::{McpInfo, ProbeFailure};
        let d = deployment(1, 1);
        let mut o = observed(Some(&d), vec![]);
        o.mcp_gates_ready = true;
        let ready = |s: &McpServerStatus| {
            let c = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
            (s.phase, c.status.clone(), c.reason.clone())
        };
        let s = derive(&o, None, &now());
        assert_eq!(
            ready(&s),
            (Phase::Starting, "False".into(), "McpProbing".into())
        );
        o.mcp = McpObservation::Failed(ProbeFailure::NotMcp("HTTP 404".into()));
        let s = derive(&o, None, &now());
        assert_eq!(
            ready(&s),
            (Phase::Degraded, "False".into(), "NotMcp".into())
        );
        check_schema(&s);
        o.mcp = McpObservation::Answered(McpInfo {
            protocol_version: "2025-06-18".into(),
            server_name: "s".into(),
            server_version: String::new(),
            capabilities: vec![],
            tools: None,
        });
        let s = derive(&o, None, &now());
        assert_eq!(
            ready(&s),
            (Phase::Running, "True".into(), "AllReplicasReady".into())
        );
        // Nothing to probe: not held back.
        o.mcp = McpObservation::NoEndpoint;
        assert_eq!(derive(&o, None, &now()).phase, Phase::Running);
        // Not gated: the same failure leaves the server Running.
        o.mcp_gates_ready = false;
        o.mcp = McpObservation::Failed(ProbeFailure::NotMcp("HTTP 404".into()));
        assert_eq!(derive(&o, None, &now()).phase, Phase::Running);
    }

    #[test]
    fn transition_times_move_only_on_change() {
        let d = deployment(1, 1);
        let first = derive(&observed(Some(&d), vec![]), None, &now());
        let later: Time = serde_json::from_value(json!("2026-11-24T11:00:00Z")).unwrap();
        let again = derive(&observed(Some(&d), vec![]), Some(&first), &later);
        assert_eq!(first, again, "nothing changed, nothing moves");
        let d0 = deployment(0, 1);
        let changed = derive(&observed(Some(&d0), vec![]), Some(&first), &later);
        let ready = changed
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.last_transition_time, later);
        let accepted = changed
            .conditions
            .iter()
            .find(|c| c.type_ == "Accepted")
            .unwrap();
        assert_eq!(accepted.last_transition_time, now());
    }
}
