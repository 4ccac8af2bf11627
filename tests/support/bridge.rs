//! `mcp-runtime bridge` around a fixture server of tests/fixtures/mcp, for the bridge tests.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/mcp/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub struct Bridge {
    pub child: std::process::Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Bridge {
    /// The 1.x SDK's fixture server (handshake era only).
    pub fn start(env: &[(&str, &str)]) -> Bridge {
        Bridge::start_script("server.py", env)
    }

    pub fn start_script(script: &str, env: &[(&str, &str)]) -> Bridge {
        Bridge::start_with(super::tools::mcp_python(), script, env)
    }

    /// `mcp-runtime bridge -- <python> tests/fixtures/mcp/<script>`, its output in a log file.
    pub fn start_with(python: PathBuf, script: &str, env: &[(&str, &str)]) -> Bridge {
        let port = super::free_port();
        let log = std::env::temp_dir().join(format!("bridge-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-runtime"));
        cmd.args(["bridge", "--listen", &format!("127.0.0.1:{port}"), "--"])
            .arg(&python)
            .arg(fixture(script))
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Bridge { child, port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    pub fn get(&self, path: &str) -> u16 {
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

    pub fn wait_ready(&self) {
        for _ in 0..300 {
            if self.get("/readyz") == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("bridge not ready:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// tests/fixtures/mcp/client.py (the 1.x SDK's client): `args[0]` is its command.
    pub fn client(&self, args: &[&str]) -> Value {
        let url = self.url();
        let mut all = vec![fixture("client.py"), args[0].to_string(), url];
        all.extend(args[1..].iter().map(|s| s.to_string()));
        let out = Command::new(super::tools::mcp_python())
            .args(&all)
            .output()
            .unwrap();
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

/// The FastMCP fixture on the SDK's own streamable-HTTP transport (answers come as SSE).
pub struct NativeHttp {
    pub child: std::process::Child,
    pub port: u16,
}

impl NativeHttp {
    pub fn start() -> NativeHttp {
        NativeHttp::start_with(super::tools::mcp_python(), "server.py")
    }

    pub fn start_with(python: std::path::PathBuf, script: &str) -> NativeHttp {
        let port = super::free_port();
        let child = Command::new(python)
            .arg(fixture(script))
            .env("MCP_FIXTURE_HTTP_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = NativeHttp { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the SDK's HTTP server did not listen on {port}");
    }
}

impl Drop for NativeHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NativeHttp {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}
