//! Bearer tokens for `/v1` (and `/metrics` when configured): the static tokens, compared in
//! constant time, and (when on) tokens the cluster accepts ([`super::review`]).
//!
//! Static tokens come from a file or a Secret key, one per line. With none configured, `serve`
//! generates one at start and prints it once, so a fresh local setup is never open by accident.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretSlice};
use subtle::ConstantTimeEq;

use super::AppState;
use super::audit::Caller;
use super::problem::Problem;
use super::review::{Action, Refusal, Reviewer, action};
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

/// How API callers are told apart: the static tokens (the platform's, full power) and, when
/// on, the identities the cluster vouches for ([`Reviewer`]), each call authorised by RBAC.
pub struct Access {
    pub tokens: Tokens,
    /// `/metrics` needs a caller too.
    pub metrics_require_auth: bool,
    /// TokenReview and SubjectAccessReview, if Kubernetes identities are accepted.
    pub kubernetes: Option<Arc<Reviewer>>,
    /// The longest a review's answer is cached.
    pub review_ttl: std::time::Duration,
}

impl Access {
    /// Static tokens only.
    pub fn tokens(tokens: Tokens) -> Access {
        Access {
            tokens,
            metrics_require_auth: false,
            kubernetes: None,
            review_ttl: std::time::Duration::ZERO,
        }
    }
}

/// The middleware: a static token is the platform; any other bearer token is reviewed by the
/// cluster when Kubernetes identities are on; no token, or one nobody accepts, is a 401.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let access = &state.access;
    let path = req.uri().path();
    let protected = path.starts_with("/v1/") || (path == "/metrics" && access.metrics_require_auth);
    if !protected {
        return next.run(req).await;
    }
    if access.tokens.disabled {
        return with_caller(next.run(req).await, "anonymous");
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let Some(given) = given else {
        return unauthorized();
    };
    if let Some(name) = access.tokens.identify(given.as_bytes()) {
        let name = name.to_string();
        return with_caller(next.run(req).await, &name);
    }
    let Some(reviewer) = &access.kubernetes else {
        return unauthorized();
    };
    let Some(action) = requested(&state, &req) else {
        // No such route: the router's 404, for any caller the cluster knows.
        return match reviewer.identify(&given, access.review_ttl).await {
            Err(Refusal::Unauthenticated) => unauthorized(),
            _ => next.run(req).await,
        };
    };
    match reviewer.review(&given, &action, access.review_ttl).await {
        Ok(identity) => with_caller(next.run(req).await, &identity.username),
        Err(Refusal::Unauthenticated) => unauthorized(),
        Err(Refusal::Forbidden(reason)) => forbidden(&action, &reason),
        Err(Refusal::Unavailable(e)) => {
            tracing::warn!(error = %e, "could not review a caller's token with the Kubernetes API server");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "review-unavailable",
                "Cannot check the caller",
                "the Kubernetes API server could not review the token (logged); try again",
            )
            .into_response()
        }
    }
}

/// What the request asks, as RBAC sees it (`None`: a path no route has).
fn requested(state: &AppState, req: &Request) -> Option<Action> {
    let route = req.extensions().get::<MatchedPath>()?.as_str();
    let route = match route.strip_prefix(super::servers::NAMESPACED_PREFIX) {
        Some(rest) => format!("/v1{rest}"),
        None => route.to_string(),
    };
    let (namespace, path) = super::servers::split_path(req.uri().path());
    let name = path
        .split('/')
        .nth(3)
        .filter(|n| crate::render::names::is_object_name(n));
    let namespace = namespace.unwrap_or(state.home());
    action(
        req.method().as_str(),
        &route,
        req.uri().path(),
        namespace,
        name,
    )
}

fn unauthorized() -> Response {
    let mut resp = Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        "a valid bearer token is required (Authorization: Bearer <token>): one of the API's tokens, or one the cluster accepts",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

fn forbidden(action: &Action, reason: &str) -> Response {
    let why = if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    };
    Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Forbidden",
        format!("the caller may not {}{why}", action.describe()),
    )
    .into_response()
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
