//! The policy layer with real components built from source here (componentize-qjs and
//! componentize-py, installed by scripts/plugin-tools.sh): the example policies pass their
//! fixtures, and hostile plugins are contained with a precise error while the host carries on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mcp_runtime::plugin::deadline::Cut;
use mcp_runtime::plugin::tools::build::BuildOptions;
use mcp_runtime::plugin::tools::testing::{run_fixtures, run_once};
use mcp_runtime::plugin::{Chain, LoadedPlugin, PluginErrorKind};
use mcp_runtime::render::RenderContext;
use serde_json::json;

#[path = "support/plugins.rs"]
mod plugin_support;
use plugin_support::{built, root};

fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, PathBuf>>> =
        OnceLock::new();
    let map = BUILT.get_or_init(Default::default);
    let mut m = map.lock().unwrap();
    m.entry(name.to_string())
        .or_insert_with(|| {
            built(
                &root().join("plugins/examples").join(name),
                &BuildOptions::default(),
            )
        })
        .clone()
}

fn hostile(name: &str) -> PathBuf {
    built(
        &root().join("tests/fixtures/hostile").join(name),
        &BuildOptions::default(),
    )
}

#[test]
fn example_policies_pass_their_fixtures() {
    for name in [
        "org-labels",
        "resources",
        "service-exposure",
        "registry-allowlist",
        "hardening",
    ] {
        let outcomes = run_fixtures(&example(name)).unwrap();
        assert!(!outcomes.is_empty(), "{name} has no fixtures");
        for o in outcomes {
            assert!(
                o.failure.is_none(),
                "{name}/{}: {}",
                o.fixture,
                o.failure.unwrap()
            );
        }
    }
}

#[test]
fn a_chain_of_all_examples_is_ordered_attributed_and_idempotent() {
    let plugins: Vec<_> = [
        "org-labels",
        "resources",
        "service-exposure",
        "registry-allowlist",
        "hardening",
    ]
    .iter()
    .map(|n| Arc::new(LoadedPlugin::load(&example(n)).unwrap()))
    .collect();
    let chain = Chain::new(plugins);
    let order: Vec<&str> = chain
        .plugins()
        .iter()
        .map(|p| p.manifest.name.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "registry-allowlist",
            "org-labels",
            "resources",
            "service-exposure",
            "hardening"
        ]
    );
    let doc = json!({"name": "gh", "image": "ghcr.io/acme/gh:1", "transport": {"type": "streamable-http"},
                     "env": [{"name": "T", "secretValue": "never-shown-to-plugins"}]});
    let (manifests, report) = run_once(&chain, &doc, &RenderContext::default()).unwrap();
    let by: Vec<(&str, &str)> = report
        .patches
        .iter()
        .map(|p| (p.plugin.as_str(), p.hook))
        .collect();
    assert_eq!(
        by,
        [
            ("org-labels@1.0.0", "mutate-deployment"),
            ("resources@1.0.0", "mutate-deployment"),
            ("hardening@1.0.0", "mutate-deployment"),
            ("org-labels@1.0.0", "mutate-service"),
            ("service-exposure@1.0.0", "mutate-service"),
        ]
    );
    let d = serde_json::to_value(&manifests.deployment).unwrap();
    let summary = d["metadata"]["annotations"]["mcp-runtime.dev/policies"]
        .as_str()
        .unwrap();
    assert!(
        summary.starts_with("org-labels@1.0.0:") && summary.contains("hardening@1.0.0:"),
        "{summary}"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    // Secret values are not in what plugins see: the server document has references only.
    assert!(
        !serde_json::to_string(&report)
            .unwrap()
            .contains("never-shown")
    );

    // Denied by the allow-list before any mutation.
    let err = run_once(
        &chain,
        &json!({"name": "x", "image": "docker.io/x/y:1"}),
        &RenderContext::default(),
    )
    .unwrap_err();
    assert!(
        err.starts_with("denied by plugin registry-allowlist@1.0.0: /image: image docker.io/x/y:1"),
        "{err}"
    );
}

fn load_err(dir: &Path) -> mcp_runtime::plugin::PluginError {
    LoadedPlugin::load(dir).expect_err("the plugin must be refused")
}

fn mutate_err(dir: &Path) -> (mcp_runtime::plugin::PluginError, Duration) {
    let p = Arc::new(LoadedPlugin::load(dir).unwrap());
    chain_err(Chain::new(vec![p]))
}

/// Runs `chain` over a rendered server; it must fail.
fn chain_err(chain: Chain) -> (mcp_runtime::plugin::PluginError, Duration) {
    let doc = json!({"name": "victim", "image": "ghcr.io/acme/v:1"});
    let start = Instant::now();
    let spec = mcp_runtime::render::parse_document(&doc).unwrap();
    let mut m = mcp_runtime::render::render(&spec, &RenderContext::default()).unwrap();
    let err = chain
        .run("victim", "default", &json!({}), &mut m)
        .expect_err("the plugin must fail");
    let elapsed = start.elapsed();
    match err {
        mcp_runtime::plugin::ChainError::Failed(e) => (e, elapsed),
        other => panic!("expected a failure, got {other}"),
    }
}

