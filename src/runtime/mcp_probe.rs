//! The MCP-level readiness probe: what a client of either era would send through a server's
//! endpoint, then `tools/list` (every page).
//!
//! Two eras of the protocol live side by side. Revision 2026-07-28 is stateless: no handshake, no
//! session, every request carries its version, client info and capabilities in `_meta`, and
//! `server/discover` tells the server's versions and capabilities. The handshake era (up to
//! 2025-11-25) starts with `initialize` and holds an `Mcp-Session-Id`. Like the official SDKs'
//! `auto` mode, the probe sends `server/discover` at the newest revision first and falls back to
//! `initialize` on anything that is not positive evidence of a modern server (an error, a 4xx, a
//! result naming no modern version); only a `-32022` naming versions of neither era that we
//! speak is a verdict of its own ([`ProbeFailure::UnsupportedVersion`]). A network error is
//! never an era verdict: it is reported as it is.
//!
//! A Deployment can be Available while the process behind it does not speak MCP (a wrong port,
//! a wrong path, a crash loop between probes, a bridge whose child refuses `initialize`). This
//! probe is what lets the status say "this server speaks MCP": it records the server's
//! `serverInfo`, the negotiated protocol version, its capabilities and a hash of its tool list.
//!
//! Failures are told apart, since they call for different fixes:
//! - [`ProbeFailure::NotReachable`]: no HTTP answer (DNS, refused, timeout). Also what a control
//!   plane outside the cluster network sees, e.g. against the local cluster's simulated Pods.
//! - [`ProbeFailure::NotMcp`]: an HTTP answer that is not a JSON-RPC answer to `initialize`
//!   (a 404 page, a web server on the MCP port).
//! - [`ProbeFailure::InitializeError`]: a JSON-RPC error (or an HTTP error) in answer to
//!   `initialize` or `tools/list`: an MCP server that is there but not working.
//! - [`ProbeFailure::UnsupportedVersion`]: a server that speaks only protocol versions the probe
//!   does not (it names them).
//!
//! Blocking (ureq, no proxy from the environment: endpoints are in-cluster addresses); callers
//! run it on a blocking thread. Bounded: every request shares one deadline, and no answer is
//! read past [`MAX_ANSWER`]. Nothing is sent but the protocol's own messages: no credentials,
//! no secret values. Messages quote at most [`QUOTE`] characters of what the server said.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The handshake-era version the probe asks for; servers answer with the one they speak.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// The stateless revision the probe tries first.
pub const MODERN_VERSION: &str = "2026-07-28";
/// Handshake-era versions the probe can talk with (a server picks one in `initialize`).
pub const HANDSHAKE_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// JSON-RPC error of a server that speaks none of the versions asked for; its data names them.
const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Which generation of MCP a server spoke to the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28 and later: stateless, `server/discover`, no session.
    Modern,
    /// `initialize` and a session (up to 2025-11-25).
    Handshake,
    /// Both: `server/discover` and `initialize` answered (sessions for older clients).
    Both,
}

impl Era {
    pub fn as_str(self) -> &'static str {
        match self {
            Era::Modern => "modern",
            Era::Handshake => "handshake",
            Era::Both => "both",
        }
    }
}
/// The most read from one answer (a tool list with long descriptions fits easily).
pub const MAX_ANSWER: u64 = 4 << 20;
/// Pages of `tools/list` followed at most.
const MAX_PAGES: usize = 50;
/// Characters of a server's own words quoted in a message.
pub const QUOTE: usize = 200;
const SESSION_HEADER: &str = "mcp-session-id";

/// What a successful probe learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpInfo {
    pub era: Era,
    /// The version used: the one `initialize` negotiated, or the modern one asked for.
    pub protocol_version: String,
    /// What the server says it supports (`server/discover`), or the negotiated version.
    pub supported_versions: Vec<String>,
    pub server_name: String,
    pub server_version: String,
    /// Capability names, sub-flags as `tools.listChanged`; sorted.
    pub capabilities: Vec<String>,
    /// Number of tools and SHA-256 of their definitions; `None` without the tools capability.
    pub tools: Option<(u32, String)>,
}

/// Why a probe failed: the reason (a condition reason) and a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    #[error("{0}")]
    NotReachable(String),
    #[error("{0}")]
    NotMcp(String),
    #[error("{0}")]
    InitializeError(String),
    #[error("{0}")]
    UnsupportedVersion(String),
}

