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
//!
//! [`client`] holds the conversation (discover, handshake, tool list), [`wire`] the reading of
//! answers (JSON or server-sent events) and what is quoted from them.

mod client;
#[cfg(test)]
pub(crate) mod tests;
mod wire;

use std::time::Duration;

use client::Client;
pub use wire::capabilities;

pub use super::Era;
use super::negotiate;
pub use super::{HANDSHAKE_VERSIONS, MODERN_VERSION};
use super::{META_SERVER_INFO, SESSION_HEADER};

/// The name the probe gives itself to a server.
const CLIENT: &str = "mcp-runtime-probe";

/// The most read from one answer (a tool list with long descriptions fits easily).
pub const MAX_ANSWER: u64 = 4 << 20;
/// Pages of `tools/list` followed at most.
const MAX_PAGES: usize = 50;
/// Characters of a server's own words quoted in a message.
pub const QUOTE: usize = 200;

/// What a successful probe learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpInfo {
    /// The era the probe spoke: modern when `server/discover` showed a modern server.
    pub era: Era,
    /// A modern server that answers `initialize` too (it holds sessions for older clients, so
    /// its Service keeps session affinity).
    pub handshake_too: bool,
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

impl McpInfo {
    /// The status's name for what the server speaks: `modern`, `handshake` or `both`.
    pub fn spoken(&self) -> &'static str {
        match (self.era, self.handshake_too) {
            (Era::Modern, true) => "both",
            (era, _) => era.as_str(),
        }
    }

    /// It answers `server/discover` (whether or not it holds sessions too).
    pub fn discovers(&self) -> bool {
        self.era == Era::Modern
    }
}

/// A server that spoke `spoken` (a status's `mcp.era`) holds no sessions: its Service needs no
/// session affinity.
pub fn stateless(spoken: &str) -> bool {
    spoken == Era::Modern.as_str()
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
    let mut client = Client::new(endpoint, timeout);
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
/// The status's view of a probe's answer (the `crd` types do not know the probe).
impl From<&McpInfo> for crate::crd::resource::McpInfoStatus {
    fn from(i: &McpInfo) -> Self {
        crate::crd::resource::McpInfoStatus {
            era: i.spoken().into(),
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
