//! An API router whose cluster client points nowhere: for routes that answer before any
//! cluster call (health, auth, validation, render), with no cluster needed.

use std::sync::Arc;

use mcp_runtime::api::{self, AppState, Tokens};
use mcp_runtime::metrics::Metrics;
use mcp_runtime::plugin::PluginSet;

/// Must be called inside a Tokio runtime (the client spawns its connection pool there).
pub fn router(tokens: Tokens, plugins: Arc<PluginSet>) -> axum::Router {
    let client =
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    let (state, _cache) = AppState::new(
        client,
        mcp_runtime::runtime::scope::Served::from_list(&["default".to_string()]),
        mcp_runtime::render::RenderContext::default(),
        mcp_runtime::api::Access::tokens(tokens),
        Arc::new(Metrics::new()),
        plugins,
    );
    api::router(state)
}