impl ProbeFailure {
    pub fn reason(&self) -> &'static str {
        match self {
            ProbeFailure::NotReachable(_) => "NotReachable",
            ProbeFailure::NotMcp(_) => "NotMcp",
            ProbeFailure::InitializeError(_) => "InitializeError",
            ProbeFailure::UnsupportedVersion(_) => "UnsupportedVersion",
        }
    }
}

/// Probes `endpoint` (an `http(s)://` URL of a streamable-HTTP MCP server) within `timeout`.
pub fn probe(endpoint: &str, timeout: Duration) -> Result<McpInfo, ProbeFailure> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(concat!("mcp-runtime-probe/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut client = Client {
        agent,
        endpoint,
        deadline: Instant::now() + timeout,
        session: None,
        protocol: None,
        modern: false,
    };
    let result = client.run();
    client.close();
    // The endpoint goes in front of every message: "what could not be reached" comes first.
    result.map_err(|mut f| {
        let (ProbeFailure::NotReachable(m)
        | ProbeFailure::NotMcp(m)
        | ProbeFailure::InitializeError(m)
        | ProbeFailure::UnsupportedVersion(m)) = &mut f;
        *m = format!("{endpoint}: {m}");
        f
    })
}

struct Client<'a> {
    agent: ureq::Agent,
    endpoint: &'a str,
    deadline: Instant,
    session: Option<String>,
    protocol: Option<String>,
    /// Talking 2026-07-28: every request carries the `_meta` envelope.
    modern: bool,
}

/// What `server/discover` told.
enum Discovered {
    Modern(McpInfo),
    /// Not positive evidence of a modern server: try the handshake.
    NotModern,
}

/// One answer: the HTTP status and the JSON-RPC message answering our id, if any.
struct Answer {
    status: u16,
    message: Option<Value>,
    content_type: String,
}

