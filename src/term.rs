//! How a term of work is told to end: one leadership, or the whole process when there is no
//! election. The leader (`controller::leader`) starts and ends terms; every task a
//! leader starts (the controller, the MCP probes, the reaper) holds one and stops with it.

use tokio_util::sync::CancellationToken;

/// How a term of work (one leadership, or the whole process without election) is told to end.
/// Clones share the term.
#[derive(Clone, Debug)]
pub struct Term {
    /// Cancelled when the Lease is lost: stop at once.
    lost: CancellationToken,
    /// Cancelled on any end (a child of `lost`): stop, letting in-flight reconciles finish.
    ending: CancellationToken,
}

impl Default for Term {
    fn default() -> Self {
        Self::new()
    }
}

impl Term {
    pub fn new() -> Term {
        let lost = CancellationToken::new();
        let ending = lost.child_token();
        Term { lost, ending }
    }

    /// Ends the term gracefully (shutdown): in-flight reconciles may finish.
    pub fn end(&self) {
        self.ending.cancel();
    }

    /// Ends the term at once (the Lease was lost): nothing more may be written.
    pub fn lose(&self) {
        self.lost.cancel();
    }

    /// Completes when the term ends, either way.
    pub fn ending(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.ending.clone().cancelled_owned()
    }

    /// Completes when the Lease was lost.
    pub fn lost(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.lost.clone().cancelled_owned()
    }

    pub fn is_ending(&self) -> bool {
        self.ending.is_cancelled()
    }
}