#[test]
fn an_endless_loop_is_stopped_at_its_deadline() {
    let (e, took) = mutate_err(&hostile("endless-loop"));
    assert_eq!(
        e.kind,
        PluginErrorKind::Timeout {
            limit_ms: 50,
            cut: Cut::Plugin
        }
    );
    assert_eq!(
        e.to_string(),
        "plugin endless-loop@0.0.1, hook mutate-deployment: timed out (its limits.timeoutMs, 50 ms)"
    );
    // Never before its deadline; how closely after is measured by `cargo bench --bench plugins`.
    assert!(
        took >= Duration::from_millis(50),
        "stopped early, after {took:?}"
    );
}

#[test]
fn the_operators_cap_cuts_a_plugin_that_asks_for_more_and_says_so() {
    let p = Arc::new(LoadedPlugin::load(&hostile("endless-loop")).unwrap());
    let (e, took) = chain_err(Chain::new(vec![p]).with_timeout_cap(Some(20)));
    assert_eq!(
        e.kind,
        PluginErrorKind::Timeout {
            limit_ms: 20,
            cut: Cut::Operator
        }
    );
    assert!(
        e.to_string()
            .ends_with("timed out (the operator's cap MCP_RUNTIME_PLUGIN_TIMEOUT_MAX_MS, 20 ms)"),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(20),
        "stopped early, after {took:?}"
    );
    // A cap above the plugin's own limit changes nothing.
    let p = Arc::new(LoadedPlugin::load(&hostile("endless-loop")).unwrap());
    let (e, _) = chain_err(Chain::new(vec![p]).with_timeout_cap(Some(5_000)));
    assert_eq!(
        e.kind,
        PluginErrorKind::Timeout {
            limit_ms: 50,
            cut: Cut::Plugin
        }
    );
}

#[test]
fn a_memory_bomb_is_stopped_at_its_limit() {
    let (e, _) = mutate_err(&hostile("memory-bomb"));
    assert_eq!(
        e.kind,
        PluginErrorKind::OutOfMemory { limit_mib: 16 },
        "{e}"
    );
}

#[test]
fn a_trap_is_classified() {
    let (e, _) = mutate_err(&hostile("trap"));
    assert!(matches!(e.kind, PluginErrorKind::Trap(_)), "{e}");
    assert!(
        e.to_string()
            .starts_with("plugin trap@0.0.1, hook mutate-deployment: trapped"),
        "{e}"
    );
}

#[test]
fn a_huge_output_is_refused() {
    let (e, _) = mutate_err(&hostile("huge-output"));
    assert_eq!(
        e.kind,
        PluginErrorKind::BadOutput("104857600 bytes, over the limit of 1048576".into()),
        "{e}"
    );
}

#[test]
fn writes_outside_the_scope_and_broken_manifests_are_blamed() {
    let (e, _) = mutate_err(&hostile("out-of-scope"));
    assert_eq!(
        e.kind,
        PluginErrorKind::OutOfScope {
            path: "/spec/replicas".into()
        }
    );
    let (e, _) = mutate_err(&hostile("breaks-selector"));
    assert_eq!(
        e.kind,
        PluginErrorKind::BadOutput("changed /spec/template/metadata/labels/mcp-runtime.dev~1server, which no plugin may change".into())
    );
    let (e, _) = mutate_err(&hostile("not-json"));
    assert!(
        matches!(&e.kind, PluginErrorKind::BadOutput(m) if m.starts_with("not JSON")),
        "{e}"
    );
}

