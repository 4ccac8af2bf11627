//! The platform's HTTP API: a facade over the `McpServer` resources, keeping no state of its
//! own. Reads (list, status) come from a watch cache of McpServers; writes go through the
//! runtime manager. Every body is checked against `schemas/` before anything is written;
//! errors are `application/problem+json` with the JSON path of each violation.

pub mod audit;
pub mod auth;
pub mod openapi;
pub mod preview;
pub mod problem;
pub mod routes;
pub mod store;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::api::store::McpServerRuntimeManager;
use crate::crd::McpServer;
use crate::metrics::{HttpLabels, Metrics, RouteLabels};
use crate::plugin::PluginSet;
use crate::render::RenderContext;

pub use auth::Tokens;

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
    ("GET", "/v1/plugins"),
];

pub struct AppState {
    pub manager: McpServerRuntimeManager,
    pub client: Client,
    pub servers: Store<McpServer>,
    pub tokens: Tokens,
    pub metrics_require_auth: bool,
    pub metrics: Arc<Metrics>,
    pub render: RenderContext,
    pub plugins: Arc<PluginSet>,
    /// Whether the Kubernetes API server is reachable, from the McpServer watch.
    pub kubernetes: crate::health::ApiHealth,
}

impl AppState {
    /// Builds the state and starts the McpServer watch cache behind it; the returned future
    /// drives the cache and must be spawned.
    pub fn new(
        client: Client,
        render: RenderContext,
        tokens: Tokens,
        metrics_require_auth: bool,
        metrics: Arc<Metrics>,
        plugins: Arc<PluginSet>,
    ) -> (
        Arc<AppState>,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let namespace = render.namespace.clone();
        let (servers, writer) = reflector::store();
        let kubernetes = metrics.kubernetes.clone();
        let health = kubernetes.clone();
        let api: Api<McpServer> = Api::namespaced(client.clone(), &namespace);
        let cache = watcher(api, watcher::Config::default())
            .backoff(crate::runtime::client::watch_backoff())
            .modify(|m: &mut McpServer| m.managed_fields_mut().clear())
            .reflect(writer)
            .for_each(move |event| {
                match &event {
                    Ok(_) => health.ok(),
                    Err(e) => health.failed(e),
                }
                async {}
            });
        let state = AppState {
            manager: McpServerRuntimeManager::new(client.clone(), &namespace)
                .with_service_accounts(render.defaults.service_accounts.clone()),
            client,
            servers,
            tokens,
            metrics_require_auth,
            metrics,
            render,
            plugins,
            kubernetes,
        };
        (Arc::new(state), cache)
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
        .route("/v1/servers", get(list).post(create))
        .route(
            "/v1/servers/{name}",
            get(show).put(replace).patch(patch).delete(remove),
        )
        .route("/v1/servers/{name}/start", post(start))
        .route("/v1/servers/{name}/stop", post(stop))
        .route("/v1/servers/{name}/restart", post(restart))
        .route("/v1/servers/{name}/status", get(status))
        .route("/v1/servers/{name}/logs", get(logs))
        .route("/v1/servers/{name}/events", get(events))
        .route("/v1/render", post(preview::render))
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
