//! One probe's conversation with a server: `server/discover`, else the handshake, then every
//! page of `tools/list`, all within one deadline.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::wire::{
    capabilities, cut, initialize_result, json_answer, redact_tokens, rpc_error, sse_answer,
    transport, unsupported,
};
use super::*;
use crate::mcp::negotiate::{Discovery, Initialized};

pub(super) struct Client<'a> {
    agent: ureq::Agent,
    endpoint: &'a str,
    deadline: Instant,
    session: Option<String>,
    protocol: Option<String>,
    /// Talking 2026-07-28: every request carries the `_meta` envelope.
    modern: bool,
}

impl<'a> Client<'a> {
    /// A client of `endpoint` whose every request must be answered within `timeout` in all.
    pub(super) fn new(endpoint: &'a str, timeout: Duration) -> Client<'a> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .user_agent(concat!("mcp-runtime-probe/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            endpoint,
            deadline: Instant::now() + timeout,
            session: None,
            protocol: None,
            modern: false,
        }
    }
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
    pub(super) fn run(&mut self) -> Result<McpInfo, ProbeFailure> {
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
        let (result, supported) = match negotiate::read_discover(answer.message.as_ref()) {
            Discovery::Modern { result, supported } => (result, supported),
            Discovery::TryHandshake => return Ok(Discovered::NotModern),
            Discovery::SpeaksNoneOf(named) => return Err(unsupported(&named)),
        };
        let server = &result["_meta"][META_SERVER_INFO];
        let name = server["name"].as_str().unwrap_or_default();
        Ok(Discovered::Modern(McpInfo {
            era: Era::Modern,
            handshake_too: false,
            protocol_version: MODERN_VERSION.into(),
            supported_versions: supported.iter().map(|v| cut(v, 60)).collect(),
            server_name: cut(name, 253),
            server_version: cut(server["version"].as_str().unwrap_or_default(), 128),
            capabilities: capabilities(&result["capabilities"]),
            tools: None,
        }))
    }

    /// `info` of a modern server, marked `handshake_too` when `initialize` answers too.
    fn also_handshake(&mut self, mut info: McpInfo) -> McpInfo {
        self.modern = false;
        self.protocol = None;
        if let Ok(old) = self.handshake() {
            info.handshake_too = true;
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
        let init = self.call(1, "initialize", negotiate::initialize_params(CLIENT))?;
        let result = match (
            init.message.as_ref().map(negotiate::read_initialize),
            init.status,
        ) {
            (Some(Initialized::Handshake(r)), _) => r.clone(),
            (Some(Initialized::LockedModern(e) | Initialized::Refused(e)), status) => {
                return Err(ProbeFailure::InitializeError(format!(
                    "initialize answered with an error (HTTP {status}): {}",
                    rpc_error(e)
                )));
            }
            (Some(Initialized::Malformed), status) => {
                return Err(ProbeFailure::NotMcp(format!(
                    "the answer to initialize (HTTP {status}) has neither result nor error"
                )));
            }
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
            params["_meta"] = negotiate::envelope(CLIENT);
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
    pub(super) fn close(&self) {
        if self.session.is_some()
            && let Ok(req) = self.headers(self.agent.delete(self.endpoint))
        {
            let _ = req.call();
        }
    }
}
