//! The controller: each `McpServer` is reconciled into its desired state (Deployment, Service,
//! NetworkPolicy) in named steps, one file each: [`observe`] (validate, references, the
//! cluster's inputs, whether the last apply is intact) → [`build`] ([`crate::desired::build`],
//! the builder the previews use too) → [`apply`] (migrate, one server-side apply path for every
//! kind, prune) → [`report`] (status, from what was applied). A step that refuses the server
//! returns a typed [`Rejection`]; one match in [`reconcile_server`] turns it into a status and
//! an action.
//!
//! One watch per kind for all servers ([`watches`]) feeds both the triggers and the caches the
//! status is computed from: no polling, and an idle fleet makes no requests (MCP probes talk to
//! the servers, not to the API server). An invalid spec waits for a change; other errors back
//! off per server (1 s doubling to 5 min, with jitter), so one broken server never slows the
//! others. Concurrency is bounded by the settings. What is remembered per server is in
//! [`memo`], how status is derived from the caches in [`status`].
//!
//! Its side tasks run under the same leadership: [`leader`] holds the Lease and starts and ends
//! every term of work; [`reaper`] deletes pods that failed for good; the MCP probes
//! (`mcp::readiness`) are started by the reconcile and stop with the term.

mod apply;
mod build;
pub mod leader;
mod memo;
mod observe;
mod parked;
pub mod reaper;
mod rejection;
mod report;
pub mod status;
mod watches;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::warn;

use crate::config::RuntimeConfig;
use crate::crd::{McpServer, McpServerSpec, McpServerStatus};
use crate::metrics::{Metrics, ResultLabels};
use crate::plugin::PolicyChain;
use crate::render::ServerNames;

use crate::mcp::readiness::Readiness;
use crate::runtime::references::{self as refs, Kind};
use crate::runtime::scope::Scope;
use crate::runtime::{CONTROLLER_MANAGER, Error};
use crate::term::Term;
use status::Acceptance;

pub use rejection::{Reason, Rejection, Retry};

/// Label selecting every object the controller manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=mcp-runtime";

/// How often memos of deleted servers are dropped (deleted servers are not reconciled again).
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// What every reconcile of one scope shares: the client, settings, the scope's watch caches
/// and the memos.
pub struct Context {
    pub client: Client,
    /// The render settings of every namespace of the scope.
    pub render: crate::config::RenderContexts,
    pub caches: watches::Caches,
    pub recorder: Recorder,
    pub policies: Arc<dyn PolicyChain>,
    pub metrics: Arc<Metrics>,
    memos: memo::Memos,
    /// Servers that failed while the API server was away, reconciled when it is back.
    parked: parked::Parked,
    /// The MCP probe schedule (the `McpReady` condition).
    readiness: Readiness,
    /// Whether `Ready` waits for the MCP probe's answer.
    mcp_gates_ready: bool,
    /// Host of a node, for the NodePort URL in `status.nodeEndpoint` (NodePort Services only).
    node_host: Option<String>,
}

/// One server as a reconcile sees it.
pub struct Server<'a> {
    pub mcp: &'a McpServer,
    pub name: &'a str,
    /// Its namespace: where its objects go and where the caches are looked up.
    pub namespace: &'a str,
    /// What memos and probes know it by (namespace and name).
    pub key: memo::Key,
    pub spec: &'a McpServerSpec,
    pub names: &'a ServerNames,
}

impl Server<'_> {
    /// The cache key of the object `name` in the server's namespace.
    fn here<K>(&self, name: &str) -> ObjectRef<K>
    where
        K: kube::Resource,
        K::DynamicType: Default,
    {
        ObjectRef::new(name).within(self.namespace)
    }
}

/// Why a step ended the reconcile before the end.
pub enum Stop {
    /// The server is refused: reported, then retried as the rejection says.
    Rejected(Rejection),
    /// Nothing wrong, but not ready to go on: look again after this long.
    Wait(Duration),
    /// A failure (the API server, our own defect): the reconcile fails and backs off.
    Failed(Error),
}

impl Stop {
    fn serialization(e: serde_json::Error) -> Stop {
        Stop::Failed(Error::Serialization(e))
    }
}

