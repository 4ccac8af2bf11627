use serde_json::json;

use super::*;

#[test]
fn changes_are_named_by_pointer_never_by_value() {
    let old = json!({
        "image": "ghcr.io/example/a:1",
        "env": [{"name": "A", "value": "1"}, {"name": "KEY", "secretKeyRef": {"name": "s", "key": "KEY"}}],
        "labels": {"team/x": "a"},
        "stopped": false,
    });
    let new = json!({
        "image": "ghcr.io/example/a:2",
        "env": [{"name": "A", "value": "1"}, {"name": "KEY", "secretKeyRef": {"name": "s", "key": "KEY"}}, {"name": "B", "value": "2"}],
        "labels": {"team/x": "b"},
        "replicas": 2,
    });
    let doc =
        json!({"env": [{"name": "KEY", "secretValue": "hunter2"}, {"name": "B", "value": "2"}]});
    let a = Audited::change("srv", &old, &new, &doc);
    assert_eq!(
        a.changed,
        [
            "/env/2/name",
            "/env/2/value",
            "/image",
            "/labels/team~1x",
            "/replicas",
            "/stopped"
        ]
    );
    assert_eq!(a.secret_values, ["KEY"]);
    let text = format!("{a:?}");
    assert!(!text.contains("hunter2") && !text.contains("a:2"), "{text}");
    // A create names every leaf it wrote.
    let created = Audited::change(
        "srv",
        &Value::Null,
        &json!({"spec": {"image": "i", "args": ["a"]}}),
        &json!({}),
    );
    assert_eq!(created.changed, ["/spec/args/0", "/spec/image"]);
    // Nothing changed: nothing named.
    assert!(
        Audited::change("srv", &old, &old, &json!({}))
            .changed
            .is_empty()
    );
}

#[test]
fn writes_are_audited_and_reads_and_previews_are_not() {
    assert_eq!(verb(&Method::POST, "/v1/servers"), Some("create"));
    assert_eq!(verb(&Method::PATCH, "/v1/servers/{name}"), Some("patch"));
    assert_eq!(verb(&Method::POST, "/v1/servers/{name}/stop"), Some("stop"));
    assert_eq!(verb(&Method::DELETE, "/v1/servers/{name}"), Some("delete"));
    assert_eq!(verb(&Method::GET, "/v1/servers/{name}"), None);
    assert_eq!(verb(&Method::POST, "/v1/render"), None);
}

#[test]
fn outcomes_by_status() {
    let of = |s: u16| outcome(StatusCode::from_u16(s).unwrap());
    assert_eq!(
        [201, 204, 401, 404, 409, 412, 422, 413, 500, 503].map(of),
        [
            "ok",
            "ok",
            "denied",
            "not-found",
            "conflict",
            "conflict",
            "rejected",
            "rejected",
            "error",
            "error"
        ]
    );
}

#[test]
fn a_long_change_is_cut_and_counted() {
    let changed: Vec<String> = (0..70).map(|i| format!("/env/{i}")).collect();
    let text = fields(&changed);
    assert!(text.ends_with("/env/63 and 6 more"), "{text}");
}
