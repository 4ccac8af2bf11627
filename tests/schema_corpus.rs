//! Every schema accepts its own examples and the repository's examples, and rejects a corpus of
//! broken documents with exactly the JSON paths and rules listed here. Each invalid case breaks
//! one thing of a valid base document, so a rule removed from a schema makes its case fail.

use mcp_runtime::schema::SchemaKind;
use rstest::rstest;
use serde_json::{Value, json};

fn server() -> Value {
    json!({
        "name": "github",
        "image": "ghcr.io/github/github-mcp-server:v0.20.1",
        "transport": { "type": "streamable-http", "port": 8082, "path": "/mcp" },
        "env": [{ "name": "A", "value": "1" }]
    })
}

fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = base.pointer_mut(parent).unwrap();
    match target {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{parent} is not a container"),
    }
    base
}

fn without(mut base: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    base.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap()
        .remove(key);
    base
}

#[test]
fn every_schema_accepts_its_examples() {
    for kind in SchemaKind::ALL {
        let examples = kind.document()["examples"].as_array().unwrap();
        assert!(!examples.is_empty(), "{} has no examples", kind.file_name());
        for (i, e) in examples.iter().enumerate() {
            if let Err(v) = kind.validate(e) {
                panic!("example {i} of {} is invalid: {v}", kind.file_name());
            }
        }
    }
}

