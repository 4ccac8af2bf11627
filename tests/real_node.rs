//! MCP servers in real containers on the local cluster's real node (kubelet + containerd,
//! deploy/local-cluster/node-up.sh), rendered and reconciled by the controller: the official
//! `@modelcontextprotocol/server-everything` from npm over streamable HTTP and, through our
//! bridge, over stdio; the kubelet's own failure states in the status; real logs.
//!
//! The controller runs in the test process on the host, which reaches the pods the way a
//! platform outside the cluster does: NodePort Services on the node IP (kube-proxy). Every
//! packet stays on the machine (the node's guard rules; images are `localhost/...`).

mod support;

use std::process::Command;

use mcp_runtime::crd::resource::Phase;
use mcp_runtime::render::service::ServiceType;
use serde_json::{Value, json};
use support::Runtime;

/// The node IP of the real node (deploy/local-cluster/node.env).
const NODE_IP: &str = "10.231.0.1";
const EVERYTHING: &str = "localhost/mcp-everything:2026.8.31";
const MCP_TIME: &str = "localhost/mcp-time:2026.10.19";
const EVERYTHING_JS: &str =
    "/app/node_modules/@modelcontextprotocol/server-everything/dist/index.js";

/// A server document placed on the real node (its taint tolerated, its label selected).
fn on_real_node(mut doc: Value) -> Value {
    let o = doc.as_object_mut().unwrap();
    o.insert("nodeSelector".into(), support::real_node_selector());
    o.insert("tolerations".into(), support::real_node_tolerations());
    o.entry("imagePullPolicy").or_insert(json!("IfNotPresent"));
    doc
}

/// The controller with NodePort Services on the node IP and `Ready` gated on an MCP answer.
async fn runtime(test: &str) -> Runtime {
    support::require_real_node().await;
    Runtime::new_with(test, |c| {
        c.service.type_ = ServiceType::NodePort;
        c.service.node_host = Some(NODE_IP.into());
        c.mcp_probe.gates_ready = true;
        c.defaults.bridge_image = "localhost/mcp-runtime:dev".into();
    })
    .await
}

