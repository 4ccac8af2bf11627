//! `mcp-runtime bridge` against MCP implementations nobody here wrote: a stdio server built with
//! the official Python SDK (PyPI `mcp`, FastMCP), driven through the bridge by the same SDK's
//! streamable-HTTP client (tests/fixtures/mcp). The SDK is installed into the cache by
//! scripts/plugin-tools.sh.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::tools::mcp_python as python;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/mcp/{name}", env!("CARGO_MANIFEST_DIR"))
}

struct Bridge {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Bridge {
    fn start(env: &[(&str, &str)]) -> Bridge {
        let port = support::free_port();
        let log = std::env::temp_dir().join(format!("bridge-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-runtime"));
        cmd.args(["bridge", "--listen", &format!("127.0.0.1:{port}"), "--"])
            .arg(python())
            .arg(fixture("server.py"))
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Bridge { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    fn get(&self, path: &str) -> u16 {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .get(&format!("http://127.0.0.1:{}{path}", self.port))
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    fn wait_ready(&self) {
        for _ in 0..300 {
            if self.get("/readyz") == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("bridge not ready:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn client(&self, args: &[&str]) -> Value {
        let url = self.url();
        let mut all = vec![fixture("client.py"), args[0].to_string(), url];
        all.extend(args[1..].iter().map(|s| s.to_string()));
        let out = Command::new(python()).args(&all).output().unwrap();
        assert!(
            out.status.success(),
            "client {args:?} failed: {}\nbridge log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
        })
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
        serde_json::json!(["add", "crash", "echo", "noisy", "slow"])
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
