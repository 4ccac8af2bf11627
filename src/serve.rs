//! `serve`, `install` and `crd`: the binary's edge around the runtime (connecting, starting the
//! local cluster when no other is given, signals).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use mcp_runtime::api::review::Reviewer;
use mcp_runtime::api::{Access, AppState, Tokens};
use mcp_runtime::config::{KubeconfigKind, RuntimeConfig};
use mcp_runtime::controller;
use mcp_runtime::controller::leader;
use mcp_runtime::metrics::Metrics;
use mcp_runtime::plugin::PluginSet;
use mcp_runtime::runtime::{CONTROLLER_MANAGER, client};
use tracing::info;

pub fn crd_yaml() -> anyhow::Result<String> {
    Ok(mcp_runtime::yaml::to_string(&mcp_runtime::crd::crd())?)
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

/// Asks the API server's `/readyz` (which includes etcd) every 5 s, so an outage shows in
/// metrics and status even when no watch event or reconcile happens to fail: 12 small requests
/// a minute, the price of knowing. During an outage it asks every second, so that the work
/// parked meanwhile resumes within a second of the return (`controller::parked`).
async fn probe_api_server(client: Client, metrics: Arc<Metrics>) {
    loop {
        let every = if metrics.kubernetes.get().reachable {
            5
        } else {
            1
        };
        tokio::time::sleep(Duration::from_secs(every)).await;
        let request = match axum::http::Request::get("/readyz").body(Vec::new()) {
            Ok(r) => r,
            Err(_) => return,
        };
        match tokio::time::timeout(Duration::from_secs(4), client.request_text(request)).await {
            Ok(Ok(_)) => metrics.kubernetes.ok(),
            Ok(Err(e)) => metrics.kubernetes.failed(&e),
            Err(_) => metrics.kubernetes.failed(&std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "GET /readyz timed out",
            )),
        }
    }
}

/// `serve`: the HTTP API on every replica, the controller on the leader (or on this one alone
/// without election), until SIGTERM or Ctrl-C.
pub async fn serve(mut config: RuntimeConfig, leader_elect: bool) -> anyhow::Result<()> {
    let client = connect(&config).await?;
    if config.kubeconfig.source == KubeconfigKind::Local {
        crate::local_node::use_if_ready(&client, &mut config).await;
    }
    check_crd(&client, &config).await?;
    let metrics = Arc::new(Metrics::new());
    let plugins = load_plugins(&config, &metrics).await?;
    let api = start_api(&client, &config, &metrics, &plugins).await?;
    info!(namespace = %config.namespace, serving = %config.served().describe(), "controller starting");
    let config = Arc::new(config);
    if leader_elect {
        let (c, cfg, m, p) = (
            client.clone(),
            config.clone(),
            metrics.clone(),
            plugins.clone(),
        );
        leader::run_while_leader(
            client.clone(),
            &config.namespace,
            leader::identity(),
            move |term| {
                let (c, cfg, m, p) = (c.clone(), cfg.clone(), m.clone(), p.clone());
                async move { controller::run(c, &cfg, p, m, term).await }
            },
            shutting_down(),
        )
        .await?;
    } else {
        let term = leader::Term::new();
        let ended = term.clone();
        let run =
            tokio::spawn(
                async move { controller::run(client, &config, plugins, metrics, term).await },
            );
        shutting_down().await;
        ended.end();
        leader::finish(run).await;
    }
    let _ = api.await;
    Ok(())
}

/// SIGTERM or Ctrl-C, logged.
async fn shutting_down() {
    shutdown_signal().await;
    info!("shutting down: finishing in-flight reconciles");
}

