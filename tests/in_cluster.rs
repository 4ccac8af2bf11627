//! The control plane in the cluster, as a platform installs it: with the Helm chart and with the
//! kustomize overlay `namespaces` (the base serving a second namespace), from its own image
//! (`localhost/mcp-runtime:dev`, built by deploy/local-cluster/images.sh from this checkout's
//! binary), as a pod on the real node with only its ServiceAccount, serving its own namespace and
//! a team's. It reaches the API server through the `kubernetes` Service and creates a
//! streamable-HTTP server in its own namespace and a bridged stdio server in the team's (the
//! official server-everything); both reach `Ready=True` and `McpReady=True`, probed from inside
//! the cluster at their pods' IPs, with `MCP_RUNTIME_MCP_PROBE_GATES_READY=true`; the official
//! SDK's client then calls a tool of each through its ClusterIP. What it may do is only what the
//! install granted (a Role in each namespace; tests/packaging.rs checks the grants themselves).

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::PostParams;
use mcp_runtime::crd::McpServer;
use mcp_runtime::crd::resource::Phase;
use serde_json::{Value, json};
use support::TestNamespace;
use support::tools;

const IMAGE_REPOSITORY: &str = "localhost/mcp-runtime";
const IMAGE_TAG: &str = "dev";
const EVERYTHING: &str = "localhost/mcp-everything:2026.8.31";
const EVERYTHING_JS: &str =
    "/app/node_modules/@modelcontextprotocol/server-everything/dist/index.js";

/// What the control plane needs here besides the defaults: the bridge from its own image.
fn extra_env() -> Value {
    json!([{"name": "MCP_RUNTIME_BRIDGE_IMAGE", "value": format!("{IMAGE_REPOSITORY}:{IMAGE_TAG}")}])
}

fn kubectl(args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = tools::kubectl_on_cluster(args, stdin);
    assert!(ok, "kubectl {args:?}: {out}{err}");
    out
}

async fn api_token(ns: &TestNamespace) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "mcp-runtime-api-token"},
        "stringData": {"tokens": "in-cluster-test-token\n"},
    }))
    .unwrap();
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// `helm install` of deploy/helm/mcp-runtime into the test's namespace, serving it and `team`
/// (the CRD is the test harness's already).
fn install_with_helm(ns: &str, team: &str) -> String {
    let chart = format!("{}/deploy/helm/mcp-runtime", env!("CARGO_MANIFEST_DIR"));
    let release = "cp";
    let kc = support::kubeconfig_path();
    let values = json!({
        "image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG, "pullPolicy": "Never"},
        "replicaCount": 1,
        "crds": {"install": false},
        "podDisruptionBudget": {"enabled": false},
        "tolerations": support::real_node_tolerations(),
        "nodeSelector": support::real_node_selector(),
        "extraEnv": extra_env(),
        "logFormat": "text",
        "namespaces": [ns, team],
    });
    let values_file = std::env::temp_dir().join(format!("{ns}-values.json"));
    std::fs::write(&values_file, values.to_string()).unwrap();
    let (ok, out, err) = tools::run(
        &tools::helm(),
        &[
            "install",
            release,
            &chart,
            "--kubeconfig",
            kc.to_str().unwrap(),
            "-n",
            ns,
            "-f",
            values_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "helm install: {out}{err}");
    // The chart's fullname for release `cp`.
    format!("{release}-mcp-runtime")
}

/// deploy/kustomize/overlays/namespaces rendered by `kubectl kustomize`, its namespaces renamed:
/// the base's own to the test's, team-a to `team`, team-b's objects left out (and its Namespace
/// and the CRD; cluster-scoped RBAC named after the namespace so that installs side by side do
/// not share it), set up for the real node and applied server-side.
fn install_with_kustomize(ns: &str, team: &str) -> String {
    let overlay = format!(
        "{}/deploy/kustomize/overlays/namespaces",
        env!("CARGO_MANIFEST_DIR")
    );
    let rendered = kubectl(&["kustomize", &overlay], None);
    let docs: Vec<String> = tools::documents(&rendered)
        .into_iter()
        .filter(|d| d["kind"] != "Namespace" && d["kind"] != "CustomResourceDefinition")
        .filter(|d| d["metadata"]["namespace"] != "team-b")
        .map(|d| renamed(d, ns, team))
        .map(|d| serde_norway::to_string(&for_the_real_node(d, ns)).unwrap())
        .collect();
    kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&docs.join("---\n")),
    );
    "mcp-runtime".into()
}

