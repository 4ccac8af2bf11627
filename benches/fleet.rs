//! Fleet benchmark against the local cluster (deploy/local-cluster/up.sh first):
//!
//! 1. N servers (half streamable-http with a secret value, half stdio with a command, hence
//!    bridged with a Service) created through the runtime manager with a separate
//!    `mcp-runtime serve` process reconciling them: time until every Deployment, Secret,
//!    Service and NetworkPolicy exists (the counts come from the rendered manifests); side by
//!    side with `kubectl apply --server-side` of the same manifests (the API server's own pace).
//! 2. Resident memory of that `serve` process with N servers managed.
//! 3. Requests the control plane makes while the fleet is idle, from the API server's own
//!    `apiserver_request_total` (non-watch requests on the kinds it touches).
//!
//! 4. The API server's own load in each phase: CPU seconds of kube-apiserver and etcd per
//!    second of wall time (cores used; this machine has 2), which says whether the API server
//!    is the ceiling.
//! 5. Memory per server: the same `serve` at 0 servers, at N and, after more are created, at
//!    `MCP_RUNTIME_BENCH_SCALE_SERVERS` (default 5000; 0 skips that phase).
//!
//! `cargo bench --bench fleet` (N = 1000); `MCP_RUNTIME_BENCH_SERVERS`, `MCP_RUNTIME_BENCH_IDLE_SECONDS`,
//! `MCP_RUNTIME_BENCH_SCALE_SERVERS`; `MCP_RUNTIME_BENCH_SERVE_ENV` (`K=V,K=V`) runs `serve` with
//! extra environment (an allocator A/B: `MALLOC_ARENA_MAX=2`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use mcp_runtime::api::store::McpServerRuntimeManager;
use mcp_runtime::render::{RenderContext, render_document};
use serde_json::{Value, json};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cache() -> PathBuf {
    std::env::var("MCP_RUNTIME_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mcp-runtime")
        })
}

fn kubeconfig() -> PathBuf {
    std::env::var("MCP_RUNTIME_TEST_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache().join("cluster/kubeconfig"))
}

fn kubectl() -> PathBuf {
    let versions = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/local-cluster/versions.env"
    ))
    .unwrap_or_default();
    let get = |k: &str| {
        versions
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_default()
            .to_string()
    };
    cache().join(format!(
        "bin/k8s-{}-etcd-{}-kwok-{}/kubectl",
        get("K8S_VERSION"),
        get("ETCD_VERSION"),
        get("KWOK_VERSION")
    ))
}

fn server(i: usize) -> Value {
    if i.is_multiple_of(2) {
        json!({"name": format!("http-{i}"), "image": "ghcr.io/example/mcp:1",
               "transport": {"type": "streamable-http", "port": 8080},
               "env": [{"name": "MODE", "value": "bench"}, {"name": "TOKEN", "secretValue": format!("t-{i}")}]})
    } else {
        json!({"name": format!("stdio-{i}"), "command": ["npx", "-y", "@modelcontextprotocol/server-everything"]})
    }
}

/// Managed objects in `ns` by kind, as (kind, count) in [`KINDS`] order.
const KINDS: [&str; 4] = ["Deployment", "Secret", "Service", "NetworkPolicy"];

async fn count<K>(client: &Client, ns: &str) -> usize
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=mcp-runtime");
    Api::<K>::namespaced(client.clone(), ns)
        .list_metadata(&lp)
        .await
        .map(|l| l.items.len())
        .unwrap_or(0)
}

async fn counts(client: &Client, ns: &str) -> Vec<usize> {
    vec![
        count::<Deployment>(client, ns).await,
        count::<Secret>(client, ns).await,
        count::<Service>(client, ns).await,
        count::<k8s_openapi::api::networking::v1::NetworkPolicy>(client, ns).await,
    ]
}

