//! The HTTP API against the real local cluster: the whole lifecycle through HTTP, every error
//! path with its status and problem body, and the OpenAPI document matching the routes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use mcp_runtime::api::{self, AppState, Tokens};
use mcp_runtime::metrics::Metrics;
use mcp_runtime::render::RenderContext;
use serde_json::{Value, json};
use support::Runtime;
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789";

struct Api {
    rt: Runtime,
    router: Router,
}

async fn setup(test: &str) -> Api {
    let rt = Runtime::new(test).await;
    let mut render = RenderContext {
        namespace: rt.ns.name.clone(),
        ..Default::default()
    };
    // As in the cluster, where the manifests pass the control plane's ServiceAccount.
    render.defaults.service_accounts.control_plane = Some("mcp-runtime".into());
    let (state, cache) = AppState::new(
        rt.ns.client.clone(),
        mcp_runtime::runtime::scope::Served::from_list(std::slice::from_ref(&render.namespace)),
        render,
        mcp_runtime::api::Access::tokens(Tokens::parse(TOKEN)),
        Arc::new(Metrics::new()),
        Arc::new(mcp_runtime::plugin::PluginSet::empty()),
    );
    tokio::spawn(cache);
    let router = api::router(state);
    // Ready once the McpServer cache has synced.
    for _ in 0..100 {
        let (status, _, _) = call(&router, Method::GET, "/readyz", None, None).await;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Api { rt, router }
}

/// Writes the server's status as the controller does (a condition's message changed), so its
/// resourceVersion moves while its document stays as it was.
async fn touch_status(a: &Api, name: &str) {
    use kube::api::{Patch, PatchParams};
    let servers = a.rt.ns.api::<mcp_runtime::crd::McpServer>();
    let before = servers.get(name).await.unwrap();
    let mut status = before.status.clone().unwrap_or_default();
    status
        .conditions
        .push(k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: "TestTouched".into(),
            status: "True".into(),
            reason: "Test".into(),
            message: "written by the test between a GET and a PUT".into(),
            observed_generation: None,
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ),
        });
    let after = servers
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": status.conditions}})),
        )
        .await
        .unwrap();
    assert_ne!(
        before.metadata.resource_version,
        after.metadata.resource_version
    );
    assert_eq!(before.document_version(), after.document_version());
}

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (StatusCode, HeaderMap, Value) {
    call_with(router, method, path, token, body, &[]).await
}

async fn call_with(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, value)
}

fn j(v: Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&v).unwrap())
}