/// The overlay's namespaces as the test's: `mcp-runtime` is `ns`, team-a is `team` (in
/// metadata, the served list and the ClusterRole's names; team-b's settings dropped).
fn renamed(mut d: Value, ns: &str, team: &str) -> Value {
    let rename = |n: &str| match n {
        "team-a" => team.to_string(),
        "mcp-runtime" => ns.to_string(),
        other => other.to_string(),
    };
    if let Some(n) = d["metadata"]["namespace"].as_str() {
        d["metadata"]["namespace"] = rename(n).into();
    }
    if d["kind"] == "ClusterRole" {
        for rule in d["rules"].as_array_mut().into_iter().flatten() {
            if rule["resources"] == json!(["namespaces"]) {
                rule["resourceNames"] = json!([ns, team]);
            }
        }
    }
    if d["kind"] == "Deployment" {
        let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap();
        env.retain(|e| e["name"] != "MCP_RUNTIME_NAMESPACE_SETTINGS");
        for e in env
            .iter_mut()
            .filter(|e| e["name"] == "MCP_RUNTIME_NAMESPACES")
        {
            e["value"] = format!("{ns},{team}").into();
        }
    }
    d
}

/// Set up for the real node, its subjects the test's ServiceAccount and its cluster-scoped
/// RBAC named after the test's namespace.
fn for_the_real_node(mut d: Value, ns: &str) -> Value {
    if let Some(subjects) = d.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects {
            s["namespace"] = ns.into();
        }
    }
    match d["kind"].as_str() {
        Some("ClusterRole") => d["metadata"]["name"] = format!("mcp-runtime-{ns}").into(),
        Some("ClusterRoleBinding") => {
            d["metadata"]["name"] = format!("mcp-runtime-{ns}").into();
            d["roleRef"]["name"] = format!("mcp-runtime-{ns}").into();
        }
        Some("Deployment") => {
            d["spec"]["replicas"] = 1.into();
            let pod = &mut d["spec"]["template"]["spec"];
            pod["tolerations"] = support::real_node_tolerations();
            pod["nodeSelector"] = support::real_node_selector();
            let c = &mut pod["containers"][0];
            c["image"] = format!("{IMAGE_REPOSITORY}:{IMAGE_TAG}").into();
            c["imagePullPolicy"] = "Never".into();
            c["env"]
                .as_array_mut()
                .unwrap()
                .extend(extra_env().as_array().unwrap().iter().cloned());
        }
        _ => {}
    }
    d
}

