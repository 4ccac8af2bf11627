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
        mcp_runtime::runtime::controller::run(
            client,
            &config,
            policies,
            m,
            mcp_runtime::runtime::leader::Term::new(),
        )
        .await
    });
    let manager =
        mcp_runtime::runtime::manager::McpServerRuntimeManager::new(ns.client.clone(), &ns.name);
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
