//! The two eras of MCP as the bridge sees them, without I/O: which era an HTTP request belongs
//! to, the checks a 2026-07-28 request must pass (the specification's "ladder"), and the
//! translations between a child of one era and a client of the other.
//!
//! * 2026-07-28 ("modern"): no handshake, no session; every request carries its protocol
//!   version, client info and capabilities in `params._meta`, mirrored in the
//!   `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name` headers; `server/discover` says what the
//!   server is; no server-to-client requests (`input_required` results instead).
//! * 2024-11-05 … 2025-11-25 ("handshake"): `initialize` opens a session (`Mcp-Session-Id`),
//!   requests carry nothing of the client, the server may send requests on the session's stream.

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::{Map, Value, json};

pub use crate::mcp::*;

/// Results the 2026-07-28 wire requires to carry caching hints (`ttlMs`, `cacheScope`).
const CACHEABLE_METHODS: &[&str] = &[
    "server/discover",
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

/// Which era an HTTP request to the bridge speaks, as the SDKs route it: `initialize` is always
/// the handshake; otherwise the `MCP-Protocol-Version` header decides (a handshake version, or
/// anything else, which the modern checks then judge); without it a session id means the
/// handshake and the `_meta` protocol-version key the modern era.
pub fn request_era(headers: &HeaderMap, message: &Value) -> Era {
    if message["method"] == "initialize" {
        return Era::Handshake;
    }
    if let Some(version) = headers.get(PROTOCOL_VERSION_HEADER) {
        let version = version.to_str().unwrap_or_default();
        return if HANDSHAKE_VERSIONS.contains(&version) {
            Era::Handshake
        } else {
            Era::Modern
        };
    }
    if headers.contains_key(SESSION_HEADER) {
        return Era::Handshake;
    }
    if message
        .pointer("/params/_meta")
        .is_some_and(|m| m.get(META_PROTOCOL_VERSION).is_some())
    {
        Era::Modern
    } else {
        Era::Handshake
    }
}

/// A JSON-RPC error the bridge answers itself, with the HTTP status the specification pairs
/// with its code.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl Rejection {
    pub fn new(code: i64, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// `-32022`, naming what the bridge serves (the shape clients read to pick a version).
    pub fn unsupported(requested: &str) -> Rejection {
        Rejection {
            code: UNSUPPORTED_PROTOCOL_VERSION,
            message: "Unsupported protocol version".into(),
            data: Some(json!({"supported": [MODERN_VERSION], "requested": requested})),
        }
    }

    pub fn to_message(&self, id: Value) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        json!({"jsonrpc": "2.0", "id": id, "error": error})
    }
}