impl Client<'_> {
    fn run(&mut self) -> Result<McpInfo, ProbeFailure> {
        let info = match self.discover()? {
            // Does it also hold sessions for handshake-era clients? (Its Service then keeps
            // session affinity.) The tool list is read in the modern era either way.
            Discovered::Modern(info) => self.also_handshake(info),
            Discovered::NotModern => {
                // A handshake-era server may have opened a session for the refused request.
                self.session = None;
                self.protocol = None;
                self.modern = false;
                self.handshake()?
            }
        };
        let tools = if info.capabilities.iter().any(|c| c == "tools") {
            Some(self.tools()?)
        } else {
            None
        };
        Ok(McpInfo { tools, ..info })
    }

    /// `server/discover` at the newest revision, as the SDKs' `auto` mode sends it.
    fn discover(&mut self) -> Result<Discovered, ProbeFailure> {
        self.protocol = Some(MODERN_VERSION.into());
        self.modern = true;
        let answer = self.call(1, "server/discover", json!({}))?;
        let Some(message) = answer.message else {
            return Ok(Discovered::NotModern);
        };
        if let Some(e) = message.get("error") {
            return unsupported(e).map(|_| Discovered::NotModern);
        }
        let result = &message["result"];
        let supported: Vec<String> = result["supportedVersions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .take(16)
            .map(|v| cut(v, 60))
            .collect();
        if !supported.iter().any(|v| v == MODERN_VERSION) {
            return Ok(Discovered::NotModern);
        }
        let server = &result["_meta"][META_SERVER_INFO];
        let name = server["name"].as_str().unwrap_or_default();
        Ok(Discovered::Modern(McpInfo {
            era: Era::Modern,
            protocol_version: MODERN_VERSION.into(),
            supported_versions: supported,
            server_name: cut(name, 253),
            server_version: cut(server["version"].as_str().unwrap_or_default(), 128),
            capabilities: capabilities(&result["capabilities"]),
            tools: None,
        }))
    }

    /// `info` of a modern server, marked [`Era::Both`] when `initialize` answers too.
    fn also_handshake(&mut self, mut info: McpInfo) -> McpInfo {
        self.modern = false;
        self.protocol = None;
        if let Ok(old) = self.handshake() {
            info.era = Era::Both;
            for v in old.supported_versions {
                if !info.supported_versions.contains(&v) {
                    info.supported_versions.push(v);
                }
            }
        }
        self.close();
        self.session = None;
        self.modern = true;
        self.protocol = Some(MODERN_VERSION.into());
        info
    }

    /// The handshake era: `initialize`, then `notifications/initialized`.
    fn handshake(&mut self) -> Result<McpInfo, ProbeFailure> {
        let init = self.call(
            1,
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "mcp-runtime-probe", "version": env!("CARGO_PKG_VERSION")},
            }),
        )?;
        let result = match (init.message, init.status) {
            (Some(m), status) => match (m.get("result"), m.get("error")) {
                (Some(r), _) => r.clone(),
                (None, Some(e)) => {
                    return Err(ProbeFailure::InitializeError(format!(
                        "initialize answered with an error (HTTP {status}): {}",
                        rpc_error(e)
                    )));
                }
                (None, None) => {
                    return Err(ProbeFailure::NotMcp(format!(
                        "the answer to initialize (HTTP {status}) has neither result nor error"
                    )));
                }
            },
            (None, status @ (401 | 403)) => {
                return Err(ProbeFailure::InitializeError(format!(
                    "initialize answered HTTP {status}: the server wants credentials the \
                     control plane does not send"
                )));
            }
            (None, status) if status >= 500 => {
                return Err(ProbeFailure::InitializeError(format!(
                    "initialize answered HTTP {status} without a JSON-RPC message"
                )));
            }
            (None, status) => {
                return Err(ProbeFailure::NotMcp(format!(
                    "initialize answered HTTP {status} ({}) without a JSON-RPC message",
                    if init.content_type.is_empty() {
                        "no content type".to_string()
                    } else {
                        cut(&redact_tokens(&init.content_type), 100)
                    }
                )));
            }
        };
        let info = initialize_result(&result)?;
        self.protocol = Some(info.protocol_version.clone());
        // Best effort: a server that ignores the notification can still list its tools.
        let _ = self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        Ok(info)
    }

    /// All pages of `tools/list`: their count and the SHA-256 of their definitions in order.
    fn tools(&mut self) -> Result<(u32, String), ProbeFailure> {
        let mut hasher = Sha256::new();
        let mut count = 0u32;
        let mut cursor: Option<String> = None;
        for page in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let answer = self.call(2 + page as i64, "tools/list", params)?;
            let Some(message) = answer.message else {
                return Err(ProbeFailure::InitializeError(format!(
                    "tools/list answered HTTP {} without a JSON-RPC message",
                    answer.status
                )));
            };
            if let Some(e) = message.get("error") {
                return Err(ProbeFailure::InitializeError(format!(
                    "tools/list answered with an error: {}",
                    rpc_error(e)
                )));
            }
            let Some(tools) = message.pointer("/result/tools").and_then(Value::as_array) else {
                return Err(ProbeFailure::NotMcp(
                    "the answer to tools/list has no result.tools list".into(),
                ));
            };
            for tool in tools {
                // serde_json's maps are ordered by key: the same definitions hash the same,
                // whatever order the server wrote their fields in.
                hasher.update(serde_json::to_vec(tool).unwrap_or_default());
                hasher.update(b"\n");
                count += 1;
            }
            cursor = message
                .pointer("/result/nextCursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cursor.is_none() {
                return Ok((count, hex::encode(hasher.finalize())));
            }
        }
        Err(ProbeFailure::InitializeError(format!(
            "tools/list still had more pages after {MAX_PAGES}"
        )))
    }

    fn left(&self) -> Result<Duration, ProbeFailure> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(ProbeFailure::NotReachable(
                "no answer within the probe's timeout".into(),
            ))
        } else {
            Ok(left)
        }
    }

    /// `req` with the deadline and the protocol's headers.
    fn headers<B>(
        &self,
        req: ureq::RequestBuilder<B>,
    ) -> Result<ureq::RequestBuilder<B>, ProbeFailure> {
        let left = self.left()?;
        let mut req = req
            .config()
            .timeout_global(Some(left))
            .build()
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = &self.session {
            req = req.header(SESSION_HEADER, s);
        }
        if let Some(p) = &self.protocol {
            req = req.header("mcp-protocol-version", p);
        }
        Ok(req)
    }

    /// Sends a notification; the answer (202) is not read.
    fn send(&self, message: &Value) -> Result<(), ProbeFailure> {
        let body = serde_json::to_vec(message).unwrap_or_default();
        self.headers(self.agent.post(self.endpoint))?
            .send(&body[..])
            .map(|_| ())
            .map_err(transport)
    }

    /// Sends a request and reads the message answering `id` (a JSON body or an SSE stream).
    fn call(&mut self, id: i64, method: &str, mut params: Value) -> Result<Answer, ProbeFailure> {
        if self.modern {
            params["_meta"] = json!({
                META_PROTOCOL_VERSION: MODERN_VERSION,
                META_CLIENT_INFO: {"name": "mcp-runtime-probe", "version": env!("CARGO_PKG_VERSION")},
                META_CLIENT_CAPABILITIES: {},
            });
        }
        let body = serde_json::to_vec(&json!({
            "jsonrpc": "2.0", "id": id, "method": method, "params": params,
        }))
        .map_err(|e| ProbeFailure::NotMcp(format!("encoding {method}: {e}")))?;
        let mut response = self
            .headers(self.agent.post(self.endpoint))?
            .header("mcp-method", method)
            .send(&body[..])
            .map_err(transport)?;
        let status = response.status().as_u16();
        if let Some(s) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(s.to_string());
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let reader = response.body_mut().as_reader().take(MAX_ANSWER);
        let message = if content_type.starts_with("text/event-stream") {
            sse_answer(reader, id)?
        } else if content_type.starts_with("application/json") {
            json_answer(reader, id)?
        } else {
            None
        };
        Ok(Answer {
            status,
            message,
            content_type,
        })
    }

    /// Ends the session (best effort, bounded by what is left of the deadline).
    fn close(&self) {
        if self.session.is_some()
            && let Ok(req) = self.headers(self.agent.delete(self.endpoint))
        {
            let _ = req.call();
        }
    }
}

