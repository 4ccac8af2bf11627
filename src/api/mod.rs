//! The platform's HTTP API: a facade over the `McpServer` resources, keeping no state of its
//! own. Reads (list, status) come from a watch cache of McpServers; writes go through the
//! runtime manager. Every body is checked against `schemas/` before anything is written;
//! errors are `application/problem+json` with the JSON path of each violation.

pub mod audit;
pub mod auth;
pub mod openapi;
pub mod preview;
pub mod problem;
pub mod review;
pub mod routes;
pub mod servers;
pub mod store;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use kube::Client;

use crate::api::servers::ServerCache;
use crate::api::store::McpServerRuntimeManager;
use crate::config::RenderContexts;
use crate::metrics::{HttpLabels, Metrics, RouteLabels};
use crate::plugin::PluginSet;
use crate::render::RenderContext;

pub use auth::{Access, Tokens};

/// Largest request body accepted; larger ones get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Every route, as (method, path): the OpenAPI document (`schemas/openapi.json`) lists exactly
/// these, which a test checks.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/v1/servers"),
    ("POST", "/v1/servers"),
    ("GET", "/v1/servers/{name}"),
    ("PUT", "/v1/servers/{name}"),
    ("PATCH", "/v1/servers/{name}"),
    ("DELETE", "/v1/servers/{name}"),
    ("POST", "/v1/servers/{name}/start"),
    ("POST", "/v1/servers/{name}/stop"),
    ("POST", "/v1/servers/{name}/restart"),
    ("GET", "/v1/servers/{name}/status"),
    ("GET", "/v1/servers/{name}/logs"),
    ("GET", "/v1/servers/{name}/events"),
    ("POST", "/v1/render"),
    ("GET", "/v1/namespaces/{namespace}/servers"),
    ("POST", "/v1/namespaces/{namespace}/servers"),
    ("GET", "/v1/namespaces/{namespace}/servers/{name}"),
    ("PUT", "/v1/namespaces/{namespace}/servers/{name}"),
    ("PATCH", "/v1/namespaces/{namespace}/servers/{name}"),
    ("DELETE", "/v1/namespaces/{namespace}/servers/{name}"),
    ("POST", "/v1/namespaces/{namespace}/servers/{name}/start"),
    ("POST", "/v1/namespaces/{namespace}/servers/{name}/stop"),
    ("POST", "/v1/namespaces/{namespace}/servers/{name}/restart"),
    ("GET", "/v1/namespaces/{namespace}/servers/{name}/status"),
    ("GET", "/v1/namespaces/{namespace}/servers/{name}/logs"),
    ("GET", "/v1/namespaces/{namespace}/servers/{name}/events"),
    ("POST", "/v1/namespaces/{namespace}/render"),
    ("GET", "/v1/plugins"),
];

pub struct AppState {
    /// The writer, in the control plane's own namespace ([`AppState::manager`] for another).
    pub manager: McpServerRuntimeManager,
    pub client: Client,
    /// The McpServer caches of the served namespaces.
    pub servers: ServerCache,
    /// Who may call, and how callers are told apart.
    pub access: Access,
    pub metrics: Arc<Metrics>,
    /// The render settings of every namespace (the defaults, each namespace's own over them).
    pub render: RenderContexts,
    pub plugins: Arc<PluginSet>,
    /// Whether the Kubernetes API server is reachable, from the McpServer watch.
    pub kubernetes: crate::health::ApiHealth,
}

impl AppState {
    /// Builds the state and starts the McpServer watch caches behind it (one per scope of
    /// `served`); the returned future drives the caches and must be spawned.
    pub fn new(
        client: Client,
        served: crate::runtime::scope::Served,
        render: impl Into<RenderContexts>,
        access: Access,
        metrics: Arc<Metrics>,
        plugins: Arc<PluginSet>,
    ) -> (
        Arc<AppState>,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let render: RenderContexts = render.into();
        let namespace = render.home.namespace.clone();
        let kubernetes = metrics.kubernetes.clone();
        let (servers, cache) = ServerCache::watch(&client, served, kubernetes.clone());
        let state = AppState {
            manager: McpServerRuntimeManager::new(client.clone(), &namespace),
            client,
            servers,
            access,
            metrics,
            render,
            plugins,
            kubernetes,
        };
        (Arc::new(state), cache)
    }

    /// The writer for `namespace` (a served one: the [`servers::Namespace`] extractor checks),
    /// refusing the ServiceAccounts that namespace's settings do not allow.
    pub fn manager(&self, namespace: &str) -> McpServerRuntimeManager {
        let rule = self.render_in(namespace).defaults.service_accounts;
        self.manager
            .in_namespace(namespace)
            .with_service_accounts(rule)
    }

    /// The control plane's own namespace: what `/v1/servers` addresses.
    pub fn home(&self) -> &str {
        &self.render.home.namespace
    }

    /// The render settings for a server of `namespace`.
    pub fn render_in(&self, namespace: &str) -> RenderContext {
        self.render.of(namespace)
    }
}

/// Serves `router` on `listener` until `shutdown`, over TLS (rustls) when a certificate and
/// key are given, plain HTTP otherwise.
pub async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<&crate::config::Tls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            // kube's rustls uses ring; make it the process default so both agree.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert_file, &tls.key_file)
                    .await?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            listener.set_nonblocking(true)?;
            axum_server::from_tcp_rustls(listener, config)?
                .handle(handle)
                .serve(router.into_make_service())
                .await
        }
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    use routes::*;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .merge(server_routes("/v1"))
        .merge(server_routes(servers::NAMESPACED_PREFIX))
        .route("/v1/plugins", get(plugins))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        // Outside the token check, so that refused writes are in the trail too.
        .layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The routes of servers and previews under `prefix`: `/v1` (the control plane's own
/// namespace) or `/v1/namespaces/{namespace}`, with the same handlers (they read the
/// namespace with [`servers::Namespace`]).
fn server_routes(prefix: &str) -> Router<Arc<AppState>> {
    use routes::*;
    let at = |path: &str| format!("{prefix}{path}");
    Router::new()
        .route(&at("/servers"), get(list).post(create))
        .route(
            &at("/servers/{name}"),
            get(show).put(replace).patch(patch).delete(remove),
        )
        .route(&at("/servers/{name}/start"), post(start))
        .route(&at("/servers/{name}/stop"), post(stop))
        .route(&at("/servers/{name}/restart"), post(restart))
        .route(&at("/servers/{name}/status"), get(status))
        .route(&at("/servers/{name}/logs"), get(logs))
        .route(&at("/servers/{name}/events"), get(events))
        .route(&at("/render"), post(preview::render))
}

/// Request counts and latencies by route template (never by raw path: names would explode the
/// label set).
async fn record(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let labels = RouteLabels {
        method: method.clone(),
        route: route.clone(),
    };
    state
        .metrics
        .http_duration
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    state
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}
