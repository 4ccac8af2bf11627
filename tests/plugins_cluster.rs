//! The controller runs the plugin chain on the real cluster: a denial becomes a condition with
//! the plugin's message, a mutation lands in the applied Deployment with its attribution, and
//! a reloaded plugin set takes effect for the next reconcile.

mod support;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use mcp_runtime::crd::resource::Phase;
use mcp_runtime::metrics::Metrics;
use mcp_runtime::plugin::PluginSet;
use serde_json::json;
use support::plugins::example_set;
use support::{TestNamespace, install_crd, runtime_config};

#[tokio::test(flavor = "multi_thread")]
async fn the_controller_applies_and_enforces_policies() {
    let dir = example_set(&["org-labels", "registry-allowlist"]);
    let ns = TestNamespace::new("policies").await;
    install_crd(&ns.client).await;
    let metrics = Arc::new(Metrics::new());
    let set = Arc::new(PluginSet::load(&dir, Some(metrics.clone())).unwrap());
    let config = runtime_config(&ns.name);
    let (client, policies, m) = (ns.client.clone(), set.clone(), metrics.clone());
    let task = tokio::spawn(async move {
        mcp_runtime::controller::run(
            client,
            &config,
            policies,
            m,
            mcp_runtime::controller::leader::Term::new(),
        )
        .await
    });
    let manager =
        mcp_runtime::api::store::McpServerRuntimeManager::new(ns.client.clone(), &ns.name);
    manager
        .create(&json!({"name": "good", "image": "ghcr.io/acme/good:1"}))
        .await
        .unwrap();
    manager
        .create(&json!({"name": "bad", "image": "docker.io/evil/x:1"}))
        .await
        .unwrap();

    let mcps = ns.api::<mcp_runtime::crd::McpServer>();
    let phase = |p: Phase| {
        move |m: Option<&mcp_runtime::crd::McpServer>| {
            m.and_then(|m| m.status.as_ref())
                .is_some_and(|s| s.phase == p)
        }
    };
    support::wait_for(&mcps, "good", 60, "good running", phase(Phase::Running)).await;
    let d = ns.api::<Deployment>().get("mcp-good").await.unwrap();
    assert_eq!(d.metadata.labels.as_ref().unwrap()["org"], "acme");
    assert_eq!(
        d.metadata.annotations.as_ref().unwrap()["mcp-runtime.dev/policies"],
        "org-labels@1.0.0:5"
    );

    let bad = support::wait_for(&mcps, "bad", 60, "bad refused", phase(Phase::Failed)).await;
    let accepted = support::condition(bad, "Accepted");
    assert_eq!(accepted.reason, "PolicyDenied");
    assert!(
        accepted.message.contains(
            "denied by plugin registry-allowlist@1.0.0: /image: image docker.io/evil/x:1"
        ),
        "{}",
        accepted.message
    );
    assert!(
        ns.api::<Deployment>()
            .get_opt("mcp-bad")
            .await
            .unwrap()
            .is_none(),
        "a denied server is not deployed"
    );
    let text = metrics.encode();
    assert!(text.contains("mcp_runtime_plugin_call_duration_seconds_count{plugin=\"registry-allowlist@1.0.0\",kind=\"validate-config\"}"), "{text}");

    // Hot reload: remove the allow-list; after the swap, the next change to "bad" deploys it.
    std::fs::remove_dir_all(dir.join("registry-allowlist")).unwrap();
    let reloaded = tokio::task::spawn_blocking({
        let set = set.clone();
        move || set.reload_if_changed()
    })
    .await
    .unwrap();
    assert_eq!(reloaded, Some(Ok(1)));
    manager
        .update(&json!({"name": "bad", "image": "docker.io/evil/x:2"}), None)
        .await
        .unwrap();
    support::wait_for(
        &mcps,
        "bad",
        60,
        "bad running after reload",
        phase(Phase::Running),
    )
    .await;

    // A broken set is refused and the previous one keeps running.
    std::fs::write(dir.join("org-labels/org-labels.wasm"), b"not a component").unwrap();
    let refused = tokio::task::spawn_blocking({
        let set = set.clone();
        move || set.reload_if_changed()
    })
    .await
    .unwrap();
    assert!(
        matches!(refused, Some(Err(ref e)) if e.contains("digest mismatch")),
        "{refused:?}"
    );
    assert_eq!(set.chain().plugins().len(), 1);
    assert!(
        set.describe()["lastReloadError"]
            .as_str()
            .unwrap()
            .contains("org-labels")
    );
    task.abort();
}

/// The first JSON pointer under `at` where `live` lacks or differs from what `preview` sets
/// (what the API server fills in, defaults and status, is not compared).
fn first_difference(
    preview: &serde_json::Value,
    live: &serde_json::Value,
    at: &str,
) -> Option<String> {
    use serde_json::Value;
    match (preview, live) {
        (Value::Object(p), Value::Object(l)) => p.iter().find_map(|(k, v)| {
            let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            match l.get(k) {
                Some(lv) => first_difference(v, lv, &here),
                // The API server leaves out fields at their zero value (`omitempty`).
                None if is_zero(v) => None,
                None => Some(format!("{here}: the preview has {v}, the cluster nothing")),
            }
        }),
        (Value::Array(p), Value::Array(l)) if p.len() == l.len() => p
            .iter()
            .zip(l)
            .enumerate()
            .find_map(|(i, (pv, lv))| first_difference(pv, lv, &format!("{at}/{i}"))),
        _ if preview == live => None,
        _ => Some(format!(
            "{at}: the preview has {preview}, the cluster {live}"
        )),
    }
}