/// Reads `serverInfo`, `protocolVersion` and `capabilities` from an initialize result.
fn initialize_result(result: &Value) -> Result<McpInfo, ProbeFailure> {
    let protocol_version = result["protocolVersion"].as_str().unwrap_or_default();
    let negotiated = vec![cut(protocol_version, 60)];
    let server_name = result.pointer("/serverInfo/name").and_then(Value::as_str);
    let (Some(server_name), false) = (server_name, protocol_version.is_empty()) else {
        return Err(ProbeFailure::NotMcp(
            "the initialize result lacks protocolVersion or serverInfo.name".into(),
        ));
    };
    let server_version = result
        .pointer("/serverInfo/version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(McpInfo {
        era: Era::Handshake,
        protocol_version: cut(protocol_version, 60),
        supported_versions: negotiated,
        server_name: cut(server_name, 253),
        server_version: cut(server_version, 128),
        capabilities: capabilities(&result["capabilities"]),
        tools: None,
    })
}

/// `{"tools": {"listChanged": true}, "logging": {}}` → `["logging", "tools", "tools.listChanged"]`.
pub fn capabilities(caps: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(map) = caps.as_object() {
        for (name, value) in map {
            if value.is_null() || value == &Value::Bool(false) {
                continue;
            }
            out.push(cut(name, 63));
            if let Some(flags) = value.as_object() {
                for (flag, on) in flags {
                    if on == &Value::Bool(true) {
                        out.push(cut(&format!("{name}.{flag}"), 127));
                    }
                }
            }
        }
    }
    out.sort();
    out.truncate(64);
    out
}

fn json_answer(reader: impl Read, id: i64) -> Result<Option<Value>, ProbeFailure> {
    let value: Value = match serde_json::from_reader(reader) {
        Ok(v) => v,
        Err(e) if e.is_io() => return Err(transport_io(e.into())),
        Err(_) => return Ok(None),
    };
    Ok(answering(value, id))
}

