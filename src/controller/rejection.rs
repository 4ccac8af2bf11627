//! Why a reconcile stopped before applying, as one type: the reason (the `Accepted`
//! condition's and the Event's), the message, and when to look at the server again. One match
//! in the reconcile turns it into a status and an action.

use std::time::Duration;

use crate::controller::status::Acceptance;
use crate::plugin::PolicyRejection;
use crate::runtime::references::RECHECK;

/// The reasons a server is not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The spec breaks the JSON Schema or cannot be rendered.
    InvalidSpec,
    /// A referenced Secret or ConfigMap (or a key of it) does not exist.
    MissingReference,
    /// A policy said no.
    PolicyDenied,
    /// A policy with failure policy `fail` failed.
    PolicyFailed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidSpec => "InvalidSpec",
            Reason::MissingReference => "MissingReference",
            Reason::PolicyDenied => "PolicyDenied",
            Reason::PolicyFailed => "PolicyFailed",
        }
    }
}

/// When to reconcile a rejected server again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Only when it (or what it depends on) changes: retrying cannot help.
    OnChange,
    /// After this long, as well as on a change (a reference may appear without a watch event
    /// we act on).
    After(Duration),
    /// With the server's backoff: the cause is transient.
    Backoff,
}

/// A server refused by a reconcile step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
    pub retry: Retry,
}

impl Rejection {
    pub fn invalid(message: impl Into<String>) -> Rejection {
        Rejection {
            reason: Reason::InvalidSpec,
            message: message.into(),
            retry: Retry::OnChange,
        }
    }

    pub fn missing(what: &[String]) -> Rejection {
        Rejection {
            reason: Reason::MissingReference,
            message: format!("not found: {}", what.join(", ")),
            retry: Retry::After(RECHECK),
        }
    }

    /// A denial stands until the spec or the policy set changes; a failing policy (a webhook
    /// down, a deadline missed) is retried with backoff, so servers heal by themselves.
    pub fn policy(rejection: PolicyRejection) -> Rejection {
        match rejection {
            PolicyRejection::Denied(message) => Rejection {
                reason: Reason::PolicyDenied,
                message,
                retry: Retry::OnChange,
            },
            PolicyRejection::Failed(message) => Rejection {
                reason: Reason::PolicyFailed,
                message,
                retry: Retry::Backoff,
            },
        }
    }

    pub fn acceptance(&self) -> Acceptance {
        Acceptance::Rejected {
            reason: self.reason.as_str().into(),
            message: self.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_waits_for_a_change_and_a_failure_backs_off() {
        let denied = Rejection::policy(PolicyRejection::Denied("denied by plugin p: no".into()));
        assert_eq!(
            (denied.reason, denied.retry),
            (Reason::PolicyDenied, Retry::OnChange)
        );
        let failed = Rejection::policy(PolicyRejection::Failed("plugin p: trap".into()));
        assert_eq!(
            (failed.reason, failed.retry),
            (Reason::PolicyFailed, Retry::Backoff)
        );
        assert_eq!(failed.message, "plugin p: trap");
    }

    #[test]
    fn missing_references_are_named_and_checked_again() {
        let r = Rejection::missing(&["Secret a (key k)".into(), "ConfigMap b".into()]);
        assert_eq!(r.message, "not found: Secret a (key k), ConfigMap b");
        assert_eq!(r.retry, Retry::After(RECHECK));
        assert_eq!(
            r.acceptance(),
            Acceptance::Rejected {
                reason: "MissingReference".into(),
                message: r.message.clone()
            }
        );
    }
}
