//! `serve`, `install` and `crd`: the binary's edge around the runtime (connecting, starting the
//! local cluster when no other is given, signals).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use mcp_runtime::config::{KubeconfigKind, RuntimeConfig};
use mcp_runtime::runtime::controller::{self, NoPolicies};
use mcp_runtime::runtime::{CONTROLLER_MANAGER, client, leader};
use tracing::info;

pub fn crd_yaml() -> anyhow::Result<String> {
    Ok(serde_norway::to_string(&mcp_runtime::crd::crd())?)
}

/// A client for the configured cluster; for the built-in local cluster, starts it first when it
/// is not running (deploy/local-cluster/up.sh of this checkout).
pub async fn connect(config: &RuntimeConfig) -> anyhow::Result<Client> {
    if config.kubeconfig.source == KubeconfigKind::Local {
        let up = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/local-cluster/up.sh");
        if std::path::Path::new(up).exists() {
            info!("no cluster given: using the built-in local cluster");
            let status = tokio::process::Command::new("bash")
                .arg(up)
                .stdout(std::process::Stdio::inherit())
                .status()
                .await
                .context("starting the local cluster")?;
            if !status.success() {
                bail!("the local cluster did not start (see ~/.cache/mcp-runtime/cluster/logs)");
            }
        } else if !config
            .kubeconfig
            .path
            .as_deref()
            .is_some_and(|p| std::path::Path::new(p).exists())
        {
            bail!(
                "no cluster given and no local cluster: set MCP_RUNTIME_KUBECONFIG or run deploy/local-cluster/up.sh"
            );
        }
    }
    Ok(client::client(config).await?)
}

pub async fn install_crd(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = mcp_runtime::crd::crd();
    let name = crd.metadata.name.clone().unwrap_or_default();
    crds.patch(
        &name,
        &PatchParams::apply(CONTROLLER_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .context("applying the McpServer CRD")?;
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds, &name, conditions::is_crd_established()),
    )
    .await
    .context("the CRD was not established within 30s")??;
    Ok(())
}

pub async fn serve(config: RuntimeConfig, leader_elect: bool) -> anyhow::Result<()> {
    let client = connect(&config).await?;
    if config.kubeconfig.source == KubeconfigKind::Local {
        install_crd(&client).await?;
    } else {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        if crds.get_opt("mcpservers.mcp-runtime.dev").await?.is_none() {
            bail!(
                "the McpServer CRD is not installed: run `mcp-runtime install` (or kubectl apply -f deploy/crd/)"
            );
        }
    }
    info!(namespace = %config.namespace, "controller starting");
    let config = Arc::new(config);
    let shutdown = || async {
        shutdown_signal().await;
        info!("shutting down: finishing in-flight reconciles");
    };
    if leader_elect {
        let identity = std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("{}-{}", hostname(), std::process::id()));
        let (c, cfg) = (client.clone(), config.clone());
        leader::run_while_leader(
            client.clone(),
            &config.namespace,
            identity,
            move || {
                let (c, cfg) = (c.clone(), cfg.clone());
                async move {
                    controller::run(c, &cfg, Arc::new(NoPolicies), std::future::pending()).await
                }
            },
            shutdown(),
        )
        .await?;
    } else {
        controller::run(client, &config, Arc::new(NoPolicies), shutdown()).await;
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "mcp-runtime".into())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
