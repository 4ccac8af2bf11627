//! When to probe which server over MCP, and what its status says meanwhile.
//!
//! The reconcile asks [`Readiness::observe`] what to report for a server; that starts a probe
//! ([`super::probe`]) in the background when one is due, never waiting for it: a probe may
//! take its whole timeout, and a reconcile must not. When the probe ends, the server is
//! reconciled again (through the controller's `reconcile_on` trigger) and its status shows the
//! result. Probes run on blocking threads, at most [`CONCURRENT_PROBES`] at once.
//!
//! Schedule, per server and Deployment revision:
//! - a server becomes available, or its Deployment rolls (a new revision): probe at once;
//! - it answered: probe again after the configured interval (tools may change);
//! - it failed: probe again after 0.5 s, doubling, at most the interval (and at most 5 minutes);
//! - it stops being available: forget it (the next availability probes at once).
//!
//! The probe result never changes the phase or the `Ready` condition: the control plane may
//! legitimately be unable to reach a server (a control plane outside the cluster network, or
//! the local cluster, whose Pods are simulated), and that must not mark a working server
//! failed. It is reported on its own, as the `McpReady` condition and `status.mcp`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

use crate::config::McpProbeSettings;
use crate::crd::McpServer;
use crate::metrics::Metrics;

use super::probe::{self as mcp_probe, McpInfo, ProbeFailure};
use crate::term::Term;

/// Probes running at once (each holds a blocking thread for at most its timeout).
pub const CONCURRENT_PROBES: usize = 16;
/// Retries while a server is starting: the probe goes to the pod from the moment its container
/// runs, usually before the server listens, and a refused connection costs almost nothing, so
/// its first [`STARTING_TRIES`] retries come every 200 ms (Knative's queue-proxy probes every
/// 50 ms). Measured on the real node before this, with the probe waiting for the Deployment's
/// availability and going through the Service: create → `McpReady` 2.86 s p50, the pod Ready at
/// 1.98 s.
const STARTING_RETRY: Duration = Duration::from_millis(200);
/// Fast retries before the backoff: 2 s of polling, longer than a typical server's start.
const STARTING_TRIES: u32 = 10;
/// First retry of the backoff, doubling from here: a server that really does not answer gets
/// six more retries in the minute after its fast ones.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest wait between failed probes.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// Whether and where a server can be probed now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serving {
    /// An unbridged stdio server: no endpoint to talk to.
    NoEndpoint,
    /// Not accepted, stopped, or no replica available.
    NotServing,
    /// Available at `endpoint`; `revision` changes when the Deployment rolls.
    Available { endpoint: String, revision: String },
}

/// What the status says about MCP readiness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McpObservation {
    Disabled,
    NoEndpoint,
    NotServing,
    /// Available, no probe answered yet.
    Probing,
    Answered(McpInfo),
    Failed(ProbeFailure),
}

struct State {
    target: (String, String),
    last: Option<Result<McpInfo, ProbeFailure>>,
    failures: u32,
    due: Instant,
    running: bool,
}

/// The per-server probe schedule.
pub struct Readiness {
    settings: McpProbeSettings,
    states: Arc<Mutex<HashMap<ObjectRef<McpServer>, State>>>,
    trigger: mpsc::UnboundedSender<ObjectRef<McpServer>>,
    limit: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    /// The leader's term: probes end with it (their results would trigger nothing).
    term: Term,
    /// The probes running, so that [`Readiness::stop`] can wait for them.
    tasks: TaskTracker,
}

