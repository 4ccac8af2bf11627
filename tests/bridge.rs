//! `mcp-runtime bridge` against MCP implementations nobody here wrote: a stdio server built with
//! the official Python SDK (PyPI `mcp`, FastMCP), driven through the bridge by the same SDK's
//! streamable-HTTP client (tests/fixtures/mcp). The SDK is installed into the cache by
//! scripts/plugin-tools.sh.
//!
//! Also the controller's MCP probe (`runtime::mcp_probe`) against the same server, both through
//! the bridge and through the SDK's own streamable-HTTP transport, and against a bridge whose
//! child refuses `initialize`.

mod support;

use std::time::Duration;

use serde_json::Value;

use support::bridge::{Bridge, NativeHttp};

#[test]
fn the_official_client_initializes_lists_and_calls_tools() {
    let b = Bridge::start(&[]);
    b.wait_ready();
    assert_eq!(b.get("/healthz"), 200);
    let out = b.client(&["basic"]);
    assert_eq!(out["server"], "fixture");
    assert_eq!(out["protocol"], "2025-06-18");
    assert_eq!(
        out["tools"],
        serde_json::json!(["add", "ask", "crash", "echo", "noisy", "progress", "slow"])
    );
    assert_eq!(out["echo"], "héllo");
    assert_eq!(out["add"], "42");
    assert_eq!(out["noisy"], "still fine");
}

#[test]
fn two_concurrent_sessions_get_their_own_answers() {
    let b = Bridge::start(&[]);
    b.wait_ready();
    // Both sessions number their requests from the same ids; the answers interleave on stdio.
    let out = b.client(&["concurrent"]);
    let expect = |tag: &str| -> Value { (0..5).map(|i| format!("{tag}-{i}")).collect() };
    assert_eq!(out["a"], expect("a"));
    assert_eq!(out["b"], expect("b"));
}

#[test]
fn garbage_on_stdout_is_skipped_and_logged() {
    let b = Bridge::start(&[("MCP_FIXTURE_GARBAGE", "1")]);
    b.wait_ready();
    let out = b.client(&["basic"]);
    assert_eq!(out["noisy"], "still fine");
    let log = b.log();
    assert!(
        log.contains("skipping a non-JSON-RPC line") && log.contains("this is not JSON-RPC"),
        "{log}"
    );
}

