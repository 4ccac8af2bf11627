use axum::http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::*;

fn envelope() -> Value {
    json!({
        META_PROTOCOL_VERSION: MODERN_VERSION,
        META_CLIENT_INFO: {"name": "c", "version": "1"},
        META_CLIENT_CAPABILITIES: {},
    })
}

fn call(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
           "params": {"name": name, "arguments": {}, "_meta": envelope()}})
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn routed(method: &str, name: &str) -> HeaderMap {
    headers(&[
        ("mcp-protocol-version", MODERN_VERSION),
        ("mcp-method", method),
        ("mcp-name", name),
    ])
}

#[test]
fn the_era_of_a_request_follows_the_sdks_routing() {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    assert_eq!(
        request_era(&routed("initialize", ""), &init),
        Era::Handshake
    );
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(request_era(&HeaderMap::new(), &list), Era::Handshake);
    let old = headers(&[("mcp-protocol-version", "2025-06-18")]);
    assert_eq!(request_era(&old, &call("x")), Era::Handshake);
    // An unknown version is the modern checks' to refuse, with the versions served.
    let unknown = headers(&[("mcp-protocol-version", "2099-01-01")]);
    assert_eq!(request_era(&unknown, &list), Era::Modern);
    assert_eq!(request_era(&HeaderMap::new(), &call("x")), Era::Modern);
    let session = headers(&[("mcp-session-id", "abc")]);
    assert_eq!(request_era(&session, &call("x")), Era::Handshake);
}

#[test]
fn a_well_formed_modern_request_passes() {
    let e = check_modern(&routed("tools/call", "echo"), &call("echo")).unwrap();
    assert_eq!(e.protocol_version, MODERN_VERSION);
}

#[test]
fn the_ladder_refuses_in_the_specifications_order() {
    let no_meta = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    let r = check_modern(&routed("tools/list", ""), &no_meta).unwrap_err();
    assert_eq!(r.code, INVALID_PARAMS);

    let mut half = call("echo");
    half["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove(META_CLIENT_CAPABILITIES);
    let r = check_modern(&routed("tools/call", "echo"), &half).unwrap_err();
    assert_eq!(r.code, INVALID_PARAMS);
    assert!(r.message.contains("clientCapabilities"), "{}", r.message);

    let wrong_method = check_modern(&routed("tools/list", "echo"), &call("echo")).unwrap_err();
    assert_eq!(wrong_method.code, HEADER_MISMATCH);
    let wrong_name = check_modern(&routed("tools/call", "add"), &call("echo")).unwrap_err();
    assert_eq!(wrong_name.code, HEADER_MISMATCH);
    let mut twice = routed("tools/call", "echo");
    twice.append("mcp-method", HeaderValue::from_static("tools/call"));
    assert_eq!(
        check_modern(&twice, &call("echo")).unwrap_err().code,
        HEADER_MISMATCH
    );
    let no_version = headers(&[("mcp-method", "tools/call"), ("mcp-name", "echo")]);
    assert_eq!(
        check_modern(&no_version, &call("echo")).unwrap_err().code,
        HEADER_MISMATCH
    );

    // A header and an envelope that agree on a version nobody here speaks.
    let mut future = call("echo");
    future["params"]["_meta"][META_PROTOCOL_VERSION] = json!("2099-01-01");
    let h = headers(&[
        ("mcp-protocol-version", "2099-01-01"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ]);
    let r = check_modern(&h, &future).unwrap_err();
    assert_eq!(r.code, UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(
        r.data.unwrap(),
        json!({"supported": [MODERN_VERSION], "requested": "2099-01-01"})
    );
    assert_eq!(http_status(r.code), axum::http::StatusCode::BAD_REQUEST);
    assert_eq!(
        http_status(METHOD_NOT_FOUND),
        axum::http::StatusCode::NOT_FOUND
    );
    assert_eq!(http_status(-32000), axum::http::StatusCode::OK);
}

#[test]
fn a_name_header_may_come_base64_wrapped() {
    let wrapped = format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode("héllo wörld")
    );
    let h = routed("tools/call", &wrapped);
    assert!(check_modern(&h, &call("héllo wörld")).is_ok());
    let broken = routed("tools/call", "=?base64?***?=");
    assert_eq!(
        check_modern(&broken, &call("=?base64?***?="))
            .unwrap_err()
            .code,
        HEADER_MISMATCH,
        "a malformed wrapper matches nothing"
    );
}

#[test]
fn discover_is_made_from_initialize_and_back() {
    let init = json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {"listChanged": true}},
        "serverInfo": {"name": "srv", "version": "1.2"},
        "instructions": "be nice",
    });
    let discover = discover_from_initialize(&init);
    assert_eq!(discover["supportedVersions"], json!([MODERN_VERSION]));
    assert_eq!(discover["capabilities"], init["capabilities"]);
    assert_eq!(discover["_meta"][META_SERVER_INFO]["name"], "srv");
    assert_eq!(discover["resultType"], "complete");
    assert_eq!(
        (discover["ttlMs"].clone(), discover["cacheScope"].clone()),
        (json!(0), json!("private"))
    );

    let asked = json!({"protocolVersion": "2025-03-26", "capabilities": {}});
    let back = initialize_from_discover(&discover, &asked);
    assert_eq!(
        back["protocolVersion"], "2025-03-26",
        "the client's own version"
    );
    assert_eq!(back["serverInfo"], init["serverInfo"]);
    assert_eq!(back["capabilities"], init["capabilities"]);
    assert_eq!(back["instructions"], "be nice");
    let unknown = json!({"protocolVersion": "1999-01-01"});
    assert_eq!(
        initialize_from_discover(&discover, &unknown)["protocolVersion"],
        LATEST_HANDSHAKE_VERSION
    );
}

