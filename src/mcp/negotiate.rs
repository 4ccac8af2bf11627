//! The opening of a conversation with an MCP server, the same for the bridge (its stdio child)
//! and the probe (a server's HTTP endpoint): as the official SDKs' `auto` mode does,
//! `server/discover` at 2026-07-28 first, and `initialize` when the answer is not positive
//! evidence of a modern server. What to send and how to read the answers are here, without I/O;
//! each caller sends them over its own transport.

use serde_json::{Value, json};

use super::*;

/// Versions read from one answer at most (a list longer than this is a server's mistake).
const MAX_VERSIONS: usize = 16;

/// The `_meta` envelope every 2026-07-28 request carries, for a client named `client`.
pub fn envelope(client: &str) -> Value {
    json!({
        META_PROTOCOL_VERSION: MODERN_VERSION,
        META_CLIENT_INFO: client_info(client),
        META_CLIENT_CAPABILITIES: {},
    })
}

/// The parameters of `server/discover` at 2026-07-28.
pub fn discover_params(client: &str) -> Value {
    json!({"_meta": envelope(client)})
}

/// The parameters of our `initialize`: the handshake version we offer, no capabilities.
pub fn initialize_params(client: &str) -> Value {
    json!({
        "protocolVersion": OFFERED_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": client_info(client),
    })
}

fn client_info(client: &str) -> Value {
    json!({"name": client, "version": env!("CARGO_PKG_VERSION")})
}

/// What an answer to `server/discover` tells.
#[derive(Debug, PartialEq)]
pub enum Discovery<'a> {
    /// A modern server: its result, and the versions it names (at most [`MAX_VERSIONS`]).
    Modern {
        result: &'a Value,
        supported: Vec<&'a str>,
    },
    /// No positive evidence of a modern server (an error, a result without 2026-07-28, no
    /// JSON-RPC answer): try the handshake.
    TryHandshake,
    /// A `-32022` naming only versions of neither era that we speak (its list, as the server
    /// wrote it): the handshake would be refused too.
    SpeaksNoneOf(Vec<&'a str>),
}

/// Reads the JSON-RPC answer to `server/discover` (`None`: the server sent none).
pub fn read_discover(message: Option<&Value>) -> Discovery<'_> {
    let Some(message) = message else {
        return Discovery::TryHandshake;
    };
    if let Some(error) = message.get("error") {
        return match unsupported_versions(error) {
            Some(named) if !named.iter().any(|v| ours(v)) => Discovery::SpeaksNoneOf(named),
            _ => Discovery::TryHandshake,
        };
    }
    let Some(result) = message.get("result") else {
        return Discovery::TryHandshake;
    };
    let supported = versions(&result["supportedVersions"]);
    if supported.contains(&MODERN_VERSION) {
        Discovery::Modern { result, supported }
    } else {
        Discovery::TryHandshake
    }
}

/// What an answer to our `initialize` tells.
#[derive(Debug, PartialEq)]
pub enum Initialized<'a> {
    /// A handshake-era server: its result (`notifications/initialized` comes next).
    Handshake(&'a Value),
    /// `-32022`: the peer locked itself to the modern era after our discover went unanswered in
    /// time (a slow 2.x SDK child); ask `server/discover` once more.
    LockedModern(&'a Value),
    /// Any other error: the server refuses us.
    Refused(&'a Value),
    /// Neither result nor error: not an answer of MCP.
    Malformed,
}

/// Reads the JSON-RPC answer to `initialize`.
pub fn read_initialize(message: &Value) -> Initialized<'_> {
    match (message.get("result"), message.get("error")) {
        (Some(result), _) => Initialized::Handshake(result),
        (None, Some(error)) if error["code"] == UNSUPPORTED_PROTOCOL_VERSION => {
            Initialized::LockedModern(error)
        }
        (None, Some(error)) => Initialized::Refused(error),
        (None, None) => Initialized::Malformed,
    }
}

/// The versions a `-32022` error names in `data.supported`, if it is one.
fn unsupported_versions(error: &Value) -> Option<Vec<&str>> {
    if error["code"] != UNSUPPORTED_PROTOCOL_VERSION {
        return None;
    }
    error.pointer("/data/supported").map(versions)
}

fn versions(list: &Value) -> Vec<&str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .take(MAX_VERSIONS)
        .collect()
}

/// A version of either era that we speak.
fn ours(version: &str) -> bool {
    version == MODERN_VERSION || HANDSHAKE_VERSIONS.contains(&version)
}

#[cfg(test)]
mod tests;