/// Runs the controller and everything it starts (pruning, the reaper, MCP probes) until `term`
/// ends: gracefully (in-flight reconciles finish) or, when the Lease was lost, at once. Returns
/// only when all of it has stopped. One loop per served scope ([`Scope`]: a listed namespace,
/// or every namespace), each with its own watches, caches and concurrency.
pub async fn run(
    client: Client,
    config: &RuntimeConfig,
    policies: Arc<dyn PolicyChain>,
    metrics: Arc<Metrics>,
    term: Term,
) {
    let _running = crate::metrics::Running::new(&metrics.leader_tasks);
    let loops = config.served().scopes().into_iter().map(|scope| {
        run_scope(
            client.clone(),
            config,
            scope,
            policies.clone(),
            metrics.clone(),
            term.clone(),
        )
    });
    futures::future::join_all(loops).await;
}

/// The controller of one scope, until `term` ends.
async fn run_scope(
    client: Client,
    config: &RuntimeConfig,
    scope: Scope,
    policies: Arc<dyn PolicyChain>,
    metrics: Arc<Metrics>,
    term: Term,
) {
    let (caches, triggers) = watches::watches(&client, &scope);
    let (readiness, mut probed) = Readiness::new(config.mcp_probe, metrics.clone(), term.clone());
    let probed = futures::stream::poll_fn(move |cx| probed.poll_recv(cx));
    let ctx = Arc::new(context(
        client.clone(),
        config,
        caches,
        policies,
        metrics,
        readiness,
    ));
    let controller = servers_controller(client, &scope);
    let mut tasks = side_tasks(&ctx, config, controller.store(), &term);
    let secret_servers = watches::secret_servers(controller.store());
    let config_map_referrers = watches::referrers(controller.store(), Kind::ConfigMap);
    let namespace_servers = watches::namespace_servers(controller.store());
    let released = ctx.parked.released(&ctx.metrics.kubernetes);
    let reconciling = controller
        .trigger_backoff(crate::runtime::client::watch_backoff())
        .with_config(
            ControllerConfig::default()
                .concurrency(config.reconcile_concurrency as u16)
                .debounce(Duration::from_millis(100)),
        )
        .owns_stream(triggers.deployments)
        .owns_stream(triggers.services)
        .owns_stream(triggers.network_policies)
        .watches_stream(triggers.pods, |pod: Pod| watches::owner_of(&pod))
        .watches_stream(triggers.secrets, move |s: PartialObjectMeta<Secret>| {
            secret_servers(s.metadata)
        })
        .watches_stream(
            triggers.referable_config_maps,
            move |c: PartialObjectMeta<ConfigMap>| config_map_referrers(c.metadata),
        )
        .watches_stream(triggers.namespaces, namespace_servers)
        // A finished MCP probe reconciles its server, so the status shows the result.
        .reconcile_on(probed)
        // Servers that failed while the API server was away, once it answers again.
        .reconcile_on(released)
        .graceful_shutdown_on(term.ending())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile failed");
            }
        });
    // A lost Lease drops the in-flight reconciles instead of letting them write.
    tokio::select! {
        _ = reconciling => {}
        _ = term.lost() => {}
    }
    term.end();
    while tasks.join_next().await.is_some() {}
    ctx.readiness.stop().await;
}

/// What every reconcile of this term shares.
fn context(
    client: Client,
    config: &RuntimeConfig,
    caches: watches::Caches,
    policies: Arc<dyn PolicyChain>,
    metrics: Arc<Metrics>,
    readiness: Readiness,
) -> Context {
    let reporter = Reporter {
        controller: CONTROLLER_MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        render: config.render_contexts(),
        caches,
        policies,
        metrics,
        memos: memo::Memos::default(),
        parked: parked::Parked::default(),
        readiness,
        mcp_gates_ready: config.mcp_probe.gates_ready,
        node_host: (config.service.type_ == crate::render::service::ServiceType::NodePort)
            .then(|| config.service.node_host.clone())
            .flatten(),
    }
}

