use serde_json::json;

use super::*;

#[test]
fn live_defaults_do_not_count_as_foreign_entries() {
    let desired = json!([{"name": "mcp", "port": 8080, "targetPort": "mcp", "protocol": "TCP"}]);
    let live = json!([{"name": "mcp", "port": 8080, "targetPort": "mcp", "protocol": "TCP", "nodePort": 30001}]);
    assert!(same_entries(Some(&live), Some(&desired)));
    let added = json!([
        {"name": "mcp", "port": 8080, "targetPort": "mcp", "protocol": "TCP"},
        {"name": "debug", "port": 9229, "protocol": "TCP"}
    ]);
    assert!(!same_entries(Some(&added), Some(&desired)));
    let changed = json!([{"name": "mcp", "port": 9090, "targetPort": "mcp", "protocol": "TCP"}]);
    assert!(!same_entries(Some(&changed), Some(&desired)));
    assert!(same_entries(None, None));
}

#[test]
fn a_pointer_becomes_a_merge_patch_that_replaces_the_list() {
    let ports = json!([{"name": "mcp", "port": 8080}]);
    assert_eq!(
        at_pointer("/spec/ports", ports.clone()),
        json!({"spec": {"ports": ports}})
    );
    assert_eq!(
        at_pointer("/metadata/annotations/a~1b", json!("x")),
        json!({"metadata": {"annotations": {"a/b": "x"}}})
    );
}
