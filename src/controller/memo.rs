//! What the controller remembers per server, in one entry: the last apply (so an unchanged
//! server costs no render, no policy run and no write, and the status reads what was applied), the last reference check (so values are
//! read only when a referenced object changed) and the retry backoff. All of it can be lost at
//! any time: after a restart every server is applied once and converges again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::desired::fingerprint;
use crate::runtime::k8s_deployment::Applied;
use crate::runtime::references::{Checked, Seen};

/// First retry of a failed reconcile.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between retries (the jitter adds up to as much again below it).
const MAX_RETRY: Duration = Duration::from_secs(300);

/// What the last successful apply of a server was made from and left behind.
#[derive(Clone, Debug)]
pub struct LastApply {
    /// Hash of the objects applied (after the policies).
    pub desired: String,
    /// Hash of what they were made from (server, cluster inputs, policy revision); `None`
    /// when the policies may answer differently for the same input.
    pub input: Option<String>,
    /// Where clients reach the server, as the applied Service makes it.
    pub endpoint: Option<String>,
    /// Port and path of the MCP endpoint on the applied Service.
    pub http: Option<(u16, String)>,
    pub left: Applied,
}

impl LastApply {
    /// Whether the cluster still holds what this apply left (nobody changed or deleted it):
    /// `cached` gives the cached metadata of an object by kind and name.
    pub fn intact(&self, cached: impl Fn(&str, &str) -> Option<ObjectMeta>) -> bool {
        self.left
            .objects
            .iter()
            .all(|o| cached(&o.kind, &o.name).is_some_and(|m| fingerprint(&m) == o.fingerprint))
    }
}

/// One server's entry.
#[derive(Debug, Default)]
struct Entry {
    applied: Option<LastApply>,
    /// The last reference check and the resourceVersions it was made from.
    references: Option<(Seen, Checked)>,
    /// Delays of the consecutive failures so far (`None`: the last reconcile succeeded).
    backoff: Option<ExponentialBackoff>,
}

/// Every server's entry, by namespace and name (one controller loop may cover every
/// namespace, where names repeat).
#[derive(Debug, Default)]
pub struct Memos(Mutex<HashMap<Key, Entry>>);

/// A server, as memos and probes know it.
pub type Key = kube::runtime::reflector::ObjectRef<crate::crd::McpServer>;

impl Memos {
    fn with<R>(&self, name: &Key, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let mut map = self.0.lock().ok()?;
        Some(f(map.entry(name.clone()).or_default()))
    }

    pub fn last_apply(&self, name: &Key) -> Option<LastApply> {
        self.with(name, |e| e.applied.clone()).flatten()
    }

    pub fn applied(&self, name: &Key, last: LastApply) {
        self.with(name, |e| e.applied = Some(last));
    }

    /// The last reference check, if it was made from `seen`.
    pub fn references(&self, name: &Key, seen: &Seen) -> Option<Checked> {
        self.with(name, |e| match &e.references {
            Some((s, checked)) if s == seen => Some(checked.clone()),
            _ => None,
        })
        .flatten()
    }

    pub fn checked(&self, name: &Key, seen: Seen, checked: Checked) {
        self.with(name, |e| e.references = Some((seen, checked)));
    }

    /// The wait before retrying `name` after one more failure: 1 s doubling to 5 minutes, each
    /// with up to as much again of random jitter (so servers failing together retry apart).
    pub fn failed(&self, name: &Key) -> Duration {
        self.with(name, |e| {
            e.backoff
                .get_or_insert_with(|| {
                    ExponentialBuilder::default()
                        .with_min_delay(FIRST_RETRY)
                        .with_max_delay(MAX_RETRY)
                        .with_factor(2.0)
                        .with_jitter()
                        .without_max_times()
                        .build()
                })
                .next()
        })
        .flatten()
        .unwrap_or(MAX_RETRY)
    }

    /// A reconcile of `name` succeeded: the next failure starts the backoff anew.
    pub fn succeeded(&self, name: &Key) {
        self.with(name, |e| e.backoff = None);
    }

    /// Keeps the entries of the servers `keep` says still exist (deleted servers are never
    /// reconciled again, so nothing else would drop them).
    pub fn retain(&self, keep: impl Fn(&Key) -> bool) {
        if let Ok(mut map) = self.0.lock() {
            map.retain(|name, _| keep(name));
        }
    }
}

#[cfg(test)]
mod tests;
