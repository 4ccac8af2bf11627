//! The conditions, one function each, and the builder that keeps their transition times.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::resource::{LastError, McpServerStatus, Phase};

use super::pods::is_terminal;
use super::{McpObservation, Observed};

/// The conditions being written; a condition whose status did not change keeps its
/// `lastTransitionTime`.
pub struct Conditions<'a> {
    previous: Option<&'a McpServerStatus>,
    now: &'a Time,
    generation: Option<i64>,
    list: Vec<Condition>,
}

impl<'a> Conditions<'a> {
    pub fn new(
        previous: Option<&'a McpServerStatus>,
        now: &'a Time,
        generation: Option<i64>,
    ) -> Self {
        Conditions {
            previous,
            now,
            generation,
            list: Vec::new(),
        }
    }

    /// `status` is "True", "False" or "Unknown".
    pub fn set(&mut self, type_: &str, status: &str, reason: &str, message: String) {
        let last = self
            .previous
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| self.now.clone());
        self.list.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            observed_generation: self.generation,
            last_transition_time: last,
        });
    }

    pub fn into_vec(self) -> Vec<Condition> {
        self.list
    }
}

/// The Deployment's replica counts, and whether its rollout is complete.
pub struct Rollout {
    /// Replicas wanted (0 when stopped).
    pub wanted: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    pub total: i32,
    pub rolled_out: bool,
}

impl Rollout {
    pub fn of(o: &Observed<'_>) -> Rollout {
        let wanted = if o.stopped { 0 } else { o.wanted_replicas };
        let status = o.deployment.and_then(|d| d.status.as_ref());
        let count = |f: fn(&k8s_openapi::api::apps::v1::DeploymentStatus) -> Option<i32>| {
            status.and_then(f).unwrap_or(0)
        };
        let (updated, total) = (count(|s| s.updated_replicas), count(|s| s.replicas));
        let generation = o.deployment.and_then(|d| d.metadata.generation);
        let observed = status.and_then(|s| s.observed_generation);
        Rollout {
            wanted,
            ready: count(|s| s.ready_replicas),
            updated,
            available: count(|s| s.available_replicas),
            total,
            rolled_out: o.deployment.is_some()
                && observed >= generation
                && updated >= wanted
                && total == updated,
        }
    }
}

/// Accepted=False and Ready=False with the rejection's reason.
pub fn rejected(c: &mut Conditions<'_>, reason: &str, message: &str) {
    c.set("Accepted", "False", reason, message.to_string());
    c.set(
        "Ready",
        "False",
        reason,
        "not deployed: the spec was not accepted".into(),
    );
}

pub fn progressing(c: &mut Conditions<'_>, o: &Observed<'_>, r: &Rollout) {
    let (updated, wanted) = (r.updated, r.wanted);
    match o.deployment {
        None => c.set(
            "Progressing",
            "True",
            "Creating",
            "the Deployment is being created".into(),
        ),
        Some(_) if r.rolled_out => c.set(
            "Progressing",
            "False",
            "RolloutComplete",
            format!("{updated}/{wanted} replicas up to date"),
        ),
        Some(_) => c.set(
            "Progressing",
            "True",
            "RollingOut",
            format!("{updated}/{wanted} replicas updated"),
        ),
    }
}

pub fn available(c: &mut Conditions<'_>, r: &Rollout, problem: Option<&LastError>) {
    let (available, wanted) = (r.available, r.wanted);
    if wanted == 0 {
        c.set(
            "Available",
            "False",
            "Stopped",
            "scaled to zero on request".into(),
        );
    } else if available > 0 {
        c.set(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            format!("{available}/{wanted} available"),
        );
    } else {
        let reason = problem
            .map(|p| p.reason.as_str())
            .unwrap_or("NoReplicasAvailable");
        c.set(
            "Available",
            "False",
            reason,
            format!("0/{wanted} available"),
        );
    }
}