async fn wait_counts(client: &Client, ns: &str, want: &[usize], limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if counts(client, ns).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), name);
    for _ in 0..100 {
        if sa.get_opt("default").await.ok().flatten().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Non-watch requests `serve` made in `ns` between `from` and `to`, by "VERB resource", from the
/// local API server's audit log (the current file and any rotated since `from`), recognised by
/// the user agent every `serve` sends. The API server's own counter has no user agent, and in an
/// idle window the scheduler's and controller-manager's events dominate it.
fn our_requests(
    kc: &std::path::Path,
    ns: &str,
    from: k8s_openapi::jiff::Timestamp,
    to: k8s_openapi::jiff::Timestamp,
) -> BTreeMap<String, usize> {
    let logs = kc.with_file_name("logs");
    let since = std::time::SystemTime::from(from);
    let files = std::fs::read_dir(&logs)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("audit") && name.ends_with(".log")
        })
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        });
    let mut out = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file.path()).unwrap_or_default();
        let lines = text
            .lines()
            .filter(|l| l.contains("\"userAgent\":\"mcp-runtime/"));
        for e in lines.filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
            let ours = e["userAgent"]
                .as_str()
                .is_some_and(|a| a.starts_with("mcp-runtime/"));
            let at = e["requestReceivedTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
            if !ours
                || e["verb"] == "watch"
                || e["objectRef"]["namespace"] != ns
                || !at.is_some_and(|t| t >= from && t < to)
            {
                continue;
            }
            let key = format!(
                "{} {}",
                e["verb"].as_str().unwrap_or_default(),
                e["objectRef"]["resource"].as_str().unwrap_or_default()
            );
            *out.entry(key).or_insert(0) += 1;
        }
    }
    out
}