/// The HTTP status of a modern answer carrying this JSON-RPC error code (200 for the rest).
pub fn http_status(code: i64) -> StatusCode {
    match code {
        PARSE_ERROR
        | INVALID_REQUEST
        | INVALID_PARAMS
        | HEADER_MISMATCH
        | MISSING_REQUIRED_CLIENT_CAPABILITY
        | UNSUPPORTED_PROTOCOL_VERSION => StatusCode::BAD_REQUEST,
        METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// What a modern request said of its client, once it passed the checks.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub protocol_version: String,
}

/// The checks of a 2026-07-28 request, in the specification's order (first failure wins): the
/// `_meta` envelope's two required keys, the routing headers equal to the body (each once),
/// then the version. Method existence is the child's to say.
pub fn check_modern(headers: &HeaderMap, message: &Value) -> Result<Envelope, Rejection> {
    let Some(meta) = message.pointer("/params/_meta").and_then(Value::as_object) else {
        return Err(Rejection::new(
            INVALID_PARAMS,
            format!(
                "params._meta must be an object carrying the required {META_PROTOCOL_VERSION:?} and {META_CLIENT_CAPABILITIES:?} envelope keys"
            ),
        ));
    };
    let missing: Vec<&str> = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES]
        .into_iter()
        .filter(|k| !meta.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(Rejection::new(
            INVALID_PARAMS,
            format!(
                "params._meta is missing the required envelope key(s): {}",
                missing.join(", ")
            ),
        ));
    }
    for name in [PROTOCOL_VERSION_HEADER, METHOD_HEADER, NAME_HEADER] {
        if headers.get_all(name).iter().count() > 1 {
            return Err(Rejection::new(
                HEADER_MISMATCH,
                format!("{name} header appears more than once"),
            ));
        }
    }
    let version = &meta[META_PROTOCOL_VERSION];
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header(PROTOCOL_VERSION_HEADER).is_none_or(|h| version.as_str() != Some(h)) {
        return Err(Rejection::new(
            HEADER_MISMATCH,
            format!(
                "{PROTOCOL_VERSION_HEADER} header does not match the request envelope's protocol version"
            ),
        ));
    }
    let method = message["method"].as_str().unwrap_or_default();
    if header(METHOD_HEADER) != Some(method) {
        return Err(Rejection::new(
            HEADER_MISMATCH,
            format!("{METHOD_HEADER} header does not match the request body's method"),
        ));
    }
    if let Some(key) = name_bearing(method)
        && let Some(body) = message.pointer(&format!("/params/{key}"))
        && header(NAME_HEADER).and_then(decode_header_value).as_deref() != body.as_str()
    {
        return Err(Rejection::new(
            HEADER_MISMATCH,
            format!("{NAME_HEADER} header does not match the request body's {key:?} parameter"),
        ));
    }
    let Some(version) = version.as_str() else {
        return Err(Rejection::new(
            INVALID_PARAMS,
            "the protocol-version envelope value must be a string",
        ));
    };
    if version != MODERN_VERSION {
        return Err(Rejection::unsupported(version));
    }
    Ok(Envelope {
        protocol_version: version.to_string(),
    })
}

/// The body parameter a method's `Mcp-Name` header mirrors.
fn name_bearing(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// A header value as sent: verbatim, or the `=?base64?…?=` form clients use for values that
/// are not plain ASCII. A malformed form decodes to nothing, so it never matches by accident.
fn decode_header_value(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Some(value.to_string());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// What a handshake-era client said of itself in `initialize`, kept for its session: a modern
/// child needs it in every request's envelope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientSide {
    pub client_info: Value,
    pub capabilities: Value,
    /// Set by the session's `logging/setLevel` (a request of the handshake era only).
    pub log_level: Option<Value>,
}

impl ClientSide {
    pub fn from_initialize(params: &Value) -> ClientSide {
        ClientSide {
            client_info: params.get("clientInfo").cloned().unwrap_or(Value::Null),
            capabilities: params
                .get("capabilities")
                .cloned()
                .unwrap_or_else(|| json!({})),
            log_level: None,
        }
    }
}

/// The version the bridge answers a handshake client's `initialize` with when the child speaks
/// 2026-07-28: the client's own if it is a handshake version, else the newest of them.
pub fn negotiated_handshake_version(params: &Value) -> &str {
    params["protocolVersion"]
        .as_str()
        .and_then(|v| HANDSHAKE_VERSIONS.iter().find(|h| **h == v).copied())
        .unwrap_or(LATEST_HANDSHAKE_VERSION)
}

/// An `initialize` result for a handshake client, made from a modern child's `server/discover`.
pub fn initialize_from_discover(discover: &Value, client_params: &Value) -> Value {
    let server_info = discover
        .pointer(&format!("/_meta/{}", META_SERVER_INFO.replace('/', "~1")))
        .cloned()
        .unwrap_or_else(|| json!({"name": "mcp-server", "version": ""}));
    let mut result = json!({
        "protocolVersion": negotiated_handshake_version(client_params),
        "capabilities": discover.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": server_info,
    });
    if let Some(instructions) = discover.get("instructions").filter(|v| v.is_string()) {
        result["instructions"] = instructions.clone();
    }
    result
}

/// A `server/discover` result for a modern client, made from a handshake child's `initialize`.
pub fn discover_from_initialize(initialize: &Value) -> Value {
    let mut result = json!({
        "supportedVersions": [MODERN_VERSION],
        "capabilities": initialize.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "private",
    });
    if let Some(instructions) = initialize.get("instructions").filter(|v| v.is_string()) {
        result["instructions"] = instructions.clone();
    }
    if let Some(info) = initialize.get("serverInfo") {
        result["_meta"] = json!({ META_SERVER_INFO: info });
    }
    result
}

/// A modern request made fit for a handshake child: the envelope's keys leave `_meta` (a
/// handshake server may refuse them: the 2.x SDK does on a handshake connection), the rest of
/// `_meta` (a progress token) stays.
pub fn strip_envelope(message: &mut Value) {
    let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
        for key in [
            META_PROTOCOL_VERSION,
            META_CLIENT_INFO,
            META_CLIENT_CAPABILITIES,
            META_LOG_LEVEL,
        ] {
            meta.remove(key);
        }
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
}

/// A handshake client's request made fit for a modern child: the envelope its session's
/// `initialize` implies, in `_meta`.
pub fn add_envelope(message: &mut Value, client: &ClientSide) {
    if !message.get("params").is_some_and(Value::is_object) {
        message["params"] = json!({});
    }
    let params = message["params"].as_object_mut().expect("an object");
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let meta = meta.as_object_mut().expect("an object");
    meta.insert(META_PROTOCOL_VERSION.into(), json!(MODERN_VERSION));
    meta.insert(META_CLIENT_CAPABILITIES.into(), client.capabilities.clone());
    if !client.client_info.is_null() {
        meta.insert(META_CLIENT_INFO.into(), client.client_info.clone());
    }
    if let Some(level) = &client.log_level {
        meta.entry(META_LOG_LEVEL).or_insert_with(|| level.clone());
    }
}

/// A handshake child's answer made fit for a modern client: the `resultType` the 2026-07-28
/// wire requires, the caching hints of cacheable results (never cache: the child said nothing),
/// and the child's serverInfo stamped in `_meta`.
pub fn modern_answer(answer: &mut Value, method: &str, server_info: Option<&Value>) {
    let Some(result) = answer.get_mut("result").and_then(Value::as_object_mut) else {
        return;
    };
    result
        .entry("resultType")
        .or_insert_with(|| json!("complete"));
    if CACHEABLE_METHODS.contains(&method) {
        result.entry("ttlMs").or_insert_with(|| json!(0));
        result
            .entry("cacheScope")
            .or_insert_with(|| json!("private"));
    }
    if let Some(info) = server_info {
        let meta = result
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.entry(META_SERVER_INFO).or_insert_with(|| info.clone());
        }
    }
}

