use super::wire::*;
use super::*;
use serde_json::json;

#[test]
fn a_server_of_foreign_versions_is_named_with_them_redacted() {
    // Which answers are this verdict is `negotiate`'s (tested there); this is its wording.
    let verdict = unsupported(&["2027-01-01", "sk-live-0123456789abcdefghij"]);
    assert_eq!(verdict.reason(), "UnsupportedVersion");
    let text = verdict.to_string();
    assert!(text.contains("2027-01-01"), "{text}");
    assert!(
        text.contains("[redacted]") && !text.contains("0123456789"),
        "{text}"
    );
    assert!(text.contains(MODERN_VERSION), "{text}");
}

#[test]
fn capabilities_flatten_and_sort() {
    let caps = json!({
        "tools": {"listChanged": true},
        "logging": {},
        "resources": {"subscribe": false, "listChanged": true},
        "experimental": null,
    });
    assert_eq!(
        capabilities(&caps),
        [
            "logging",
            "resources",
            "resources.listChanged",
            "tools",
            "tools.listChanged"
        ]
    );
}

#[test]
fn sse_answer_skips_other_events_and_joins_data_lines() {
    let stream = concat!(
        ": comment\n\n",
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n",
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\n",
        "data: \"id\":7,\"result\":{\"ok\":true}}\n\n",
    );
    let found = sse_answer(stream.as_bytes(), 7).unwrap().unwrap();
    assert_eq!(found["result"]["ok"], true);
    assert_eq!(sse_answer(stream.as_bytes(), 8).unwrap(), None);
}

#[test]
fn json_answer_matches_the_id_or_a_null_id_error() {
    let ok = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
    assert!(json_answer(ok.to_string().as_bytes(), 1).unwrap().is_some());
    assert!(json_answer(ok.to_string().as_bytes(), 2).unwrap().is_none());
    let parse_error =
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "x"}});
    assert!(
        json_answer(parse_error.to_string().as_bytes(), 1)
            .unwrap()
            .is_some()
    );
    assert!(
        json_answer(&b"<html>not found</html>"[..], 1)
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_initialize_result_needs_a_version_and_a_name() {
    let good = json!({"protocolVersion": "2025-06-18", "serverInfo": {"name": "s", "version": "1"}, "capabilities": {"tools": {}}});
    let info = initialize_result(&good).unwrap();
    assert_eq!(
        (info.server_name.as_str(), info.server_version.as_str()),
        ("s", "1")
    );
    assert_eq!(info.capabilities, ["tools"]);
    let bad = json!({"serverInfo": {"name": "s"}});
    assert_eq!(initialize_result(&bad).unwrap_err().reason(), "NotMcp");
}

/// A loopback port nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[test]
fn nothing_listening_is_not_reachable() {
    let port = closed_port();
    let failure = probe(
        &format!("http://127.0.0.1:{port}/mcp"),
        Duration::from_secs(2),
    )
    .unwrap_err();
    assert_eq!(failure.reason(), "NotReachable", "{failure}");
}

/// What a server says goes into status: credential-shaped words are hidden, the rest kept.
#[test]
fn credential_shaped_words_are_hidden() {
    assert_eq!(
        redact_tokens(
            "invalid key sk-proj-4fT9aQ2xLmN8pR7sV1wZ for https://api.example.com/v1 (1.2.3)"
        ),
        "invalid key [redacted] for https://api.example.com/v1 (1.2.3)"
    );
    assert_eq!(
        redact_tokens("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.é"),
        "Bearer [redacted].[redacted].é"
    );
    let plain = "unsupported protocolVersion 2099-01-01; supported: 2025-06-18, 2025-03-26";
    assert_eq!(redact_tokens(plain), plain);
    assert_eq!(redact_tokens(""), "");
}

#[test]
fn long_quotes_are_cut_on_a_character_boundary() {
    assert_eq!(cut("héllo", 2), "hé…");
    assert_eq!(cut("hi", 2), "hi");
}
