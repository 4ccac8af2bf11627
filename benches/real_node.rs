//! Real pods on the local cluster's real node (deploy/local-cluster/up.sh as root first): how
//! long from a create to a ready pod, and to `McpReady=True` (an MCP answer through the Service),
//! for a streamable-HTTP server (the official server-everything) and a bridged stdio one (its
//! stdio mode), side by side with `kubectl apply` of a plain Deployment of the same image (the
//! kubelet's own pace: no Secret, Service, NetworkPolicy or init container). A separate
//! `mcp-runtime serve` reconciles and probes (from the host, at the pods' IPs).
//!
//! `cargo bench --bench real_node` (MCP_RUNTIME_BENCH_ITERATIONS, default 10 per row, one at a
//! time; MCP_RUNTIME_BENCH_BIN runs another build's `serve`, for a before and an after). Each server is deleted, and its pod gone, before the next.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use mcp_runtime::api::store::McpServerRuntimeManager;
use mcp_runtime::crd::McpServer;
use serde_json::{Value, json};

const EVERYTHING: &str = "localhost/mcp-everything:2026.8.31";
const EVERYTHING_JS: &str =
    "/app/node_modules/@modelcontextprotocol/server-everything/dist/index.js";

fn kubeconfig() -> PathBuf {
    std::env::var("MCP_RUNTIME_TEST_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/mcp-runtime/cluster/kubeconfig")
        })
}

fn placed(mut doc: Value) -> Value {
    doc["nodeSelector"] = json!({"mcp-runtime.dev/node": "real"});
    doc["tolerations"] =
        json!([{"key": "mcp-runtime.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}]);
    doc
}

fn http_server(name: &str) -> Value {
    placed(json!({
        "name": name, "image": EVERYTHING, "args": ["streamableHttp"],
        "env": [{"name": "PORT", "value": "3001"}],
        "transport": {"type": "streamable-http", "port": 3001, "path": "/mcp"},
    }))
}

fn stdio_server(name: &str) -> Value {
    placed(json!({
        "name": name, "image": EVERYTHING,
        "command": ["/usr/bin/node", EVERYTHING_JS, "stdio"],
        "transport": {"type": "stdio"},
    }))
}

/// The baseline: the same image as a bare Deployment, ready when its TCP port accepts.
fn plain_deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"bench": name}},
            "template": {
                "metadata": {"labels": {"bench": name}},
                "spec": {
                    "nodeSelector": {"mcp-runtime.dev/node": "real"},
                    "tolerations": [{"key": "mcp-runtime.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "server", "image": EVERYTHING, "imagePullPolicy": "IfNotPresent",
                        "args": ["streamableHttp"], "env": [{"name": "PORT", "value": "3001"}],
                        "readinessProbe": {"tcpSocket": {"port": 3001}, "periodSeconds": 1},
                    }],
                },
            },
        },
    })
}

fn p(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn summary(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.2} s / {:.2} s", p(&v, 0.5), p(&v, 0.99))
}

