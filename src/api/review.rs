//! API callers who are who Kubernetes says they are: a bearer token that is not one of the
//! static tokens is sent to the cluster in a TokenReview (a ServiceAccount token, an OIDC
//! token the cluster trusts), and each call is then authorised by a SubjectAccessReview for
//! the verb the route maps to on `mcpservers` (or its `status` and `logs` subresources) in the
//! namespace the URL addresses: the RBAC `kubectl` obeys, nothing of our own.
//!
//! Answers are cached by the token's SHA-256 (never the token) for the configured time, and an
//! identity never outlives its token: a JWT's `exp` (read after the API server accepted the
//! token) caps its entry. Refusals are cached too, so a flood of bad tokens costs the API
//! server one review per token and cache period, and at most [`CONCURRENT_REVIEWS`] at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use moka::sync::Cache;
use tokio::sync::Semaphore;

/// Reviews sent to the API server at once; more wait.
pub const CONCURRENT_REVIEWS: usize = 8;

/// Cache entries at most (of each cache).
const CACHE_ENTRIES: u64 = 10_000;

/// The API group and resource RBAC rules name for servers.
pub const GROUP: &str = "mcp-runtime.dev";
pub const RESOURCE: &str = "mcpservers";

/// Who a token is, as the API server said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What a request asks to do, as RBAC sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `verb` on `mcpservers[/subresource]` (named, or all of them) in `namespace`.
    Server {
        verb: &'static str,
        subresource: Option<&'static str>,
        namespace: String,
        name: Option<String>,
    },
    /// A path of ours that is no server's (`/v1/plugins`, `/metrics`), as a non-resource URL.
    Path { verb: &'static str, path: String },
}

impl Action {
    /// For the 403's detail: verb, resource and namespace (or the path).
    pub fn describe(&self) -> String {
        match self {
            Action::Server {
                verb,
                subresource,
                namespace,
                ..
            } => {
                let resource = match subresource {
                    Some(s) => format!("{RESOURCE}/{s}"),
                    None => RESOURCE.to_string(),
                };
                format!("{verb} {resource}.{GROUP} in namespace {namespace}")
            }
            Action::Path { verb, path } => format!("{verb} on the path {path}"),
        }
    }
}

/// What a request maps to: `route` is its template with the namespace prefix taken away
/// (`/v1/servers/{name}/stop`), `path` its own path, `namespace` the one it addresses. Start,
/// stop and restart change the document, so they are patches; a preview needs `create`, as a
/// dry run does. `None`: a route with no rule (it does not exist).
pub fn action(
    method: &str,
    route: &str,
    path: &str,
    namespace: &str,
    name: Option<&str>,
) -> Option<Action> {
    let (verb, subresource, named) = match (method, route) {
        ("GET", "/v1/servers") => ("list", None, false),
        ("POST", "/v1/servers") => ("create", None, false),
        ("GET", "/v1/servers/{name}") => ("get", None, true),
        ("PUT", "/v1/servers/{name}") => ("update", None, true),
        ("PATCH", "/v1/servers/{name}") => ("patch", None, true),
        ("DELETE", "/v1/servers/{name}") => ("delete", None, true),
        ("POST", "/v1/servers/{name}/start" | "/v1/servers/{name}/stop") => ("patch", None, true),
        ("POST", "/v1/servers/{name}/restart") => ("patch", None, true),
        ("GET", "/v1/servers/{name}/status") => ("get", Some("status"), true),
        ("GET", "/v1/servers/{name}/logs") => ("get", Some("logs"), true),
        ("GET", "/v1/servers/{name}/events") => ("get", None, true),
        ("POST", "/v1/render") => ("create", None, false),
        ("GET", "/v1/plugins" | "/metrics") => {
            return Some(Action::Path {
                verb: "get",
                path: path.to_string(),
            });
        }
        _ => return None,
    };
    Some(Action::Server {
        verb,
        subresource,
        namespace: namespace.to_string(),
        name: name.filter(|_| named).map(str::to_string),
    })
}

/// Why a review let a request through or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The API server does not accept the token (or not for our audiences): 401.
    Unauthenticated,
    /// RBAC does not allow the action: 403, with the API server's reason if it gave one.
    Forbidden(String),
    /// The API server could not be asked (down, or our own rights are missing): 503.
    Unavailable(String),
}

/// The reviewer: the client (its ServiceAccount needs `create` on tokenreviews and
/// subjectaccessreviews, as `system:auth-delegator` grants), the audiences, the caches.
pub struct Reviewer {
    client: Client,
    audiences: Vec<String>,
    identities: Cache<[u8; 32], Cached<Option<Identity>>>,
    decisions: Cache<([u8; 32], Action), Cached<Decision>>,
    limit: Semaphore,
}

/// An access review's answer: allowed, or refused with the API server's reason.
type Decision = Result<(), String>;

/// A cached answer and when it stops counting.
#[derive(Clone)]
struct Cached<T> {
    value: T,
    until: Instant,
}

/// Each entry lives until its own `until`.
struct UntilExpiry;

impl<K, T> moka::Expiry<K, Cached<T>> for UntilExpiry {
    fn expire_after_create(&self, _: &K, v: &Cached<T>, now: Instant) -> Option<Duration> {
        Some(v.until.saturating_duration_since(now))
    }
}