impl Readiness {
    /// The schedule, and the stream of servers whose probe ended (for `reconcile_on`).
    pub fn new(
        settings: McpProbeSettings,
        metrics: Arc<Metrics>,
        term: Term,
    ) -> (Readiness, mpsc::UnboundedReceiver<ObjectRef<McpServer>>) {
        let (trigger, ended) = mpsc::unbounded_channel();
        let readiness = Readiness {
            settings,
            states: Arc::new(Mutex::new(HashMap::new())),
            trigger,
            limit: Arc::new(Semaphore::new(CONCURRENT_PROBES)),
            metrics,
            term,
            tasks: TaskTracker::new(),
        };
        (readiness, ended)
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.settings.interval_seconds.into())
    }

    /// What to report for `server` now, starting a probe if one is due, and when to look
    /// again (`None`: a running probe will trigger the next reconcile, or nothing is due).
    pub fn observe(
        &self,
        server: &ObjectRef<McpServer>,
        serving: Serving,
    ) -> (McpObservation, Option<Duration>) {
        if self.settings.interval_seconds == 0 {
            return (McpObservation::Disabled, None);
        }
        let (endpoint, revision) = match serving {
            Serving::NoEndpoint => {
                self.forget(server);
                return (McpObservation::NoEndpoint, None);
            }
            Serving::NotServing => {
                self.forget(server);
                return (McpObservation::NotServing, None);
            }
            Serving::Available { endpoint, revision } => (endpoint, revision),
        };
        let now = Instant::now();
        let target = (endpoint, revision);
        let Ok(mut states) = self.states.lock() else {
            return (McpObservation::Probing, None);
        };
        let state = states.entry(server.clone()).or_insert_with(|| State {
            target: target.clone(),
            last: None,
            failures: 0,
            due: now,
            running: false,
        });
        if state.target != target {
            // A rollout or a new endpoint: probe at once; the last result shows meanwhile.
            state.target = target.clone();
            state.failures = 0;
            state.due = now;
        }
        let observed = match &state.last {
            None => McpObservation::Probing,
            Some(Ok(info)) => McpObservation::Answered(info.clone()),
            Some(Err(f)) => McpObservation::Failed(f.clone()),
        };
        if state.running {
            return (observed, None);
        }
        if now < state.due {
            return (observed, Some(state.due - now));
        }
        state.running = true;
        drop(states);
        self.start(server.clone(), target);
        (observed, None)
    }

    fn start(&self, server: ObjectRef<McpServer>, target: (String, String)) {
        let states = self.states.clone();
        let limit = self.limit.clone();
        let trigger = self.trigger.clone();
        let metrics = self.metrics.clone();
        let timeout = Duration::from_secs(self.settings.timeout_seconds.max(1).into());
        let interval = self.interval();
        let ending = self.term.ending();
        let running = crate::metrics::Running::new(&self.metrics.leader_tasks);
        self.tasks.spawn(async move {
            let _running = running;
            let endpoint = target.0.clone();
            let probe = async move {
                let _permit = limit.acquire_owned().await.ok()?;
                // The blocking thread is bounded by the probe's timeout; if the term ends
                // first, its result is dropped.
                Some(
                    tokio::task::spawn_blocking(move || mcp_probe::probe(&endpoint, timeout))
                        .await
                        .unwrap_or_else(|e| {
                            Err(ProbeFailure::NotReachable(format!(
                                "the probe panicked: {e}"
                            )))
                        }),
                )
            };
            let result = tokio::select! {
                _ = ending => return,
                result = probe => match result { Some(r) => r, None => return },
            };
            let outcome = match &result {
                Ok(info) if info.discovers() => "Discovered",
                Ok(_) => "Initialized",
                Err(f) => f.reason(),
            };
            metrics
                .mcp_probes
                .get_or_create(&crate::metrics::ResultLabels {
                    result: outcome.into(),
                })
                .inc();
            if let Ok(mut states) = states.lock()
                && let Some(state) = states.get_mut(&server)
            {
                state.running = false;
                if state.target == target {
                    state.failures = if result.is_ok() {
                        0
                    } else {
                        state.failures.saturating_add(1)
                    };
                    state.due =
                        Instant::now() + next_probe(result.is_ok(), state.failures, interval);
                    state.last = Some(result);
                } else {
                    // The target moved while this probe ran: its result is stale; probe the
                    // new target at once.
                    state.due = Instant::now();
                }
            }
            let _ = trigger.send(server);
        });
    }

    /// What `server` spoke in its last answer (`McpInfo::spoken`), if it answered.
    pub fn spoken(&self, server: &ObjectRef<McpServer>) -> Option<&'static str> {
        let states = self.states.lock().ok()?;
        match &states.get(server)?.last {
            Some(Ok(info)) => Some(info.spoken()),
            _ => None,
        }
    }

    /// Waits for the running probes, which end with the term (call it after the term ended).
    pub async fn stop(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Drops what is known about `server` (no longer available, or deleted).
    pub fn forget(&self, server: &ObjectRef<McpServer>) {
        if let Ok(mut states) = self.states.lock() {
            states.remove(server);
        }
    }

    /// Keeps only the servers `keep` says still exist (deleted servers are never reconciled
    /// again, so nothing else would drop them).
    pub fn retain(&self, keep: impl Fn(&ObjectRef<McpServer>) -> bool) {
        if let Ok(mut states) = self.states.lock() {
            states.retain(|server, _| keep(server));
        }
    }
}

/// The wait before the next probe: the interval after an answer; after `failures` failures
/// 200 ms for the first [`STARTING_TRIES`], then 0.5 s doubling, capped by the interval and by
/// 5 minutes.
pub fn next_probe(answered: bool, failures: u32, interval: Duration) -> Duration {
    if answered {
        return interval;
    }
    if failures <= STARTING_TRIES {
        return STARTING_RETRY;
    }
    let doublings = (failures - STARTING_TRIES - 1).min(16);
    let backoff = FIRST_RETRY.saturating_mul(1u32 << doublings);
    backoff.min(MAX_RETRY).min(interval.max(FIRST_RETRY))
}

#[cfg(test)]
mod tests;