/// `false`, `0`, `""`, `[]` or `{}`: what Kubernetes' JSON leaves out.
fn is_zero(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Null => true,
    }
}

/// Maps the controller writes whole must hold exactly the preview's keys (so an annotation
/// only the controller adds is caught too); the API server's own keys aside.
fn exact_maps(preview: &serde_json::Value, live: &serde_json::Value, kind: &str) -> Option<String> {
    let mut pointers = vec!["/metadata/labels", "/metadata/annotations"];
    if kind == "Deployment" {
        pointers.extend([
            "/spec/template/metadata/labels",
            "/spec/template/metadata/annotations",
        ]);
    }
    pointers.into_iter().find_map(|p| {
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.pointer(p)
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.keys()
                        .filter(|k| !k.starts_with("deployment.kubernetes.io/"))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        let (want, have) = (keys(preview), keys(live));
        (want != have)
            .then(|| format!("{kind} {p}: the preview has keys {want:?}, the cluster {have:?}"))
    })
}

/// What `POST /v1/render` previews for a server is what the controller applied: built with
/// the same policies, for a document with a secret value and a reference, compared field by
/// field with what the API server holds.
#[tokio::test(flavor = "multi_thread")]
async fn a_preview_is_what_the_controller_applied() {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use http_body_util::BodyExt;
    use kube::api::PostParams;
    use tower::ServiceExt;

    let dir = example_set(&["org-labels", "hardening", "service-exposure"]);
    let set = Arc::new(PluginSet::load(&dir, None).unwrap());
    let rt = support::Runtime::new_with_policies("preview", |_| {}, set.clone()).await;
    let (state, cache) = mcp_runtime::api::AppState::new(
        rt.ns.client.clone(),
        rt.config.served(),
        rt.config.render_context(),
        mcp_runtime::api::Access::tokens(mcp_runtime::api::Tokens::parse(
            "preview-token-0123456789",
        )),
        Arc::new(Metrics::new()),
        set,
    );
    tokio::spawn(cache);
    let router = mcp_runtime::api::router(state);
    let call = |method: Method, path: &str, body: serde_json::Value| {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", "Bearer preview-token-0123456789")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
            )
        }
    };
    let settings = k8s_openapi::api::core::v1::ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("weather-settings".into()),
            ..Default::default()
        },
        data: Some([("units".to_string(), "metric".to_string())].into()),
        ..Default::default()
    };
    rt.ns
        .api::<k8s_openapi::api::core::v1::ConfigMap>()
        .create(&PostParams::default(), &settings)
        .await
        .unwrap();
    let doc = json!({
        "name": "weather",
        "image": "ghcr.io/acme/weather:1",
        "transport": {"type": "streamable-http", "port": 8080, "path": "/mcp"},
        "env": [
            {"name": "API_KEY", "secretValue": "never-shown"},
            {"name": "UNITS", "configMapKeyRef": {"name": "weather-settings", "key": "units"}}
        ],
        "labels": {"team": "forecast"},
    });
    let (s, created) = call(Method::POST, "/v1/servers", doc.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    rt.wait_status("weather", 60, "applied", |s| {
        support::has_condition(s, "Accepted", "Valid") && s.observed_generation == Some(1)
    })
    .await;

    // The controller may still be rolling in a late input (the Secret's first sight, say):
    // compare until the two agree, and name the difference if they never do.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let difference = loop {
        let (s, preview) = call(Method::POST, "/v1/render", doc.clone()).await;
        assert_eq!(s, StatusCode::OK, "{preview}");
        let difference = differences(&rt.ns, &preview).await;
        if difference.is_none() || std::time::Instant::now() > deadline {
            break difference;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    if let Some(d) = difference {
        panic!("the preview is not what was applied: {d}");
    }
    let (_, preview) = call(Method::POST, "/v1/render", doc).await;
    assert!(!preview.to_string().contains("never-shown"), "{preview}");
    // The policies' work is part of both.
    let deployment = &preview["objects"][0];
    assert_eq!(deployment["metadata"]["labels"]["org"], "acme");
}

/// The first difference between a preview's objects and Secrets and what the API server holds.
async fn differences(ns: &support::TestNamespace, preview: &serde_json::Value) -> Option<String> {
    use kube::api::DynamicObject;
    let objects = preview["objects"].as_array().cloned().unwrap_or_default();
    let secrets = preview["secrets"].as_array().cloned().unwrap_or_default();
    assert_eq!(objects.len(), 3, "{preview}");
    assert_eq!(secrets.len(), 1, "{preview}");
    for object in objects.iter().chain(&secrets) {
        let api_version = object["apiVersion"].as_str().unwrap();
        let kind = object["kind"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let resource = kube::discovery::ApiResource::from_gvk(&gvk);
        let api: kube::Api<DynamicObject> =
            kube::Api::namespaced_with(ns.client.clone(), &ns.name, &resource);
        let name = object["metadata"]["name"].as_str().unwrap();
        let Some(live) = api.get_opt(name).await.unwrap() else {
            return Some(format!("{kind} {name} is not in the cluster"));
        };
        let live = serde_json::to_value(live).unwrap();
        let mut compared = object.clone();
        if kind == "Secret" {
            // Values are blanked in the preview; the rest of the Secret must agree.
            compared.as_object_mut().unwrap().remove("data");
        }
        let difference = first_difference(&compared, &live, &format!("{kind} {name}"))
            .or_else(|| exact_maps(&compared, &live, kind));
        if difference.is_some() {
            return difference;
        }
    }
    None
}