#[test]
fn the_envelope_comes_off_for_a_handshake_child_and_on_for_a_modern_one() {
    let mut m = call("echo");
    m["params"]["_meta"]["progressToken"] = json!(5);
    strip_envelope(&mut m);
    assert_eq!(m["params"]["_meta"], json!({"progressToken": 5}));
    let mut bare = call("echo");
    strip_envelope(&mut bare);
    assert!(bare["params"].get("_meta").is_none(), "{bare}");

    let client = ClientSide {
        client_info: json!({"name": "old", "version": "1"}),
        capabilities: json!({"sampling": {}}),
        log_level: Some(json!("debug")),
    };
    let mut list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    add_envelope(&mut list, &client);
    let meta = &list["params"]["_meta"];
    assert_eq!(meta[META_PROTOCOL_VERSION], MODERN_VERSION);
    assert_eq!(meta[META_CLIENT_INFO], client.client_info);
    assert_eq!(meta[META_CLIENT_CAPABILITIES], client.capabilities);
    assert_eq!(meta[META_LOG_LEVEL], "debug");
    let routed = routed("tools/list", "");
    assert!(
        check_modern(&routed, &list).is_ok(),
        "what we send passes our own checks"
    );
}

#[test]
fn answers_get_the_fields_of_their_clients_era() {
    let info = json!({"name": "srv", "version": "1"});
    let mut listed = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": []}});
    modern_answer(&mut listed, "tools/list", Some(&info));
    assert_eq!(listed["result"]["resultType"], "complete");
    assert_eq!(listed["result"]["ttlMs"], 0);
    assert_eq!(listed["result"]["_meta"][META_SERVER_INFO], info);
    let mut called = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": []}});
    modern_answer(&mut called, "tools/call", None);
    assert!(
        called["result"].get("ttlMs").is_none(),
        "only cacheable results get hints"
    );
    let mut error = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "x"}});
    modern_answer(&mut error, "tools/call", Some(&info));
    assert!(error.get("result").is_none());

    let mut modern = json!({"jsonrpc": "2.0", "id": 3, "result": {"resultType": "complete", "ttlMs": 0, "cacheScope": "private", "tools": []}});
    handshake_answer(&mut modern);
    assert_eq!(modern["result"], json!({"tools": []}));
    let mut ask = json!({"jsonrpc": "2.0", "id": 4, "result": {"resultType": "input_required", "inputRequests": {}}});
    handshake_answer(&mut ask);
    assert_eq!(ask["id"], 4);
    assert_eq!(ask["error"]["code"], INTERNAL_ERROR);
    assert!(
        ask["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input_required")
    );
}

#[test]
fn an_undeliverable_child_request_is_refused_with_its_method_named() {
    let m = undeliverable_child_request(json!("s-1"), "sampling/createMessage");
    assert_eq!(m["id"], "s-1");
    assert_eq!(m["error"]["code"], METHOD_NOT_FOUND);
    assert!(
        m["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sampling/createMessage")
    );
}
