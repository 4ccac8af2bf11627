//! Bridge overhead: tool-call round trips per second and latency through `mcp-runtime bridge`
//! versus talking stdio directly to the same server (the FastMCP fixture of tests/fixtures/mcp,
//! built with the official Python SDK). No cluster. `cargo bench --bench bridge`
//! (MCP_RUNTIME_BENCH_ITERATIONS, default 500 calls per row).
//!
//! Three tables:
//! 1. The official SDK client, as a user would run it: stdio direct, through the bridge, and
//!    the SDK's own streamable-HTTP server (what a server that speaks HTTP itself costs).
//!    The Python client's HTTP stack is part of these figures; a last row sends the same calls
//!    as plain httpx POSTs through the bridge, to show how much of it is the SDK's transport.
//! 2. A lean Rust client (JSON lines on stdio; ureq with keep-alive over HTTP), so that what
//!    is left is the bridge's own cost: one HTTP exchange plus its id remapping.
//!
//! 3. Both eras with the 2.x SDK's client: 2026-07-28 and the handshake, against the 2.x server's
//!    own HTTP transport and through the bridge around a modern and a handshake-only child.
//!
//! The target of the issue is ≥ 0.8× the direct throughput; each table prints the ratio.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/mcp")
        .join(name)
        .display()
        .to_string()
}

/// The 1.x SDK's interpreter, installed by scripts/plugin-tools.sh into the project's cache.
fn python() -> anyhow::Result<PathBuf> {
    sdk_python("MCP_SDK_VERSION")
}

/// The 2.x SDK's (both eras).
fn python2() -> anyhow::Result<PathBuf> {
    sdk_python("MCP_SDK2_VERSION")
}

fn sdk_python(key: &str) -> anyhow::Result<PathBuf> {
    let script = std::fs::read_to_string(root().join("scripts/plugin-tools.sh"))?;
    let version = script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .ok_or_else(|| anyhow::anyhow!("{key} in scripts/plugin-tools.sh"))?;
    let cache = std::env::var("MCP_RUNTIME_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mcp-runtime")
        });
    let p = cache.join(format!("tools/mcp-sdk-{version}/bin/python"));
    anyhow::ensure!(
        p.exists(),
        "{} missing: run scripts/plugin-tools.sh",
        p.display()
    );
    Ok(p)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(url: &str) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for _ in 0..400 {
        if agent
            .get(url)
            .call()
            .is_ok_and(|r| r.status().as_u16() < 500)
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("{url} did not answer")
}

fn bridge(python: &PathBuf) -> anyhow::Result<(Running, String)> {
    bridge_of(python, "server.py")
}

fn bridge_of(python: &PathBuf, script: &str) -> anyhow::Result<(Running, String)> {
    let port = free_port()?;
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-runtime"))
        .args(["bridge", "--listen", &format!("127.0.0.1:{port}"), "--"])
        .arg(python)
        .arg(fixture(script))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let running = Running(child);
    wait_for(&format!("http://127.0.0.1:{port}/readyz"))?;
    Ok((running, format!("http://127.0.0.1:{port}/mcp")))
}

fn native_http(python: &PathBuf) -> anyhow::Result<(Running, String)> {
    native_http_of(python, "server.py")
}

fn native_http_of(python: &PathBuf, script: &str) -> anyhow::Result<(Running, String)> {
    let port = free_port()?;
    let child = Command::new(python)
        .arg(fixture(script))
        .env("MCP_FIXTURE_HTTP_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let running = Running(child);
    // Any HTTP answer means it listens (GET /mcp without a session is a 4xx).
    wait_for(&format!("http://127.0.0.1:{port}/mcp"))?;
    Ok((running, format!("http://127.0.0.1:{port}/mcp")))
}

/// One row: round trips per second, p50 and p99 in milliseconds.
#[derive(Clone, Copy)]
struct Row {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn sdk_client(python: &PathBuf, args: &[String]) -> anyhow::Result<Row> {
    client_rows(python, "client.py", args)
}

/// tests/fixtures/mcp/client2.py: the 2.x SDK's `Client` in `mode`.
fn sdk2_client(python2: &PathBuf, mode: &str, url: &str, n: usize) -> anyhow::Result<Row> {
    let args = [
        mode.to_string(),
        url.to_string(),
        "bench".into(),
        n.to_string(),
    ];
    client_rows(python2, "client2.py", &args)
}

fn client_rows(python: &PathBuf, client: &str, args: &[String]) -> anyhow::Result<Row> {
    let out = Command::new(python)
        .arg(fixture(client))
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "client.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok(Row {
        per_second: v["per_second"].as_f64().unwrap_or(0.0),
        p50_ms: v["p50_ms"].as_f64().unwrap_or(0.0),
        p99_ms: v["p99_ms"].as_f64().unwrap_or(0.0),
    })
}

fn row_of(mut latencies: Vec<f64>, total: Duration) -> Row {
    latencies.sort_by(f64::total_cmp);
    let n = latencies.len();
    Row {
        per_second: n as f64 / total.as_secs_f64(),
        p50_ms: latencies[n / 2] * 1e3,
        p99_ms: latencies[(n * 99 / 100).min(n - 1)] * 1e3,
    }
}

fn echo(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"text": format!("x{id}")}}})
}