/// One tool call with the official Python SDK client: its JSON answer.
fn sdk_call(url: &str, tool: &str, args: Value) -> Value {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/client.py");
    let out = Command::new(support::tools::mcp_python())
        .args([fixture, "call", url, tool, &args.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_official_everything_server_runs_and_answers_over_mcp() {
    let rt = runtime("real-http").await;
    let doc = on_real_node(json!({
        "name": "everything",
        "image": EVERYTHING,
        "args": ["streamableHttp"],
        "env": [{"name": "PORT", "value": "3001"}, {"name": "TOKEN", "secretValue": "first-value"}],
        "transport": {"type": "streamable-http", "port": 3001, "path": "/mcp"},
    }));
    rt.manager.create(&doc).await.unwrap();
    let ready = rt
        .wait_status("everything", 90, "Ready and McpReady", |s| {
            s.phase == Phase::Running
                && support::has_condition(s, "Ready", "AllReplicasReady")
                && support::has_condition(s, "McpReady", "Initialized")
        })
        .await;
    let status = ready.status.unwrap();
    let mcp = status.mcp.expect("status.mcp");
    assert_eq!(mcp.server_info.name, "mcp-servers/everything");
    // This release of the TypeScript SDK's server speaks the handshake era only.
    assert_eq!(mcp.era, "handshake");
    assert!(mcp.tools.unwrap_or(0) >= 5, "{:?}", mcp.tools);
    assert_eq!(mcp.tools_hash.as_deref().map(str::len), Some(64));
    let url = status.node_endpoint.expect("a NodePort endpoint");
    assert!(url.starts_with(&format!("http://{NODE_IP}:")), "{url}");

    // A client of the official SDK calls a tool of the real server through the Service.
    let echoed = sdk_call(&url, "echo", json!({"message": "from a real pod"}));
    assert!(
        echoed["result"]
            .as_str()
            .is_some_and(|r| r.contains("from a real pod")),
        "{echoed}"
    );

    // The real container's output, through the API server and the kubelet.
    use futures::StreamExt;
    let lines: Vec<String> = rt
        .manager
        .logs("everything", Some(50), false)
        .await
        .unwrap()
        .filter_map(|l| async move { l.ok() })
        .collect()
        .await;
    assert!(
        lines.iter().any(|l| l.contains("listening on port 3001")),
        "the server's own start-up line: {lines:?}"
    );

    // A rotated secret value rolls the pods; the new process sees it.
    let env = sdk_call(&url, "get-env", json!({}));
    assert!(
        env["result"].as_str().unwrap().contains("first-value"),
        "{env}"
    );
    let mut rotated = doc.clone();
    rotated["env"][1]["secretValue"] = json!("second-value");
    rt.manager.update(&rotated, None).await.unwrap();
    let seen = support::eventually(90, || {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || sdk_call(&url, "get-env", json!({})))
                .await
                .ok()
                .and_then(|v| v["result"].as_str().map(|r| r.contains("second-value")))
                .unwrap_or(false)
        }
    })
    .await;
    assert!(seen, "the new pod's process never saw the rotated value");
}

#[tokio::test]
async fn a_stdio_server_runs_through_the_bridge_copied_from_its_image() {
    let rt = runtime("real-bridge").await;
    let doc = on_real_node(json!({
        "name": "everything-stdio",
        "image": EVERYTHING,
        "command": ["/usr/bin/node", EVERYTHING_JS, "stdio"],
        "transport": {"type": "stdio"},
    }));
    rt.manager.create(&doc).await.unwrap();
    let ready = rt
        .wait_status("everything-stdio", 90, "Ready and McpReady", |s| {
            // Behind the bridge it speaks both eras: discovered at 2026-07-28.
            s.phase == Phase::Running && support::has_condition(s, "McpReady", "Discovered")
        })
        .await;
    let status = ready.status.unwrap();
    let mcp = status.mcp.unwrap();
    assert_eq!(mcp.server_info.name, "mcp-servers/everything");
    assert_eq!(mcp.era, "both");
    let url = status
        .node_endpoint
        .expect("the bridge's NodePort endpoint");
    let added = sdk_call(&url, "get-sum", json!({"a": 2, "b": 40}));
    assert!(
        added["result"].as_str().is_some_and(|r| r.contains("42")),
        "{added}"
    );
}

/// The official mcp-server-time (PyPI, built on the Python SDK 2.x) over stdio through the
/// bridge: a child that speaks 2026-07-28, so modern requests pass as they are and handshake
/// sessions are translated. Both SDK generations call its tool through the Service.
#[tokio::test]
async fn an_official_python_server_runs_over_stdio_through_the_bridge() {
    let rt = runtime("real-python").await;
    let doc = on_real_node(json!({
        "name": "time",
        "image": MCP_TIME,
        "command": ["/usr/bin/python3.11", "-m", "mcp_server_time", "--local-timezone", "UTC"],
        "transport": {"type": "stdio"},
    }));
    rt.manager.create(&doc).await.unwrap();
    let ready = rt
        .wait_status("time", 90, "Ready and McpReady", |s| {
            s.phase == Phase::Running && support::has_condition(s, "McpReady", "Discovered")
        })
        .await;
    let status = ready.status.unwrap();
    let mcp = status.mcp.unwrap();
    assert_eq!(mcp.server_info.name, "mcp-time");
    assert_eq!(mcp.era, "both");
    assert_eq!(mcp.tools, Some(2), "get_current_time and convert_time");
    let url = status
        .node_endpoint
        .expect("the bridge's NodePort endpoint");
    // The 1.x SDK: the handshake era, translated onto the child's modern connection.
    let old = sdk_call(&url, "get_current_time", json!({"timezone": "UTC"}));
    assert!(
        old["result"].as_str().is_some_and(|r| r.contains("UTC")),
        "{old}"
    );
    // The 2.x SDK in `auto`: 2026-07-28, passed as it is.
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/client2.py");
    let out = Command::new(support::tools::mcp2_python())
        .args([
            fixture,
            "auto",
            &url,
            "call",
            "get_current_time",
            r#"{"timezone": "UTC"}"#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(new["era"], "modern", "{new}");
    assert!(
        new["result"].as_str().is_some_and(|r| r.contains("UTC")),
        "{new}"
    );
}

/// The status of a server whose container fails, with the kubelet's own reason.
async fn failing(rt: &Runtime, name: &str, doc: Value, reasons: &[&str]) -> (String, String) {
    rt.manager.create(&on_real_node(doc)).await.unwrap();
    let wanted: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
    let m = rt
        .wait_status(
            name,
            120,
            &format!("lastError one of {reasons:?}"),
            move |s| {
                s.last_error
                    .as_ref()
                    .is_some_and(|e| wanted.contains(&e.reason))
            },
        )
        .await;
    let e = m.status.unwrap().last_error.unwrap();
    (e.reason, e.message)
}

#[tokio::test]
async fn real_failures_are_reported_in_the_kubelets_words() {
    let rt = runtime("real-failures").await;
    let http = json!({"type": "streamable-http", "port": 3001});
    let (reason, message) = failing(
        &rt,
        "exits",
        json!({"name": "exits", "image": "localhost/broken-exit:1", "transport": http}),
        &["CrashLoopBackOff"],
    )
    .await;
    assert_eq!(reason, "CrashLoopBackOff", "{message}");
    let (reason, message) = failing(
        &rt,
        "oom",
        json!({"name": "oom", "image": "localhost/broken-oom:1", "transport": http,
               "resources": {"limits": {"memory": "20Mi"}, "requests": {"memory": "20Mi"}}}),
        &["OOMKilled"],
    )
    .await;
    assert!(message.contains("memory limit"), "{reason}: {message}");
    let (reason, message) = failing(
        &rt,
        "root",
        json!({"name": "root", "image": "localhost/broken-root:1", "transport": http}),
        &["CreateContainerConfigError"],
    )
    .await;
    assert!(
        message.contains("runAsNonRoot and image will run as root"),
        "{reason}: {message}"
    );
    let (reason, message) = failing(
        &rt,
        "missing",
        json!({"name": "missing", "image": "localhost/not-built:1", "transport": http}),
        &["ErrImagePull", "ImagePullBackOff"],
    )
    .await;
    assert!(
        message.contains("localhost/not-built:1"),
        "{reason}: {message}"
    );
}

#[tokio::test]
async fn a_missing_bridge_image_is_named_with_its_init_container() {
    support::require_real_node().await;
    let rt = Runtime::new_with("real-nobridge", |c| {
        c.service.type_ = ServiceType::NodePort;
        c.service.node_host = Some(NODE_IP.into());
        c.defaults.bridge_image = "localhost/no-such-bridge:1".into();
    })
    .await;
    let doc = json!({
        "name": "unbridgeable",
        "image": EVERYTHING,
        "command": ["/usr/bin/node", EVERYTHING_JS, "stdio"],
        "transport": {"type": "stdio"},
    });
    rt.manager.create(&on_real_node(doc)).await.unwrap();
    let m = rt
        .wait_status(
            "unbridgeable",
            120,
            "the init container's pull error",
            |s| {
                s.last_error.as_ref().is_some_and(|e| {
                    e.container.as_deref() == Some("install-bridge")
                        && ["ErrImagePull", "ImagePullBackOff"].contains(&e.reason.as_str())
                })
            },
        )
        .await;
    let status = m.status.unwrap();
    assert_eq!(status.phase, Phase::Starting, "{status:?}");
    assert!(
        status
            .last_error
            .unwrap()
            .message
            .contains("localhost/no-such-bridge:1"),
        "the message names the image"
    );
}

/// Pods of the server, by name, as the API server lists them.
async fn pods(rt: &Runtime, server: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
    let lp =
        kube::api::ListParams::default().labels(&format!("mcp-runtime.dev/server=mcp-{server}"));
    rt.ns
        .api::<k8s_openapi::api::core::v1::Pod>()
        .list(&lp)
        .await
        .unwrap()
        .items
}

/// The everything server over HTTP, on the real node.
fn everything(name: &str) -> Value {
    on_real_node(json!({
        "name": name,
        "image": EVERYTHING,
        "args": ["streamableHttp"],
        "env": [{"name": "PORT", "value": "3001"}],
        "transport": {"type": "streamable-http", "port": 3001, "path": "/mcp"},
    }))
}

/// A legacy bare Pod of the system we replace, really running, is replaced by the Deployment:
/// its process is gone (its UID no longer exists), and the new pod serves. Then stop, start,
/// restart and remove leave no pod, ReplicaSet, Service or Secret behind. A server running as
/// PID 1 that ignores SIGTERM (Node.js) stops within the pods' 10 s grace period, not the
/// default 30 s.
#[tokio::test]
async fn migration_and_the_lifecycle_leave_nothing_behind_on_a_real_node() {
    use k8s_openapi::api::core::v1::Pod;
    let rt = runtime("real-lifecycle").await;
    let mut legacy: Pod = serde_json::from_value(json!({
        "metadata": {"name": "mcp-legacy", "labels": {"app": "mcp-legacy"}},
        "spec": {
            "nodeSelector": support::real_node_selector(),
            "tolerations": support::real_node_tolerations(),
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532},
            "containers": [{"name": "mcp-server", "image": EVERYTHING, "imagePullPolicy": "IfNotPresent",
                            "args": ["streamableHttp"]}]
        }
    }))
    .unwrap();
    legacy = rt
        .ns
        .api::<Pod>()
        .create(&Default::default(), &legacy)
        .await
        .unwrap();
    let legacy_uid = legacy.metadata.uid.clone().unwrap();
    assert!(
        support::eventually(60, || async {
            rt.ns
                .api::<Pod>()
                .get("mcp-legacy")
                .await
                .ok()
                .and_then(|p| p.status?.phase)
                == Some("Running".into())
        })
        .await,
        "the legacy pod runs"
    );
    rt.manager.create(&everything("legacy")).await.unwrap();
    rt.wait_status("legacy", 120, "Running after the migration", |s| {
        s.phase == Phase::Running && support::has_condition(s, "McpReady", "Initialized")
    })
    .await;
    let now = pods(&rt, "legacy").await;
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].metadata.uid.as_deref(), Some(legacy_uid.as_str()));
    assert!(
        rt.ns
            .api::<Pod>()
            .get_opt("mcp-legacy")
            .await
            .unwrap()
            .is_none(),
        "the bare pod is gone"
    );
    assert_eq!(
        now[0]
            .spec
            .as_ref()
            .unwrap()
            .termination_grace_period_seconds,
        Some(10)
    );

    // Stop: node, which ignores SIGTERM as PID 1, is not PID 1 here (the pod shares one PID
    // namespace, pause is PID 1), so SIGTERM ends it and the pod does not wait out its grace.
    let pod = &pods(&rt, "legacy").await[0];
    assert_eq!(
        pod.spec.as_ref().unwrap().share_process_namespace,
        Some(true)
    );
    let stopping = std::time::Instant::now();
    rt.manager.stop("legacy").await.unwrap();
    rt.wait_status("legacy", 60, "stopped", |s| {
        s.phase == Phase::Stopped && s.ready_replicas == Some(0)
    })
    .await;
    assert!(
        support::eventually(40, || async { pods(&rt, "legacy").await.is_empty() }).await,
        "no pod after stop"
    );
    let stopped_in = stopping.elapsed();
    println!("stopped in {:.1} s", stopped_in.as_secs_f64());
    assert!(
        stopped_in < std::time::Duration::from_secs(10),
        "the pod was held for its whole 10 s grace period ({stopped_in:?}): SIGTERM did not end node"
    );

    rt.manager.start("legacy").await.unwrap();
    rt.wait_status("legacy", 120, "running again", |s| {
        s.phase == Phase::Running
    })
    .await;
    let before = pods(&rt, "legacy").await[0].metadata.uid.clone();
    rt.manager.restart("legacy").await.unwrap();
    assert!(
        support::eventually(90, || async {
            let p = pods(&rt, "legacy").await;
            p.len() == 1
                && p[0].metadata.uid != before
                && p[0].status.as_ref().and_then(|s| s.phase.clone()) == Some("Running".into())
        })
        .await,
        "a restart replaces the pod"
    );

    rt.manager.remove("legacy").await.unwrap();
    let left = || async {
        let lp =
            kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=mcp-runtime");
        (
            count::<Pod>(&rt, &lp).await,
            count::<k8s_openapi::api::apps::v1::ReplicaSet>(&rt, &lp).await,
            count::<k8s_openapi::api::core::v1::Service>(&rt, &lp).await,
            count::<k8s_openapi::api::core::v1::Secret>(&rt, &lp).await,
        )
    };
    assert!(
        support::eventually(60, || async { left().await == (0, 0, 0, 0) }).await,
        "left behind (pods, ReplicaSets, Services, Secrets): {:?}",
        left().await
    );
}

/// How many objects of a kind the label selector finds in the test's namespace.
async fn count<K>(rt: &Runtime, lp: &kube::api::ListParams) -> usize
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    <K as kube::Resource>::DynamicType: Default,
{
    rt.ns.api::<K>().list(lp).await.unwrap().items.len()
}
