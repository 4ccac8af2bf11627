//! A client for the cluster the settings name: in-cluster, a kubeconfig file, the default
//! kubeconfig, or the project's local cluster.

use std::path::Path;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
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
    let agent = format!(
        "mcp-runtime/{} ({})",
        env!("CARGO_PKG_VERSION"),
        super::leader::identity()
    );
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

async fn from_file(path: &Path, options: &KubeConfigOptions) -> Result<Config> {
    let kubeconfig = Kubeconfig::read_from(path)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    Config::from_custom_kubeconfig(kubeconfig, options)
        .await
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}
