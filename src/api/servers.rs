//! The API's McpServer caches, one per served scope (the controller's way: a listed namespace
//! each, or one for every namespace), and the namespace a request addresses.
//!
//! `/v1/namespaces/{namespace}/servers/...` addresses that namespace; `/v1/servers/...` the
//! control plane's own (`MCP_RUNTIME_NAMESPACE`), as before there were several. A namespace
//! this control plane does not serve is a 404 that says so: nothing is asked of the API server
//! for it, and a caller learns nothing about what is there.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use super::AppState;
use super::problem::Problem;
use crate::crd::McpServer;
use crate::health::ApiHealth;
use crate::runtime::scope::{Scope, Served};

/// Path prefix of the namespaced routes; the routes under it are those of `/v1`.
pub const NAMESPACED_PREFIX: &str = "/v1/namespaces/{namespace}";

/// One watch cache of McpServers per served scope.
pub struct ServerCache {
    served: Served,
    scopes: Vec<(Scope, Store<McpServer>)>,
}

impl ServerCache {
    /// The caches of `served`, and the future that drives their watches (to be spawned); each
    /// watch event tells `health` whether the API server answers.
    pub fn watch(
        client: &Client,
        served: Served,
        health: ApiHealth,
    ) -> (
        ServerCache,
        impl Future<Output = ()> + Send + 'static + use<>,
    ) {
        let mut scopes = Vec::new();
        let mut watches = Vec::new();
        for scope in served.scopes() {
            let (store, writer) = reflector::store();
            let health = health.clone();
            let watch = watcher(scope.api::<McpServer>(client.clone()), Default::default())
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
            scopes.push((scope, store));
            watches.push(watch);
        }
        let driven = async move {
            futures::future::join_all(watches).await;
        };
        (ServerCache { served, scopes }, driven)
    }

    pub fn served(&self) -> &Served {
        &self.served
    }

    fn store(&self, namespace: &str) -> Option<&Store<McpServer>> {
        self.scopes
            .iter()
            .find(|(scope, _)| scope.covers(namespace))
            .map(|(_, store)| store)
    }

    /// The cached server `name` of `namespace`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<McpServer>> {
        self.store(namespace)?
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// The cached servers of `namespace`, by name.
    pub fn list(&self, namespace: &str) -> Vec<Arc<McpServer>> {
        let mut servers: Vec<_> = self
            .store(namespace)
            .map(Store::state)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.metadata.namespace.as_deref() == Some(namespace))
            .collect();
        servers.sort_by_key(|m| m.name_any());
        servers
    }

    /// Every cached server of every scope.
    pub fn all(&self) -> Vec<Arc<McpServer>> {
        self.scopes.iter().flat_map(|(_, s)| s.state()).collect()
    }

    /// Whether every scope's cache has its first full list.
    pub async fn synced(&self) -> bool {
        for (_, store) in &self.scopes {
            let ready =
                tokio::time::timeout(std::time::Duration::ZERO, store.wait_until_ready()).await;
            if !ready.is_ok_and(|r| r.is_ok()) {
                return false;
            }
        }
        true
    }
}

/// The namespace a request addresses: the URL's, or the control plane's own for `/v1/servers`
/// and `/v1/render`. Only served namespaces get through.
pub struct Namespace(pub String);

impl FromRequestParts<Arc<AppState>> for Namespace {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Namespace, Problem> {
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| p)
            .unwrap_or_default();
        let namespace = match params.get("namespace") {
            Some(ns) => ns.clone(),
            None => return Ok(Namespace(state.home().to_string())),
        };
        if !crate::render::names::is_label(&namespace) {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "no namespace can have this name: a namespace's name is a DNS-1123 label (at most 63 characters; lowercase letters, digits and '-', starting and ending with a letter or digit)",
            ));
        }
        if !state.servers.served().serves(&namespace) {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "namespace-not-served",
                "Namespace not served",
                format!(
                    "namespace {namespace} is not served by this control plane (MCP_RUNTIME_NAMESPACES)"
                ),
            ));
        }
        Ok(Namespace(namespace))
    }
}

/// The namespace a request's path names (`/v1/namespaces/{namespace}/...`), if it is one a
/// namespace can have, and the path with that prefix taken away (`/v1/...`).
pub fn split_path(path: &str) -> (Option<&str>, String) {
    let Some(rest) = path.strip_prefix("/v1/namespaces/") else {
        return (None, path.to_string());
    };
    let (namespace, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let namespace = Some(namespace).filter(|n| crate::render::names::is_label(n));
    (namespace, format!("/v1/{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaced_path_is_the_v1_path_under_its_namespace() {
        assert_eq!(
            split_path("/v1/namespaces/team-a/servers/x/stop"),
            (Some("team-a"), "/v1/servers/x/stop".to_string())
        );
        assert_eq!(
            split_path("/v1/servers/x"),
            (None, "/v1/servers/x".to_string())
        );
        assert_eq!(split_path("/v1/namespaces/Bad_Name/servers").0, None);
    }
}
