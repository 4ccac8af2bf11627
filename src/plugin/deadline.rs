//! When a plugin call must end, and which limit set that moment, so that a timeout names the
//! limit that actually cut the call: the plugin's own `limits.timeoutMs`, the operator's cap on
//! it (`MCP_RUNTIME_PLUGIN_TIMEOUT_MAX_MS`), the chain's shared budget, or a caller's deadline
//! (the developer tools).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The limit a deadline comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The plugin's own `limits.timeoutMs`.
    Plugin,
    /// The operator's cap on every plugin's limit (`MCP_RUNTIME_PLUGIN_TIMEOUT_MAX_MS`).
    Operator,
    /// What was left of the chain's budget (the sum of its plugins' limits, at most
    /// [`super::chain::MAX_CHAIN`]) after the calls before this one.
    Chain,
    /// A deadline given by the caller (`plugin test`, `plugin bench`, tests).
    Caller,
}

/// A moment a call must end by, and the limit it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub at: Instant,
    pub cut: Cut,
    /// The limit's size, for the error's text.
    pub limit_ms: u64,
}

impl Deadline {
    /// `limit_ms` from now, set by `cut`.
    pub fn after(limit_ms: u64, cut: Cut) -> Deadline {
        Deadline {
            at: Instant::now() + Duration::from_millis(limit_ms),
            cut,
            limit_ms,
        }
    }
}

/// What is left of a chain's time: its plugins' limits added up (at most
/// [`super::chain::MAX_CHAIN`]), less what its calls took so far. Only the calls' own time
/// counts, so the host's work between them never makes the chain, rather than the plugin, the
/// limit that cuts a call.
#[derive(Debug)]
pub struct Budget {
    total_ms: u64,
    spent: Cell<Duration>,
}

impl Budget {
    pub fn new(total_ms: u64) -> Budget {
        Budget {
            total_ms,
            spent: Cell::new(Duration::ZERO),
        }
    }

    /// One call's deadline: `limit_ms` (set by `cut`) from now, or what is left of the budget
    /// when that is less.
    pub fn deadline(&self, limit_ms: u64, cut: Cut) -> Deadline {
        let left = Duration::from_millis(self.total_ms).saturating_sub(self.spent.get());
        if left < Duration::from_millis(limit_ms) {
            return Deadline {
                at: Instant::now() + left,
                cut: Cut::Chain,
                limit_ms: self.total_ms,
            };
        }
        Deadline::after(limit_ms, cut)
    }

    /// A call took `took`.
    pub fn spend(&self, took: Duration) {
        self.spent.set(self.spent.get() + took);
    }
}

impl From<Instant> for Deadline {
    /// A caller's deadline (its size is measured from now).
    fn from(at: Instant) -> Deadline {
        let limit = at.saturating_duration_since(Instant::now());
        Deadline {
            at,
            cut: Cut::Caller,
            limit_ms: limit.as_millis().try_into().unwrap_or(u64::MAX),
        }
    }
}

/// What `limits.timeoutMs` becomes under the operator's cap: the smaller, and which it is.
pub fn plugin_limit(timeout_ms: u64, cap_ms: Option<u64>) -> (u64, Cut) {
    match cap_ms {
        Some(cap) if cap < timeout_ms => (cap, Cut::Operator),
        _ => (timeout_ms, Cut::Plugin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_only_cuts_a_longer_limit() {
        assert_eq!(plugin_limit(500, None), (500, Cut::Plugin));
        assert_eq!(plugin_limit(500, Some(1000)), (500, Cut::Plugin));
        assert_eq!(plugin_limit(500, Some(500)), (500, Cut::Plugin));
        assert_eq!(plugin_limit(500, Some(20)), (20, Cut::Operator));
    }

    #[test]
    fn the_chain_cuts_only_once_earlier_calls_used_its_budget() {
        let budget = Budget::new(100);
        assert_eq!(budget.deadline(50, Cut::Plugin).cut, Cut::Plugin);
        budget.spend(Duration::from_millis(40));
        assert_eq!(budget.deadline(50, Cut::Operator).cut, Cut::Operator);
        budget.spend(Duration::from_millis(30));
        let cut = budget.deadline(50, Cut::Plugin);
        assert_eq!((cut.cut, cut.limit_ms), (Cut::Chain, 100));
        assert!(cut.at <= Instant::now() + Duration::from_millis(30));
        budget.spend(Duration::from_millis(40));
        assert!(budget.deadline(50, Cut::Plugin).at <= Instant::now());
    }
}
