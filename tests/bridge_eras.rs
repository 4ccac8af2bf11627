//! `mcp-runtime bridge` in both eras of MCP, against peers nobody here wrote: a handshake-only
//! child (the 1.x Python SDK's FastMCP) and a child that speaks 2026-07-28 (the 2.x SDK's
//! `MCPServer` over stdio, which locks its connection to the era the bridge opens it in), each
//! reached by the 2.x SDK's client in its three modes (`auto`, `legacy`, pinned `2026-07-28`)
//! and by the 1.x SDK's client. What cannot be translated is answered with an error, never a
//! hang: a handshake child's sampling request to a modern client, a modern child's
//! `input_required` result to a handshake client.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::bridge::{Bridge, fixture};

/// A bridge around the 1.x SDK's server: handshake era only.
fn handshake_child() -> Bridge {
    let b = Bridge::start(&[]);
    b.wait_ready();
    b
}

/// A bridge around the 2.x SDK's server over stdio: opened in 2026-07-28.
fn modern_child() -> Bridge {
    let b = Bridge::start_with(support::tools::mcp2_python(), "server2.py", &[]);
    b.wait_ready();
    b
}

/// tests/fixtures/mcp/client2.py (the 2.x SDK's client) in `mode`.
fn client2(b: &Bridge, mode: &str, args: &[&str]) -> Value {
    let out = Command::new(support::tools::mcp2_python())
        .arg(fixture("client2.py"))
        .args([mode, &b.url()])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client2 {mode} {args:?} failed: {}\nbridge log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn readyz(b: &Bridge) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(&format!("http://127.0.0.1:{}/readyz", b.port))
        .call()
        .unwrap();
    r.body_mut().read_to_string().unwrap()
}

fn assert_basic(out: &Value, era: &str, protocol: &str, server: Option<&str>) {
    assert_eq!(out["era"], era, "{out}");
    assert_eq!(out["protocol"], protocol, "{out}");
    if let Some(server) = server {
        assert_eq!(out["server"], server, "{out}");
    }
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"echo") && tools.contains(&"add"), "{out}");
    assert_eq!(
        (out["echo"].clone(), out["add"].clone()),
        (json!("héllo"), json!("42"))
    );
}