#[test]
fn load_time_refusals_name_the_reason() {
    let dir = built(
        &root().join("tests/fixtures/hostile/wasi-import"),
        &BuildOptions {
            keep_wasi: true,
            wit_dir: None,
        },
    );
    let e = load_err(&dir);
    let PluginErrorKind::Load(m) = &e.kind else {
        panic!("{e}")
    };
    assert!(m.starts_with("imports wasi:"), "{m}");

    let wit = std::env::temp_dir().join(format!("mcp-wit-0.2-{}", std::process::id()));
    std::fs::create_dir_all(&wit).unwrap();
    std::fs::write(
        wit.join("plugin.wit"),
        mcp_runtime::plugin::WIT.replace("@0.1.0;", "@0.2.0;"),
    )
    .unwrap();
    let dir = built(
        &root().join("tests/fixtures/hostile/wrong-contract"),
        &BuildOptions {
            keep_wasi: false,
            wit_dir: Some(wit),
        },
    );
    let e = load_err(&dir);
    assert!(
        e.to_string().contains(
            "built against mcp-runtime:plugin@0.2.0, this host speaks mcp-runtime:plugin@0.1.0"
        ),
        "{e}"
    );

    let dir = hostile("trap");
    let manifest = dir.join("plugin.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["digest"] = json!(format!("sha256:{}", "ab".repeat(32)));
    std::fs::write(&manifest, doc.to_string()).unwrap();
    let e = load_err(&dir);
    assert!(
        e.to_string()
            .contains("digest mismatch: plugin.json pins sha256:abab"),
        "{e}"
    );

    let e = load_err(&hostile("bad-settings"));
    assert!(e.to_string().contains("settings refused by its settingsSchema: /team: must be at least 2 character(s) long (minLength)"), "{e}");

    // The plugin's own validate-settings runs after the schema.
    let long = "x".repeat(64);
    let e = LoadedPlugin::load_with(
        &example("org-labels"),
        Some(&json!({"labels": {"team": long}})),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin org-labels@1.0.0, hook validate-settings: refused its settings: /labels/team: label team must be a string of at most 63 characters"
    );
}

#[test]
fn the_host_carries_on_after_hostile_plugins() {
    let _ = mutate_err(&hostile("endless-loop"));
    let _ = mutate_err(&hostile("memory-bomb"));
    let outcomes = run_fixtures(&example("org-labels")).unwrap();
    assert!(outcomes.iter().all(|o| o.failure.is_none()));
}

#[test]
fn ignore_and_monitor_policies() {
    let dir = hostile("endless-loop");
    let manifest = dir.join("plugin.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    doc["failurePolicy"] = json!("ignore");
    std::fs::write(&manifest, doc.to_string()).unwrap();
    let ignoring = Arc::new(LoadedPlugin::load(&dir).unwrap());
    let labels = Arc::new(LoadedPlugin::load(&example("org-labels")).unwrap());
    let chain = Chain::new(vec![ignoring, labels]);
    let (m, report) = run_once(
        &chain,
        &json!({"name": "a", "image": "ghcr.io/acme/a:1"}),
        &RenderContext::default(),
    )
    .unwrap();
    assert_eq!(report.ignored_errors.len(), 1, "{report:?}");
    assert!(report.ignored_errors[0].contains("endless-loop@0.0.1"));
    assert_eq!(
        m.deployment.metadata.labels.unwrap()["org"],
        "acme",
        "the chain went on"
    );

    let dir = example("org-labels");
    let monitored = dir.with_file_name(format!(
        "{}-monitor",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&monitored);
    std::fs::create_dir_all(&monitored).unwrap();
    for f in ["plugin.json", "org-labels.wasm"] {
        std::fs::copy(dir.join(f), monitored.join(f)).unwrap();
    }
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(monitored.join("plugin.json")).unwrap())
            .unwrap();
    doc["mode"] = json!("monitor");
    std::fs::write(monitored.join("plugin.json"), doc.to_string()).unwrap();
    let chain = Chain::new(vec![Arc::new(LoadedPlugin::load(&monitored).unwrap())]);
    let (m, report) = run_once(
        &chain,
        &json!({"name": "a", "image": "ghcr.io/acme/a:1"}),
        &RenderContext::default(),
    )
    .unwrap();
    assert!(
        !report.patches.is_empty() && report.patches.iter().all(|p| !p.applied),
        "{report:?}"
    );
    assert!(
        !m.deployment.metadata.labels.unwrap().contains_key("org"),
        "monitor changes nothing"
    );
}

#[test]
fn a_restart_loads_the_compiled_plugin_from_the_cache() {
    let dir = example("service-exposure");
    let _first = LoadedPlugin::load(&dir).unwrap();
    let second = LoadedPlugin::load(&dir).unwrap();
    assert_eq!(second.source, mcp_runtime::plugin::engine::Source::Cache);
}

/// A JS global and a Python module variable (and class attribute) count the calls: each call
/// must see 1, whether its instance was made for it or ahead of it.
#[rstest::rstest]
#[case::javascript("stateful")]
#[case::python("stateful-py")]
fn no_state_leaks_between_calls_even_with_instances_made_ahead(#[case] fixture: &str) {
    // SAFETY: only read by LoadedPlugin::load; other tests of this binary may start warm
    // instances too, which changes nothing they check.
    unsafe { std::env::set_var("MCP_RUNTIME_PLUGIN_WARM_INSTANCES", "2") };
    let p = Arc::new(LoadedPlugin::load(&hostile(fixture)).unwrap());
    assert_eq!(p.warm_wanted(), 2);
    let chain = Chain::new(vec![p.clone()]);
    for i in 0..6 {
        // Give the background thread time to have an instance ready for some calls.
        if i % 2 == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        let (m, _) = run_once(
            &chain,
            &json!({"name": "a", "image": "ghcr.io/acme/a:1"}),
            &RenderContext::default(),
        )
        .unwrap();
        let labels = m.deployment.metadata.labels.unwrap();
        assert_eq!(labels["calls"], "1", "call {i} saw another call's state");
        if let Some(seen) = labels.get("seen") {
            assert_eq!(seen, "1", "call {i} saw another call's class attribute");
        }
    }
}
