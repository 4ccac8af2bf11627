//! Status of one server, derived from what the watches saw: its Deployment and its Pods.
//!
//! Pure: the same observations give the same status, and `lastTransitionTime` moves only when a
//! condition's status really changes, so an idle server's status is never rewritten. Conditions
//! are the contract (Accepted, Progressing, Available, Ready, McpReady), one function each in
//! [`conditions`]; the phase is derived with Ready. What is wrong with the pods, in the kubelet's
//! words, is in [`pods`].

mod conditions;
mod pods;
#[cfg(test)]
mod tests;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::resource::{LastError, McpInfoStatus, McpServerStatus, Phase};

use crate::mcp::readiness::McpObservation;
use conditions::{Conditions, Rollout};

pub use pods::{TERMINAL_WAITING, TRANSIENT_WAITING};

/// Whether the spec was accepted, and if not why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acceptance {
    Accepted,
    Rejected { reason: String, message: String },
}

/// Everything the status is computed from.
pub struct Observed<'a> {
    pub generation: Option<i64>,
    pub wanted_replicas: i32,
    pub stopped: bool,
    pub acceptance: Acceptance,
    pub deployment: Option<&'a Deployment>,
    pub pods: Vec<&'a Pod>,
    pub endpoint: Option<String>,
    /// The NodePort URL, when Services are NodePorts and a node host is set.
    pub node_endpoint: Option<String>,
    pub deployment_name: String,
    pub service_name: Option<String>,
    pub secret_name: Option<String>,
    /// An apply or migration error of this reconcile.
    pub apply_error: Option<(String, String)>,
    /// What the MCP probe found (the `McpReady` condition and `status.mcp`).
    pub mcp: McpObservation,
    /// Whether `Ready` (and the phase Running) also needs the MCP probe's answer
    /// (`MCP_RUNTIME_MCP_PROBE_GATES_READY`).
    pub mcp_gates_ready: bool,
}

/// Derives the status; `previous` keeps transition times of unchanged conditions.
pub fn derive(o: &Observed<'_>, previous: Option<&McpServerStatus>, now: &Time) -> McpServerStatus {
    let mut conditions = Conditions::new(previous, now, o.generation);
    let base = McpServerStatus {
        observed_generation: o.generation,
        deployment_name: Some(o.deployment_name.clone()),
        service_name: o.service_name.clone(),
        secret_name: o.secret_name.clone(),
        endpoint: o.endpoint.clone(),
        node_endpoint: o.node_endpoint.clone(),
        ..Default::default()
    };
    if let Acceptance::Rejected { reason, message } = &o.acceptance {
        conditions::rejected(&mut conditions, reason, message);
        return McpServerStatus {
            phase: Phase::Failed,
            conditions: conditions.into_vec(),
            last_error: Some(LastError {
                reason: reason.clone(),
                message: message.clone(),
                ..Default::default()
            }),
            ..base
        };
    }
    conditions.set("Accepted", "True", "Valid", "spec accepted".into());
    let rollout = Rollout::of(o);
    conditions::progressing(&mut conditions, o, &rollout);
    let problem = pods::problem(o);
    conditions::available(&mut conditions, &rollout, problem.as_ref());
    let phase = conditions::ready(&mut conditions, o, &rollout, problem.as_ref());
    conditions::mcp_ready(&mut conditions, &o.mcp, o.stopped);
    let mcp = match &o.mcp {
        McpObservation::Answered(info) => Some(McpInfoStatus::from(info)),
        _ => None,
    };
    McpServerStatus {
        phase,
        conditions: conditions.into_vec(),
        replicas: Some(rollout.wanted),
        ready_replicas: Some(rollout.ready),
        last_error: problem,
        mcp,
        ..base
    }
}
