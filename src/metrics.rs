//! Prometheus metrics (prometheus-client), shared by the HTTP API and the controller. Names
//! carry their base unit (`_seconds`, `_total`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

/// An API write's verb (create, replace, patch, delete, start, stop, restart) and outcome (ok,
/// denied, not-found, conflict, rejected, error).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuditLabels {
    pub verb: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    pub plugin: String,
    pub kind: String,
}

fn latency() -> Histogram {
    // 100 µs .. ~52 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    /// Writes through the API by verb and outcome (the audit trail's count).
    pub api_writes: Family<AuditLabels, Counter>,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub servers: Family<PhaseLabels, Gauge>,
    pub plugin_duration: Family<PluginLabels, Histogram>,
    pub plugin_failures: Family<PluginLabels, Counter>,
    /// 1 while the Kubernetes API server answers, 0 during an outage.
    pub kubernetes_api_reachable: Gauge,
    /// Failed requests and watches that did not reach the API server.
    pub kubernetes_api_errors: Counter,
    /// MCP probes by result (Initialized, NotReachable, NotMcp, InitializeError).
    pub mcp_probes: Family<ResultLabels, Counter>,
    /// Failed pods (evicted, node shutdown) deleted by the reaper.
    pub failed_pods_reaped: Counter,
    /// Whether the Kubernetes API server is reachable (drives the two metrics above).
    pub kubernetes: crate::health::ApiHealth,
    /// Tasks a leader started that are still running (controller, pruning, reaper, probes):
    /// 0 on a standby, the same after any number of lost and regained Leases.
    pub leader_tasks: Gauge,
}

/// Counts a task in a gauge for as long as it lives (however it ends: returned, cancelled or
/// aborted).
pub struct Running(Gauge);

impl Running {
    pub fn new(gauge: &Gauge) -> Running {
        gauge.inc();
        Running(gauge.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered with its help text. Long (over 80 lines): one registration per
    /// metric, a list rather than logic.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mcp_runtime");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let reconciles = Family::<ResultLabels, Counter>::default();
        let reconcile_duration = latency();
        let servers = Family::<PhaseLabels, Gauge>::default();
        let plugin_duration =
            Family::<PluginLabels, Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let plugin_failures = Family::<PluginLabels, Counter>::default();
        let kubernetes_api_reachable = Gauge::default();
        let kubernetes_api_errors = Counter::default();
        registry.register(
            "kubernetes_api_reachable",
            "1 while the Kubernetes API server answers, 0 during an outage",
            kubernetes_api_reachable.clone(),
        );
        registry.register(
            "kubernetes_api_errors",
            "Requests and watches that did not reach the Kubernetes API server",
            kubernetes_api_errors.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP API requests by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP API latency by route",
            http_duration.clone(),
        );
        let api_writes = Family::<AuditLabels, Counter>::default();
        registry.register(
            "api_writes",
            "Writes through the HTTP API by verb and outcome (one audit line each)",
            api_writes.clone(),
        );
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        let mcp_probes = Family::<ResultLabels, Counter>::default();
        registry.register(
            "mcp_probes",
            "MCP probes (initialize through a server's endpoint) by result",
            mcp_probes.clone(),
        );
        let failed_pods_reaped = Counter::default();
        registry.register(
            "failed_pods_reaped",
            "Failed pods (evicted, node shutdown) of managed servers deleted by the reaper",
            failed_pods_reaped.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            reconcile_duration.clone(),
        );
        registry.register("servers", "Managed MCP servers by phase", servers.clone());
        registry.register(
            "plugin_call_duration_seconds",
            "Plugin call durations by plugin and hook",
            plugin_duration.clone(),
        );
        registry.register(
            "plugin_failures",
            "Plugin failures by plugin and kind",
            plugin_failures.clone(),
        );
        let leader_tasks = Gauge::default();
        registry.register(
            "leader_tasks",
            "Tasks started by this replica's leadership that are still running",
            leader_tasks.clone(),
        );
        Metrics {
            leader_tasks,
            registry,
            http_requests,
            http_duration,
            api_writes,
            reconciles,
            reconcile_duration,
            servers,
            plugin_duration,
            plugin_failures,
            mcp_probes,
            failed_pods_reaped,
            kubernetes: crate::health::ApiHealth::new(
                kubernetes_api_reachable.clone(),
                kubernetes_api_errors.clone(),
            ),
            kubernetes_api_reachable,
            kubernetes_api_errors,
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
