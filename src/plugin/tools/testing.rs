//! `mcp-runtime plugin test` and `plugin bench`: a plugin (or a directory of plugins) run over
//! fixture files — a server document, optional settings, and the expected manifests (a subset)
//! or the expected denial — with a readable diff on failure and an idempotence check (running
//! the chain again on its own output changes nothing more).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use crate::plugin::chain::Chain;
use crate::plugin::host::LoadedPlugin;
use crate::render::{RenderContext, ServerNames, parse_document, render, secret};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default)]
    pub description: String,
    pub server: Value,
    #[serde(default)]
    pub settings: Option<Value>,
    pub expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A substring of the denial message; absent means the server must be allowed.
    #[serde(default)]
    pub denied: Option<String>,
    /// Fields the Deployment must have (a subset of it).
    #[serde(default)]
    pub deployment: Option<Value>,
    #[serde(default)]
    pub service: Option<Value>,
    /// Pointers that must be absent from the Deployment.
    #[serde(default)]
    pub deployment_absent: Vec<String>,
}

#[derive(Debug)]
pub struct Outcome {
    pub fixture: String,
    pub failure: Option<String>,
}

/// Loads the plugin in `dir` (a plugin folder) or every plugin under it.
fn chain_for(dir: &Path, settings: Option<&Value>) -> Result<Chain, String> {
    if dir.join("plugin.json").exists() {
        let p = LoadedPlugin::load_with(dir, settings).map_err(|e| e.to_string())?;
        Ok(Chain::new(vec![Arc::new(p)]))
    } else {
        Chain::load_dir(dir).map_err(|e| e.to_string())
    }
}

/// Renders and runs the chain once; `Err` carries a denial or a failure.
pub fn run_once(
    chain: &Chain,
    doc: &Value,
    ctx: &RenderContext,
) -> Result<(crate::render::Manifests, crate::plugin::ChainReport), String> {
    let spec = parse_document(doc).map_err(|e| format!("fixture server is invalid: {e}"))?;
    let mut manifests = render(&spec, ctx).map_err(|e| e.to_string())?;
    let names = ServerNames::new(&spec.name).ok_or("no name")?;
    let (stored, _, _) = secret::split(&spec, &names, &ctx.namespace);
    let server = serde_json::to_value(&stored).unwrap_or_default();
    let report = chain
        .run(&names.slug, &ctx.namespace, &server, &mut manifests)
        .map_err(|e| e.to_string())?;
    Ok((manifests, report))
}

/// Runs every fixture of `dir/fixtures` (JSON or YAML).
pub fn run_fixtures(dir: &Path) -> Result<Vec<Outcome>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("fixtures"))
        .map_err(|e| format!("{}/fixtures: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "json" || x == "yaml" || x == "yml")
        })
        .collect();
    files.sort();
    let ctx = RenderContext::default();
    let mut out = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let doc = crate::input::read_document(&file).map_err(|e| e.to_string())?;
        let fixture: Fixture = serde_json::from_value(doc).map_err(|e| format!("{name}: {e}"))?;
        let chain = chain_for(dir, fixture.settings.as_ref())?;
        let failure = check(&chain, &fixture, &ctx).err();
        out.push(Outcome {
            fixture: name,
            failure,
        });
    }
    Ok(out)
}

fn check(chain: &Chain, f: &Fixture, ctx: &RenderContext) -> Result<(), String> {
    let result = run_once(chain, &f.server, ctx);
    match (&f.expect.denied, result) {
        (Some(want), Err(got)) if got.contains(want.as_str()) => Ok(()),
        (Some(want), Err(got)) => Err(format!("expected a denial containing {want:?}, got: {got}")),
        (Some(want), Ok(_)) => Err(format!(
            "expected a denial containing {want:?}, but the server was allowed"
        )),
        (None, Err(got)) => Err(format!("expected the server to be allowed, got: {got}")),
        (None, Ok((manifests, _))) => {
            let deployment = serde_json::to_value(&manifests.deployment).unwrap_or_default();
            if let Some(want) = &f.expect.deployment {
                subset("", want, &deployment).map_err(|d| format!("Deployment differs:\n{d}"))?;
            }
            for ptr in &f.expect.deployment_absent {
                if deployment.pointer(ptr).is_some() {
                    return Err(format!("Deployment has {ptr}, expected it absent"));
                }
            }
            if let Some(want) = &f.expect.service {
                let service = serde_json::to_value(&manifests.service).unwrap_or_default();
                subset("", want, &service).map_err(|d| format!("Service differs:\n{d}"))?;
            }
            idempotent(chain, &manifests, ctx, &f.server)
        }
    }
}

/// Running the chain over its own output must change nothing more.
fn idempotent(
    chain: &Chain,
    first: &crate::render::Manifests,
    ctx: &RenderContext,
    doc: &Value,
) -> Result<(), String> {
    let spec = parse_document(doc).map_err(|e| e.to_string())?;
    let names = ServerNames::new(&spec.name).ok_or("no name")?;
    let (stored, _, _) = secret::split(&spec, &names, &ctx.namespace);
    let server = serde_json::to_value(&stored).unwrap_or_default();
    let mut again = first.clone();
    let report = chain
        .run(&names.slug, &ctx.namespace, &server, &mut again)
        .map_err(|e| e.to_string())?;
    let changed: Vec<String> = report
        .patches
        .iter()
        .filter(|p| p.applied)
        .map(|p| format!("{} {}: {}", p.plugin, p.hook, p.patch))
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "not idempotent: a second run changed {}",
            changed.join("; ")
        ))
    }
}

