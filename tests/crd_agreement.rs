//! The CRD and the JSON Schema agree: the committed CRD is exactly what the schema converts to,
//! and the real API server rejects the structural violations the JSON Schema rejects, at the
//! same path, while accepting what the schema accepts (secret values split off).

mod support;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use mcp_runtime::render::{ServerNames, secret};
use mcp_runtime::schema::SchemaKind;
use serde_json::{Value, json};

#[test]
fn committed_crd_is_generated_from_the_schema() {
    let path = format!(
        "{}/deploy/crd/mcpservers.mcp-runtime.dev.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let committed = std::fs::read_to_string(&path).unwrap();
    let generated = mcp_runtime::yaml::to_string(&mcp_runtime::crd::crd()).unwrap();
    assert!(
        committed == generated,
        "{path} is stale: run `cargo run -- crd > {path}`"
    );
}

fn object(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "mcp-runtime.dev/v1alpha1", "kind": "McpServer",
        "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

#[tokio::test]
async fn api_server_and_json_schema_judge_alike() {
    let ns = support::TestNamespace::new("agreement").await;
    support::install_crd(&ns.client).await;
    let resource = ApiResource::erase::<mcp_runtime::crd::McpServer>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(ns.client.clone(), &ns.name, &resource);
    let base = json!({"name": "x", "image": "x.io/y:1"});
    // (case, the violated path, the top-level field, its value)
    let cases: Vec<(&str, &str, &str, Value)> = vec![
        (
            "port",
            "/transport/port",
            "transport",
            json!({"type": "streamable-http", "port": 70000}),
        ),
        ("replicas", "/replicas", "replicas", json!(0)),
        (
            "pull-policy",
            "/imagePullPolicy",
            "imagePullPolicy",
            json!("Sometimes"),
        ),
        ("image", "/image", "image", json!("Not An Image")),
        (
            "transport-type",
            "/transport/type",
            "transport",
            json!({"type": "websocket"}),
        ),
        (
            "quantity",
            "/resources/requests/memory",
            "resources",
            json!({"requests": {"memory": "lots"}}),
        ),
    ];
    for (i, (case, path, field, value)) in cases.into_iter().enumerate() {
        let mut doc = base.clone();
        doc[field] = value;
        let err = SchemaKind::McpServer.validate(&doc).expect_err(case);
        assert!(
            err.pairs()
                .iter()
                .any(|(p, _)| p.starts_with(path) || path.starts_with(p)),
            "{case}: {err}"
        );
        let mut spec = doc.clone();
        spec.as_object_mut().unwrap().remove("name");
        let refused = api
            .create(&PostParams::default(), &object(&format!("c{i}"), spec))
            .await;
        let message = refused.expect_err(case).to_string();
        let k8s_path = format!("spec{}", path.replace('/', "."));
        assert!(
            message.contains(&k8s_path),
            "{case}: API server said {message}"
        );
    }
    // Everything the examples describe is admitted once secret values are split off.
    for file in support::EXAMPLES {
        let doc = support::example(file);
        let spec = mcp_runtime::render::parse_document(&doc).unwrap();
        let names = ServerNames::new(&spec.name).unwrap();
        let (stored, _, _) = secret::split(&spec, &names, &ns.name);
        let stored_json = serde_json::to_value(&stored).unwrap();
        SchemaKind::McpServer.validate(&stored_json).unwrap();
        let created = api
            .create(
                &PostParams::default(),
                &object(&names.slug, stored_json.clone()),
            )
            .await
            .unwrap_or_else(|e| panic!("{file} refused: {e}"));
        // Nothing was pruned: the API server kept every field the schema allows.
        let mut kept = created.data["spec"].clone();
        let mut sent = stored_json;
        for v in [&mut kept, &mut sent] {
            v.as_object_mut().unwrap().remove("name");
        }
        assert_eq!(without_defaults(kept), without_defaults(sent), "{file}");
    }
}

/// Drops fields the CRD defaults fill in, to compare what was sent with what was kept.
fn without_defaults(mut v: Value) -> Value {
    let m = v.as_object_mut().unwrap();
    for k in ["replicas", "stopped", "automountServiceAccountToken"] {
        if m.get(k)
            .is_some_and(|x| *x == json!(1) || *x == json!(false))
        {
            m.remove(k);
        }
    }
    if m.get("transport") == Some(&json!({"type": "stdio"})) {
        m.remove("transport");
    }
    v
}

/// The CRD as the API server stores it counts as this version's (no false alarm at `serve`
/// start), and one whose schema lacks a field does not (the stale-CRD warning).
#[tokio::test]
async fn a_stale_installed_crd_is_told_from_the_current_one() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let ns = support::TestNamespace::new("crd-stale").await;
    support::install_crd(&ns.client).await;
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(ns.client.clone());
    let installed = crds.get("mcpservers.mcp-runtime.dev").await.unwrap();
    assert!(mcp_runtime::crd::same_schema(&installed));
    let mut stale = installed.clone();
    let schema = stale.spec.versions[0]
        .schema
        .as_mut()
        .and_then(|s| s.open_api_v3_schema.as_mut())
        .unwrap();
    let spec = schema.properties.as_mut().unwrap().get_mut("spec").unwrap();
    assert!(
        spec.properties
            .as_mut()
            .unwrap()
            .remove("runtimeClassName")
            .is_some()
    );
    assert!(!mcp_runtime::crd::same_schema(&stale));
}