/// The Ready condition, and the phase that goes with it.
pub fn ready(
    c: &mut Conditions<'_>,
    o: &Observed<'_>,
    r: &Rollout,
    problem: Option<&LastError>,
) -> Phase {
    let (ready, wanted, total) = (r.ready, r.wanted, r.total);
    if o.stopped {
        return stopped(c, total);
    }
    if ready >= wanted && problem.is_none() {
        return serving(c, o, r);
    }
    if let Some(p) = problem {
        c.set("Ready", "False", &p.reason, p.message.clone());
        return if is_terminal(&p.reason) {
            Phase::Failed
        } else if ready > 0 {
            Phase::Degraded
        } else if o.pods.is_empty() {
            Phase::Pending
        } else {
            Phase::Starting
        };
    }
    if ready > 0 {
        c.set(
            "Ready",
            "False",
            "PartiallyReady",
            format!("{ready}/{wanted} replicas ready"),
        );
        Phase::Degraded
    } else if o.pods.is_empty() {
        c.set("Ready", "False", "Pending", "no pod yet".into());
        Phase::Pending
    } else {
        c.set(
            "Ready",
            "False",
            "Starting",
            format!("0/{wanted} replicas ready"),
        );
        Phase::Starting
    }
}

fn stopped(c: &mut Conditions<'_>, total: i32) -> Phase {
    if total == 0 {
        c.set("Ready", "False", "Stopped", "stopped on request".into());
    } else {
        c.set(
            "Ready",
            "False",
            "Stopping",
            format!("{total} pod(s) still terminating"),
        );
    }
    Phase::Stopped
}

/// All wanted replicas serve. A rollout in progress (a restart, a new spec) keeps the server
/// Running: the old pods serve until new ones are ready, and the Progressing condition says
/// RollingOut; only a stuck or failing rollout is a problem. Gated, ready pods are not enough:
/// the server must have answered over MCP (servers with nothing to probe, or with probes off,
/// are not held back).
fn serving(c: &mut Conditions<'_>, o: &Observed<'_>, r: &Rollout) -> Phase {
    let (ready, wanted, updated) = (r.ready, r.wanted, r.updated);
    match &o.mcp {
        McpObservation::Probing if o.mcp_gates_ready => {
            c.set(
                "Ready",
                "False",
                "McpProbing",
                format!("{ready}/{wanted} replicas ready; waiting for an MCP initialize"),
            );
            Phase::Starting
        }
        McpObservation::Failed(f) if o.mcp_gates_ready => {
            c.set("Ready", "False", f.reason(), f.to_string());
            Phase::Degraded
        }
        _ => {
            let rolling = if r.rolled_out {
                String::new()
            } else {
                format!("; rolling out, {updated}/{wanted} updated")
            };
            c.set(
                "Ready",
                "True",
                "AllReplicasReady",
                format!("{ready}/{wanted} replicas ready{rolling}"),
            );
            Phase::Running
        }
    }
}

/// McpReady: reported beside Ready, never changing it or the phase (see mcp_readiness).
pub fn mcp_ready(c: &mut Conditions<'_>, mcp: &McpObservation, stopped: bool) {
    let (status, reason, message) = mcp_condition(mcp, stopped);
    c.set("McpReady", status, reason, message);
}

/// The `McpReady` condition's status, reason and message.
fn mcp_condition(o: &McpObservation, stopped: bool) -> (&'static str, &'static str, String) {
    match o {
        McpObservation::Answered(i) => {
            let tools = match &i.tools {
                Some((n, _)) => format!(", {n} tool(s)"),
                None => String::new(),
            };
            let version = if i.server_version.is_empty() {
                String::new()
            } else {
                format!(" {}", i.server_version)
            };
            let (reason, asked) = if i.discovers() {
                ("Discovered", "server/discover")
            } else {
                ("Initialized", "initialize")
            };
            (
                "True",
                reason,
                format!(
                    "{}{version} answered {asked} with protocol {}{tools}",
                    i.server_name, i.protocol_version
                ),
            )
        }
        McpObservation::Failed(f) => ("False", f.reason(), f.to_string()),
        McpObservation::Probing => (
            "Unknown",
            "Probing",
            "available; waiting for the first MCP initialize through the endpoint".into(),
        ),
        McpObservation::NotServing if stopped => ("False", "Stopped", "stopped on request".into()),
        McpObservation::NotServing => (
            "False",
            "NotServing",
            "no replica available to probe".into(),
        ),
        McpObservation::NoEndpoint => (
            "Unknown",
            "NoEndpoint",
            "a stdio server without the bridge has no endpoint to probe".into(),
        ),
        McpObservation::Disabled => (
            "Unknown",
            "ProbeDisabled",
            "MCP probes are off (MCP_RUNTIME_MCP_PROBE_INTERVAL=0)".into(),
        ),
    }
}
