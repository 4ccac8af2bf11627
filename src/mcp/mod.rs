//! MCP as the control plane speaks it, shared by the bridge and the probe: the protocol's facts
//! (the revisions of both eras, the reserved `_meta` keys of 2026-07-28, the routing headers and
//! the JSON-RPC error codes), the one [`Era`] type, the one opening negotiation ([`negotiate`]:
//! what to send a server first and how to read its answers), the MCP-level readiness probe
//! ([`probe`]) and its schedule ([`readiness`]).

pub mod negotiate;
pub mod probe;
pub mod readiness;

/// The two generations of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28 and later: stateless, `server/discover`, every request carries its `_meta`
    /// envelope, no session.
    Modern,
    /// `initialize` opens a session (`Mcp-Session-Id`), up to 2025-11-25.
    Handshake,
}

impl Era {
    pub fn as_str(self) -> &'static str {
        match self {
            Era::Modern => "modern",
            Era::Handshake => "handshake",
        }
    }
}

/// The stateless revision (the bridge serves it to modern clients, the probe tries it first).
pub const MODERN_VERSION: &str = "2026-07-28";
/// Every version reached through `initialize`, oldest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The newest of them (answered to a handshake client that asks for one nobody knows).
pub const LATEST_HANDSHAKE_VERSION: &str = "2025-11-25";
/// The handshake-era version our own `initialize` asks for (the bridge of its child, the probe
/// of a server); the peer answers with the one it speaks.
pub const OFFERED_HANDSHAKE_VERSION: &str = "2025-06-18";

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
pub const METHOD_HEADER: &str = "mcp-method";
pub const NAME_HEADER: &str = "mcp-name";
pub const SESSION_HEADER: &str = "mcp-session-id";

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
pub const HEADER_MISMATCH: i64 = -32020;
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
/// A peer speaks none of the versions asked for; its data names the ones it does.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
