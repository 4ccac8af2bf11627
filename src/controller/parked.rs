//! Servers whose reconcile failed because the API server was away (no answer, a 5xx): they are
//! reconciled again the moment it answers, not when their own backoff ends.
//!
//! A failed reconcile backs off per server (1 s doubling, up to 5 minutes), which is right for a
//! server that is itself broken and keeps a down API server from being hammered. But after an
//! outage every server that failed during it would wait out its own grown delay (32 s after a
//! 20 s outage), although nothing was wrong with it. So such servers are parked here, still with
//! their backoff as the fallback, and released all at once when [`ApiHealth`] sees the API server
//! answer again (a watch event, a successful request, its `/readyz`). The controller's
//! concurrency bounds how fast the released servers then hit the API server.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use kube::runtime::reflector::ObjectRef;

use crate::crd::McpServer;
use crate::health::ApiHealth;

/// The parked servers, shared by the error policy (which parks) and the release stream.
#[derive(Clone, Default)]
pub struct Parked(Arc<Mutex<HashSet<ObjectRef<McpServer>>>>);

impl Parked {
    /// Parks `server` until the API server answers again.
    pub fn park(&self, server: ObjectRef<McpServer>) {
        self.lock().insert(server);
    }

    fn take(&self) -> Vec<ObjectRef<McpServer>> {
        self.lock().drain().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<ObjectRef<McpServer>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every parked server, each time an outage ends (for `Controller::reconcile_on`).
    pub fn released(&self, health: &ApiHealth) -> impl Stream<Item = ObjectRef<McpServer>> + use<> {
        let parked = self.clone();
        futures::stream::unfold(health.returns(), move |mut returns| {
            let parked = parked.clone();
            async move {
                returns.changed().await.ok()?;
                Some((futures::stream::iter(parked.take()), returns))
            }
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests;
