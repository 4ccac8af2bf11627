//! Webhook policies: a real HTTP endpoint (served here with axum on loopback) answers hook
//! calls with the same contract, deadline, failure policy, write scope and attribution as a
//! component.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use mcp_runtime::plugin::deadline::Cut;
use mcp_runtime::plugin::tools::testing::run_once;
use mcp_runtime::plugin::{Chain, ChainError, LoadedPlugin, PluginErrorKind};
use mcp_runtime::render::RenderContext;
use serde_json::{Value, json};

/// Every request body any webhook here received.
static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

async fn mutate(Json(req): Json<Value>) -> Json<Value> {
    SEEN.lock().unwrap().push(req.to_string());
    match req["hook"].as_str() {
        Some("mutate-deployment") => {
            let mut m = req["manifest"].clone();
            m["metadata"]["labels"]["reviewed-by"] = json!("platform");
            Json(json!({"allowed": true, "manifest": m}))
        }
        _ => Json(json!({"allowed": true})),
    }
}

async fn deny(Json(req): Json<Value>) -> Json<Value> {
    if req["hook"] == "validate-config" {
        let image = req["context"]["server"]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        return Json(
            json!({"allowed": false, "violations": [{"message": format!("{image} is not reviewed"), "path": "/image"}]}),
        );
    }
    Json(json!({"allowed": true}))
}

async fn slow(Json(req): Json<Value>) -> Json<Value> {
    if req["hook"] != "validate-settings" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Json(json!({"allowed": true}))
}

async fn sneaky(Json(req): Json<Value>) -> Json<Value> {
    SEEN.lock().unwrap().push(req.to_string());
    let mut m = req["manifest"].clone();
    if m.is_object() {
        m["spec"]["replicas"] = json!(9);
    }
    Json(json!({"allowed": true, "manifest": m}))
}

/// Serves the webhooks on a loopback port from a thread of its own (the chain calls block).
fn serve() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route("/mutate", post(mutate))
                .route("/deny", post(deny))
                .route("/slow", post(slow))
                .route("/sneaky", post(sneaky));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    port
}

fn webhook(name: &str, url: String, hooks: Value, scope: Value, policy: &str) -> Arc<LoadedPlugin> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("mcp-webhook-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = json!({
        "name": name, "version": "1.0.0", "webhook": {"url": url}, "hooks": hooks,
        "writeScope": scope, "failurePolicy": policy, "limits": {"timeoutMs": 200}
    });
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).unwrap();
    Arc::new(LoadedPlugin::load(&dir).unwrap_or_else(|e| panic!("{e}")))
}

fn doc() -> Value {
    json!({"name": "hooked", "image": "ghcr.io/acme/h:1", "env": [{"name": "S", "secretValue": "never-sent"}]})
}

#[test]
fn a_webhook_mutates_and_is_attributed() {
    let port = serve();
    let w = webhook(
        "reviewer",
        format!("http://127.0.0.1:{port}/mutate"),
        json!(["mutate-deployment"]),
        json!(["/metadata/labels/*"]),
        "fail",
    );
    let (m, report) = run_once(&Chain::new(vec![w]), &doc(), &RenderContext::default()).unwrap();
    assert_eq!(
        m.deployment.metadata.labels.as_ref().unwrap()["reviewed-by"],
        "platform"
    );
    assert_eq!(report.patches.len(), 1);
    assert_eq!(report.patches[0].plugin, "reviewer@1.0.0");
    assert_eq!(
        m.deployment.metadata.annotations.unwrap()["mcp-runtime.dev/policies"],
        "reviewer@1.0.0:1"
    );
}

#[test]
fn a_webhook_denies_with_its_message() {
    let port = serve();
    let w = webhook(
        "gate",
        format!("http://127.0.0.1:{port}/deny"),
        json!(["validate-config"]),
        json!([]),
        "fail",
    );
    let err = run_once(&Chain::new(vec![w]), &doc(), &RenderContext::default()).unwrap_err();
    assert_eq!(
        err,
        "denied by plugin gate@1.0.0: /image: ghcr.io/acme/h:1 is not reviewed"
    );
}

#[test]
fn a_slow_webhook_times_out_under_both_failure_policies() {
    let port = serve();
    let failing = webhook(
        "slow-fail",
        format!("http://127.0.0.1:{port}/slow"),
        json!(["mutate-deployment"]),
        json!([]),
        "fail",
    );
    let chain = Chain::new(vec![failing]);
    let spec = mcp_runtime::render::parse_document(&doc()).unwrap();
    let mut m = mcp_runtime::render::render(&spec, &RenderContext::default()).unwrap();
    let started = std::time::Instant::now();
    let err = chain
        .run("hooked", "default", &json!({}), &mut m)
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline bounds the call"
    );
    let ChainError::Failed(e) = err else {
        panic!("expected a failure")
    };
    assert_eq!(
        e.kind,
        PluginErrorKind::Timeout {
            limit_ms: 200,
            cut: Cut::Plugin
        }
    );

    let ignoring = webhook(
        "slow-ignore",
        format!("http://127.0.0.1:{port}/slow"),
        json!(["mutate-deployment"]),
        json!([]),
        "ignore",
    );
    let labels = webhook(
        "reviewer2",
        format!("http://127.0.0.1:{port}/mutate"),
        json!(["mutate-deployment"]),
        json!(["/metadata/labels/*"]),
        "fail",
    );
    let (m, report) = run_once(
        &Chain::new(vec![ignoring, labels]),
        &doc(),
        &RenderContext::default(),
    )
    .unwrap();
    assert_eq!(report.ignored_errors.len(), 1, "{report:?}");
    assert!(
        report.ignored_errors[0]
            .starts_with("plugin slow-ignore@1.0.0, hook mutate-deployment: timed out")
    );
    assert_eq!(
        m.deployment.metadata.labels.unwrap()["reviewed-by"],
        "platform",
        "the chain went on"
    );
}

#[test]
fn a_webhook_is_held_to_its_write_scope_and_never_sees_secrets() {
    let port = serve();
    let w = webhook(
        "sneaky",
        format!("http://127.0.0.1:{port}/sneaky"),
        json!(["mutate-deployment"]),
        json!(["/metadata/labels/*"]),
        "fail",
    );
    let err = run_once(&Chain::new(vec![w]), &doc(), &RenderContext::default()).unwrap_err();
    assert_eq!(
        err,
        "plugin sneaky@1.0.0, hook mutate-deployment: changed /spec/replicas, outside its write scope"
    );
    let w = webhook(
        "reviewer3",
        format!("http://127.0.0.1:{port}/mutate"),
        json!(["mutate-deployment"]),
        json!(["/metadata/labels/*"]),
        "fail",
    );
    run_once(&Chain::new(vec![w]), &doc(), &RenderContext::default()).unwrap();
    let seen = SEEN.lock().unwrap().clone();
    assert!(
        seen.iter().any(|b| b.contains("\"serverName\":\"hooked\"")),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|b| !b.contains("never-sent")),
        "a secret value reached a webhook"
    );

    let unreachable = {
        let dir = std::env::temp_dir().join(format!("mcp-webhook-down-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = json!({"name": "down", "version": "1.0.0", "webhook": {"url": "http://127.0.0.1:9/x"}, "hooks": ["mutate-deployment"]});
        std::fs::write(dir.join("plugin.json"), manifest.to_string()).unwrap();
        LoadedPlugin::load(&dir).unwrap_err()
    };
    assert!(
        unreachable
            .to_string()
            .starts_with("plugin down@1.0.0, hook validate-settings: trapped: webhook unreachable"),
        "{unreachable}"
    );
}