impl Reviewer {
    /// `audiences` empty: the API server's own (a `kubectl create token` token works). `ttl`
    /// zero: nothing cached.
    pub fn new(client: Client, audiences: Vec<String>, ttl: Duration) -> Arc<Reviewer> {
        Arc::new(Reviewer {
            client,
            audiences,
            identities: cache(ttl),
            decisions: cache(ttl),
            limit: Semaphore::new(CONCURRENT_REVIEWS),
        })
    }

    /// Who `token` is and whether it may do `action`, with `ttl` the longest an answer counts.
    pub async fn review(
        &self,
        token: &str,
        action: &Action,
        ttl: Duration,
    ) -> Result<Identity, Refusal> {
        let identity = self.identify(token, ttl).await?;
        let until = Instant::now() + ttl.min(token_lifetime(token).unwrap_or(ttl));
        let key = (digest(token), action.clone());
        let decision = match self.decisions.get(&key) {
            Some(c) => c.value,
            None => {
                let value = self.authorize(&identity, action).await?;
                self.decisions.insert(
                    key,
                    Cached {
                        value: value.clone(),
                        until,
                    },
                );
                value
            }
        };
        decision.map(|()| identity).map_err(Refusal::Forbidden)
    }

    /// Who `token` is, if the API server accepts it.
    pub async fn identify(&self, token: &str, ttl: Duration) -> Result<Identity, Refusal> {
        let key = digest(token);
        let identity = match self.identities.get(&key) {
            Some(c) => c.value,
            None => {
                let value = self.authenticate(token).await?;
                let until = Instant::now() + ttl.min(token_lifetime(token).unwrap_or(ttl));
                self.identities.insert(
                    key,
                    Cached {
                        value: value.clone(),
                        until,
                    },
                );
                value
            }
        };
        identity.ok_or(Refusal::Unauthenticated)
    }

    /// A TokenReview: the identity, or `None` when the API server does not accept the token.
    async fn authenticate(&self, token: &str) -> Result<Option<Identity>, Refusal> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: (!self.audiences.is_empty()).then(|| self.audiences.clone()),
            },
            ..Default::default()
        };
        let _permit = self.limit.acquire().await.map_err(unavailable)?;
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(unavailable)?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Ok(None);
        }
        // With audiences asked for, the token must be meant for one of them.
        let audiences = status.audiences.unwrap_or_default();
        if !self.audiences.is_empty() && !audiences.iter().any(|a| self.audiences.contains(a)) {
            return Ok(None);
        }
        Ok(status.user.and_then(identity))
    }

    /// A SubjectAccessReview of `action` for `identity`: `Err(reason)` when not allowed.
    async fn authorize(
        &self,
        identity: &Identity,
        action: &Action,
    ) -> Result<Result<(), String>, Refusal> {
        let (resource, non_resource) = match action {
            Action::Server {
                verb,
                subresource,
                namespace,
                name,
            } => (
                Some(ResourceAttributes {
                    group: Some(GROUP.into()),
                    resource: Some(RESOURCE.into()),
                    subresource: subresource.map(str::to_string),
                    verb: Some(verb.to_string()),
                    namespace: Some(namespace.clone()),
                    name: name.clone(),
                    ..Default::default()
                }),
                None,
            ),
            Action::Path { verb, path } => (
                None,
                Some(NonResourceAttributes {
                    path: Some(path.clone()),
                    verb: Some(verb.to_string()),
                }),
            ),
        };
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(identity.username.clone()),
                uid: identity.uid.clone(),
                groups: Some(identity.groups.clone()),
                extra: (!identity.extra.is_empty()).then(|| identity.extra.clone()),
                resource_attributes: resource,
                non_resource_attributes: non_resource,
            },
            ..Default::default()
        };
        let _permit = self.limit.acquire().await.map_err(unavailable)?;
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(unavailable)?;
        let status = answer.status.unwrap_or_default();
        Ok(if status.allowed {
            Ok(())
        } else {
            Err(status.reason.filter(|r| !r.is_empty()).unwrap_or_default())
        })
    }
}

/// A cache of answers, each living until its own `until`; none kept when `ttl` is zero.
fn cache<K, T>(ttl: Duration) -> Cache<K, Cached<T>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(if ttl.is_zero() { 0 } else { CACHE_ENTRIES })
        .expire_after(UntilExpiry)
        .build()
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    Refusal::Unavailable(e.to_string())
}

fn identity(user: UserInfo) -> Option<Identity> {
    Some(Identity {
        username: user.username.filter(|u| !u.is_empty())?,
        uid: user.uid,
        groups: user.groups.unwrap_or_default(),
        extra: user.extra.unwrap_or_default(),
    })
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
}

/// How long a JWT has left by its `exp` claim; `None` when it is no JWT or has no `exp`. Read
/// only to bound a cache entry, after the API server accepted the token (or to forget a
/// refused one no later than it would have expired): its signature is the API server's
/// business.
pub fn token_lifetime(token: &str) -> Option<Duration> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let exp = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_u64()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(exp.saturating_sub(now)))
}

#[cfg(test)]
mod tests;
