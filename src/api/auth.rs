//! Bearer tokens for `/v1` (and `/metrics` when configured), compared in constant time.
//!
//! Tokens come from a file or a Secret key, one per line. With none configured, `serve`
//! generates one at start and prints it once, so a fresh local setup is never open by accident.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretSlice};
use subtle::ConstantTimeEq;

use super::AppState;
use super::problem::Problem;
use std::sync::Arc;

/// The accepted tokens. Each is a [`SecretSlice`]: its `Debug` shows `[REDACTED]` and its memory
/// is zeroed when dropped, so a token reaches neither a log line nor a core dump by accident.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    tokens: Vec<SecretSlice<u8>>,
    /// No authentication at all (explicitly asked for).
    pub disabled: bool,
}

impl Tokens {
    /// Tokens from text, one per line; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Tokens {
        Tokens {
            tokens: text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| SecretSlice::from(l.as_bytes().to_vec()))
                .collect(),
            disabled: false,
        }
    }

    pub fn disabled() -> Tokens {
        Tokens {
            tokens: Vec::new(),
            disabled: true,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether `given` is one of the tokens. Every token is compared, each in constant time,
    /// so the time taken says nothing about which one nearly matched.
    pub fn accepts(&self, given: &[u8]) -> bool {
        let mut ok = subtle::Choice::from(0);
        for t in &self.tokens {
            ok |= t.expose_secret().ct_eq(given);
        }
        bool::from(ok)
    }
}

/// A fresh random token (hex of 24 bytes from the OS).
pub fn generate() -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex::encode(buf))
}

pub async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let protected = path.starts_with("/v1/") || (path == "/metrics" && state.metrics_require_auth);
    if !protected || state.tokens.disabled {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().as_bytes().to_vec());
    match given {
        Some(t) if state.tokens.accepts(&t) => next.run(req).await,
        _ => {
            let mut resp = Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "a valid bearer token is required (Authorization: Bearer <token>)",
            )
            .into_response();
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_lines() {
        let t = Tokens::parse("# platform\nabc\n\n  def  \n");
        assert!(t.accepts(b"abc") && t.accepts(b"def"));
        assert!(!t.accepts(b"ab") && !t.accepts(b"abcd") && !t.accepts(b""));
        assert!(!Tokens::parse("").accepts(b""));
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let shown = format!("{:?}", Tokens::parse("s3cr3t-token\n"));
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
