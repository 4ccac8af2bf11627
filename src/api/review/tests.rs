use super::*;

fn server(verb: &'static str, sub: Option<&'static str>, name: Option<&str>) -> Option<Action> {
    Some(Action::Server {
        verb,
        subresource: sub,
        namespace: "team-a".into(),
        name: name.map(str::to_string),
    })
}

#[test]
fn each_route_maps_to_the_verb_kubectl_would_need() {
    let at = |m: &str, route: &str| action(m, route, "/ignored", "team-a", Some("web"));
    assert_eq!(at("GET", "/v1/servers"), server("list", None, None));
    assert_eq!(at("POST", "/v1/servers"), server("create", None, None));
    assert_eq!(
        at("GET", "/v1/servers/{name}"),
        server("get", None, Some("web"))
    );
    assert_eq!(
        at("PUT", "/v1/servers/{name}"),
        server("update", None, Some("web"))
    );
    assert_eq!(
        at("DELETE", "/v1/servers/{name}"),
        server("delete", None, Some("web"))
    );
    for lifecycle in ["start", "stop", "restart"] {
        let route = format!("/v1/servers/{{name}}/{lifecycle}");
        assert_eq!(
            at("POST", &route),
            server("patch", None, Some("web")),
            "{lifecycle}"
        );
    }
    assert_eq!(
        at("GET", "/v1/servers/{name}/status"),
        server("get", Some("status"), Some("web"))
    );
    assert_eq!(
        at("GET", "/v1/servers/{name}/logs"),
        server("get", Some("logs"), Some("web"))
    );
    assert_eq!(at("POST", "/v1/render"), server("create", None, None));
    assert_eq!(
        action("GET", "/v1/plugins", "/v1/plugins", "team-a", None),
        Some(Action::Path {
            verb: "get",
            path: "/v1/plugins".into()
        })
    );
    assert_eq!(at("DELETE", "/v1/render"), None);
}

#[test]
fn a_refusal_names_the_verb_the_resource_and_the_namespace() {
    let stop = server("patch", None, Some("web")).unwrap();
    assert_eq!(
        stop.describe(),
        "patch mcpservers.mcp-runtime.dev in namespace team-a"
    );
    let logs = server("get", Some("logs"), Some("web")).unwrap();
    assert_eq!(
        logs.describe(),
        "get mcpservers/logs.mcp-runtime.dev in namespace team-a"
    );
}

#[test]
fn a_jwt_lives_until_its_exp_and_anything_else_has_no_lifetime() {
    use base64::Engine;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let jwt = |claims| {
        format!(
            "{}.{}.sig",
            b64(serde_json::json!({"alg": "RS256"})),
            b64(claims)
        )
    };
    let left = token_lifetime(&jwt(serde_json::json!({"exp": now + 600}))).unwrap();
    assert!((598..=600).contains(&left.as_secs()), "{left:?}");
    assert_eq!(
        token_lifetime(&jwt(serde_json::json!({"exp": now - 5}))),
        Some(Duration::ZERO)
    );
    assert_eq!(token_lifetime(&jwt(serde_json::json!({"sub": "x"}))), None);
    assert_eq!(token_lifetime("opaque-static-token"), None);
    assert_eq!(token_lifetime("a.!!!.c"), None);
}
