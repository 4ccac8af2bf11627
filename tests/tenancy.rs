//! One control plane for several namespaces, and API callers who are who Kubernetes says they
//! are: real tokens from the TokenRequest API, reviewed by the local cluster's API server
//! (TokenReview, SubjectAccessReview against its RBAC), and a fleet over three namespaces.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use mcp_runtime::api::review::Reviewer;
use mcp_runtime::api::{self, Access, AppState, Tokens};
use mcp_runtime::metrics::Metrics;
use serde_json::{Value, json};
use tower::ServiceExt;

const STATIC_TOKEN: &str = "tenancy-platform-token-0123456789";

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let body = match method {
        Method::POST if path.ends_with("/servers") => {
            json!({"name": "web", "image": "ghcr.io/acme/web:1", "transport": {"type": "streamable-http", "port": 8080}})
                .to_string()
        }
        _ => String::new(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let resp = router
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A ServiceAccount `caller` in `ns` with a Role there on mcpservers (and their status and
/// logs), nothing anywhere else.
/// The HTTP API of `rt`'s settings (its namespaces, their settings), with `access`.
fn api_router(rt: &support::Runtime, access: Access) -> Router {
    let (state, cache) = AppState::new(
        rt.ns.client.clone(),
        rt.config.served(),
        rt.config.render_contexts(),
        access,
        Arc::new(Metrics::new()),
        Arc::new(mcp_runtime::plugin::PluginSet::empty()),
    );
    tokio::spawn(cache);
    api::router(state)
}

async fn caller_with_role(client: &kube::Client, ns: &str) {
    let pp = PostParams::default();
    let meta = |name: &str| ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create(
            &pp,
            &ServiceAccount {
                metadata: meta("caller"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let role = Role {
        metadata: meta("mcp-editor"),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["mcp-runtime.dev".into()]),
            resources: Some(vec![
                "mcpservers".into(),
                "mcpservers/status".into(),
                "mcpservers/logs".into(),
            ]),
            verbs: ["get", "list", "create", "update", "patch", "delete"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        }]),
    };
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&pp, &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: meta("caller-edits"),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "mcp-editor".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "caller".into(),
            namespace: Some(ns.into()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&pp, &binding)
        .await
        .unwrap();
}

/// A token of `caller` from the TokenRequest API, for `audiences` (empty: the API server's).
async fn token(client: &kube::Client, ns: &str, audiences: &[&str]) -> String {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(audiences.iter().map(|a| a.to_string()).collect()),
            expiration_seconds: Some(600),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_token_request("caller", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .and_then(|s| s.token)
        .expect("the TokenRequest API issues a token")
}

#[tokio::test]
async fn kubernetes_identities_get_exactly_what_rbac_grants_them() {
    let other = support::TestNamespace::new("tenancy-other").await;
    let other_ns = other.name.clone();
    let rt = support::Runtime::new_with("tenancy-rbac", |c| {
        c.namespaces = vec![c.namespace.clone(), other_ns];
    })
    .await;
    let (first, second) = (rt.ns.name.clone(), other.name.clone());
    let client = rt.ns.client.clone();
    caller_with_role(&client, &first).await;
    let access = Access {
        tokens: Tokens::parse(STATIC_TOKEN),
        metrics_require_auth: false,
        kubernetes: Some(Reviewer::new(
            client.clone(),
            Vec::new(),
            Duration::from_secs(10),
        )),
        review_ttl: Duration::from_secs(10),
    };
    let router = api_router(&rt, access);
    let sa = token(&client, &first, &[]).await;
    let elsewhere = token(&client, &first, &["https://elsewhere.example"]).await;

    // The first namespace: create, list and stop, by the namespaced routes.
    let servers = |ns: &str| format!("/v1/namespaces/{ns}/servers");
    let (status, body) = call(&router, Method::POST, &servers(&first), Some(&sa)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let listed = support::eventually(10, || async {
        let (status, body) = call(&router, Method::GET, &servers(&first), Some(&sa)).await;
        status == StatusCode::OK && body["items"][0]["name"] == "web"
    })
    .await;
    assert!(listed, "the ServiceAccount lists the server it created");
    let stop = format!("{}/web/stop", servers(&first));
    let (status, body) = call(&router, Method::POST, &stop, Some(&sa)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["spec"]["stopped"], true);
    // The unprefixed routes are the control plane's own namespace, the first.
    let (status, _) = call(&router, Method::GET, "/v1/servers/web/status", Some(&sa)).await;
    assert_eq!(status, StatusCode::OK);

    // The second namespace: every call refused, naming the verb and the namespace.
    for (method, path, verb) in [
        (Method::POST, servers(&second), "create"),
        (Method::GET, servers(&second), "list"),
        (
            Method::POST,
            format!("{}/web/stop", servers(&second)),
            "patch",
        ),
    ] {
        let (status, body) = call(&router, method.clone(), &path, Some(&sa)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(verb) && detail.contains(&second),
            "{method} {path}: {detail}"
        );
    }

    // No token, a token for another audience, a token nobody issued: 401.
    for token in [None, Some(elsewhere.as_str()), Some("not-a-token")] {
        let (status, body) = call(&router, Method::GET, &servers(&first), token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        assert_eq!(
            body["type"],
            "https://mcp-runtime.dev/problems/unauthorized"
        );
    }

    // The static token still works everywhere.
    let (status, body) = call(&router, Method::POST, &servers(&second), Some(STATIC_TOKEN)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A namespace not served is a 404 that says so, for every caller.
    let (status, body) = call(
        &router,
        Method::GET,
        "/v1/namespaces/kube-system/servers",
        Some(STATIC_TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["type"],
        "https://mcp-runtime.dev/problems/namespace-not-served"
    );
}

/// The Deployments the controller made in `ns`.
async fn deployments(client: &kube::Client, ns: &str) -> Vec<String> {
    let list = Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(mcp_runtime::controller::MANAGED_SELECTOR))
        .await
        .unwrap();
    list.items
        .into_iter()
        .filter_map(|d| d.metadata.name)
        .collect()
}

#[tokio::test]
async fn a_fleet_over_three_namespaces_converges_and_an_unlisted_one_is_never_touched() {
    let b = support::TestNamespace::new("tenancy-fleet-b").await;
    let c = support::TestNamespace::new("tenancy-fleet-c").await;
    let unlisted = support::TestNamespace::new("tenancy-fleet-unlisted").await;
    let client = b.client.clone();
    // The unlisted namespace's server exists before the control plane starts.
    let stranger =
        mcp_runtime::api::store::McpServerRuntimeManager::new(client.clone(), &unlisted.name);
    support::install_crd(&client).await;
    stranger
        .create(&json!({"name": "stranger", "image": "ghcr.io/acme/web:1"}))
        .await
        .unwrap();
    let listed = [b.name.clone(), c.name.clone()];
    let rt = support::Runtime::new_with("tenancy-fleet-a", |config| {
        config.namespaces = vec![
            config.namespace.clone(),
            listed[0].clone(),
            listed[1].clone(),
        ];
    })
    .await;
    let namespaces = [rt.ns.name.clone(), b.name.clone(), c.name.clone()];
    for ns in &namespaces {
        let manager = rt.manager.in_namespace(ns);
        for i in 0..4 {
            manager
                .create(&json!({"name": format!("s{i}"), "image": "ghcr.io/acme/web:1"}))
                .await
                .unwrap();
        }
    }
    let converged = support::eventually(90, || async {
        for ns in &namespaces {
            if deployments(&client, ns).await.len() != 4 {
                return false;
            }
        }
        true
    })
    .await;
    assert!(converged, "every listed namespace has its four Deployments");
    for ns in &namespaces {
        let mcps: Api<mcp_runtime::crd::McpServer> = Api::namespaced(client.clone(), ns);
        for i in 0..4 {
            let name = format!("s{i}");
            support::wait_for(
                &mcps,
                &name,
                60,
                "a status",
                |m: Option<&mcp_runtime::crd::McpServer>| {
                    m.and_then(|m| m.status.as_ref()).is_some()
                },
            )
            .await;
        }
    }
    assert!(deployments(&client, &unlisted.name).await.is_empty());
    let mcps: Api<mcp_runtime::crd::McpServer> = Api::namespaced(client.clone(), &unlisted.name);
    let stranger = mcps.get("stranger").await.unwrap();
    assert!(stranger.status.is_none(), "{:?}", stranger.status);
    assert!(
        stranger
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .all(|f| f.manager.as_deref() != Some("mcp-runtime")),
        "the controller wrote to a server it does not serve"
    );
}

/// The `org` label the org-labels example policy puts on a Deployment, if it is there.
async fn org_label(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let d = Api::<Deployment>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()?;
    d.metadata.labels?.get("org").cloned()
}

/// Sets the label `tier` of namespace `ns`.
async fn label_namespace(client: &kube::Client, ns: &str, tier: &str) {
    let patch = json!({"metadata": {"labels": {"tier": tier}}});
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(
            ns,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_for_labelled_namespaces_changes_only_theirs_and_follows_a_relabelling() {
    let set = support::plugins::example_set(&["org-labels"]);
    let manifest = set.join("org-labels/plugin.json");
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    doc["namespaces"] = json!({"selector": {"matchLabels": {"tier": "production"}}});
    std::fs::write(&manifest, doc.to_string()).unwrap();
    let policies = Arc::new(mcp_runtime::plugin::PluginSet::load(&set, None).unwrap());

    let production = support::TestNamespace::new("tenancy-policy-prod").await;
    let client = production.client.clone();
    label_namespace(&client, &production.name, "production").await;
    let other = production.name.clone();
    let rt = support::Runtime::new_with_policies(
        "tenancy-policy-home",
        |config| config.namespaces = vec![config.namespace.clone(), other],
        policies,
    )
    .await;
    let home = rt.ns.name.clone();
    for ns in [&home, &production.name] {
        rt.manager
            .in_namespace(ns)
            .create(&json!({"name": "web", "image": "ghcr.io/acme/web:1"}))
            .await
            .unwrap();
    }
    let labelled = support::eventually(90, || async {
        org_label(&client, &production.name, "mcp-web")
            .await
            .as_deref()
            == Some("acme")
    })
    .await;
    assert!(labelled, "the policy applies in the production namespace");
    let unlabelled = support::eventually(60, || async {
        let d = Api::<Deployment>::namespaced(client.clone(), &home)
            .get_opt("mcp-web")
            .await
            .unwrap();
        d.is_some()
    })
    .await;
    assert!(unlabelled, "the home namespace's server is deployed");
    assert_eq!(org_label(&client, &home, "mcp-web").await, None);

    // Relabelled, the home namespace gets the policy too, with no change to its server.
    label_namespace(&client, &home, "production").await;
    let followed = support::eventually(60, || async {
        org_label(&client, &home, "mcp-web").await.as_deref() == Some("acme")
    })
    .await;
    assert!(
        followed,
        "a relabelled namespace gets the policies its labels select"
    );
}

/// POSTs `body` to `path` with the static token.
async fn create(router: &Router, path: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {STATIC_TOKEN}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(request).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The memory limit of the server container of Deployment `name` in `ns`, once it exists.
async fn memory_limit(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let d = Api::<Deployment>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()?;
    let container = d.spec?.template.spec?.containers.into_iter().next()?;
    let limits = container.resources?.limits?;
    limits.get("memory").map(|q| q.0.clone())
}

#[tokio::test]
async fn a_namespace_s_own_settings_hold_for_its_servers_and_no_other() {
    let team = support::TestNamespace::new("tenancy-settings-team").await;
    let team_ns = team.name.clone();
    let settings =
        json!({"resources": {"limits": {"memory": "300Mi"}}, "allowedServiceAccounts": ["tools"]});
    let rt = support::Runtime::new_with("tenancy-settings-home", |c| {
        c.namespaces = vec![c.namespace.clone(), team_ns.clone()];
        c.namespace_settings = [(team_ns, serde_json::from_value(settings).unwrap())].into();
    })
    .await;
    let (home, client) = (rt.ns.name.clone(), rt.ns.client.clone());
    let access = Access {
        tokens: Tokens::parse(STATIC_TOKEN),
        metrics_require_auth: false,
        kubernetes: None,
        review_ttl: Duration::from_secs(10),
    };
    let router = api_router(&rt, access);
    let servers = |ns: &str| format!("/v1/namespaces/{ns}/servers");
    let as_reader = |name: &str| json!({"name": name, "image": "ghcr.io/acme/web:1", "serviceAccountName": "reader"});

    // The team may name only `tools`; the home namespace any account but the control plane's.
    let (status, body) = create(&router, &servers(&team.name), as_reader("web")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("/serviceAccountName"), "{body}");
    let (status, body) = create(&router, &servers(&home), as_reader("web")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let plain = json!({"name": "plain", "image": "ghcr.io/acme/web:1"});
    let (status, body) = create(&router, &servers(&team.name), plain).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The team's servers get its memory limit, the home namespace's the default.
    let team_limit = support::eventually(90, || async {
        memory_limit(&client, &team.name, "mcp-plain")
            .await
            .as_deref()
            == Some("300Mi")
    })
    .await;
    assert!(team_limit, "the team's server has the team's memory limit");
    let home_limit = support::eventually(60, || async {
        memory_limit(&client, &home, "mcp-web").await.is_some()
    })
    .await;
    assert!(home_limit, "the home namespace's server is deployed");
    let default = mcp_runtime::render::Defaults::default()
        .resources
        .limits
        .memory;
    assert_eq!(memory_limit(&client, &home, "mcp-web").await, default);
}