async fn ready_pod(pods: &Api<Pod>, selector: &str) -> bool {
    let list = pods
        .list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.iter().any(|p| {
        p.metadata.deletion_timestamp.is_none()
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
}

async fn gone(pods: &Api<Pod>, selector: &str) {
    for _ in 0..600 {
        let left = pods
            .list(&ListParams::default().labels(selector))
            .await
            .map(|l| l.items.len())
            .unwrap_or(1);
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mcp_ready(m: &McpServer) -> bool {
    m.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "McpReady" && c.status == "True")
    })
}

/// One create of a server: (to a ready pod, to McpReady=True), in seconds.
async fn one_server(
    manager: &McpServerRuntimeManager,
    mcps: &Api<McpServer>,
    pods: &Api<Pod>,
    doc: &Value,
) -> anyhow::Result<(f64, f64)> {
    let name = doc["name"].as_str().unwrap_or_default().to_string();
    let selector = format!("mcp-runtime.dev/server=mcp-{name}");
    let t = Instant::now();
    manager.create(doc).await?;
    let (mut pod_ready, mut mcp) = (None, None);
    // Both, in either order: the MCP probe asks the pod directly, so McpReady may come first.
    while t.elapsed() < Duration::from_secs(120) && (mcp.is_none() || pod_ready.is_none()) {
        if pod_ready.is_none() && ready_pod(pods, &selector).await {
            pod_ready = Some(t.elapsed().as_secs_f64());
        }
        if mcp.is_none() && mcps.get(&name).await.is_ok_and(|m| mcp_ready(&m)) {
            mcp = Some(t.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    manager.remove(&name).await?;
    gone(pods, &selector).await;
    match (pod_ready, mcp) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => anyhow::bail!("{name} did not become ready and McpReady within 120 s"),
    }
}

async fn one_plain(
    deployments: &Api<Deployment>,
    pods: &Api<Pod>,
    i: usize,
) -> anyhow::Result<f64> {
    let name = format!("plain-{i}");
    let d: Deployment = serde_json::from_value(plain_deployment(&name))?;
    let selector = format!("bench={name}");
    let t = Instant::now();
    deployments.create(&PostParams::default(), &d).await?;
    while !ready_pod(pods, &selector).await {
        anyhow::ensure!(t.elapsed() < Duration::from_secs(120), "{name} not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = t.elapsed().as_secs_f64();
    deployments
        .delete(&name, &DeleteParams::foreground())
        .await?;
    gone(pods, &selector).await;
    Ok(took)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("MCP_RUNTIME_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let kc = kubeconfig();
    let config =
        Config::from_custom_kubeconfig(Kubeconfig::read_from(&kc)?, &KubeConfigOptions::default())
            .await?;
    let client = Client::try_from(config)?;
    let ns = format!(
        "bench-real-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The CRD, as a platform installs it (a fresh local cluster has none).
    let installed = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-runtime"))
        .args(["install", "--kubeconfig", &kc.display().to_string()])
        .stdout(Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(installed.success(), "mcp-runtime install failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let token = std::env::temp_dir().join(format!("{ns}-token"));
    std::fs::write(&token, "bench-token\n")?;
    // Another build's binary (MCP_RUNTIME_BENCH_BIN) measures a before and an after with one bench.
    let bin = std::env::var("MCP_RUNTIME_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mcp-runtime").to_string());
    println!("serve: {bin}");
    let mut serve = tokio::process::Command::new(&bin)
        .args(["serve", "--leader-elect=false", "--namespace", &ns])
        .args(["--kubeconfig", &kc.display().to_string()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--token-file", &token.display().to_string()])
        .env("MCP_RUNTIME_MCP_PROBE_GATES_READY", "true")
        .env("MCP_RUNTIME_BRIDGE_IMAGE", "localhost/mcp-runtime:dev")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let manager = McpServerRuntimeManager::new(client.clone(), &ns);
    let mcps: Api<McpServer> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    println!("real-node benchmark: {n} creates per row, one at a time (p50 / p99)");
    let (mut plain, mut http, mut stdio) = (vec![], vec![], vec![]);
    for i in 0..n {
        plain.push(one_plain(&deployments, &pods, i).await?);
        http.push(one_server(&manager, &mcps, &pods, &http_server(&format!("http-{i}"))).await?);
        stdio.push(one_server(&manager, &mcps, &pods, &stdio_server(&format!("stdio-{i}"))).await?);
    }
    let _ = serve.kill().await;
    let _ = std::fs::remove_file(&token);
    let _ = namespaces.delete(&ns, &DeleteParams::background()).await;

    println!();
    println!("| create → | pod Ready (p50 / p99) | McpReady=True (p50 / p99) |");
    println!("|---|---|---|");
    println!(
        "| kubectl-style Deployment of server-everything (TCP readiness) | {} | – |",
        summary(plain)
    );
    println!(
        "| mcp-runtime, streamable HTTP (server-everything) | {} | {} |",
        summary(http.iter().map(|x| x.0).collect()),
        summary(http.iter().map(|x| x.1).collect())
    );
    println!(
        "| mcp-runtime, stdio through the bridge (server-everything stdio) | {} | {} |",
        summary(stdio.iter().map(|x| x.0).collect()),
        summary(stdio.iter().map(|x| x.1).collect())
    );
    Ok(())
}
