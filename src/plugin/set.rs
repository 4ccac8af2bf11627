//! The loaded plugin set the control plane runs with, and its hot reload: the plugin directory
//! is checked every couple of seconds; a new or changed plugin is loaded, compiled and
//! validated off the hot path (a blocking thread) and swapped in atomically; a set that fails
//! to load is refused, its error kept for `/v1/plugins`, and the previous set keeps running.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::chain::Chain;
use super::policy::{PolicyChain, PolicyOutcome, PolicyRejection, Subject};
use crate::metrics::Metrics;
use crate::render::Manifests;

pub struct PluginSet {
    dir: Option<PathBuf>,
    current: RwLock<Arc<Chain>>,
    /// Counts the sets swapped in (see [`PolicyChain::revision`]).
    revision: AtomicU64,
    fingerprint: Mutex<u64>,
    last_error: RwLock<Option<String>>,
    metrics: Option<Arc<Metrics>>,
    /// The operator's cap on every plugin's `limits.timeoutMs` ([`Chain::with_timeout_cap`]).
    timeout_cap_ms: Option<u64>,
}

impl PluginSet {
    /// No plugins: manifests pass unchanged.
    pub fn empty() -> PluginSet {
        PluginSet {
            dir: None,
            current: RwLock::new(Arc::new(Chain::default())),
            revision: AtomicU64::new(0),
            fingerprint: Mutex::new(0),
            last_error: RwLock::new(None),
            metrics: None,
            timeout_cap_ms: None,
        }
    }

    /// Loads every plugin of `dir`; fails if one does not load (never start with a policy
    /// silently missing).
    pub fn load(dir: &Path, metrics: Option<Arc<Metrics>>) -> Result<PluginSet, String> {
        Self::load_capped(dir, metrics, None)
    }

    /// Like [`PluginSet::load`], with every plugin's time limit capped at `timeout_cap_ms`.
    pub fn load_capped(
        dir: &Path,
        metrics: Option<Arc<Metrics>>,
        timeout_cap_ms: Option<u64>,
    ) -> Result<PluginSet, String> {
        let chain = Chain::load_dir(dir)
            .map_err(|e| e.to_string())?
            .with_metrics(metrics.clone())
            .with_timeout_cap(timeout_cap_ms);
        Ok(PluginSet {
            dir: Some(dir.to_path_buf()),
            current: RwLock::new(Arc::new(chain)),
            revision: AtomicU64::new(0),
            fingerprint: Mutex::new(fingerprint(dir)),
            last_error: RwLock::new(None),
            metrics,
            timeout_cap_ms,
        })
    }

    pub fn chain(&self) -> Arc<Chain> {
        self.current.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Reloads when the directory changed. Returns `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<usize, String>> {
        let dir = self.dir.as_ref()?;
        let now = fingerprint(dir);
        {
            let mut last = self.fingerprint.lock().ok()?;
            if *last == now {
                return None;
            }
            *last = now;
        }
        let result = Chain::load_dir(dir).map(|c| {
            c.with_metrics(self.metrics.clone())
                .with_timeout_cap(self.timeout_cap_ms)
        });
        Some(match result {
            Ok(chain) => {
                let n = chain.plugins().len();
                if let Ok(mut c) = self.current.write() {
                    *c = Arc::new(chain);
                    self.revision.fetch_add(1, Ordering::SeqCst);
                }
                if let Ok(mut e) = self.last_error.write() {
                    *e = None;
                }
                tracing::info!(plugins = n, "plugin set reloaded");
                Ok(n)
            }
            Err(e) => {
                tracing::error!(error = %e, "plugin set refused; the previous set keeps running");
                if let Ok(mut last) = self.last_error.write() {
                    *last = Some(e.to_string());
                }
                Err(e.to_string())
            }
        })
    }

    /// Polls the directory every `every` until the process ends.
    pub fn watch(self: Arc<Self>, every: Duration) {
        if self.dir.is_none() {
            return;
        }
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let set = self.clone();
                let _ = tokio::task::spawn_blocking(move || set.reload_if_changed()).await;
            }
        });
    }

    /// What `/v1/plugins` shows.
    pub fn describe(&self) -> Value {
        let chain = self.chain();
        json!({
            "directory": self.dir.as_ref().map(|d| d.display().to_string()),
            "lastReloadError": self.last_error.read().ok().and_then(|e| e.clone()),
            "timeoutMaxMs": self.timeout_cap_ms,
            "items": chain.plugins().iter().map(|p| json!({
                "name": p.manifest.name,
                "version": p.manifest.version,
                "digest": (!p.digest.is_empty()).then(|| format!("sha256:{}", p.digest)),
                "webhook": p.manifest.webhook.as_ref().map(|w| w.url.clone()),
                "hooks": p.manifest.hooks,
                "priority": p.manifest.priority,
                "failurePolicy": p.manifest.failure_policy,
                "mode": p.manifest.mode,
                "writeScope": p.manifest.write_scope,
                "limits": p.manifest.limits,
                "namespaces": p.manifest.namespaces,
                "loadedFrom": match p.source { super::engine::Source::Cache => "cache", super::engine::Source::Compiled => "compiled", super::engine::Source::Remote => "webhook" },
                "loadMs": p.load_time.as_secs_f64() * 1e3,
                "lastError": p.last_error(),
            })).collect::<Vec<_>>(),
        })
    }
}

impl PolicyChain for PluginSet {
    fn apply(
        &self,
        subject: &Subject<'_>,
        manifests: &mut Manifests,
    ) -> Result<PolicyOutcome, PolicyRejection> {
        self.chain().apply(subject, manifests)
    }

    /// The set's revision, or `None` while a webhook policy is loaded: a webhook may answer
    /// differently for the same input, so every reconcile asks it again.
    fn revision(&self) -> Option<u64> {
        let chain = self.chain();
        if chain.plugins().iter().any(|p| p.manifest.webhook.is_some()) {
            return None;
        }
        Some(self.revision.load(Ordering::SeqCst))
    }
}

/// Names, sizes and modification times of everything under `dir` (two levels).
fn fingerprint(dir: &Path) -> u64 {
    fn visit(d: &Path, entries: &mut Vec<(PathBuf, u64, SystemTime)>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if let Ok(m) = e.metadata() {
                    entries.push((
                        e.path(),
                        m.len(),
                        m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    ));
                }
            }
        }
    }
    let mut entries = Vec::new();
    visit(dir, &mut entries);
    let subdirs: Vec<PathBuf> = entries
        .iter()
        .filter(|(p, _, _)| p.is_dir())
        .map(|(p, _, _)| p.clone())
        .collect();
    for d in subdirs {
        visit(&d, &mut entries);
    }
    entries.sort();
    let mut h = std::hash::DefaultHasher::new();
    entries.hash(&mut h);
    h.finish()
}