#[test]
fn every_client_mode_reaches_a_handshake_child() {
    let b = handshake_child();
    assert!(
        readyz(&b).contains("handshake era (2025-06-18)"),
        "{}",
        readyz(&b)
    );
    // `auto` probes server/discover: the bridge answers it from the child's initialize, so the
    // client settles on 2026-07-28 instead of being downgraded.
    assert_basic(
        &client2(&b, "auto", &["basic"]),
        "modern",
        "2026-07-28",
        Some("fixture"),
    );
    assert_basic(
        &client2(&b, "legacy", &["basic"]),
        "handshake",
        "2025-06-18",
        Some("fixture"),
    );
    assert_basic(
        &client2(&b, "2026-07-28", &["basic"]),
        "modern",
        "2026-07-28",
        None,
    );
    let old = b.client(&["call", "echo", r#"{"text": "from 1.x"}"#]);
    assert_eq!(old["result"], "from 1.x", "{old}");
}

#[test]
fn every_client_mode_reaches_a_modern_child() {
    let b = modern_child();
    assert!(readyz(&b).contains("speaks 2026-07-28"), "{}", readyz(&b));
    assert_basic(
        &client2(&b, "auto", &["basic"]),
        "modern",
        "2026-07-28",
        Some("fixture-2"),
    );
    // A handshake client gets a session the bridge keeps; its requests reach the child with the
    // envelope its initialize implies. The version is the client's own offer (the 2.3.0
    // client offers the newest handshake version).
    assert_basic(
        &client2(&b, "legacy", &["basic"]),
        "handshake",
        "2025-11-25",
        Some("fixture-2"),
    );
    assert_basic(
        &client2(&b, "2026-07-28", &["basic"]),
        "modern",
        "2026-07-28",
        None,
    );
    let old = b.client(&["call", "echo", r#"{"text": "from 1.x"}"#]);
    assert_eq!(old["result"], "from 1.x", "{old}");
}

#[test]
fn a_modern_request_sees_its_progress_from_either_child() {
    for b in [handshake_child(), modern_child()] {
        for mode in ["auto", "2026-07-28"] {
            let out = client2(&b, mode, &["call", "progress", r#"{"steps": 3}"#]);
            assert_eq!(out["result"], "3 steps", "{out}");
            assert_eq!(
                out["progress"],
                json!([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]]),
                "{mode}: {out}"
            );
        }
    }
}

#[test]
fn a_modern_childs_input_required_result_is_driven_by_a_modern_client_and_refused_to_a_handshake_one()
 {
    let b = modern_child();
    let modern = client2(&b, "auto", &["call", "confirm", "{}"]);
    assert_eq!(modern["result"], "confirmed", "{modern}");
    let legacy = client2(&b, "legacy", &["call", "confirm", "{}"]);
    let error = legacy["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("input_required") && error.contains("2026-07-28"),
        "the handshake client is told why: {legacy}"
    );
}

#[test]
fn a_handshake_childs_sampling_request_to_a_modern_client_fails_at_once() {
    let b = handshake_child();
    let out = client2(&b, "auto", &["call", "ask", "{}"]);
    let said = format!("{}{}", out["result"], out["error"]);
    assert!(
        said.contains("sampling/createMessage") && said.contains("2026-07-28"),
        "the tool fails with the bridge's refusal (a timeout would say \"did not answer\"): {out}"
    );
    assert!(
        b.log().contains("refusing a request of the server"),
        "{}",
        b.log()
    );
}

/// Raw requests for what the SDKs never send wrong: the checks of a 2026-07-28 request.
fn post(b: &Bridge, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent
        .post(&b.url())
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.send(body.to_string()).unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn enveloped(version: &str, method: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }}})
}

#[test]
fn modern_requests_are_checked_before_they_reach_either_child() {
    for b in [handshake_child(), modern_child()] {
        let future = [
            ("MCP-Protocol-Version", "2099-01-01"),
            ("Mcp-Method", "tools/list"),
        ];
        let (status, body) = post(&b, &future, enveloped("2099-01-01", "tools/list"));
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], -32022, "{body}");
        assert_eq!(
            body["error"]["data"]["supported"],
            json!(["2026-07-28"]),
            "{body}"
        );
        assert_eq!(body["id"], 9);

        let lying = [
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
        ];
        let (status, body) = post(&b, &lying, enveloped("2026-07-28", "tools/list"));
        assert_eq!(
            (status, body["error"]["code"].as_i64()),
            (400, Some(-32020)),
            "{body}"
        );

        let fine = [
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/list"),
        ];
        let (status, body) = post(&b, &fine, enveloped("2026-07-28", "tools/list"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["resultType"], "complete", "{body}");
        assert!(
            body["result"]["tools"]
                .as_array()
                .is_some_and(|t| !t.is_empty()),
            "{body}"
        );

        // The child's own refusal, with the status the specification pairs with its code (the
        // 1.x SDK says -32602 for a method it does not know, the 2.x SDK -32601).
        let unknown = [
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "no/such"),
        ];
        let (status, body) = post(&b, &unknown, enveloped("2026-07-28", "no/such"));
        let code = body["error"]["code"].as_i64();
        assert!(
            [(404, Some(-32601)), (400, Some(-32602))].contains(&(status, code)),
            "{status} {body}"
        );

        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let get = agent
            .get(&b.url())
            .header("MCP-Protocol-Version", "2026-07-28")
            .call()
            .unwrap();
        assert_eq!(
            get.status().as_u16(),
            405,
            "no session stream in 2026-07-28"
        );
        assert_eq!(get.headers().get("allow").unwrap(), "POST");
    }
}

#[test]
fn the_probe_reads_a_modern_child_through_the_bridge() {
    use mcp_runtime::mcp::probe::probe;
    let b = modern_child();
    let info = probe(&b.url(), std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(
        info.spoken(),
        "both",
        "the bridge holds sessions for handshake clients: {info:?}"
    );
    assert_eq!(info.server_name, "fixture-2");
    assert_eq!(info.protocol_version, "2026-07-28");
    let (count, _) = info.tools.expect("tools listed");
    assert_eq!(count, 4, "echo, add, progress, confirm");
}