#[test]
fn every_schema_has_id_title_and_draft() {
    for kind in SchemaKind::ALL {
        let d = kind.document();
        assert_eq!(d["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(
            d["$id"],
            format!("https://mcp-runtime.dev/schemas/{}", kind.file_name())
        );
        assert!(d["title"].is_string() && d["description"].is_string());
    }
}

#[test]
fn the_shipped_schema_files_are_the_ones_compiled_in() {
    for kind in SchemaKind::ALL {
        let on_disk = std::fs::read_to_string(format!(
            "{}/schemas/{}",
            env!("CARGO_MANIFEST_DIR"),
            kind.file_name()
        ))
        .unwrap();
        assert_eq!(on_disk, kind.source());
    }
}

#[test]
fn repository_examples_are_valid_servers() {
    let dir = format!("{}/examples", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let doc = mcp_runtime::input::read_document(&path).unwrap();
        if let Err(v) = SchemaKind::McpServer.validate(&doc) {
            panic!("{} is invalid: {v}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 3);
}

#[rstest]
#[case::wrong_type_name(with(server(), "/name", json!(42)), &[("/name", "type")])]
#[case::empty_name(with(server(), "/name", json!("")), &[("/name", "minLength"), ("/name", "pattern")])]
#[case::name_without_ascii(with(server(), "/name", json!("测试")), &[("/name", "pattern")])]
#[case::name_with_control_char(with(server(), "/name", json!("a\u{7}b")), &[("/name", "pattern")])]
#[case::name_too_long(with(server(), "/name", json!("a".repeat(513))), &[("/name", "maxLength")])]
#[case::missing_name(without(server(), "/name"), &[("/name", "required")])]
#[case::missing_image_and_command(without(server(), "/image"), &[("", "anyOf")])]
#[case::bad_image(with(server(), "/image", json!("Not An Image")), &[("/image", "pattern")])]
#[case::unknown_field(with(server(), "/imagee", json!("x")), &[("/imagee", "additionalProperties")])]
#[case::port_too_high(with(server(), "/transport/port", json!(70000)), &[("/transport/port", "maximum")])]
#[case::port_zero(with(server(), "/transport/port", json!(0)), &[("/transport/port", "minimum")])]
#[case::port_string(with(server(), "/transport/port", json!("8080")), &[("/transport/port", "type")])]
#[case::path_relative(with(server(), "/transport/path", json!("mcp")), &[("/transport/path", "pattern")])]
#[case::unknown_transport(with(server(), "/transport", json!({"type": "websocket"})), &[("/transport", "oneOf")])]
#[case::stdio_with_port(with(server(), "/transport", json!({"type": "stdio", "port": 1})), &[("/transport/port", "additionalProperties")])]
#[case::env_two_sources(with(server(), "/env/0", json!({"name": "A", "value": "1", "secretValue": "2"})), &[("/env/0", "oneOf")])]
#[case::env_no_source(with(server(), "/env/0", json!({"name": "A"})), &[("/env/0", "oneOf")])]
#[case::env_bad_name(with(server(), "/env/0/name", json!("1A")), &[("/env/0/name", "pattern")])]
#[case::env_plain_mounted(with(server(), "/env/0/mountPath", json!("/x")), &[("/env/0/mountPath", "not")])]
#[case::env_ref_without_key(with(server(), "/env/0", json!({"name": "A", "secretKeyRef": {"name": "s"}})), &[("/env/0/secretKeyRef/key", "required")])]
#[case::replicas_zero(with(server(), "/replicas", json!(0)), &[("/replicas", "minimum")])]
#[case::replicas_fraction(with(server(), "/replicas", json!(1.5)), &[("/replicas", "type")])]
#[case::bad_quantity(with(server(), "/resources", json!({"requests": {"memory": "lots"}})), &[("/resources/requests/memory", "pattern")])]
#[case::unknown_resource(with(server(), "/resources", json!({"limits": {"gpu": "1"}})), &[("/resources/limits/gpu", "additionalProperties")])]
#[case::reserved_label(with(server(), "/labels", json!({"app.kubernetes.io/name": "x"})), &[("/labels/app.kubernetes.io~1name", "propertyNames")])]
#[case::bad_label_value(with(server(), "/labels", json!({"team": "a b"})), &[("/labels/team", "pattern")])]
#[case::bad_toleration_effect(with(server(), "/tolerations", json!([{"effect": "Sometimes"}])), &[("/tolerations/0/effect", "enum")])]
#[case::pull_secret_without_password(with(server(), "/imagePullSecrets", json!([{"registry": "r.io", "username": "u"}])), &[("/imagePullSecrets/0/password", "required")])]
#[case::probe_two_handlers(with(server(), "/probes", json!({"readiness": {"tcpSocket": {"port": 1}, "exec": {"command": ["x"]}}})), &[("/probes/readiness", "oneOf")])]
#[case::root_user(with(server(), "/securityContext", json!({"runAsUser": 0})), &[("/securityContext/runAsUser", "minimum")])]
#[case::privileged(with(server(), "/securityContext", json!({"privileged": true})), &[("/securityContext/privileged", "additionalProperties")])]
#[case::several_at_once(
    with(with(without(server(), "/name"), "/replicas", json!(-1)), "/transport/port", json!(99999)),
    &[("/name", "required"), ("/replicas", "minimum"), ("/transport/port", "maximum")]
)]
#[case::not_an_object(json!(["github"]), &[("", "type")])]
fn invalid_servers_are_rejected_with_exact_paths(
    #[case] doc: Value,
    #[case] expected: &[(&str, &str)],
) {
    let err = SchemaKind::McpServer
        .validate(&doc)
        .expect_err("document should be invalid");
    assert_eq!(err.pairs(), expected.to_vec(), "{err}");
}

#[test]
fn violations_never_quote_the_value() {
    let doc = with(
        server(),
        "/env/0",
        json!({"name": "A", "secretValue": 12345678}),
    );
    let err = SchemaKind::McpServer.validate(&doc).unwrap_err();
    assert!(!err.to_string().contains("12345678"), "{err}");
    let doc = with(server(), "/image", json!("hunter2 hunter2"));
    let err = SchemaKind::McpServer.validate(&doc).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

fn status() -> Value {
    SchemaKind::RuntimeStatus.document()["examples"][0].clone()
}

#[rstest]
#[case::bad_phase(with(status(), "/phase", json!("Exploded")), &[("/phase", "enum")])]
#[case::missing_conditions(without(status(), "/conditions"), &[("/conditions", "required")])]
#[case::bad_condition_status(with(status(), "/conditions/0/status", json!("Yes")), &[("/conditions/0/status", "enum")])]
#[case::condition_without_time(without(status(), "/conditions/0/lastTransitionTime"), &[("/conditions/0/lastTransitionTime", "required")])]
#[case::bad_time(with(status(), "/conditions/0/lastTransitionTime", json!("yesterday")), &[("/conditions/0/lastTransitionTime", "format")])]
#[case::bad_endpoint(with(status(), "/endpoint", json!("mcp-github:8082")), &[("/endpoint", "pattern")])]
#[case::negative_ready(with(status(), "/readyReplicas", json!(-1)), &[("/readyReplicas", "minimum")])]
#[case::lowercase_reason(with(status(), "/lastError", json!({"reason": "crashed", "message": "x"})), &[("/lastError/reason", "pattern")])]
fn invalid_statuses_are_rejected(#[case] doc: Value, #[case] expected: &[(&str, &str)]) {
    let err = SchemaKind::RuntimeStatus.validate(&doc).unwrap_err();
    assert_eq!(err.pairs(), expected.to_vec(), "{err}");
}

fn config() -> Value {
    SchemaKind::RuntimeConfig.document()["examples"][0].clone()
}

#[rstest]
#[case::bad_namespace(with(config(), "/namespace", json!("Bad_NS")), &[("/namespace", "pattern")])]
#[case::file_without_path(with(config(), "/kubeconfig", json!({"source": "file"})), &[("/kubeconfig/path", "required")])]
#[case::unknown_source(with(config(), "/kubeconfig", json!({"source": "magic"})), &[("/kubeconfig/source", "enum")])]
#[case::bad_listen(with(config(), "/listen", json!("8080")), &[("/listen", "pattern")])]
#[case::missing_defaults(without(config(), "/defaults"), &[("/defaults", "required")])]
#[case::zero_concurrency(with(config(), "/reconcileConcurrency", json!(0)), &[("/reconcileConcurrency", "minimum")])]
fn invalid_configs_are_rejected(#[case] doc: Value, #[case] expected: &[(&str, &str)]) {
    let err = SchemaKind::RuntimeConfig.validate(&doc).unwrap_err();
    assert_eq!(err.pairs(), expected.to_vec(), "{err}");
}

fn plugin() -> Value {
    SchemaKind::Plugin.document()["examples"][0].clone()
}

#[rstest]
#[case::bad_name(with(plugin(), "/name", json!("Org Labels")), &[("/name", "pattern")])]
#[case::bad_version(with(plugin(), "/version", json!("1.0")), &[("/version", "pattern")])]
#[case::bad_digest(with(plugin(), "/digest", json!("md5:abc")), &[("/digest", "pattern")])]
#[case::unknown_hook(with(plugin(), "/hooks", json!(["mutate-everything"])), &[("/hooks/0", "enum")])]
#[case::no_hooks(with(plugin(), "/hooks", json!([])), &[("/hooks", "minItems")])]
#[case::duplicate_hooks(with(plugin(), "/hooks", json!(["mutate-service", "mutate-service"])), &[("/hooks", "uniqueItems")])]
#[case::bad_policy(with(plugin(), "/failurePolicy", json!("retry")), &[("/failurePolicy", "enum")])]
#[case::bad_scope(with(plugin(), "/writeScope", json!(["metadata/labels"])), &[("/writeScope/0", "pattern")])]
#[case::timeout_too_long(with(plugin(), "/limits/timeoutMs", json!(60000)), &[("/limits/timeoutMs", "maximum")])]
#[case::absolute_component(with(plugin(), "/component", json!("/etc/passwd")), &[("/component", "pattern")])]
#[case::bad_contract(with(plugin(), "/contract", json!("wasi:http@0.2.0")), &[("/contract", "pattern")])]
#[case::component_and_webhook(with(plugin(), "/webhook", json!({"url": "https://p.example/h"})), &[("", "oneOf")])]
#[case::neither_component_nor_webhook(without(without(plugin(), "/component"), "/digest"), &[("/webhook", "required")])]
#[case::webhook_bad_url(with(without(without(plugin(), "/component"), "/digest"), "/webhook", json!({"url": "ftp://x"})), &[("/webhook/url", "pattern")])]
fn invalid_plugins_are_rejected(#[case] doc: Value, #[case] expected: &[(&str, &str)]) {
    let err = SchemaKind::Plugin.validate(&doc).unwrap_err();
    assert_eq!(err.pairs(), expected.to_vec(), "{err}");
}