async fn wait_phase(a: &Api, name: &str, phase: &str) -> Value {
    for _ in 0..300 {
        let (s, _, body) = call(
            &a.router,
            Method::GET,
            &format!("/v1/servers/{name}/status"),
            Some(TOKEN),
            None,
        )
        .await;
        if s == StatusCode::OK && body["status"]["phase"] == phase {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{name} did not reach {phase}");
}

#[tokio::test]
async fn lifecycle_through_http() {
    let a = setup("api-life").await;
    let doc = json!({"name": "Weather", "image": "ghcr.io/example/weather:1",
                     "transport": {"type": "streamable-http", "port": 9000},
                     "env": [{"name": "API_KEY", "secretValue": "k-123"}]});
    let (s, h, body) = call(
        &a.router,
        Method::POST,
        "/v1/servers",
        Some(TOKEN),
        j(doc.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(h[header::LOCATION], "/v1/servers/weather");
    assert!(
        !body.to_string().contains("k-123"),
        "no secret value in the answer: {body}"
    );
    assert_eq!(
        body["spec"]["env"][0]["secretKeyRef"]["name"],
        "mcp-weather-secrets"
    );

    let status = wait_phase(&a, "weather", "Running").await;
    assert_eq!(
        status["status"]["endpoint"],
        format!("http://mcp-weather.{}.svc:9000/mcp", a.rt.ns.name)
    );

    let (s, _, list) = call(&a.router, Method::GET, "/v1/servers", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"][0]["name"], "weather");

    // Optimistic concurrency. The ETag is the document's version: a write of the status
    // in between (the controller's, made here on purpose so the test never depends on the
    // controller's timing) leaves it valid, while the stricter resourceVersion form fails.
    let (_, h, current) = call(
        &a.router,
        Method::GET,
        "/v1/servers/weather",
        Some(TOKEN),
        None,
    )
    .await;
    let etag = h[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(
        etag,
        format!("\"{}\"", current["version"].as_str().unwrap())
    );
    let read_rv = current["resourceVersion"].as_str().unwrap().to_string();
    touch_status(&a, "weather").await;
    let mut updated = doc.clone();
    updated["replicas"] = json!(2);
    for stale in [
        "\"1\"".to_string(),
        format!("\"{read_rv}\""),
        "\"doc-00\"".into(),
    ] {
        let (s, _, p) = call_with(
            &a.router,
            Method::PUT,
            "/v1/servers/weather",
            Some(TOKEN),
            j(updated.clone()),
            &[("if-match", &stale)],
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "If-Match {stale}: {p}");
        assert_eq!(p["type"], "https://mcp-runtime.dev/problems/conflict");
    }
    let (s, _, body) = call_with(
        &a.router,
        Method::PUT,
        "/v1/servers/weather",
        Some(TOKEN),
        j(updated.clone()),
        &[("if-match", &etag)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["spec"]["replicas"], 2);
    assert_ne!(body["version"], current["version"], "the document changed");
    // A real edit of the document in between is a conflict.
    let (s, _, p) = call_with(
        &a.router,
        Method::PUT,
        "/v1/servers/weather",
        Some(TOKEN),
        j(updated),
        &[("if-match", &etag)],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");

    // Merge patch.
    let (s, _, body) = call(
        &a.router,
        Method::PATCH,
        "/v1/servers/weather",
        Some(TOKEN),
        j(json!({"replicas": 1, "labels": {"team": "x"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["spec"]["labels"]["team"], "x");
    assert_eq!(
        body["spec"]["env"][0]["secretKeyRef"]["key"], "API_KEY",
        "patch keeps the secret reference"
    );

    for (verb, phase) in [
        ("stop", "Stopped"),
        ("start", "Running"),
        ("restart", "Running"),
    ] {
        let (s, _, body) = call(
            &a.router,
            Method::POST,
            &format!("/v1/servers/weather/{verb}"),
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{verb}: {body}");
        wait_phase(&a, "weather", phase).await;
    }
    // The restart rolls a new pod in; the server stays Running throughout (the old pod serves
    // until the new one is ready), so every status read during the rollout says Running.
    let deployments = a.rt.ns.api::<Deployment>();
    let mut rolled = false;
    for _ in 0..150 {
        let (_, _, body) = call(
            &a.router,
            Method::GET,
            "/v1/servers/weather/status",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(
            body["status"]["phase"], "Running",
            "during the restart: {body}"
        );
        let d = deployments.get("mcp-weather").await.unwrap();
        let annotated = d
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .is_some_and(|a| a.contains_key("mcp-runtime.dev/restarted-at"));
        let st = d.status.unwrap_or_default();
        if annotated
            && st.observed_generation == d.metadata.generation
            && st.updated_replicas == Some(1)
            && st.replicas == Some(1)
            && st.ready_replicas == Some(1)
        {
            rolled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(rolled, "the restart rolled the pod template out");
    wait_phase(&a, "weather", "Running").await;

    let (s, _, events) = call(
        &a.router,
        Method::GET,
        "/v1/servers/weather/events",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "ScalingReplicaSet"),
        "{events}"
    );

    let (s, _, metrics) = call(&a.router, Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = metrics.as_str().unwrap();
    assert!(text.contains("mcp_runtime_http_requests_total{method=\"POST\",route=\"/v1/servers\",status=\"201\"} 1"), "{text}");
    assert!(
        text.contains("mcp_runtime_servers{phase=\"Running\"} 1"),
        "{text}"
    );

    let (s, _, _) = call(
        &a.router,
        Method::DELETE,
        "/v1/servers/weather",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, p) = call(
        &a.router,
        Method::DELETE,
        "/v1/servers/weather",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (s, p["type"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("https://mcp-runtime.dev/problems/not-found")
        )
    );
}

#[tokio::test]
async fn every_error_path_has_its_status_and_problem() {
    let a = setup("api-errors").await;
    let r = &a.router;
    let problem = |h: &HeaderMap| h[header::CONTENT_TYPE].to_str().unwrap().to_string();

    // No or a wrong token: 401 with WWW-Authenticate; health stays open.
    let (s, h, p) = call(r, Method::GET, "/v1/servers", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(p["title"], "Unauthorized");
    let (s, _, _) = call(
        r,
        Method::GET,
        "/v1/servers",
        Some("test-token-0123456788"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(r, Method::GET, "/healthz", None, None).await.0,
        StatusCode::OK
    );

    // Bad JSON: 400, position but not the text.
    let (s, h, p) = call(
        r,
        Method::POST,
        "/v1/servers",
        Some(TOKEN),
        Some(b"{\"name\": \"hunter2".to_vec()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(problem(&h), "application/problem+json");
    assert!(p["detail"].as_str().unwrap().contains("line 1"), "{p}");
    assert!(!p.to_string().contains("hunter2"));

    // Schema violations: 422 with every path.
    let bad = json!({"name": "x", "transport": {"type": "streamable-http", "port": 70000}, "replicas": 0,
                     "env": [{"name": "S", "secretValue": "do-not-echo", "value": "v"}]});
    let (s, _, p) = call(r, Method::POST, "/v1/servers", Some(TOKEN), j(bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> = p["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["", "/env/0", "/replicas", "/transport/port"],
        "{p}"
    );
    assert!(!p.to_string().contains("do-not-echo"));

    // The control plane's own ServiceAccount: 422 at its path, nothing stored.
    let own = json!({"name": "own-sa", "image": "x.io/y:1", "serviceAccountName": "mcp-runtime"});
    let (s, _, p) = call(r, Method::POST, "/v1/servers", Some(TOKEN), j(own)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["violations"][0]["path"], "/serviceAccountName", "{p}");
    assert_eq!(p["violations"][0]["rule"], "allowedServiceAccounts", "{p}");
    let (s, _, _) = call(r, Method::GET, "/v1/servers/own-sa", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Unknown server: 404 on every verb.
    for (m, path) in [
        (Method::GET, "/v1/servers/nope"),
        (Method::POST, "/v1/servers/nope/stop"),
        (Method::GET, "/v1/servers/nope/status"),
        (Method::GET, "/v1/servers/nope/logs"),
    ] {
        let (s, _, p) = call(r, m.clone(), path, Some(TOKEN), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {p}");
    }

    // Create collision: 409.
    let doc = json!({"name": "dup", "image": "x.io/y:1"});
    assert_eq!(
        call(r, Method::POST, "/v1/servers", Some(TOKEN), j(doc.clone()))
            .await
            .0,
        StatusCode::CREATED
    );
    let (s, _, p) = call(
        r,
        Method::POST,
        "/v1/servers",
        Some(TOKEN),
        j(json!({"name": "DUP", "image": "x.io/y:1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");

    // Renaming through PUT: 422.
    let (s, _, p) = call(
        r,
        Method::PUT,
        "/v1/servers/dup",
        Some(TOKEN),
        j(json!({"name": "other", "image": "x.io/y:1"})),
    )
    .await;
    assert_eq!(
        (s, p["type"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("https://mcp-runtime.dev/problems/name-mismatch")
        )
    );

    // Oversized body: 413.
    let big = vec![b' '; api::BODY_LIMIT + 1];
    let (s, _, p) = call(r, Method::POST, "/v1/servers", Some(TOKEN), Some(big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{p}");

    // Bad query: 400.
    let (s, _, _) = call(
        r,
        Method::GET,
        "/v1/servers/dup/logs?tail=-5",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // No such route: a problem, not a bare 404.
    let (s, h, _) = call(r, Method::GET, "/v2/anything", Some(TOKEN), None).await;
    assert_eq!(
        (s, problem(&h).as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );

    // Nothing half-applied by the failed creates.
    let (_, _, list) = call(r, Method::GET, "/v1/servers", Some(TOKEN), None).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.iter().all(|n| *n == "dup"), "{names:?}");
}

#[tokio::test]
async fn what_if_render_blanks_secret_values() {
    let a = setup("api-render").await;
    let doc =
        json!({"name": "r", "image": "x.io/y:1", "env": [{"name": "K", "secretValue": "shh"}]});
    let (s, _, body) = call(&a.router, Method::POST, "/v1/render", Some(TOKEN), j(doc)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(
        !body.to_string().contains("shh") && !body.to_string().contains("c2ho"),
        "{body}"
    );
    let kinds = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["kind"].as_str().unwrap().to_string())
            .collect()
    };
    // What the controller applies, and apart from it the Secret the API writes.
    assert_eq!(kinds("objects"), ["Deployment", "NetworkPolicy"]);
    assert_eq!(kinds("secrets"), ["Secret"]);
    assert_eq!(body["secrets"][0]["data"]["K"], "");
}

/// Every route of the code is in the OpenAPI document and every documented route is served
/// (answered by its handler, not the fallback).
#[tokio::test]
async fn openapi_documents_exactly_the_routes() {
    let doc: Value = serde_json::from_str(api::openapi::served()).unwrap();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                documented.push((m.to_uppercase(), path.clone()));
            }
        }
    }
    let mut coded: Vec<(String, String)> = api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    coded.sort();
    assert_eq!(documented, coded);

    let router = support::offline::router(
        Tokens::disabled(),
        Arc::new(mcp_runtime::plugin::PluginSet::empty()),
    );
    for (m, p) in api::ROUTES {
        let path = p.replace("{name}", "x").replace("{namespace}", "default");
        let (_, _, body) = call(
            &router,
            Method::from_bytes(m.as_bytes()).unwrap(),
            &path,
            None,
            Some(b"{}".to_vec()),
        )
        .await;
        assert_ne!(
            body["type"], "https://mcp-runtime.dev/problems/no-route",
            "{m} {p} is not routed"
        );
    }
}

/// Logs come from the pod through the API server (kwok plays the kubelet and serves the lines
/// of the local cluster's container.log); with follow=true the answer streams new lines.
#[tokio::test]
async fn logs_through_http_tail_and_follow() {
    let a = setup("api-logs").await;
    let log_file = support::kubeconfig_path().with_file_name("container.log");
    let stamp = |n: u32| format!("2026-11-25T00:00:{n:02}.000000000Z");
    let marker = format!("api-logs-{}", std::process::id());
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log_file)
            .unwrap();
        writeln!(f, "{} stdout F {marker} first", stamp(1)).unwrap();
        writeln!(f, "{} stdout F {marker} second", stamp(2)).unwrap();
    }
    let doc = json!({"name": "talker", "image": "ghcr.io/example/talker:1"});
    assert_eq!(
        call(&a.router, Method::POST, "/v1/servers", Some(TOKEN), j(doc))
            .await
            .0,
        StatusCode::CREATED
    );
    wait_phase(&a, "talker", "Running").await;

    let (s, h, body) = call(
        &a.router,
        Method::GET,
        "/v1/servers/talker/logs?tail=2",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(h[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    let text = body.as_str().unwrap_or_default().to_string();
    assert!(
        text.ends_with(&format!("{marker} first\n{marker} second\n")),
        "{text:?}"
    );

    // follow: the stream stays open and carries a line appended after the request.
    let req = Request::builder()
        .uri("/v1/servers/talker/logs?tail=1&follow=true")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = a.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let appended = format!("{marker} third, appended");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log_file)
            .unwrap();
        writeln!(f, "{} stdout F {appended}", stamp(3)).unwrap();
    }
    let mut seen = String::new();
    let got = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
                if seen.contains(&appended) {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "followed stream: {seen:?}");
}

/// Collects what a tracing subscriber writes (JSON lines).
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The audit lines' fields, in order.
    fn audit(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["target"] == "mcp_runtime::audit")
            .map(|l| l["fields"].clone())
            .collect()
    }
}

#[tokio::test]
async fn every_write_leaves_one_audit_line_that_names_fields_never_values() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || sink.clone())
        .finish();
    // Process-wide: a thread-local default misses events whose callsite another test's thread
    // registered first (seen in CI). Other tests' lines are told apart by namespace below.
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber in this binary");
    let a = setup("api-audit").await;
    let doc = json!({"name": "audited", "image": "ghcr.io/example/a:1",
                     "transport": {"type": "streamable-http", "port": 9000},
                     "env": [{"name": "API_KEY", "secretValue": "k-audit-123"}]});
    let post = |token, body| call(&a.router, Method::POST, "/v1/servers", token, body);
    assert_eq!(
        post(Some(TOKEN), j(doc.clone())).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        post(Some("wrong"), j(doc.clone())).await.0,
        StatusCode::UNAUTHORIZED
    );
    let invalid = json!({"name": "audited-2", "image": 7});
    assert_eq!(
        post(Some(TOKEN), j(invalid)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (s, _, body) = call(
        &a.router,
        Method::PATCH,
        "/v1/servers/audited",
        Some(TOKEN),
        j(json!({"image": "ghcr.io/example/a:2",
                 "env": [{"name": "API_KEY", "secretValue": "k-audit-456"}]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let stop = call(
        &a.router,
        Method::POST,
        "/v1/servers/audited/stop",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(stop.0, StatusCode::ACCEPTED);
    // Reads and previews are not writes.
    call(
        &a.router,
        Method::GET,
        "/v1/servers/audited",
        Some(TOKEN),
        None,
    )
    .await;
    let gone = call(
        &a.router,
        Method::DELETE,
        "/v1/servers/audited",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(gone.0, StatusCode::NO_CONTENT);

    let lines: Vec<Value> = captured
        .audit()
        .into_iter()
        .filter(|l| l["namespace"] == a.rt.ns.name.as_str())
        .collect();
    let row = |l: &Value| {
        let f = |k: &str| {
            l[k].as_str()
                .map(str::to_string)
                .unwrap_or_else(|| l[k].to_string())
        };
        (f("verb"), f("caller"), f("server"), f("outcome"))
    };
    let rows: Vec<_> = lines.iter().map(row).collect();
    let want = |v: &str, c: &str, s: &str, o: &str| (v.into(), c.into(), s.into(), o.into());
    assert_eq!(
        rows,
        vec![
            want("create", "token-1", "audited", "ok"),
            want("create", "unauthenticated", "", "denied"),
            want("create", "token-1", "", "rejected"),
            want("patch", "token-1", "audited", "ok"),
            want("stop", "token-1", "audited", "ok"),
            want("delete", "token-1", "audited", "ok"),
        ]
    );
    let changed = |i: usize| lines[i]["changed"].as_str().unwrap().to_string();
    assert!(changed(0).contains("/spec/image"), "{}", changed(0));
    assert!(
        changed(3).contains("/spec/image") && !changed(3).contains("/spec/env"),
        "a new secret value changes no stored field: {}",
        changed(3)
    );
    assert_eq!(lines[3]["secret_values"], "API_KEY");
    assert!(changed(4).contains("/spec/stopped"), "{}", changed(4));
    let all = serde_json::to_string(&lines).unwrap();
    for value in ["k-audit-123", "k-audit-456", "ghcr.io/example/a:2", "wrong"] {
        assert!(!all.contains(value), "{value} in the audit trail: {all}");
    }
    // Counted by verb and outcome.
    let (_, _, metrics) = call(&a.router, Method::GET, "/metrics", None, None).await;
    let text = metrics
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| metrics.to_string());
    assert!(
        text.contains(r#"mcp_runtime_api_writes_total{verb="create",outcome="ok"} 1"#),
        "{text}"
    );
}