/// The controller of the McpServers in `scope`, its cache without managed fields (nothing
/// reads them; they are a few hundred bytes per writer per server), its watch retrying within
/// 2 s.
fn servers_controller(client: Client, scope: &Scope) -> Controller<McpServer> {
    let (store, writer) = reflector::store();
    let servers = watcher(scope.api::<McpServer>(client), watcher::Config::default())
        .backoff(crate::runtime::client::watch_backoff())
        .modify(|m: &mut McpServer| m.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects();
    Controller::for_stream(servers, store)
}

/// The term's tasks beside the controller: memo pruning and, unless turned off, the reaper.
fn side_tasks(
    ctx: &Arc<Context>,
    config: &RuntimeConfig,
    servers: Store<McpServer>,
    term: &Term,
) -> tokio::task::JoinSet<()> {
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(prune(servers.clone(), ctx.clone(), term.clone()));
    if config.failed_pod_reap_interval_seconds > 0 {
        let reaper = reaper::Reaper {
            client: ctx.client.clone(),
            interval: Duration::from_secs(config.failed_pod_reap_interval_seconds.into()),
            pods: ctx.caches.pods.clone(),
            servers,
            recorder: ctx.recorder.clone(),
            metrics: ctx.metrics.clone(),
        };
        tasks.spawn(reaper::run(reaper, term.clone()));
    }
    tasks
}

/// Drops the memos of deleted servers every [`PRUNE_EVERY`] (deleted servers are not
/// reconciled again), until the term ends.
async fn prune(store: Store<McpServer>, ctx: Arc<Context>, term: Term) {
    let _running = crate::metrics::Running::new(&ctx.metrics.leader_tasks);
    let mut every = tokio::time::interval(PRUNE_EVERY);
    every.tick().await;
    let ending = term.ending();
    tokio::pin!(ending);
    loop {
        tokio::select! {
            _ = &mut ending => return,
            _ = every.tick() => {}
        }
        let exists = |server: &memo::Key| store.get(server).is_some();
        ctx.readiness.retain(exists);
        ctx.memos.retain(exists);
    }
}

/// One reconcile, timed and counted by outcome.
async fn reconcile(mcp: Arc<McpServer>, ctx: Arc<Context>) -> Result<Action, Error> {
    use tracing::Instrument;
    let span = tracing::info_span!("reconcile", server = %mcp.name_any());
    let start = std::time::Instant::now();
    let result = reconcile_server(&mcp, &ctx).instrument(span).await;
    ctx.metrics
        .reconcile_duration
        .observe(start.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.reason().to_string(),
    };
    ctx.metrics
        .reconciles
        .get_or_create(&ResultLabels { result: outcome })
        .inc();
    result
}

/// validate → observe → build → apply → report.
async fn reconcile_server(mcp: &McpServer, ctx: &Context) -> Result<Action, Error> {
    let name = mcp.name_any();
    let Some(names) = ServerNames::new(&name) else {
        return Ok(Action::await_change());
    };
    let namespace = mcp.namespace().unwrap_or_default();
    let spec = mcp.server_spec();
    let server = Server {
        mcp,
        name: &name,
        namespace: &namespace,
        key: ObjectRef::from_obj(mcp),
        spec: &spec,
        names: &names,
    };
    let steps = async {
        observe::validate(&spec)?;
        let observed = observe::observe(ctx, &server).await?;
        let built = build::build(ctx, &server, &observed).await?;
        let applied = apply::apply(ctx, &server, &observed, built).await?;
        Ok::<_, Stop>((observed.recheck, applied))
    };
    match steps.await {
        Ok((recheck, applied)) => {
            let error = applied
                .as_ref()
                .err()
                .map(|e| (e.reason().into(), e.to_string()));
            let next_probe = report::report(ctx, &server, Acceptance::Accepted, error).await?;
            applied?;
            ctx.memos.succeeded(&server.key);
            ctx.metrics.kubernetes.ok();
            Ok(next_action(recheck, next_probe))
        }
        Err(Stop::Rejected(rejection)) => {
            report::report(ctx, &server, rejection.acceptance(), None).await?;
            Ok(match rejection.retry {
                Retry::OnChange => Action::await_change(),
                Retry::After(after) => Action::requeue(after),
                Retry::Backoff => Action::requeue(ctx.memos.failed(&server.key)),
            })
        }
        Err(Stop::Wait(after)) => Ok(Action::requeue(after)),
        Err(Stop::Failed(e)) => Err(e),
    }
}

/// Requeue for the earlier of the reference re-check and the next MCP probe, if any.
fn next_action(recheck: bool, next_probe: Option<Duration>) -> Action {
    let recheck = recheck.then_some(refs::RECHECK);
    match recheck.into_iter().chain(next_probe).min() {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    }
}

/// SHA-256 of `parts` in order, as hex.
fn sha256_hex(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    hex::encode(h.finalize())
}

fn error_policy(mcp: Arc<McpServer>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = mcp.name_any();
    let delay = ctx.memos.failed(&ObjectRef::from_obj(mcp.as_ref()));
    ctx.metrics.kubernetes.failed(error);
    if crate::health::is_outage(error) {
        ctx.parked.park(ObjectRef::from_obj(mcp.as_ref()));
    }
    warn!(server = %name, reason = error.reason(), error = %error, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// The status of an McpServer with nothing observed yet (for callers that need a default).
pub fn empty_status() -> McpServerStatus {
    McpServerStatus::default()
}
