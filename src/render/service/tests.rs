use super::*;

fn http(extra: serde_json::Value) -> McpServerSpec {
    let mut doc = serde_json::json!({"name": "s", "image": "x:1",
        "transport": {"type": "streamable-http"}});
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    crate::render::parse_document(&doc).unwrap()
}

fn affinity(spec: &McpServerSpec, stateless: bool) -> Option<String> {
    let names = ServerNames::new(&spec.name).unwrap();
    let svc = service(spec, &names, &RenderContext::default(), stateless).unwrap();
    svc.spec.unwrap().session_affinity
}

#[test]
fn sessions_stick_unless_the_server_is_stateless_or_the_spec_says_otherwise() {
    let plain = http(serde_json::json!({}));
    assert_eq!(affinity(&plain, false).as_deref(), Some("ClientIP"));
    assert_eq!(affinity(&plain, true).as_deref(), Some("None"));
    let pinned = http(serde_json::json!({"sessionAffinity": "ClientIP"}));
    assert_eq!(affinity(&pinned, true).as_deref(), Some("ClientIP"));
    let spread = http(serde_json::json!({"sessionAffinity": "None", "replicas": 3}));
    assert_eq!(affinity(&spread, false).as_deref(), Some("None"));
}