/// A modern child's answer made fit for a handshake client: the 2026-07-28 result fields leave
/// (strict handshake clients reject unknown keys on empty results). A result that asks the
/// client for input (`resultType: input_required`) has no handshake form the bridge can make:
/// the handshake era asked through server-to-client requests, so it becomes an error saying so.
pub fn handshake_answer(answer: &mut Value) {
    let Some(result) = answer.get_mut("result").and_then(Value::as_object_mut) else {
        return;
    };
    match result.get("resultType").and_then(Value::as_str) {
        None | Some("complete") => {
            result.remove("resultType");
            result.remove("ttlMs");
            result.remove("cacheScope");
        }
        Some(other) => {
            let message = format!(
                "the MCP server answered with a {other:?} result (MCP 2026-07-28: it needs more \
                 input from the client); mcp-runtime bridge does not translate those into the \
                 handshake era's server-to-client requests: connect with protocol 2026-07-28"
            );
            let id = answer["id"].clone();
            *answer = Rejection::new(INTERNAL_ERROR, message).to_message(id);
        }
    }
}

/// The answer the bridge gives a child's request (sampling, elicitation, roots) when no
/// client can take it: the modern era has no server-to-client requests, and no handshake
/// session has a stream open. Answered at once, so the child never waits for nobody.
pub fn undeliverable_child_request(id: Value, method: &str) -> Value {
    Rejection::new(
        METHOD_NOT_FOUND,
        format!(
            "{method}: no client can answer it (mcp-runtime bridge: the connected clients speak \
             MCP 2026-07-28, which has no server-to-client requests, or no handshake session \
             has its event stream open)"
        ),
    )
    .to_message(id)
}

#[cfg(test)]
mod tests;
