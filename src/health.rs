//! Whether the Kubernetes API server is reachable, as the control plane last saw it.
//!
//! While the API server (or its etcd) is down, `serve` keeps running (no crash loop): cached
//! reads go on, writes answer 503, watches retry with backoff. This records the outage so it is
//! visible where the platform looks: the `mcp_runtime_kubernetes_api_reachable` gauge, the
//! `mcp_runtime_kubernetes_api_errors` counter and a `kubernetes` block in every status answer of
//! the HTTP API. The error text is kube's, which names the endpoint and the failure, never a
//! request body.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Reachability {
    pub reachable: bool,
    /// When the current outage began (RFC 3339), only while unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The last error seen, only while unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Shared, cheap to clone; lives in [`crate::metrics::Metrics`], which every part of `serve`
/// (the API's watch cache and the controller) already shares.
#[derive(Clone, Debug)]
pub struct ApiHealth {
    state: Arc<Mutex<Reachability>>,
    reachable: Gauge,
    errors: Counter,
    /// How many outages have ended: work parked while the API server was away waits for the
    /// next value ([`ApiHealth::returns`]).
    returns: Arc<tokio::sync::watch::Sender<u64>>,
}

impl ApiHealth {
    /// Reports through the `reachable` gauge and the `errors` counter.
    pub fn new(reachable: Gauge, errors: Counter) -> ApiHealth {
        reachable.set(1);
        ApiHealth {
            state: Arc::new(Mutex::new(Reachability {
                reachable: true,
                ..Default::default()
            })),
            reachable,
            errors,
            returns: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// Changes each time an outage ends (the API server answered again).
    pub fn returns(&self) -> tokio::sync::watch::Receiver<u64> {
        self.returns.subscribe()
    }

    /// A request or watch event succeeded.
    pub fn ok(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.reachable {
            tracing::info!(since = ?s.since, "Kubernetes API reachable again");
            *s = Reachability {
                reachable: true,
                ..Default::default()
            };
            self.reachable.set(1);
            self.returns.send_modify(|n| *n += 1);
        }
    }

    /// A request or watch failed. Errors the API server itself answered (4xx other than
    /// 401/403/429, e.g. a 409 conflict) prove it reachable and do not count as an outage.
    pub fn failed(&self, error: &(dyn std::error::Error + 'static)) {
        if !is_outage(error) {
            return self.ok();
        }
        self.errors.inc();
        self.reachable.set(0);
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.reachable {
            tracing::warn!(%error, "Kubernetes API unreachable");
            s.since = Some(k8s_openapi::jiff::Timestamp::now().to_string());
        }
        s.reachable = false;
        s.error = Some(truncate(error.to_string(), 512));
    }

    pub fn get(&self) -> Reachability {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Whether `error` means the API server could not be reached or could not serve (no answer, a
/// 5xx, 401/403/429), rather than an answer about the request itself (a 404, a 409, a 422).
pub fn is_outage(error: &(dyn std::error::Error + 'static)) -> bool {
    !answered_by_server(error)
}

fn answered_by_server(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cur {
        if let Some(kube::Error::Api(s)) = e.downcast_ref::<kube::Error>() {
            return (400..500).contains(&s.code) && ![401, 403, 429].contains(&s.code);
        }
        cur = e.source();
    }
    false
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests;