/// Sum of non-watch requests on the kinds the control plane touches.
async fn request_total(client: &Client) -> BTreeMap<String, f64> {
    let text = client
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |k: &str| {
            line.split(&format!("{k}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        let resource = label("resource");
        let verb = label("verb");
        if verb == "WATCH"
            || ![
                "mcpservers",
                "deployments",
                "pods",
                "services",
                "secrets",
                "events",
                "networkpolicies",
                "configmaps",
            ]
            .contains(&resource.as_str())
        {
            continue;
        }
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry(format!("{verb} {resource}")).or_insert(0.0) += value;
    }
    out
}

/// A closed-loop load generator on loopback: `clients` connections, each sending the next request
/// when the last answered; latencies of every request.
async fn status_load(
    port: u16,
    n: usize,
    clients: usize,
    length: Duration,
) -> (f64, f64, f64, usize) {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client as HttpClient;
    use hyper_util::rt::TokioExecutor;
    let client: HttpClient<_, Empty<bytes::Bytes>> =
        HttpClient::builder(TokioExecutor::new()).build_http();
    let end = Instant::now() + length;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut i = c;
            while Instant::now() < end {
                let name = if i % 2 == 0 {
                    format!("http-{i}")
                } else {
                    format!("stdio-{i}")
                };
                i = (i + clients) % n;
                let req =
                    http::Request::get(format!("http://127.0.0.1:{port}/v1/servers/{name}/status"))
                        .header("authorization", "Bearer bench-token")
                        .body(Empty::new())
                        .unwrap();
                let t = Instant::now();
                match client.request(req).await {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.into_body().collect().await;
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (
        all.len() as f64 / length.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        errors,
    )
}

/// CPU seconds used so far by every process named `comm` (kube-apiserver, etcd).
fn cpu_seconds(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let ticks = 100.0; // USER_HZ on Linux
    dir.flatten()
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == comm))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .map(|stat| {
            // Fields after the `(comm)`: state is 3rd, utime 14th, stime 15th of the line.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (num(11) + num(12)) / ticks
        })
        .sum()
}

/// Cores the API server and etcd used between two readings of [`api_cpu`].
fn cores(from: (f64, Instant), to: (f64, Instant)) -> f64 {
    (to.0 - from.0) / to.1.duration_since(from.1).as_secs_f64().max(1e-9)
}

fn api_cpu() -> (f64, Instant) {
    (
        cpu_seconds("kube-apiserver") + cpu_seconds("etcd"),
        Instant::now(),
    )
}

/// What the servers `range` must leave, by kind in [`KINDS`] order.
fn wanted(range: std::ops::Range<usize>, ctx: &RenderContext) -> anyhow::Result<Vec<usize>> {
    let mut want = vec![0usize; KINDS.len()];
    for i in range {
        for o in render_document(&server(i), ctx)?.objects() {
            if let Some(k) = KINDS.iter().position(|k| o["kind"] == *k) {
                want[k] += 1;
            }
        }
    }
    Ok(want)
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Extra environment for `serve` from `MCP_RUNTIME_BENCH_SERVE_ENV` (`K=V,K=V`).
fn serve_env() -> Vec<(String, String)> {
    std::env::var("MCP_RUNTIME_BENCH_SERVE_ENV")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Creates the servers `range` through the runtime manager, 32 at a time.
async fn create_range(
    manager: &McpServerRuntimeManager,
    range: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let results: Vec<_> = stream::iter(range)
        .map(|i| {
            let m = manager.clone();
            async move { m.create(&server(i)).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    anyhow::ensure!(failed == 0, "{failed} creates failed");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env_num("MCP_RUNTIME_BENCH_SERVERS", 1000) as usize;
    let idle_secs = env_num("MCP_RUNTIME_BENCH_IDLE_SECONDS", 60);
    let scale = env_num("MCP_RUNTIME_BENCH_SCALE_SERVERS", 5000) as usize;
    let kc = kubeconfig();
    let config =
        Config::from_custom_kubeconfig(Kubeconfig::read_from(&kc)?, &KubeConfigOptions::default())
            .await?;
    let client = Client::try_from(config)?;
    let stamp = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    println!(
        "fleet benchmark: {n} servers ({} streamable-http with a secret, {} stdio with a command, bridged)",
        n.div_ceil(2),
        n / 2
    );

    // --- kubectl apply --server-side of the same rendered manifests ---
    let ns_k = format!("bench-kubectl-{stamp}");
    namespace(&client, &ns_k).await;
    let ctx = RenderContext {
        namespace: ns_k.clone(),
        ..Default::default()
    };
    let mut yaml = String::new();
    // What both must create, counted from the rendered manifests.
    let want = wanted(0..n, &ctx)?;
    for i in 0..n {
        for o in render_document(&server(i), &ctx)?.objects() {
            yaml.push_str("---\n");
            yaml.push_str(&serde_norway::to_string(&o)?);
        }
    }
    let file = std::env::temp_dir().join(format!("fleet-{stamp}.yaml"));
    std::fs::write(&file, yaml)?;
    let t = Instant::now();
    let cpu_k = api_cpu();
    let status = tokio::process::Command::new(kubectl())
        .args([
            "--kubeconfig",
            &kc.display().to_string(),
            "apply",
            "--server-side",
            "--field-manager=bench",
            "-f",
            &file.display().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(status.success(), "kubectl apply failed");
    let ok = wait_counts(&client, &ns_k, &want, Duration::from_secs(600)).await;
    let kubectl_time = t.elapsed();
    let cores_k = cores(cpu_k, api_cpu());
    anyhow::ensure!(ok, "kubectl objects incomplete");
    let _ = std::fs::remove_file(&file);

    // --- mcp-runtime: manager creates, a separate serve process reconciles ---
    let ns_r = format!("bench-runtime-{stamp}");
    namespace(&client, &ns_r).await;
    let bin = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/release/mcp-runtime"
    ));
    let bin = if bin.exists() {
        bin
    } else {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/debug/mcp-runtime"
        ))
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let token_file = std::env::temp_dir().join(format!("fleet-token-{stamp}"));
    std::fs::write(&token_file, "bench-token\n")?;
    let mut serve = tokio::process::Command::new(&bin)
        .args([
            "serve",
            "--leader-elect=false",
            "--namespace",
            &ns_r,
            "--kubeconfig",
            &kc.display().to_string(),
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--token-file",
            &token_file.display().to_string(),
        ])
        .env("RUST_LOG", "warn")
        .envs(serve_env())
        .stdout(Stdio::null())
        .spawn()?;
    let pid = serve.id().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_zero, _) = rss_kib(pid);
    let manager = McpServerRuntimeManager::new(client.clone(), &ns_r);
    let t = Instant::now();
    let cpu_r = api_cpu();
    create_range(&manager, 0..n).await?;
    let created = t.elapsed();
    let ok = wait_counts(&client, &ns_r, &want, Duration::from_secs(900)).await;
    let runtime_time = t.elapsed();
    let cores_r = cores(cpu_r, api_cpu());
    anyhow::ensure!(
        ok,
        "runtime objects incomplete: {:?}",
        counts(&client, &ns_r).await
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, hwm) = rss_kib(pid);

    // --- idle: requests the control plane makes with nothing changing ---
    let before = request_total(&client).await;
    let idle_from = k8s_openapi::jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let after = request_total(&client).await;
    let ours_idle = our_requests(&kc, &ns_r, idle_from, k8s_openapi::jiff::Timestamp::now());
    let (rss_idle, _) = rss_kib(pid);

    // --- GET /v1/servers/{name}/status: 16 concurrent clients for 10 s ---
    let (rps, p50, p99, errors) = status_load(port, n, 16, Duration::from_secs(10)).await;
    let _ = std::fs::remove_file(&token_file);

    // --- memory per server: more servers on the same serve ---
    let rss_scaled = if scale > n {
        create_range(&manager, n..scale).await?;
        let ctx_r = RenderContext {
            namespace: ns_r.clone(),
            ..Default::default()
        };
        let want = wanted(0..scale, &ctx_r)?;
        let ok = wait_counts(&client, &ns_r, &want, Duration::from_secs(1800)).await;
        anyhow::ensure!(ok, "{scale} servers incomplete");
        tokio::time::sleep(Duration::from_secs(10)).await;
        Some(rss_kib(pid).0)
    } else {
        None
    };
    let mut idle: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d > 0.0)
        .collect();
    idle.sort_by(|a, b| a.0.cmp(&b.0));

    println!();
    println!("| measurement | kubectl apply --server-side | mcp-runtime |");
    println!("|---|---|---|");
    println!(
        "| {n} servers: all {} Deployments/Secrets/Services/NetworkPolicies exist | {:.1} s | {:.1} s ({:.2}x kubectl; creates accepted after {:.1} s) |",
        want.iter().sum::<usize>(),
        kubectl_time.as_secs_f64(),
        runtime_time.as_secs_f64(),
        runtime_time.as_secs_f64() / kubectl_time.as_secs_f64(),
        created.as_secs_f64()
    );
    println!("| kube-apiserver + etcd CPU meanwhile (cores of 2) | {cores_k:.2} | {cores_r:.2} |");
    println!(
        "| serve resident memory, {n} servers managed | – | {:.1} MB now, {:.1} MB peak, {:.1} MB after idle |",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        rss_idle as f64 / 1024.0
    );
    let per_server =
        |from: u64, to: u64, servers: usize| (to as f64 - from as f64) / servers.max(1) as f64;
    let scaled = match rss_scaled {
        Some(r) => format!(
            ", {:.1} MB at {scale} ({:.1} KiB per server from {n} to {scale})",
            r as f64 / 1024.0,
            per_server(rss_idle, r, scale - n)
        ),
        None => String::new(),
    };
    println!(
        "| serve resident memory by servers managed | – | {:.1} MB at 0, {:.1} MB at {n} ({:.1} KiB per server){scaled} |",
        rss_zero as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        per_server(rss_zero, rss_idle, n)
    );
    let total: f64 = idle.iter().map(|(_, d)| d).sum();
    println!(
        "| non-watch API requests in {idle_secs} s idle, all clients (deployments, pods, services, secrets, configmaps, networkpolicies, events, mcpservers) | – | {} {idle:?} |",
        total.abs()
    );
    println!(
        "| of those, made by serve in its namespace (audit log, by user agent) | – | {} {ours_idle:?} |",
        ours_idle.values().sum::<usize>()
    );

    println!(
        "| GET /v1/servers/{{name}}/status, {n} servers, 16 clients, 10 s | – | {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {errors} errors |"
    );

    let _ = serve.kill().await;
    for ns in [&ns_k, &ns_r] {
        let _ = Api::<Namespace>::all(client.clone())
            .delete(ns, &DeleteParams::background())
            .await;
    }
    Ok(())
}
