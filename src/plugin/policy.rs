//! The contract between the controller and the policy layer: a chain that may change a server's
//! manifests or refuse the server. The controller (`runtime/`) calls it; [`super::PluginSet`]
//! is the implementation; tests bring their own. It lives here so that `runtime/` depends on
//! `plugin/`, never the other way round.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::render::Manifests;

use super::ChainReport;

/// The server the policies are asked about: its name (the McpServer's), its namespace and its
/// document as stored (secret values replaced by references: plugins never see them).
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    /// The namespace's labels, which decide the policies that select namespaces by label;
    /// `None`: not known (such a policy then fails rather than skip the server).
    pub namespace_labels: Option<&'a BTreeMap<String, String>>,
    pub document: &'a Value,
}

/// Where the policies plug into building a server's desired state (the controller's reconcile,
/// `POST /v1/render`, `mcp-runtime render`). `apply` runs on a blocking thread, bounded by the
/// chain's deadline.
pub trait PolicyChain: Send + Sync {
    fn apply(
        &self,
        subject: &Subject<'_>,
        manifests: &mut Manifests,
    ) -> Result<PolicyOutcome, PolicyRejection>;

    /// `Some(revision)` when the chain's output depends only on its input and on the loaded
    /// set, which `revision` identifies (sandboxed plugins see no clock, network or
    /// randomness); `None` when it may answer differently at any time (a webhook). With
    /// `Some`, a reconcile whose inputs are those of the last apply skips rendering and the
    /// chain (a probe result, a reference re-check or a pod event costs no policy run).
    fn revision(&self) -> Option<u64> {
        Some(0)
    }
}

/// What an accepting chain did.
#[derive(Clone, Debug, Default)]
pub struct PolicyOutcome {
    /// Patches per plugin, monitored denials, failures let through (`None`: no plugin ran).
    pub report: Option<ChainReport>,
}

impl PolicyOutcome {
    /// Whether this answer may be remembered for the same input: not when a failure was let
    /// through (`ignore`), which is not the policy's answer; the next reconcile asks again, so a
    /// recovered policy applies.
    pub fn memoizable(&self) -> bool {
        self.report
            .as_ref()
            .is_none_or(|r| r.ignored_errors.is_empty())
    }
}

/// Why the policies refused a server; the message names the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyRejection {
    /// A plugin said no: stands until the spec or the policy set changes.
    Denied(String),
    /// A plugin whose failure policy is `fail` failed (a webhook down, a deadline missed):
    /// transient, retried with backoff.
    Failed(String),
}

impl PolicyRejection {
    pub fn message(&self) -> &str {
        match self {
            PolicyRejection::Denied(m) | PolicyRejection::Failed(m) => m,
        }
    }
}

/// No policies: manifests pass unchanged.
pub struct NoPolicies;

impl PolicyChain for NoPolicies {
    fn apply(
        &self,
        _subject: &Subject<'_>,
        _manifests: &mut Manifests,
    ) -> Result<PolicyOutcome, PolicyRejection> {
        Ok(PolicyOutcome::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ignored_failure_is_not_remembered() {
        assert!(PolicyOutcome::default().memoizable());
        let clean = PolicyOutcome {
            report: Some(ChainReport::default()),
        };
        assert!(clean.memoizable());
        let ignored = PolicyOutcome {
            report: Some(ChainReport {
                ignored_errors: vec!["plugin slow: deadline exceeded".into()],
                ..Default::default()
            }),
        };
        assert!(!ignored.memoizable());
    }
}
