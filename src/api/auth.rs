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
use super::audit::Caller;
use super::problem::Problem;
use std::sync::Arc;

/// The accepted tokens. Each is a [`SecretSlice`]: its `Debug` shows `[REDACTED]` and its memory
/// is zeroed when dropped, so a token reaches neither a log line nor a core dump by accident.
/// Each has a name for the audit trail: the `#` comment line right above it, else `token-<n>`.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    tokens: Vec<(String, SecretSlice<u8>)>,
    /// No authentication at all (explicitly asked for).
    pub disabled: bool,
}

impl Tokens {
    /// Tokens from text, one per line; blank lines and `#` comments are skipped, a comment
    /// naming the token on the next line.
    pub fn parse(text: &str) -> Tokens {
        let mut tokens = Vec::new();
        let mut comment: Option<&str> = None;
        for line in text.lines().map(str::trim) {
            if let Some(c) = line.strip_prefix('#') {
                comment = Some(c.trim()).filter(|c| !c.is_empty());
            } else if line.is_empty() {
                comment = None;
            } else {
                let name = comment
                    .take()
                    .map_or_else(|| format!("token-{}", tokens.len() + 1), str::to_string);
                tokens.push((name, SecretSlice::from(line.as_bytes().to_vec())));
            }
        }
        Tokens {
            tokens,
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

    /// Whether `given` is one of the tokens.
    pub fn accepts(&self, given: &[u8]) -> bool {
        self.identify(given).is_some()
    }

    /// The name of the token `given` is. Every token is compared, each in constant time, and
    /// the match is selected without a branch, so the time taken says nothing about which one
    /// matched or nearly matched.
    pub fn identify(&self, given: &[u8]) -> Option<&str> {
        use subtle::ConditionallySelectable;
        let mut found = 0u64;
        for (i, (_, t)) in self.tokens.iter().enumerate() {
            found =
                u64::conditional_select(&found, &(i as u64 + 1), t.expose_secret().ct_eq(given));
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.tokens.get(index).map(|(name, _)| name.as_str())
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
    if !protected {
        return next.run(req).await;
    }
    if state.tokens.disabled {
        return with_caller(next.run(req).await, "anonymous");
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().as_bytes().to_vec());
    match given.as_deref().and_then(|t| state.tokens.identify(t)) {
        Some(name) => {
            let name = name.to_string();
            with_caller(next.run(req).await, &name)
        }
        None => {
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

/// `resp` with who asked, for the audit trail (outside this middleware).
fn with_caller(mut resp: Response, name: &str) -> Response {
    resp.extensions_mut().insert(Caller(name.to_string()));
    resp
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
    fn each_token_is_named_by_the_comment_above_it_or_by_its_place() {
        let t = Tokens::parse("# platform\nabc\n\n# ci runner\n# nightly\ndef\nghi\n");
        assert_eq!(t.identify(b"abc"), Some("platform"));
        assert_eq!(t.identify(b"def"), Some("nightly"));
        assert_eq!(t.identify(b"ghi"), Some("token-3"));
        assert_eq!(t.identify(b"gh"), None);
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let shown = format!("{:?}", Tokens::parse("s3cr3t-token\n"));
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
