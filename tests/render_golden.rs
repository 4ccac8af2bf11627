//! Golden files for rendering (`tests/snapshots/`, reviewed with `cargo insta review`), plus the
//! properties every rendered server must have whatever its input.

use mcp_runtime::input::read_document;
use mcp_runtime::render::{Manifests, RenderContext, render_document};
use serde_json::{Value, json};

fn ctx() -> RenderContext {
    RenderContext {
        namespace: "mcp".into(),
        ..Default::default()
    }
}

fn render_example(file: &str) -> Manifests {
    let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let doc = read_document(path.as_ref()).unwrap();
    render_document(&doc, &ctx()).unwrap()
}

fn yaml(m: &Manifests) -> String {
    m.objects()
        .iter()
        .map(|o| serde_norway::to_string(o).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn stdio_server() {
    // A known command: bridged, so it gets a Service and the same kind of endpoint as HTTP.
    let m = render_example("stdio-filesystem.yaml");
    assert_eq!(
        m.endpoint.as_deref(),
        Some("http://mcp-filesystem.mcp.svc:8080/mcp")
    );
    let pod = pod_spec(&m);
    let init = &pod.init_containers.as_ref().unwrap()[0];
    assert_eq!(init.name, "install-bridge");
    let main = &pod.containers[0];
    let command = main.command.as_ref().unwrap();
    assert_eq!(command[0], "/mcp-bridge/mcp-runtime");
    let dashdash = command.iter().position(|c| c == "--").unwrap();
    assert_eq!(
        command[dashdash + 1..],
        [
            "npx",
            "-y",
            "@modelcontextprotocol/server-filesystem",
            "/data"
        ]
    );
    assert_eq!(main.stdin, None, "the bridge owns the server's stdin");
    insta::assert_snapshot!(yaml(&m));
}

#[test]
fn stdio_server_without_a_command_or_bridge_stays_plain_stdio() {
    // The image's entrypoint is unknown to us: nothing to wrap, so the reference's behaviour.
    let no_command = render_document(
        &json!({"name": "legacy", "image": "ghcr.io/acme/legacy:1"}),
        &ctx(),
    )
    .unwrap();
    // Bridging turned off in the settings.
    let mut off = ctx();
    off.defaults.bridge_image = None;
    let doc = read_document(
        format!(
            "{}/examples/stdio-filesystem.yaml",
            env!("CARGO_MANIFEST_DIR")
        )
        .as_ref(),
    )
    .unwrap();
    let unbridged = render_document(&doc, &off).unwrap();
    for m in [no_command, unbridged] {
        assert!(m.service.is_none() && m.endpoint.is_none());
        let pod = m.deployment.spec.unwrap().template.spec.unwrap();
        assert!(pod.init_containers.is_none());
        assert_eq!(pod.containers[0].stdin, Some(true));
        assert_eq!(
            m.network_policy.unwrap().spec.unwrap().ingress,
            Some(vec![]),
            "no port, so no ingress"
        );
    }
}

#[test]
fn http_server() {
    let m = render_example("http-github.json");
    assert_eq!(
        m.endpoint.as_deref(),
        Some("http://mcp-github.mcp.svc:8082/mcp")
    );
    insta::assert_snapshot!(yaml(&m));
}

#[test]
fn server_with_secrets_and_pull_secrets() {
    let m = render_example("secrets-and-pull.yaml");
    insta::assert_snapshot!(yaml(&m));
}

fn names_of(name: &str) -> Value {
    let m = render_document(&json!({"name": name, "image": "x.io/y:1"}), &ctx()).unwrap();
    json!({
        "deployment": m.names.deployment,
        "secret": m.names.secret,
        "service": m.names.service,
        "selector": m.names.instance,
    })
}

#[test]
fn name_edge_cases() {
    let cases = [
        "Servér Ünïcode 测试",
        &"long-name-".repeat(30),
        "42 answers",
        "server.v2.0",
        "  Spaces   and__underscores  ",
        "UPPER.case...dots",
    ];
    let out: Vec<Value> = cases
        .iter()
        .map(|n| json!({"input": n, "names": names_of(n)}))
        .collect();
    insta::assert_yaml_snapshot!(out);
}

/// Secret values appear in the Secrets and nowhere else; the Deployment refers to them.
#[test]
fn secret_values_only_in_secrets() {
    let m = render_example("secrets-and-pull.yaml");
    for secret in ["s3cr3t-value", "pull-token-example", "BEGIN PRIVATE KEY"] {
        let deployment = serde_json::to_string(&m.deployment).unwrap();
        assert!(
            !deployment.contains(secret),
            "{secret} leaked into the Deployment"
        );
        let service = serde_json::to_string(&m.service).unwrap();
        assert!(!service.contains(secret));
    }
    let own = m.secret.as_ref().unwrap().data.as_ref().unwrap();
    assert_eq!(own["PGPASSWORD"].0, b"s3cr3t-value");
    let pull = m.pull_secret.as_ref().unwrap().data.as_ref().unwrap();
    let config: Value = serde_json::from_slice(&pull[".dockerconfigjson"].0).unwrap();
    assert_eq!(
        config["auths"]["registry.example.com"]["password"],
        "pull-token-example"
    );
}

/// Pod Security Standards `restricted` for every example, and no token unless asked.
#[test]
fn pods_are_restricted_by_default() {
    for file in [
        "stdio-filesystem.yaml",
        "http-github.json",
        "secrets-and-pull.yaml",
    ] {
        let m = render_example(file);
        let d = serde_json::to_value(&m.deployment).unwrap();
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{file}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let c = &pod["containers"][0]["securityContext"];
        assert_eq!(c["allowPrivilegeEscalation"], false, "{file}");
        assert_eq!(c["capabilities"]["drop"], json!(["ALL"]), "{file}");
        let wants_token = file == "secrets-and-pull.yaml";
        assert_eq!(pod["automountServiceAccountToken"], wants_token, "{file}");
    }
}

/// The selector is one immutable label, present on the pod template, and the Service selects
/// exactly the same pods.
#[test]
fn selector_matches_template_and_service() {
    let m = render_example("http-github.json");
    let d = m.deployment.spec.as_ref().unwrap();
    let sel = d.selector.match_labels.as_ref().unwrap();
    assert_eq!(sel.len(), 1);
    let tpl = d
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    for (k, v) in sel {
        assert_eq!(tpl.get(k), Some(v));
    }
    let svc = m.service.as_ref().unwrap().spec.as_ref().unwrap();
    assert_eq!(svc.selector.as_ref(), Some(sel));
}

#[test]
fn rendering_is_deterministic_and_changes_with_secrets() {
    let a = render_example("secrets-and-pull.yaml");
    let b = render_example("secrets-and-pull.yaml");
    assert_eq!(yaml(&a), yaml(&b));
    let path = format!(
        "{}/examples/secrets-and-pull.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut doc = read_document(path.as_ref()).unwrap();
    doc["env"][1]["secretValue"] = json!("rotated");
    let c = render_document(&doc, &ctx()).unwrap();
    let hash = |m: &Manifests| {
        m.deployment
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["mcp-runtime.dev/secret-revision"]
            .clone()
    };
    assert_ne!(
        hash(&a),
        hash(&c),
        "a rotated secret must change the pod template"
    );
}

#[test]
fn stopped_scales_to_zero_and_keeps_everything_else() {
    let doc = json!({"name": "x", "image": "x.io/y:1", "replicas": 3, "stopped": true,
                     "transport": {"type": "streamable-http"}});
    let m = render_document(&doc, &ctx()).unwrap();
    assert_eq!(m.deployment.spec.as_ref().unwrap().replicas, Some(0));
    assert!(m.service.is_some());
    assert_eq!(m.endpoint.as_deref(), Some("http://mcp-x.mcp.svc:8080/mcp"));
}

#[test]
fn runtime_class_from_the_spec_wins_over_the_default() {
    let class = |m: &Manifests| pod_spec(m).runtime_class_name.clone();
    let plain = json!({"name": "x", "image": "x.io/y:1"});
    assert_eq!(class(&render_document(&plain, &ctx()).unwrap()), None);
    let mut sandboxed = ctx();
    sandboxed.defaults.runtime_class_name = Some("gvisor".into());
    assert_eq!(
        class(&render_document(&plain, &sandboxed).unwrap()).as_deref(),
        Some("gvisor")
    );
    let own = json!({"name": "x", "image": "x.io/y:1", "runtimeClassName": "kata"});
    assert_eq!(
        class(&render_document(&own, &sandboxed).unwrap()).as_deref(),
        Some("kata")
    );
    let bad = json!({"name": "x", "image": "x.io/y:1", "runtimeClassName": "Not_A_Class"});
    let err = render_document(&bad, &ctx()).unwrap_err().to_string();
    assert!(err.contains("/runtimeClassName"), "{err}");
}

/// The rendered Deployment's pod spec.
fn pod_spec(m: &Manifests) -> &k8s_openapi::api::core::v1::PodSpec {
    m.deployment
        .spec
        .as_ref()
        .and_then(|d| d.template.spec.as_ref())
        .expect("a Deployment with a pod spec")
}
