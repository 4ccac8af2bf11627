//! A client for the cluster the settings name: in-cluster, a kubeconfig file, the default
//! kubeconfig, or the project's local cluster.

use std::path::Path;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher::ExponentialBackoff;
use kube::{Client, Config};

use crate::config::{KubeconfigKind, RuntimeConfig};

use super::{Error, Result};

pub async fn client(config: &RuntimeConfig) -> Result<Client> {
    let options = KubeConfigOptions {
        context: config.kubeconfig.context.clone(),
        ..Default::default()
    };
    let mut kube_config = match config.kubeconfig.source {
        KubeconfigKind::InCluster => {
            Config::incluster().map_err(|e| Error::Config(e.to_string()))?
        }
        KubeconfigKind::Default => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
        KubeconfigKind::File | KubeconfigKind::Local => {
            let path = config.kubeconfig.path.as_deref().unwrap_or_default();
            from_file(Path::new(path), &options).await?
        }
    };
    // Who wrote what, in the API server's audit log: the version and this replica's identity.
    let agent = format!("mcp-runtime/{} ({})", env!("CARGO_PKG_VERSION"), identity());
    if let Ok(value) = axum::http::HeaderValue::from_str(&agent) {
        kube_config
            .headers
            .push((axum::http::header::USER_AGENT, value));
    }
    // Watches are long; plain requests are not.
    kube_config.read_timeout = Some(Duration::from_secs(295));
    kube_config.connect_timeout = Some(Duration::from_secs(10));
    Client::try_from(kube_config).map_err(|e| Error::Config(e.to_string()))
}

/// How every watch (and the controller's merged trigger stream) retries after an error: 250 ms,
/// doubling to at most 2 s, jittered. kube's default (0.8 s doubling to 30 s) left the watches
/// up to half a minute behind an API server that came back from a 20 s outage; a retry every
/// 2 s is a handful of requests a second for all of this process's watches together, nothing a
/// recovering API server notices.
pub fn watch_backoff() -> ResetTimerBackoff<ExponentialBackoff> {
    let exponential = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(2))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    ResetTimerBackoff::new(
        ExponentialBackoff::from(exponential),
        Duration::from_secs(60),
    )
}

async fn from_file(path: &Path, options: &KubeConfigOptions) -> Result<Config> {
    let kubeconfig = Kubeconfig::read_from(path)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    Config::from_custom_kubeconfig(kubeconfig, options)
        .await
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// This replica's name in the Lease and in its requests' User-Agent: the pod's name in a
/// cluster (downward API), host and process id elsewhere.
pub fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "mcp-runtime".into());
        format!("{host}-{}", std::process::id())
    })
}
