//! Generated request bodies near the schema (a valid document with random fields replaced,
//! removed or added, and random JSON) never get a 5xx or a panic. No cluster: the routes
//! exercised answer before touching one (render; create up to validation).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use mcp_runtime::api::Tokens;
use proptest::prelude::*;

#[path = "support/offline.rs"]
mod offline;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

fn base() -> Value {
    json!({
        "name": "github",
        "image": "ghcr.io/github/github-mcp-server:v1",
        "transport": {"type": "streamable-http", "port": 8082, "path": "/mcp"},
        "env": [{"name": "A", "value": "1"}, {"name": "B", "secretValue": "s"}],
        "resources": {"requests": {"cpu": "100m"}},
        "labels": {"team": "x"},
        "imagePullSecrets": [{"name": "pull"}],
    })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "[a-z]{1,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "/name",
    "/image",
    "/transport",
    "/transport/type",
    "/transport/port",
    "/transport/path",
    "/env",
    "/env/0",
    "/env/0/name",
    "/env/1/secretValue",
    "/resources/requests/cpu",
    "/labels",
    "/labels/team",
    "/imagePullSecrets/0",
    "/replicas",
    "/command",
    "/args",
    "/probes",
    "/securityContext",
];

fn mutate(mut doc: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let target = if parent.is_empty() {
        Some(&mut doc)
    } else {
        doc.pointer_mut(parent)
    };
    match (target, value) {
        (Some(Value::Object(m)), Some(v)) => {
            m.insert(key.to_string(), v);
        }
        (Some(Value::Object(m)), None) => {
            m.remove(key);
        }
        (Some(Value::Array(a)), Some(v)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a[i] = v;
            }
        }
        _ => {}
    }
    doc
}

fn near_schema() -> impl Strategy<Value = Value> {
    let one = (prop::sample::select(FIELDS), prop::option::of(any_json()));
    prop_oneof![
        4 => prop::collection::vec(one, 1..4).prop_map(|changes| {
            changes.into_iter().fold(base(), |d, (p, v)| mutate(d, p, v))
        }),
        1 => any_json(),
    ]
}

fn router() -> axum::Router {
    offline::router(
        Tokens::disabled(),
        Arc::new(mcp_runtime::plugin::PluginSet::empty()),
    )
}

async fn post(router: &axum::Router, path: &str, body: Vec<u8>) -> StatusCode {
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .body(Body::from(body))
        .unwrap();
    router.clone().oneshot(req).await.unwrap().status()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_body_gets_a_5xx(doc in near_schema()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let router = rt.block_on(async { router() });
        let body = serde_json::to_vec(&doc).unwrap();
        let render = rt.block_on(post(&router, "/v1/render", body.clone()));
        prop_assert!(render.is_success() || render.is_client_error(), "render answered {render} for {doc}");
        let valid = mcp_runtime::schema::SchemaKind::McpServer.validate(&doc).is_ok();
        if !valid {
            // An invalid document is refused before any cluster is involved.
            let create = rt.block_on(post(&router, "/v1/servers", body));
            prop_assert!(create.is_client_error(), "create answered {create} for {doc}");
        }
    }

    #[test]
    fn arbitrary_bytes_are_client_errors(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let status = rt.block_on(async { post(&router(), "/v1/render", bytes).await });
        prop_assert!(status.is_client_error() || status.is_success(), "{status}");
    }
}
