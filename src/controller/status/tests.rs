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
    serde_json::from_value(json!({"metadata": {"name": "mcp-x-abc"}, "status": status})).unwrap()
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
    use crate::mcp::probe::{McpInfo, ProbeFailure};
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
        era: crate::mcp::probe::Era::Handshake,
        handshake_too: false,
        supported_versions: vec!["2025-06-18".into()],
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
        (info.era.as_str(), info.supported_versions.clone()),
        ("handshake", vec!["2025-06-18".to_string()])
    );
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
    use crate::mcp::probe::{McpInfo, ProbeFailure};
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
        era: crate::mcp::probe::Era::Modern,
        handshake_too: false,
        supported_versions: vec!["2026-07-28".into()],
        protocol_version: "2026-07-28".into(),
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
    assert_eq!(mcp_ready(&s), ("True", "Discovered"));
    assert_eq!(s.mcp.as_ref().unwrap().era, "modern");
    check_schema(&s);
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
