//! Plugin benchmarks (no cluster): builds the five example policies from source, then reports
//! cold compile time, load from the compiled cache, fresh-instance `mutate` p50/p99 per plugin,
//! the whole chain over one server's Deployment and Service, and `POST /v1/render` through the
//! API router with that chain. `cargo bench --bench plugins` (MCP_RUNTIME_BENCH_ITERATIONS).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use http_body_util::BodyExt;
use mcp_runtime::plugin::tools::build::{BuildOptions, build};
use mcp_runtime::plugin::tools::testing::bench;
use mcp_runtime::plugin::{LoadedPlugin, PluginSet};
use tower::ServiceExt;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("MCP_RUNTIME_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let set = std::env::temp_dir().join(format!("mcp-plugin-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&set);
    std::fs::create_dir_all(&set)?;
    // A cache of its own, so "cold compile" is really cold (the toolchains stay where they are).
    let (qjs, py) = (
        mcp_runtime::plugin::tools::build::qjs().map_err(anyhow::Error::msg)?,
        mcp_runtime::plugin::tools::build::py().map_err(anyhow::Error::msg)?,
    );
    let cache = set.join(".cache");
    // SAFETY: set before any other thread reads the environment.
    unsafe {
        std::env::set_var("MCP_RUNTIME_COMPONENTIZE_QJS", qjs);
        std::env::set_var("MCP_RUNTIME_COMPONENTIZE_PY", py);
        std::env::set_var("MCP_RUNTIME_CACHE", &cache);
        // Measure instances made ahead too (off by default in the control plane).
        std::env::set_var("MCP_RUNTIME_PLUGIN_WARM_INSTANCES", "2");
    }
    println!("| plugin | language | component | build | cold compile + load | load from cache |");
    println!("|---|---|---|---|---|---|");
    for name in [
        "org-labels",
        "resources",
        "service-exposure",
        "registry-allowlist",
        "hardening",
    ] {
        let dir = set.join(name);
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(root.join("plugins/examples").join(name))
            .arg(&dir)
            .status()?;
        anyhow::ensure!(status.success());
        let built = build(&dir, &BuildOptions::default()).map_err(anyhow::Error::msg)?;
        let t = Instant::now();
        let _cold = LoadedPlugin::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        let cold = t.elapsed();
        let t = Instant::now();
        let warm = LoadedPlugin::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        let from_cache = t.elapsed();
        let lang = if dir.join("policy.js").exists() {
            "JavaScript (QuickJS)"
        } else {
            "Python (CPython)"
        };
        println!(
            "| {} | {lang} | {:.1} MB | {:.1} s | {:.0} ms | {:.1} ms ({:?}) |",
            warm.id(),
            built.bytes as f64 / 1e6,
            built.seconds,
            cold.as_secs_f64() * 1e3,
            from_cache.as_secs_f64() * 1e3,
            warm.source
        );
    }
    std::fs::remove_dir_all(&cache).ok();
    std::fs::create_dir_all(&cache).ok();

    let report = bench(&set, n).map_err(anyhow::Error::msg)?;
    println!();
    println!(
        "| plugin | instantiate inline + mutate, p50 | p99 | instance made ahead + mutate, p50 | p99 |"
    );
    println!("|---|---|---|---|---|");
    for b in &report.plugins {
        println!(
            "| {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |",
            b.plugin,
            b.fresh_call_p50_us,
            b.fresh_call_p99_us,
            b.warm_call_p50_us,
            b.warm_call_p99_us
        );
    }
    println!(
        "chain of {} over one server (validate-config, Deployment, Service): inline p50 {:.2} ms, p99 {:.2} ms; ready instances p50 {:.2} ms, p99 {:.2} ms ({n} runs)",
        report.plugins.len(),
        report.chain_inline.0,
        report.chain_inline.1,
        report.chain_ready.0,
        report.chain_ready.1
    );

    // POST /v1/render through the router with the chain (allowed by the allow-list).
    let plugins = Arc::new(PluginSet::load(&set, None).map_err(anyhow::Error::msg)?);
    let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse()?))?;
    let (state, _cache) = mcp_runtime::api::AppState::new(
        client,
        mcp_runtime::runtime::scope::Served::from_list(&["default".to_string()]),
        mcp_runtime::render::RenderContext::default(),
        mcp_runtime::api::Access::tokens(mcp_runtime::api::Tokens::disabled()),
        Arc::new(mcp_runtime::metrics::Metrics::new()),
        plugins,
    );
    let router = mcp_runtime::api::router(state);
    let body = serde_json::to_vec(&serde_json::json!({
        "name": "bench", "image": "ghcr.io/acme/mcp:1", "transport": {"type": "streamable-http"},
        "env": [{"name": "A", "value": "1"}, {"name": "T", "secretValue": "x"}]
    }))?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let req = http::Request::post("/v1/render").body(Body::from(body.clone()))?;
        let t = Instant::now();
        let resp = router.clone().oneshot(req).await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "render answered {}",
            resp.status()
        );
        let _ = resp.into_body().collect().await?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "POST /v1/render with the 5-policy chain: p50 {:.2} ms, p99 {:.2} ms ({n} requests)",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );

    // Deadline precision: an endless loop with a 50 ms limit, 20 times.
    let looping = set.join("endless-loop");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(root.join("tests/fixtures/hostile/endless-loop"))
        .arg(&looping)
        .status()?;
    anyhow::ensure!(status.success());
    build(&looping, &BuildOptions::default()).map_err(anyhow::Error::msg)?;
    let p = LoadedPlugin::load(&looping).map_err(|e| anyhow::anyhow!("{e}"))?;
    let manifest = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}"#;
    let quiet = overshoots(&p, manifest)?;
    // The same beside two threads that never sleep (this machine has 2 cores): a busy node.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
        })
        .collect();
    let busy = overshoots(&p, manifest);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    spinners.into_iter().for_each(|t| drop(t.join()));
    let busy = busy?;
    println!(
        "endless loop, 50 ms deadline, stopped after it by: quiet p50 {:.2} ms, max {:.2} ms | busy (2 spinning threads) p50 {:.2} ms, max {:.2} ms (20 calls each)",
        pct(&quiet, 0.5),
        quiet.last().copied().unwrap_or(0.0),
        pct(&busy, 0.5),
        busy.last().copied().unwrap_or(0.0)
    );
    let _ = std::fs::remove_dir_all(&set);
    Ok(())
}

/// How late 20 calls of the endless loop were stopped past their 50 ms deadline, sorted (ms).
fn overshoots(p: &LoadedPlugin, manifest: &str) -> anyhow::Result<Vec<f64>> {
    let mut overshoot = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let deadline = t + std::time::Duration::from_millis(50);
        let r = p.mutate(
            mcp_runtime::plugin::Hook::MutateDeployment,
            "x",
            "default",
            "{}",
            manifest,
            deadline,
        );
        anyhow::ensure!(r.is_err(), "the loop must be stopped");
        overshoot.push(t.elapsed().as_secs_f64() * 1e3 - 50.0);
    }
    overshoot.sort_by(f64::total_cmp);
    Ok(overshoot)
}