/// JSON lines straight to the server's stdin, answers from its stdout.
fn lean_stdio(python: &PathBuf, n: usize) -> anyhow::Result<Row> {
    let child = Command::new(python)
        .arg(fixture("server.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut running = Running(child);
    let mut stdin = running.0.stdin.take().expect("piped");
    let mut stdout = BufReader::new(running.0.stdout.take().expect("piped"));
    let mut call = |message: &Value, id: Option<u64>| -> anyhow::Result<()> {
        writeln!(stdin, "{message}")?;
        stdin.flush()?;
        let Some(id) = id else { return Ok(()) };
        let mut line = String::new();
        loop {
            line.clear();
            anyhow::ensure!(stdout.read_line(&mut line)? > 0, "the server exited");
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["id"] == json!(id)
            {
                anyhow::ensure!(v.get("result").is_some(), "error: {v}");
                return Ok(());
            }
        }
    };
    call(
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}}),
        Some(0),
    )?;
    call(
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        None,
    )?;
    call(&echo(1), Some(1))?;
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n as u64 {
        let t = Instant::now();
        call(&echo(i + 2), Some(i + 2))?;
        lat.push(t.elapsed().as_secs_f64());
    }
    Ok(row_of(lat, start.elapsed()))
}

/// POSTs over one keep-alive connection, in one session.
fn lean_http(url: &str, n: usize) -> anyhow::Result<Row> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |body: &Value, session: Option<&str>| -> anyhow::Result<(Option<String>, Value)> {
        let mut req = agent
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        let mut r = req.send_json(body)?;
        let session = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = r.body_mut().read_to_string()?;
        Ok((session, serde_json::from_str(&text).unwrap_or(Value::Null)))
    };
    let (session, _) = post(
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}}),
        None,
    )?;
    let session = session.ok_or_else(|| anyhow::anyhow!("no session id"))?;
    post(
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    )?;
    post(&echo(1), Some(&session))?;
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n as u64 {
        let t = Instant::now();
        let (_, answer) = post(&echo(i + 2), Some(&session))?;
        anyhow::ensure!(answer.get("result").is_some(), "error: {answer}");
        lat.push(t.elapsed().as_secs_f64());
    }
    Ok(row_of(lat, start.elapsed()))
}

/// The 2.x SDK's client in each era: the 2.x server on its own HTTP transport (both eras per
/// request), the same server over stdio behind the bridge (a modern child: handshake sessions
/// translated), and the 1.x server behind the bridge (a handshake child: 2026-07-28 translated).
fn eras(n: usize) -> anyhow::Result<()> {
    let (python1, python2) = (python()?, python2()?);
    let (_native, native) = native_http_of(&python2, "server2.py")?;
    let (_modern, modern) = bridge_of(&python2, "server2.py")?;
    let (_old, old) = bridge_of(&python1, "server.py")?;
    let rows = [
        (
            "2.x server, its own HTTP, 2026-07-28",
            sdk2_client(&python2, "2026-07-28", &native, n)?,
        ),
        (
            "2.x server, its own HTTP, handshake",
            sdk2_client(&python2, "legacy", &native, n)?,
        ),
        (
            "2.x server via bridge, 2026-07-28 (as is)",
            sdk2_client(&python2, "2026-07-28", &modern, n)?,
        ),
        (
            "2.x server via bridge, handshake (translated)",
            sdk2_client(&python2, "legacy", &modern, n)?,
        ),
        (
            "1.x server via bridge, 2026-07-28 (translated)",
            sdk2_client(&python2, "2026-07-28", &old, n)?,
        ),
        (
            "1.x server via bridge, handshake (as is)",
            sdk2_client(&python2, "legacy", &old, n)?,
        ),
    ];
    print_table(
        "both eras, official Python SDK 2.x client (Client); × the first row",
        &rows,
    );
    Ok(())
}

fn print_table(title: &str, rows: &[(&str, Row)]) {
    let direct = rows[0].1.per_second;
    println!("\n{title}\n");
    println!("| path | calls/s | p50 ms | p99 ms | × direct |");
    println!("|---|---|---|---|---|");
    for (name, r) in rows {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} |",
            r.per_second,
            r.p50_ms,
            r.p99_ms,
            r.per_second / direct
        );
    }
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("MCP_RUNTIME_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let python = python()?;
    println!("bridge benchmark: {n} echo tool calls per row, one session, sequential");

    let (_bridge, bridged) = bridge(&python)?;
    let (_native, native) = native_http(&python)?;

    let n_s = n.to_string();
    let mut stdio_cmd = vec![
        "bench-stdio".to_string(),
        n_s.clone(),
        python.display().to_string(),
    ];
    stdio_cmd.push(fixture("server.py"));
    let sdk_direct = sdk_client(&python, &stdio_cmd)?;
    let sdk_bridge = sdk_client(
        &python,
        &["bench-http".into(), bridged.clone(), n_s.clone()],
    )?;
    let sdk_native = sdk_client(&python, &["bench-http".into(), native.clone(), n_s.clone()])?;
    let httpx_bridge = sdk_client(&python, &["bench-httpx".into(), bridged.clone(), n_s])?;
    print_table(
        "official Python SDK client (ClientSession)",
        &[
            ("stdio, direct", sdk_direct),
            ("streamable HTTP through mcp-runtime bridge", sdk_bridge),
            (
                "streamable HTTP, the SDK's own server (no bridge)",
                sdk_native,
            ),
            (
                "plain httpx POSTs through mcp-runtime bridge (no SDK transport)",
                httpx_bridge,
            ),
        ],
    );

    let lean_direct = lean_stdio(&python, n)?;
    let lean_bridge = lean_http(&bridged, n)?;
    print_table(
        "lean Rust client (what the bridge itself adds)",
        &[
            ("stdio, direct", lean_direct),
            ("streamable HTTP through mcp-runtime bridge", lean_bridge),
        ],
    );
    eras(n)
}