/// Every leaf of `want` must be in `got` with the same value; the error lists each difference
/// as `pointer: expected X, got Y`.
pub fn subset(path: &str, want: &Value, got: &Value) -> Result<(), String> {
    let mut diffs = Vec::new();
    walk(path, want, got, &mut diffs);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

fn walk(path: &str, want: &Value, got: &Value, diffs: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}/{}", crate::schema::escape_pointer_segment(k));
                match g.get(k) {
                    Some(gv) => walk(&p, wv, gv, diffs),
                    None => diffs.push(format!("  {p}: expected {wv}, missing")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                walk(&format!("{path}/{i}"), wv, gv, diffs);
            }
        }
        (Value::Array(w), Value::Array(g)) => diffs.push(format!(
            "  {path}: expected {} item(s), got {}: {got}",
            w.len(),
            g.len()
        )),
        _ if want == got => {}
        _ => diffs.push(format!("  {path}: expected {want}, got {got}")),
    }
}

/// Everything `plugin bench` measures: per plugin, and the chain (ms, p50 and p99) with
/// instances made inline or ahead of time.
pub struct BenchReport {
    pub plugins: Vec<Bench>,
    pub chain_inline: (f64, f64),
    pub chain_ready: (f64, f64),
}

/// Timing figures for `plugin bench`.
pub struct Bench {
    pub plugin: String,
    pub load_ms: f64,
    pub loaded_from: &'static str,
    /// Instantiate + call + drop, instantiating inline.
    pub fresh_call_p50_us: f64,
    pub fresh_call_p99_us: f64,
    /// The call on an instance made ahead of time (still one instance per call).
    pub warm_call_p50_us: f64,
    pub warm_call_p99_us: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Loads each plugin under `dir` and measures a fresh-instance `mutate` of a rendered
/// Deployment `n` times; then the whole chain.
///
/// Long (over 80 lines): a benchmark script (set-up, timed loops, the report) kept linear so
/// what is timed is visible at a glance.
pub fn bench(dir: &Path, n: usize) -> Result<BenchReport, String> {
    let doc = serde_json::json!({"name": "bench", "image": "ghcr.io/acme/mcp:1", "transport": {"type": "streamable-http"},
        "env": [{"name": "A", "value": "1"}], "resources": {"requests": {"cpu": "100m"}}});
    let ctx = RenderContext::default();
    let spec = parse_document(&doc).map_err(|e| e.to_string())?;
    let manifests = render(&spec, &ctx).map_err(|e| e.to_string())?;
    let deployment = serde_json::to_string(&manifests.deployment).unwrap_or_default();
    let dirs: Vec<PathBuf> = if dir.join("plugin.json").exists() {
        vec![dir.to_path_buf()]
    } else {
        let mut d: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("plugin.json").exists())
            .collect();
        d.sort();
        d
    };
    let mut out = Vec::new();
    let mut loaded = Vec::new();
    for d in dirs {
        let p = LoadedPlugin::load(&d).map_err(|e| e.to_string())?;
        let hook = if p.manifest.handles(crate::plugin::Hook::MutateDeployment) {
            crate::plugin::Hook::MutateDeployment
        } else {
            crate::plugin::Hook::MutateService
        };
        let measure = |p: &LoadedPlugin, spaced: bool| {
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                if spaced {
                    // Let the background thread make the next instance, as between reconciles.
                    let until = Instant::now() + std::time::Duration::from_millis(20);
                    while p.warm_ready() < p.warm_wanted() && Instant::now() < until {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                }
                let t = Instant::now();
                let deadline = t + std::time::Duration::from_secs(5);
                let _ = p.mutate(hook, "bench", "default", "{}", &deployment, deadline);
                times.push(t.elapsed().as_secs_f64() * 1e6);
            }
            times.sort_by(f64::total_cmp);
            times
        };
        p.set_warm(false);
        let times = measure(&p, false);
        p.set_warm(true);
        let warm = measure(&p, true);
        out.push(Bench {
            plugin: p.id().to_string(),
            load_ms: p.load_time.as_secs_f64() * 1e3,
            loaded_from: match p.source {
                crate::plugin::engine::Source::Cache => "cache",
                crate::plugin::engine::Source::Compiled => "compiled",
                crate::plugin::engine::Source::Remote => "webhook",
            },
            fresh_call_p50_us: percentile(&times, 0.5),
            fresh_call_p99_us: percentile(&times, 0.99),
            warm_call_p50_us: percentile(&warm, 0.5),
            warm_call_p99_us: percentile(&warm, 0.99),
        });
        loaded.push(Arc::new(p));
    }
    let chain = Chain::new(loaded);
    let server = serde_json::to_value(&spec).unwrap_or_default();
    let run_chain = |warm: bool| -> Result<Vec<f64>, String> {
        for p in chain.plugins() {
            p.set_warm(warm);
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let mut m = manifests.clone();
            // Reconciles are spaced in practice: let the pools refill before the next one.
            let until = Instant::now() + std::time::Duration::from_millis(50);
            while warm
                && chain
                    .plugins()
                    .iter()
                    .any(|p| p.warm_ready() < p.warm_wanted())
                && Instant::now() < until
            {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            let t = Instant::now();
            let result = chain.run("bench", "default", &server, &mut m);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if let Err(e) = result {
                return Err(format!("the chain refused the benchmark server: {e}"));
            }
        }
        times.sort_by(f64::total_cmp);
        Ok(times)
    };
    let inline = run_chain(false)?;
    let ready = run_chain(true)?;
    Ok(BenchReport {
        plugins: out,
        chain_inline: (percentile(&inline, 0.5), percentile(&inline, 0.99)),
        chain_ready: (percentile(&ready, 0.5), percentile(&ready, 0.99)),
    })
}