fn server(name: &str, spec: Value) -> McpServer {
    let mut spec = spec;
    spec["tolerations"] = support::real_node_tolerations();
    spec["nodeSelector"] = support::real_node_selector();
    spec["imagePullPolicy"] = "IfNotPresent".into();
    serde_json::from_value(json!({
        "apiVersion": "mcp-runtime.dev/v1alpha1", "kind": "McpServer",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

/// The control plane's log (its previous container's too), for a failure message.
fn logs(ns: &str, deployment: &str) -> String {
    let target = format!("deploy/{deployment}");
    let (_, now, _) = tools::kubectl_on_cluster(&["logs", "-n", ns, &target, "--tail=30"], None);
    let (_, before, _) = tools::kubectl_on_cluster(
        &["logs", "-n", ns, &target, "--previous", "--tail=30"],
        None,
    );
    format!("{before}{now}")
}

/// Waits until the server is Running, Ready and McpReady (the control plane's own probe,
/// through the Service from inside the cluster); its status.
async fn ready(ns: &TestNamespace, name: &str, reason: &str) -> mcp_runtime::crd::McpServerStatus {
    let mcps = ns.api::<McpServer>();
    let done = |s: &mcp_runtime::crd::McpServerStatus| {
        s.phase == Phase::Running
            && support::has_condition(s, "Ready", "AllReplicasReady")
            && support::has_condition(s, "McpReady", reason)
    };
    let reached = support::eventually(180, || {
        let mcps = mcps.clone();
        async move {
            mcps.get(name)
                .await
                .ok()
                .and_then(|m| m.status)
                .is_some_and(|s| done(&s))
        }
    })
    .await;
    let last = mcps.get(name).await.unwrap().status;
    assert!(
        reached,
        "{name}: not Ready and McpReady ({reason}): {last:?}"
    );
    last.unwrap()
}

/// One tool call with the official Python SDK client at a Service's ClusterIP.
fn sdk_call_at(url: &str, message: &str) -> Value {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/client.py");
    let args = json!({"message": message}).to_string();
    let out = std::process::Command::new(tools::mcp_python())
        .args([fixture, "call", url, "echo", &args])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn cluster_ip_url(ns: &TestNamespace, service: &str, path: &str) -> String {
    let svc = ns.api::<Service>().get(service).await.unwrap();
    let spec = svc.spec.unwrap();
    let port = spec.ports.unwrap()[0].port;
    format!("http://{}:{port}{path}", spec.cluster_ip.unwrap())
}

async fn control_plane_runs_real_servers(how: &str) {
    support::require_real_node().await;
    let ns = TestNamespace::new(&format!("in-cluster-{how}")).await;
    let team = TestNamespace::new(&format!("in-cluster-{how}-team")).await;
    // The CRD is the cluster's (installed once for every test), not the installs'.
    support::install_crd(&ns.client).await;
    api_token(&ns).await;
    let deployment = match how {
        "helm" => install_with_helm(&ns.name, &team.name),
        _ => install_with_kustomize(&ns.name, &team.name),
    };
    let deployments = ns.api::<Deployment>();
    let available = support::eventually(120, || {
        let (deployments, name) = (deployments.clone(), deployment.clone());
        async move {
            deployments
                .get(&name)
                .await
                .ok()
                .and_then(|d| d.status?.available_replicas)
                == Some(1)
        }
    })
    .await;
    assert!(
        available,
        "the control plane's pod is not available: {}",
        logs(&ns.name, &deployment)
    );

    let mcps = ns.api::<McpServer>();
    let http = server(
        "everything",
        json!({
            "image": EVERYTHING,
            "args": ["streamableHttp"],
            "env": [{"name": "PORT", "value": "3001"}],
            "transport": {"type": "streamable-http", "port": 3001, "path": "/mcp"},
        }),
    );
    let stdio = server(
        "everything-stdio",
        json!({
            "image": EVERYTHING,
            "command": ["/usr/bin/node", EVERYTHING_JS, "stdio"],
            "transport": {"type": "stdio"},
        }),
    );
    // One server in the control plane's namespace, one in the team's.
    mcps.create(&PostParams::default(), &http).await.unwrap();
    let team_mcps = team.api::<McpServer>();
    team_mcps
        .create(&PostParams::default(), &stdio)
        .await
        .unwrap();
    // server-everything speaks the handshake era (`initialize`); behind the bridge, both
    // (`server/discover` answered by the bridge).
    let (h, s) = tokio::join!(
        ready(&ns, "everything", "Initialized"),
        ready(&team, "everything-stdio", "Discovered")
    );
    for (status, era) in [(&h, "handshake"), (&s, "both")] {
        let mcp = status.mcp.as_ref().expect("status.mcp");
        assert_eq!(mcp.server_info.name, "mcp-servers/everything");
        assert_eq!(mcp.era, era);
        assert!(mcp.tools.unwrap_or(0) >= 5, "{:?}", mcp.tools);
        assert_eq!(mcp.tools_hash.as_deref().map(str::len), Some(64));
    }

    // The official SDK's client through each Service's ClusterIP (from the host, via kube-proxy).
    for (at, service, path) in [
        (&ns, "mcp-everything", "/mcp"),
        (&team, "mcp-everything-stdio", "/mcp"),
    ] {
        let url = cluster_ip_url(at, service, path).await;
        let said = tokio::task::spawn_blocking(move || sdk_call_at(&url, "in the cluster"))
            .await
            .unwrap();
        assert!(
            said["result"]
                .as_str()
                .is_some_and(|r| r.contains("in the cluster")),
            "{service}: {said}"
        );
    }

    // Everything it made goes with the servers.
    mcps.delete("everything", &Default::default())
        .await
        .unwrap();
    team_mcps
        .delete("everything-stdio", &Default::default())
        .await
        .unwrap();
    let team_deployments = team.api::<Deployment>();
    let gone = support::eventually(60, || {
        let all = [deployments.clone(), team_deployments.clone()];
        async move {
            for deployments in all {
                let list = deployments
                    .list(&kube::api::ListParams::default().labels("mcp-runtime.dev/server"))
                    .await
                    .unwrap();
                if !list.items.is_empty() {
                    return false;
                }
            }
            true
        }
    })
    .await;
    assert!(gone, "the servers' Deployments are deleted with them");
    uninstall(how, &ns.name);
}

/// The cluster-scoped objects an install made (the namespace's deletion takes the rest).
fn uninstall(how: &str, ns: &str) {
    if how == "helm" {
        let kc = support::kubeconfig_path();
        let (ok, out, err) = tools::run(
            &tools::helm(),
            &[
                "uninstall",
                "cp",
                "--kubeconfig",
                kc.to_str().unwrap(),
                "-n",
                ns,
            ],
            None,
        );
        assert!(ok, "helm uninstall: {out}{err}");
    } else {
        for kind in ["clusterrolebinding", "clusterrole"] {
            kubectl(&["delete", kind, &format!("mcp-runtime-{ns}")], None);
        }
    }
}

#[tokio::test]
async fn installed_with_helm_the_control_plane_runs_real_servers() {
    control_plane_runs_real_servers("helm").await;
}

#[tokio::test]
async fn installed_with_kustomize_the_control_plane_runs_real_servers() {
    control_plane_runs_real_servers("kustomize").await;
}
