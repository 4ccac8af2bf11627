//! Reading a server's answers (a JSON body, or the server-sent event that carries the answer to
//! our id) and quoting a server's words: cut, and credential-shaped words redacted.

use std::io::{BufRead, BufReader, Read};

use serde_json::{Value, json};

use super::*;

/// Reads `serverInfo`, `protocolVersion` and `capabilities` from an initialize result.
pub(super) fn initialize_result(result: &Value) -> Result<McpInfo, ProbeFailure> {
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
        handshake_too: false,
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

pub(super) fn json_answer(reader: impl Read, id: i64) -> Result<Option<Value>, ProbeFailure> {
    let value: Value = match serde_json::from_reader(reader) {
        Ok(v) => v,
        Err(e) if e.is_io() => return Err(transport_io(e.into())),
        Err(_) => return Ok(None),
    };
    Ok(answering(value, id))
}

/// Reads server-sent events until one carries the message answering `id`.
pub(super) fn sse_answer(reader: impl Read, id: i64) -> Result<Option<Value>, ProbeFailure> {
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
pub(super) fn answering(value: Value, id: i64) -> Option<Value> {
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

/// The failure of a server whose `-32022` named only versions of neither era that we speak.
pub(super) fn unsupported(named: &[&str]) -> ProbeFailure {
    let names: Vec<String> = named.iter().map(|v| cut(&redact_tokens(v), 60)).collect();
    ProbeFailure::UnsupportedVersion(format!(
        "the server speaks only protocol versions {} (the probe speaks {MODERN_VERSION} and {})",
        names.join(", "),
        HANDSHAKE_VERSIONS.join(", ")
    ))
}

pub(super) fn rpc_error(e: &Value) -> String {
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
pub(super) fn redact_tokens(text: &str) -> String {
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

pub(super) fn transport(e: ureq::Error) -> ProbeFailure {
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

pub(super) fn transport_io(e: std::io::Error) -> ProbeFailure {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return ProbeFailure::NotReachable("no answer within the probe's timeout".into());
    }
    ProbeFailure::NotReachable(cut(&e.to_string(), QUOTE))
}

pub(super) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
