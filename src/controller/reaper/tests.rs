use super::*;
use serde_json::json;

fn pod(v: serde_json::Value) -> Pod {
    serde_json::from_value(v).unwrap()
}

fn rs_owned(name: &str, phase: &str) -> serde_json::Value {
    json!({
        "metadata": {
            "name": name, "namespace": "team-a", "uid": format!("uid-{name}"),
            "annotations": {OWNER_ANNOTATION: "github"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": "mcp-github-5d8f", "uid": "rs", "controller": true}]
        },
        "status": {"phase": phase, "reason": "Evicted",
                   "message": "The node was low on resource: memory."}
    })
}

#[test]
fn only_failed_pods_of_a_replicaset_are_reaped_with_their_reason() {
    let failed = pod(rs_owned("mcp-github-a", "Failed"));
    let running = pod(rs_owned("mcp-github-b", "Running"));
    let succeeded = pod(rs_owned("mcp-github-c", "Succeeded"));
    let mut bare = rs_owned("mcp-github", "Failed");
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("ownerReferences");
    let bare = pod(bare);
    let mut deleting = rs_owned("mcp-github-d", "Failed");
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let deleting = pod(deleting);
    let mut not_controller = rs_owned("mcp-github-e", "Failed");
    not_controller["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    let not_controller = pod(not_controller);

    let reaped = failed_pods([
        &running,
        &failed,
        &succeeded,
        &bare,
        &deleting,
        &not_controller,
    ]);
    assert_eq!(
        reaped,
        vec![FailedPod {
            name: "mcp-github-a".into(),
            namespace: "team-a".into(),
            uid: "uid-mcp-github-a".into(),
            server: Some("github".into()),
            why: "Evicted: The node was low on resource: memory.".into(),
        }]
    );
}

#[test]
fn a_pod_without_reason_is_named_failed() {
    let mut p = rs_owned("mcp-x-a", "Failed");
    p["status"] = json!({"phase": "Failed"});
    assert_eq!(failed_pods([&pod(p)])[0].why, "Failed");
}

#[test]
fn long_notes_are_cut_on_a_char_boundary() {
    let long = "é".repeat(800);
    let note = cut(&long);
    assert!(note.len() <= 1000 + '…'.len_utf8());
    assert!(note.ends_with('…'));
    assert_eq!(cut("short"), "short");
}