/// The CRD: installed on the local cluster; elsewhere it must be there (and is warned about
/// when its schema is not this version's, since the API server would drop the new fields).
async fn check_crd(client: &Client, config: &RuntimeConfig) -> anyhow::Result<()> {
    if config.kubeconfig.source == KubeconfigKind::Local {
        return install_crd(client).await;
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.get_opt("mcpservers.mcp-runtime.dev").await? {
        None => bail!(
            "the McpServer CRD is not installed: run `mcp-runtime install` (or kubectl apply -f deploy/crd/)"
        ),
        Some(installed) if !mcp_runtime::crd::same_schema(&installed) => tracing::warn!(
            "the installed McpServer CRD is not this version's: the API server drops the fields its schema lacks from every server written; upgrade it with `mcp-runtime install`, `kubectl apply --server-side -f deploy/crd/` or `helm upgrade`"
        ),
        Some(_) => {}
    }
    Ok(())
}

/// The policy set from `plugin_dir` (watched for changes), or none.
async fn load_plugins(
    config: &RuntimeConfig,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Arc<PluginSet>> {
    let plugins = Arc::new(match &config.plugin_dir {
        Some(dir) => {
            let (dir, m) = (std::path::PathBuf::from(dir), metrics.clone());
            let cap = config.plugin_timeout_max_ms;
            tokio::task::spawn_blocking(move || PluginSet::load_capped(&dir, Some(m), cap))
                .await?
                .map_err(|e| anyhow::anyhow!("loading plugins: {e}"))?
        }
        None => PluginSet::empty(),
    });
    if let Some(dir) = &config.plugin_dir {
        eprintln!(
            "{} plugin(s) loaded from {dir}; watching it for changes",
            plugins.chain().plugins().len()
        );
    }
    plugins.clone().watch(std::time::Duration::from_secs(2));
    Ok(plugins)
}

/// The HTTP API with its McpServer cache and the API server probe, serving until shutdown.
async fn start_api(
    client: &Client,
    config: &RuntimeConfig,
    metrics: &Arc<Metrics>,
    plugins: &Arc<PluginSet>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let access = access(client, config).await?;
    let (state, cache) = AppState::new(
        client.clone(),
        config.served(),
        config.render_contexts(),
        access,
        metrics.clone(),
        plugins.clone(),
    );
    tokio::spawn(cache);
    tokio::spawn(probe_api_server(client.clone(), metrics.clone()));
    let listener = std::net::TcpListener::bind(&config.listen)
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!(
        "mcp-runtime API listening on {scheme}://{addr} (namespace {}; serving {})",
        config.namespace,
        config.served().describe()
    );
    let router = mcp_runtime::api::router(state);
    let tls = config.tls.clone();
    Ok(tokio::spawn(async move {
        mcp_runtime::api::serve(listener, router, tls.as_ref(), shutdown_signal()).await
    }))
}

/// Who may call the API: the static tokens and, unless turned off, identities the cluster
/// vouches for.
async fn access(client: &Client, config: &RuntimeConfig) -> anyhow::Result<Access> {
    let auth = &config.auth;
    let tokens = tokens(client, config).await?;
    let ttl = Duration::from_secs(auth.review_cache_seconds.into());
    let kubernetes = (auth.kubernetes && !auth.disabled)
        .then(|| Reviewer::new(client.clone(), auth.token_audiences.clone(), ttl));
    Ok(Access {
        tokens,
        metrics_require_auth: auth.metrics_require_auth,
        kubernetes,
        review_ttl: ttl,
    })
}

/// The API's bearer tokens: a file, a Secret key, explicitly none, or (nothing configured) one
/// generated now and written to a 0600 file whose path is printed, never the token itself.
async fn tokens(client: &Client, config: &RuntimeConfig) -> anyhow::Result<Tokens> {
    let auth = &config.auth;
    if auth.disabled {
        tracing::warn!("API authentication is disabled");
        return Ok(Tokens::disabled());
    }
    let tokens = if let Some(file) = &auth.token_file {
        Tokens::parse(
            &std::fs::read_to_string(file)
                .with_context(|| format!("reading tokens from {file}"))?,
        )
    } else if let Some(sk) = &auth.token_secret {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), &config.namespace);
        let secret = secrets
            .get(&sk.name)
            .await
            .with_context(|| format!("reading Secret {}", sk.name))?;
        let value = secret
            .data
            .and_then(|d| d.get(&sk.key).cloned())
            .with_context(|| format!("Secret {} has no key {}", sk.name, sk.key))?;
        Tokens::parse(&String::from_utf8_lossy(&value.0))
    } else {
        let token = mcp_runtime::api::auth::generate()?;
        let path =
            mcp_runtime::config::local_cluster_kubeconfig(&mcp_runtime::config::ProcessEnvironment)
                .with_file_name("api-token");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_private(&path, &token)?;
        eprintln!(
            "no API token configured: generated one into {} (MCP_RUNTIME_TOKEN_FILE to choose your own)",
            path.display()
        );
        Tokens::parse(&token)
    };
    if tokens.is_empty() {
        bail!("the configured token source holds no token");
    }
    Ok(tokens)
}

fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(content.as_bytes())
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