#[test]
fn readiness_waits_for_initialize() {
    let b = Bridge::start(&[("MCP_FIXTURE_DELAY", "2")]);
    let mut saw_unready = false;
    for _ in 0..100 {
        match b.get("/readyz") {
            503 => {
                saw_unready = true;
                assert_eq!(b.get("/healthz"), 200, "the process is alive meanwhile");
            }
            200 => break,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        saw_unready,
        "not ready before the server answered initialize"
    );
    b.wait_ready();
}

#[test]
fn a_crashing_server_fails_its_requests_and_the_bridge_exits_with_its_status() {
    let mut b = Bridge::start(&[]);
    b.wait_ready();
    let out = b.client(&["call", "crash", r#"{"code": 3}"#]);
    assert!(
        out["error"].as_str().is_some_and(|e| e.contains("exited")),
        "{out}"
    );
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = b.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        status.expect("the bridge exited").code(),
        Some(3),
        "exits with the child's status, restarting nothing"
    );
}

#[test]
fn bad_requests_get_json_rpc_errors_not_crashes() {
    let b = Bridge::start(&[]);
    b.wait_ready();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |body: &str, session: Option<&str>| {
        let mut req = agent
            .post(&b.url())
            .header("Content-Type", "application/json");
        if let Some(s) = session {
            req = req.header("Mcp-Session-Id", s);
        }
        let mut r = req.send(body).unwrap();
        let status = r.status().as_u16();
        let body: Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null);
        (status, body)
    };
    let (s, body) = post("{not json", None);
    assert_eq!((s, body["error"]["code"].as_i64()), (400, Some(-32700)));
    let (s, _) = post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, None);
    assert_eq!(s, 400, "no session");
    let (s, _) = post(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        Some("nope"),
    );
    assert_eq!(s, 404, "unknown session");
    let (s, body) = post(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, None);
    assert_eq!((s, body["error"]["code"].as_i64()), (400, Some(-32600)));
    assert_eq!(b.get("/healthz"), 200, "still alive");
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn the_probe_reads_server_info_capabilities_and_the_tool_list() {
    use mcp_runtime::mcp::probe::probe;
    let b = Bridge::start(&[]);
    b.wait_ready();
    let bridged = probe(&b.url(), PROBE_TIMEOUT).unwrap();
    assert_eq!(bridged.server_name, "fixture");
    // The bridge answers server/discover for its handshake-era child.
    assert_eq!(bridged.protocol_version, "2026-07-28");
    assert!(
        bridged.capabilities.iter().any(|c| c == "tools"),
        "{:?}",
        bridged.capabilities
    );
    let (count, hash) = bridged.tools.clone().expect("the fixture has tools");
    assert_eq!(count, 7, "add, ask, crash, echo, noisy, progress, slow");
    assert_eq!(hash.len(), 64);
    assert_eq!(
        probe(&b.url(), PROBE_TIMEOUT).unwrap(),
        bridged,
        "a second probe reads the same"
    );

    // The same server on the SDK's own HTTP transport (SSE answers): the same tools, the same
    // hash, whoever serves them.
    let native = NativeHttp::start();
    let direct = probe(
        &format!("http://127.0.0.1:{}/mcp", native.port),
        PROBE_TIMEOUT,
    )
    .unwrap();
    assert_eq!(direct.server_name, "fixture");
    assert_eq!(direct.tools, bridged.tools);
    assert!(direct.capabilities.iter().any(|c| c == "tools"));
}

#[test]
fn the_probe_tells_not_mcp_from_not_reachable() {
    use mcp_runtime::mcp::probe::probe;
    let b = Bridge::start(&[]);
    b.wait_ready();
    // An HTTP server that is not MCP at that path: the bridge's own health endpoint.
    let failure = probe(
        &format!("http://127.0.0.1:{}/healthz", b.port),
        PROBE_TIMEOUT,
    )
    .unwrap_err();
    assert_eq!(failure.reason(), "NotMcp", "{failure}");
    let closed = support::free_port();
    let failure = probe(&format!("http://127.0.0.1:{closed}/mcp"), PROBE_TIMEOUT).unwrap_err();
    assert_eq!(failure.reason(), "NotReachable", "{failure}");
}

#[test]
fn a_refused_initialize_is_an_initialize_error_with_the_servers_words() {
    use mcp_runtime::mcp::probe::probe;
    let b = Bridge::start_script("refuses.py", &[]);
    // Alive but never ready: /readyz says why.
    let mut readyz = 0;
    for _ in 0..100 {
        readyz = b.get("/readyz");
        if readyz == 503 && b.get("/healthz") == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(readyz, 503);
    let failure = probe(&b.url(), PROBE_TIMEOUT).unwrap_err();
    assert_eq!(failure.reason(), "InitializeError", "{failure}");
    let message = failure.to_string();
    assert!(
        message.contains("rejected API key [redacted]: set UPSTREAM_TOKEN"),
        "the server's own message is quoted: {message}"
    );
    assert!(
        !message.contains("ghp_4fT9"),
        "but not the credential it echoed: {message}"
    );
}

/// The probe tries `server/discover` at 2026-07-28 first and falls back to `initialize`: the 1.x
/// SDK's server (handshake only) is probed in the handshake era natively and in both behind the
/// bridge, the 2.x SDK's server (both eras) in the modern one, its tools listed with the `_meta`
/// envelope.
#[test]
fn the_probe_knows_the_era() {
    use mcp_runtime::mcp::probe::probe;
    let b = Bridge::start(&[]);
    b.wait_ready();
    // Behind the bridge it speaks both: the bridge translates 2026-07-28 for it.
    let bridged = probe(&b.url(), PROBE_TIMEOUT).unwrap();
    assert_eq!(bridged.spoken(), "both");
    assert_eq!(
        bridged.supported_versions,
        vec!["2026-07-28".to_string(), "2025-06-18".to_string()]
    );
    assert_eq!(bridged.server_name, "fixture");
    let old = NativeHttp::start();
    let native = probe(&format!("http://127.0.0.1:{}/mcp", old.port), PROBE_TIMEOUT).unwrap();
    assert_eq!(native.spoken(), "handshake");

    let new = NativeHttp::start_with(support::tools::mcp2_python(), "server2.py");
    let both = probe(&format!("http://127.0.0.1:{}/mcp", new.port), PROBE_TIMEOUT).unwrap();
    assert_eq!(both.spoken(), "both", "{both:?}");
    assert_eq!(both.protocol_version, "2026-07-28");
    assert!(
        both.supported_versions.iter().any(|v| v == "2026-07-28")
            && both.supported_versions.len() >= 2,
        "discover's versions and the negotiated one: {:?}",
        both.supported_versions
    );
    assert_eq!(both.server_name, "fixture-2");
    assert!(both.capabilities.iter().any(|c| c == "tools"));
    let (count, hash) = both.tools.expect("tools listed in the modern era");
    assert_eq!(count, 4, "echo, add, progress, confirm");
    assert_eq!(hash.len(), 64);
}