/// Reads server-sent events until one carries the message answering `id`.
fn sse_answer(reader: impl Read, id: i64) -> Result<Option<Value>, ProbeFailure> {
    let mut data = String::new();
    for line in BufReader::new(reader).lines() {
        let line = line.map_err(transport_io)?;
        if line.is_empty() {
            if let Some(found) = serde_json::from_str(&data)
                .ok()
                .and_then(|v| answering(v, id))
            {
                return Ok(Some(found));
            }
            data.clear();
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    Ok(serde_json::from_str(&data)
        .ok()
        .and_then(|v| answering(v, id)))
}

/// The JSON-RPC response to `id` in `value` (a message or, from old servers, a batch).
fn answering(value: Value, id: i64) -> Option<Value> {
    match value {
        Value::Array(items) => items.into_iter().find_map(|v| answering(v, id)),
        v if v.get("jsonrpc") == Some(&json!("2.0"))
            && v.get("id") == Some(&json!(id))
            && (v.get("result").is_some() || v.get("error").is_some()) =>
        {
            Some(v)
        }
        // An error about a request the server could not parse carries a null id.
        v if v.get("jsonrpc") == Some(&json!("2.0"))
            && v.get("id") == Some(&Value::Null)
            && v.get("error").is_some() =>
        {
            Some(v)
        }
        _ => None,
    }
}

/// `Err` when a `server/discover` error says the server speaks only versions the probe does not
/// (a `-32022` naming no modern and no handshake-era version of ours); `Ok` for every other
/// error, which means "try the handshake".
fn unsupported(e: &Value) -> Result<(), ProbeFailure> {
    if e["code"].as_i64() != Some(UNSUPPORTED_PROTOCOL_VERSION) {
        return Ok(());
    }
    let Some(supported) = e.pointer("/data/supported").and_then(Value::as_array) else {
        return Ok(());
    };
    let names: Vec<String> = supported
        .iter()
        .filter_map(Value::as_str)
        .take(16)
        .map(|v| cut(&redact_tokens(v), 60))
        .collect();
    let ours = |v: &String| v == MODERN_VERSION || HANDSHAKE_VERSIONS.contains(&v.as_str());
    if names.iter().any(ours) {
        return Ok(());
    }
    Err(ProbeFailure::UnsupportedVersion(format!(
        "the server speaks only protocol versions {} (the probe speaks {MODERN_VERSION} and {})",
        names.join(", "),
        HANDSHAKE_VERSIONS.join(", ")
    )))
}

fn rpc_error(e: &Value) -> String {
    let code = e["code"]
        .as_i64()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let message = e["message"].as_str().unwrap_or("no message");
    format!("{}{code}", cut(&redact_tokens(message), QUOTE))
}

/// Shortest run of token characters taken for a credential.
const TOKEN_MIN: usize = 20;

/// A server's own words go into status, which many can read. The controller never has the
/// server's secret values (it cannot search for them), so anything shaped like a credential is
/// hidden instead: a run of at least [`TOKEN_MIN`] letters, digits, `_`, `-`, `+` or `=` that
/// mixes letters and digits (API keys, bearer tokens, JWT parts, long hex or base64). Ordinary
/// words, version numbers and URLs pass; a long identifier that mixes both (a UUID) is hidden too,
/// which costs a diagnostic nothing.
fn redact_tokens(text: &str) -> String {
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '=');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !token_char(c)).unwrap_or(rest.len());
        let (run, after) = rest.split_at(end);
        let credential = run.len() >= TOKEN_MIN
            && run.bytes().any(|b| b.is_ascii_digit())
            && run.bytes().any(|b| b.is_ascii_alphabetic());
        out.push_str(if credential { "[redacted]" } else { run });
        // The separator (one character, maybe multi-byte) is copied as it is.
        let mut chars = after.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

fn transport(e: ureq::Error) -> ProbeFailure {
    match e {
        ureq::Error::Timeout(_) => {
            ProbeFailure::NotReachable("no answer within the probe's timeout".into())
        }
        ureq::Error::Io(io) => transport_io(io),
        ureq::Error::BodyExceedsLimit(_) => {
            ProbeFailure::NotMcp(format!("an answer over {MAX_ANSWER} bytes"))
        }
        other => ProbeFailure::NotReachable(cut(&other.to_string(), QUOTE)),
    }
}

fn transport_io(e: std::io::Error) -> ProbeFailure {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return ProbeFailure::NotReachable("no answer within the probe's timeout".into());
    }
    ProbeFailure::NotReachable(cut(&e.to_string(), QUOTE))
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The status's view of a probe's answer (the `crd` types do not know the probe).
impl From<&McpInfo> for crate::crd::resource::McpInfoStatus {
    fn from(i: &McpInfo) -> Self {
        crate::crd::resource::McpInfoStatus {
            era: i.era.as_str().into(),
            protocol_version: i.protocol_version.clone(),
            supported_versions: i.supported_versions.clone(),
            server_info: crate::crd::resource::ServerInfo {
                name: i.server_name.clone(),
                version: i.server_version.clone(),
            },
            capabilities: i.capabilities.clone(),
            tools: i.tools.as_ref().map(|(n, _)| *n),
            tools_hash: i.tools.as_ref().map(|(_, h)| h.clone()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #[test]
    fn only_a_version_of_neither_era_is_a_verdict() {
        let err = |supported: serde_json::Value| json!({"code": -32022, "message": "unsupported", "data": {"supported": supported}});
        let verdict = unsupported(&err(json!(["2027-01-01"]))).unwrap_err();
        assert_eq!(verdict.reason(), "UnsupportedVersion");
        assert!(verdict.to_string().contains("2027-01-01"), "{verdict}");
        // A version of ours in either era, another code, or no list: try the handshake.
        assert!(unsupported(&err(json!(["2027-01-01", "2025-06-18"]))).is_ok());
        assert!(unsupported(&err(json!(["2026-07-28"]))).is_ok());
        assert!(unsupported(&json!({"code": -32601, "message": "Method not found"})).is_ok());
        assert!(unsupported(&json!({"code": -32022, "message": "no data"})).is_ok());
    }

    use super::*;

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
}
