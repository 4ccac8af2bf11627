//! The controller: each `McpServer` is reconciled into its Deployment, Service and
//! NetworkPolicy by observe → validate → render → (policies) → migrate → apply → report.
//!
//! One watch per kind for all servers (McpServers; managed Deployments, Pods, Services,
//! Secrets and NetworkPolicies, selected by the `app.kubernetes.io/managed-by=mcp-runtime`
//! label; the metadata of every Secret and ConfigMap of the namespace, for the ones servers
//! refer to) feeds both the triggers and the caches the status is computed from: no polling,
//! and an idle fleet makes no requests (MCP probes talk to the servers, not to the API server).
//! An invalid spec waits for a change; other errors back off per server (1 s doubling to
//! 5 min), so one broken server never slows the others. Concurrency is bounded by the settings.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::config::RuntimeConfig;
use crate::crd::{McpServer, McpServerStatus};
use crate::metrics::{Metrics, ResultLabels};
use crate::render::labels::{
    self, OWNER_ANNOTATION, RESTARTED_AT_ANNOTATION, SECRET_REVISION_ANNOTATION,
};
use crate::render::{Extras, Manifests, RenderContext, ServerNames, render_with};
use crate::schema::SchemaKind;

use super::k8s_deployment::{Applied, Existing, K8sDeployment, with_kind};
use super::mcp_readiness::{Readiness, Serving};
use super::references::{self as refs, Checked, Kind, Seen};
use super::status::{self, Acceptance, Observed};
use super::{CONTROLLER_MANAGER, Error};

/// Label selecting every object the controller manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=mcp-runtime";

/// Where the policy chain plugs in (`plugin::PluginSet`): it may change the manifests, or
/// refuse the server. It runs on a blocking thread, bounded by the chain's deadline. The `Ok`
/// value is the chain's report (patches per plugin), logged at debug level.
pub trait PolicyChain: Send + Sync {
    fn apply(
        &self,
        server: &McpServer,
        manifests: &mut Manifests,
    ) -> Result<serde_json::Value, PolicyRejection>;

    /// `Some(revision)` when the chain's output depends only on its input and on the loaded
    /// set, which `revision` identifies (sandboxed plugins see no clock, network or
    /// randomness); `None` when it may answer differently at any time (a webhook). With
    /// `Some`, a reconcile whose inputs are those of the last apply skips rendering and the
    /// chain (a probe result, a reference re-check or a pod event costs no policy run).
    fn revision(&self) -> Option<u64> {
        Some(0)
    }
}

/// Why the policies refused a server: `PolicyDenied` (a plugin said no) or `PolicyFailed`
/// (a plugin with failure policy `fail` failed); the message names the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRejection {
    pub reason: &'static str,
    pub message: String,
}

/// No policies: manifests pass unchanged.
pub struct NoPolicies;

impl PolicyChain for NoPolicies {
    fn apply(
        &self,
        _server: &McpServer,
        _manifests: &mut Manifests,
    ) -> Result<serde_json::Value, PolicyRejection> {
        Ok(serde_json::Value::Null)
    }
}

/// What every reconcile shares: the client, settings and the watch caches.
pub struct Context {
    pub client: Client,
    pub namespace: String,
    pub render: RenderContext,
    pub deployments: Store<Deployment>,
    pub pods: Store<Pod>,
    pub services: Store<PartialObjectMeta<Service>>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
    /// Every Secret and ConfigMap of the namespace, metadata only: their resourceVersions tell
    /// whether a server's references changed since they were last read.
    pub referable_secrets: Store<PartialObjectMeta<Secret>>,
    pub referable_config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub recorder: Recorder,
    pub policies: Arc<dyn PolicyChain>,
    pub metrics: Arc<Metrics>,
    failures: Mutex<HashMap<String, u32>>,
    /// Per server: what the last apply was made from, the hash of the manifests applied, and
    /// what the cluster held after. A reconcile whose manifests hash the same while the cached
    /// Deployment's generation and the Service's and NetworkPolicy's resourceVersions are still
    /// the ones we left skips the apply: pod and status churn then costs no write. With the
    /// same inputs too (server, pod-template inputs, a deterministic policy set), it also skips
    /// rendering and the policies. Anyone changing the Deployment's spec, the Service or the
    /// NetworkPolicy, or deleting one, makes them differ, and the next reconcile restores them.
    /// After a restart the memo is empty and every server is applied once.
    applied: Mutex<HashMap<String, Memo>>,
    /// Per server: the last reference check and the resourceVersions it was made from (the
    /// values are read again only when one of them changed).
    references_checked: Mutex<HashMap<String, (Seen, Checked)>>,
    /// The MCP probe schedule (the `McpReady` condition).
    readiness: Readiness,
    /// Whether `Ready` waits for the MCP probe's answer.
    mcp_gates_ready: bool,
    /// Host of a node, for the NodePort URL in `status.nodeEndpoint` (NodePort Services only).
    node_host: Option<String>,
}

/// What the last successful apply of a server was made from and left behind.
#[derive(Clone, Debug)]
struct Memo {
    /// Hash of the manifests applied (after the policies).
    desired: String,
    /// Hash of what they were made from (server, pod-template inputs, policy revision);
    /// `None` when the policies may answer differently for the same input.
    input: Option<String>,
    left: Applied,
}

impl Memo {
    /// Whether the cluster still holds what this apply left (nobody changed or deleted it).
    fn intact(
        &self,
        deployment: Option<&Deployment>,
        service: Option<&PartialObjectMeta<Service>>,
        policy: Option<&PartialObjectMeta<NetworkPolicy>>,
    ) -> bool {
        deployment.and_then(|d| d.metadata.generation) == self.left.deployment_generation
            && service.and_then(|s| s.metadata.resource_version.clone())
                == self.left.service_version
            && policy.and_then(|p| p.metadata.resource_version.clone())
                == self.left.network_policy_version
    }
}

/// How often memos of deleted servers are dropped (deleted servers are not reconciled again).
const PRUNE_EVERY: Duration = Duration::from_secs(300);
/// When a server's own Secret exists but the watch has not delivered it yet: look again after
/// this long if the watch event has not already done so.
const UNSEEN_RETRY: Duration = Duration::from_secs(1);

/// Runs the controller until `shutdown` completes (then in-flight reconciles finish).
pub async fn run(
    client: Client,
    config: &RuntimeConfig,
    policies: Arc<dyn PolicyChain>,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = config.namespace.clone();
    let managed = watcher::Config::default().labels(MANAGED_SELECTOR);

    let (deployments, dep_writer) = reflector::store();
    let dep_stream = watcher(
        Api::<Deployment>::namespaced(client.clone(), &ns),
        managed.clone(),
    )
    .default_backoff()
    .modify(|d: &mut Deployment| d.managed_fields_mut().clear())
    .reflect(dep_writer)
    .touched_objects();
    let (pods, pod_writer) = reflector::store();
    let pod_stream = watcher(Api::<Pod>::namespaced(client.clone(), &ns), managed.clone())
        .default_backoff()
        .modify(|p: &mut Pod| {
            p.managed_fields_mut().clear();
            // Only labels, annotations, and statuses are read; the spec is dead weight.
            p.spec = None;
        })
        .reflect(pod_writer)
        .touched_objects();
    // Metadata only for the rest: a hand edit changes the resourceVersion, which is all the
    // memo compares, and the controller never reads secret values.
    let (services, svc_stream) = metadata_watch::<Service>(&client, &ns, managed.clone());
    let (secrets, sec_stream) = metadata_watch::<Secret>(&client, &ns, managed.clone());
    let (network_policies, np_stream) = metadata_watch::<NetworkPolicy>(&client, &ns, managed);
    // Every Secret and ConfigMap: a change to one a server refers to reconciles that server
    // (the values are read only when a resourceVersion changed).
    let all = watcher::Config::default();
    let (referable_secrets, ref_sec_stream) = metadata_watch::<Secret>(&client, &ns, all.clone());
    let (referable_config_maps, ref_cm_stream) = metadata_watch::<ConfigMap>(&client, &ns, all);

    let reporter = Reporter {
        controller: CONTROLLER_MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let (readiness, mut probed) = Readiness::new(config.mcp_probe, metrics.clone());
    let probed = futures::stream::poll_fn(move |cx| probed.poll_recv(cx));
    let ctx = Arc::new(Context {
        client: client.clone(),
        namespace: ns.clone(),
        render: config.render_context(),
        deployments,
        pods,
        services,
        secrets,
        network_policies,
        referable_secrets,
        referable_config_maps,
        recorder: Recorder::new(client.clone(), reporter),
        policies,
        metrics,
        failures: Mutex::new(HashMap::new()),
        applied: Mutex::new(HashMap::new()),
        references_checked: Mutex::new(HashMap::new()),
        readiness,
        mcp_gates_ready: config.mcp_probe.gates_ready,
        node_host: (config.service.type_ == crate::render::service::ServiceType::NodePort)
            .then(|| config.service.node_host.clone())
            .flatten(),
    });
    let mcps: Api<McpServer> = Api::namespaced(client, &ns);
    let owner_of = |annotations: &BTreeMap<String, String>, ns: Option<String>| {
        annotations
            .get(OWNER_ANNOTATION)
            .map(|n| ObjectRef::<McpServer>::new(n).within(ns.as_deref().unwrap_or_default()))
    };
    let controller = Controller::new(mcps, watcher::Config::default());
    let prune = {
        let (store, ctx, ns) = (controller.store(), ctx.clone(), ns.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PRUNE_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let exists = |name: &str| store.get(&ObjectRef::new(name).within(&ns)).is_some();
                ctx.readiness.retain(exists);
                if let Ok(mut applied) = ctx.applied.lock() {
                    applied.retain(|name, _| exists(name));
                }
                if let Ok(mut checked) = ctx.references_checked.lock() {
                    checked.retain(|name, _| exists(name));
                }
            }
        })
    };
    let reaper = (config.failed_pod_reap_interval_seconds > 0).then(|| {
        tokio::spawn(super::reaper::run(
            ctx.client.clone(),
            ns.clone(),
            Duration::from_secs(config.failed_pod_reap_interval_seconds.into()),
            ctx.pods.clone(),
            controller.store(),
            ctx.recorder.clone(),
            ctx.metrics.clone(),
        ))
    });
    // The servers that refer to a Secret or ConfigMap (managed ones, our own Secrets, are
    // handled by `owns_stream`). A scan of the cached servers: such events are rare.
    let referrers = |store: Store<McpServer>, kind: Kind| {
        move |meta: kube::api::ObjectMeta| -> Vec<ObjectRef<McpServer>> {
            let managed = meta.labels.as_ref().is_some_and(|l| {
                l.get("app.kubernetes.io/managed-by").map(String::as_str) == Some(labels::MANAGER)
            });
            let Some(name) = meta.name.filter(|_| !managed) else {
                return Vec::new();
            };
            store
                .state()
                .iter()
                .filter(|m| refs::refers_to(&m.spec, kind, &name))
                .map(|m| ObjectRef::from_obj(m.as_ref()))
                .collect()
        }
    };
    let secret_referrers = referrers(controller.store(), Kind::Secret);
    let config_map_referrers = referrers(controller.store(), Kind::ConfigMap);
    controller
        .with_config(
            ControllerConfig::default()
                .concurrency(config.reconcile_concurrency as u16)
                .debounce(Duration::from_millis(100)),
        )
        .owns_stream(dep_stream)
        .owns_stream(svc_stream)
        .owns_stream(sec_stream)
        .owns_stream(np_stream)
        .watches_stream(pod_stream, move |pod: Pod| {
            owner_of(pod.annotations(), pod.namespace())
        })
        // A finished MCP probe reconciles its server, so the status shows the result.
        .watches_stream(ref_sec_stream, move |s: PartialObjectMeta<Secret>| {
            secret_referrers(s.metadata)
        })
        .watches_stream(ref_cm_stream, move |c: PartialObjectMeta<ConfigMap>| {
            config_map_referrers(c.metadata)
        })
        .reconcile_on(probed)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile failed");
            }
        })
        .await;
    prune.abort();
    if let Some(reaper) = reaper {
        reaper.abort();
    }
}

/// One reconcile: observe → validate → render → policies → migrate → apply → report.
async fn reconcile(mcp: Arc<McpServer>, ctx: Arc<Context>) -> Result<Action, Error> {
    use tracing::Instrument;
    let span = tracing::info_span!("reconcile", server = %mcp.name_any());
    let start = std::time::Instant::now();
    let result = reconcile_server(mcp, ctx.clone()).instrument(span).await;
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

async fn reconcile_server(mcp: Arc<McpServer>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = mcp.name_any();
    let Some(names) = ServerNames::new(&name) else {
        return Ok(Action::await_change());
    };
    let spec = mcp.server_spec();

    // Validate against the full JSON Schema: the CRD only carries its structural part.
    let doc = serde_json::to_value(&spec).unwrap_or_default();
    if let Err(v) = SchemaKind::McpServer.validate(&doc) {
        let message = v
            .violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        report(
            &mcp,
            &ctx,
            &names,
            &spec,
            Acceptance::Rejected {
                reason: "InvalidSpec".into(),
                message,
            },
            None,
        )
        .await?;
        return Ok(Action::await_change());
    }

    // Referenced Secrets/ConfigMaps must exist (with their keys); their data's hash rolls the
    // pods on rotation. Missing: not accepted, named, checked again until it appears.
    let mut extra = extras(&mcp, &ctx, &names);
    // `Resolved(None)`: no references, nothing to check again later.
    let mut recheck = false;
    match check_references(&ctx, &name, &spec, &names).await? {
        Checked::Resolved(None) => {}
        Checked::Resolved(Some(hash)) => {
            recheck = true;
            extra
                .template_annotations
                .insert(refs::REFERENCES_HASH_ANNOTATION.into(), hash);
        }
        Checked::Missing(missing) => {
            let acceptance = Acceptance::Rejected {
                reason: "MissingReference".into(),
                message: format!("not found: {}", missing.join(", ")),
            };
            report(&mcp, &ctx, &names, &spec, acceptance, None).await?;
            return Ok(Action::requeue(refs::RECHECK));
        }
        // The Secret watch triggers the next reconcile; the requeue is only a backstop.
        Checked::Unseen => return Ok(Action::requeue(UNSEEN_RETRY)),
    }
    let live_deployment = ctx
        .deployments
        .get(&ObjectRef::new(&names.deployment).within(&ctx.namespace));
    let live_service = ctx
        .services
        .get(&ObjectRef::new(&names.service).within(&ctx.namespace));
    let live_policy = ctx
        .network_policies
        .get(&ObjectRef::new(&names.deployment).within(&ctx.namespace));
    let memo = ctx.applied.lock().ok().and_then(|m| m.get(&name).cloned());
    let intact = memo.as_ref().is_some_and(|m| {
        m.intact(
            live_deployment.as_deref(),
            live_service.as_deref(),
            live_policy.as_deref(),
        )
    });
    let mut input = ctx
        .policies
        .revision()
        .map(|revision| input_hash(&mcp, &spec, &extra, revision));
    if intact && input.is_some() && memo.as_ref().and_then(|m| m.input.as_ref()) == input.as_ref() {
        // Same inputs as the last apply, and the cluster still holds its result.
        let next_probe = report(&mcp, &ctx, &names, &spec, Acceptance::Accepted, None).await?;
        ctx.failures.lock().map(|mut f| f.remove(&name)).ok();
        return Ok(next_action(recheck, next_probe));
    }
    let mut manifests = match render_with(&spec, names.clone(), &ctx.render, extra) {
        Ok(m) => m,
        Err(e) => {
            let acceptance = Acceptance::Rejected {
                reason: "InvalidSpec".into(),
                message: e.to_string(),
            };
            report(&mcp, &ctx, &names, &spec, acceptance, None).await?;
            return Ok(Action::await_change());
        }
    };
    // Plugins are CPU-bound and bounded by their deadline: off the async workers.
    let policies = ctx.policies.clone();
    let server_for_policies = mcp.clone();
    let policed = tokio::task::spawn_blocking(move || {
        let result = policies.apply(&server_for_policies, &mut manifests);
        (manifests, result)
    })
    .await;
    let (policed_manifests, result) = match policed {
        Ok(x) => x,
        Err(e) => {
            let acceptance = Acceptance::Rejected {
                reason: "PolicyFailed".into(),
                message: format!("the policy chain panicked: {e}"),
            };
            report(&mcp, &ctx, &names, &spec, acceptance, None).await?;
            return Ok(Action::requeue(backoff(&ctx, &name)));
        }
    };
    manifests = policed_manifests;
    match result {
        Ok(report_value) if !report_value.is_null() => {
            // A failure let through (`ignore`) is not the policy's answer: not memoized, so
            // the next reconcile runs the chain again and a recovered policy applies.
            if report_value["ignored_errors"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
            {
                input = None;
            }
            tracing::debug!(report = %report_value, "policies applied")
        }
        Ok(_) => {}
        Err(rejection) => {
            // A denial stands until the spec (or the policy set) changes; a failing policy is
            // transient (a webhook down, a deadline missed): retried with backoff, so servers
            // heal by themselves once it recovers.
            let failed = rejection.reason == "PolicyFailed";
            let acceptance = Acceptance::Rejected {
                reason: rejection.reason.into(),
                message: rejection.message,
            };
            report(&mcp, &ctx, &names, &spec, acceptance, None).await?;
            return Ok(if failed {
                Action::requeue(backoff(&ctx, &name))
            } else {
                Action::await_change()
            });
        }
    }

    let server = K8sDeployment::new(ctx.client.clone(), &ctx.namespace, names.clone());
    let owner = mcp
        .controller_owner_ref(&())
        .ok_or_else(|| Error::NotFound(name.clone()))?;
    let desired = manifest_hash(&manifests, &owner);
    let unchanged = intact && memo.is_some_and(|m| m.desired == desired);
    let applied: Result<(), Error> = if unchanged {
        Ok(())
    } else {
        async {
            if live_deployment.is_none() {
                server
                    .migrate_legacy_pod(&ctx.recorder, &mcp.metadata, &mcp.object_ref(&()))
                    .await?;
            }
            let left = server
                .apply(
                    &manifests,
                    &owner,
                    Existing {
                        service: live_service.is_some(),
                        network_policy: live_policy.is_some(),
                    },
                )
                .await?;
            if let Ok(mut m) = ctx.applied.lock() {
                m.insert(
                    name.clone(),
                    Memo {
                        desired,
                        input,
                        left,
                    },
                );
            }
            Ok(())
        }
        .await
    };
    let apply_error = applied
        .as_ref()
        .err()
        .map(|e| (e.reason().to_string(), e.to_string()));
    let next_probe = report(&mcp, &ctx, &names, &spec, Acceptance::Accepted, apply_error).await?;
    applied?;
    ctx.failures.lock().map(|mut f| f.remove(&name)).ok();
    ctx.metrics.kubernetes.ok();
    Ok(next_action(recheck, next_probe))
}

/// Requeue for the earlier of the reference re-check and the next MCP probe, if any.
/// A metadata-only watch of `K` in `ns` (managed fields dropped): its cache and its stream of
/// touched objects.
fn metadata_watch<K>(
    client: &Client,
    ns: &str,
    config: watcher::Config,
) -> (
    Store<PartialObjectMeta<K>>,
    impl futures::Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let stream = watcher(
        Api::<PartialObjectMeta<K>>::namespaced(client.clone(), ns),
        config,
    )
    .default_backoff()
    .modify(|o: &mut PartialObjectMeta<K>| o.managed_fields_mut().clear())
    .reflect(writer)
    .touched_objects();
    (store, stream)
}

/// Checks a server's references, reading their values only when a referenced object's
/// cached resourceVersion changed since the last check (or there was none).
async fn check_references(
    ctx: &Context,
    name: &str,
    spec: &crate::crd::McpServerSpec,
    names: &ServerNames,
) -> Result<Checked, Error> {
    let own_exists = ctx
        .secrets
        .get(&ObjectRef::new(&names.secret).within(&ctx.namespace))
        .is_some();
    let seen = Seen::of(spec, &names.secret, |kind, object| {
        let version = |meta: &kube::api::ObjectMeta| meta.resource_version.clone();
        match kind {
            Kind::Secret => ctx
                .referable_secrets
                .get(&ObjectRef::new(object).within(&ctx.namespace))
                .and_then(|s| version(&s.metadata)),
            Kind::ConfigMap => ctx
                .referable_config_maps
                .get(&ObjectRef::new(object).within(&ctx.namespace))
                .and_then(|c| version(&c.metadata)),
        }
    });
    // The memo answers for the other references; the own Secret is checked from its cache.
    let own_ok = own_exists || !refs::refers_to(spec, Kind::Secret, &names.secret);
    let memo = ctx.references_checked.lock().ok().and_then(|m| {
        m.get(name)
            .filter(|(s, _)| own_ok && *s == seen)
            .map(|(_, c)| c.clone())
    });
    if let Some(checked) = memo {
        return Ok(checked);
    }
    let own = refs::OwnSecret {
        name: &names.secret,
        exists: own_exists,
    };
    let checked = refs::check(&ctx.client, &ctx.namespace, spec, own).await?;
    if own_ok && let Ok(mut m) = ctx.references_checked.lock() {
        m.insert(name.to_string(), (seen, checked.clone()));
    }
    Ok(checked)
}

fn next_action(recheck: bool, next_probe: Option<Duration>) -> Action {
    let recheck = recheck.then_some(refs::RECHECK);
    match recheck.into_iter().chain(next_probe).min() {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    }
}

/// What rendering and the policies are made from: the server (spec, identity), the
/// pod-template inputs from the cluster, and the policy set's revision.
fn input_hash(
    mcp: &McpServer,
    spec: &crate::crd::McpServerSpec,
    extras: &Extras,
    revision: u64,
) -> String {
    sha256_hex(&[
        mcp.metadata.uid.as_deref().unwrap_or_default().as_bytes(),
        &serde_json::to_vec(spec).unwrap_or_default(),
        &serde_json::to_vec(&extras.template_annotations).unwrap_or_default(),
        &revision.to_le_bytes(),
    ])
}

fn manifest_hash(
    manifests: &Manifests,
    owner: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> String {
    sha256_hex(&[
        &serde_json::to_vec(&manifests.deployment).unwrap_or_default(),
        &serde_json::to_vec(&manifests.service).unwrap_or_default(),
        &serde_json::to_vec(&manifests.network_policy).unwrap_or_default(),
        owner.uid.as_bytes(),
    ])
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

/// Pod-template annotations from the cluster: the server's own Secret's revision (so a
/// rotation rolls the pods), the restart marker, and the owner for Pod events.
fn extras(mcp: &McpServer, ctx: &Context, names: &ServerNames) -> Extras {
    let mut extras = Extras::default();
    extras
        .template_annotations
        .insert(OWNER_ANNOTATION.into(), mcp.name_any());
    if let Some(at) = mcp.annotations().get(RESTARTED_AT_ANNOTATION) {
        extras
            .template_annotations
            .insert(RESTARTED_AT_ANNOTATION.into(), at.clone());
    }
    let secret = ctx
        .secrets
        .get(&ObjectRef::new(&names.secret).within(&ctx.namespace));
    if let Some(rv) = secret.and_then(|s| s.metadata.resource_version.clone()) {
        extras
            .template_annotations
            .insert(SECRET_REVISION_ANNOTATION.into(), format!("rv-{rv}"));
    }
    extras
}

/// Computes the status from the caches and writes it only when it changed. Returns when the
/// server's next MCP probe is due, if one is scheduled.
async fn report(
    mcp: &McpServer,
    ctx: &Context,
    names: &ServerNames,
    spec: &crate::crd::McpServerSpec,
    acceptance: Acceptance,
    apply_error: Option<(String, String)>,
) -> Result<Option<Duration>, Error> {
    let deployment = ctx
        .deployments
        .get(&ObjectRef::new(&names.deployment).within(&ctx.namespace));
    let endpoint = crate::render::service::endpoint(spec, names, &ctx.render);
    // The NodePort URL needs the port the API server allocated: the last apply read it.
    let node_endpoint = ctx.node_host.as_deref().and_then(|host| {
        let port = ctx
            .applied
            .lock()
            .ok()?
            .get(&mcp.name_any())?
            .left
            .node_port?;
        crate::render::service::node_endpoint(spec, &ctx.render, host, port)
    });
    // A control plane given a node host reaches its servers there (it is outside the cluster).
    let probed_url = node_endpoint.clone().or_else(|| endpoint.clone());
    let serving = match (&probed_url, deployment.as_deref()) {
        _ if acceptance != Acceptance::Accepted || spec.stopped => Serving::NotServing,
        (None, _) => Serving::NoEndpoint,
        (Some(endpoint), Some(d)) => {
            let s = d.status.as_ref();
            let available = s.and_then(|s| s.available_replicas).unwrap_or(0);
            if available > 0 {
                // A rollout finishing, a scale or a lost pod changes the revision: re-probe.
                let updated = s.and_then(|s| s.updated_replicas).unwrap_or(0);
                Serving::Available {
                    endpoint: endpoint.clone(),
                    revision: format!(
                        "{}/{updated}/{available}",
                        d.metadata.generation.unwrap_or(0)
                    ),
                }
            } else {
                Serving::NotServing
            }
        }
        (Some(_), None) => Serving::NotServing,
    };
    let (mcp_observed, next_probe) = ctx.readiness.observe(&ObjectRef::from_obj(mcp), serving);
    let selector = labels::selector(names);
    let pods = ctx.pods.state_filter(|p| {
        p.labels().get(labels::SERVER_LABEL) == selector.get(labels::SERVER_LABEL)
    });
    let has_secret = ctx
        .secrets
        .get(&ObjectRef::new(&names.secret).within(&ctx.namespace))
        .is_some();
    let observed = Observed {
        generation: mcp.metadata.generation,
        wanted_replicas: spec.replicas,
        stopped: spec.stopped,
        acceptance,
        deployment: deployment.as_deref(),
        pods: pods.iter().map(|p| p.as_ref()).collect(),
        endpoint,
        node_endpoint,
        deployment_name: names.deployment.clone(),
        service_name: crate::render::service::serving(spec, &ctx.render)
            .http()
            .map(|_| names.service.clone()),
        secret_name: has_secret.then(|| names.secret.clone()),
        apply_error,
        mcp: mcp_observed,
        mcp_gates_ready: ctx.mcp_gates_ready,
    };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new = status::derive(&observed, mcp.status.as_ref(), &now);
    if mcp.status.as_ref() == Some(&new) {
        return Ok(next_probe);
    }
    if let Some(old) = &mcp.status
        && old.phase != new.phase
    {
        info!(server = %mcp.name_any(), from = old.phase.as_str(), to = new.phase.as_str(), "phase changed");
    }
    let api: Api<McpServer> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let body = serde_json::json!({
        "apiVersion": "mcp-runtime.dev/v1alpha1",
        "kind": "McpServer",
        "status": with_kind(&new, "", "").as_object().map(|m| {
            let mut m = m.clone();
            m.remove("apiVersion");
            m.remove("kind");
            m
        }),
    });
    api.patch_status(
        &mcp.name_any(),
        &PatchParams::apply(CONTROLLER_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(next_probe)
}

/// The next retry of `name`: 1 s, doubling per consecutive failure, at most 5 minutes.
fn backoff(ctx: &Context, name: &str) -> Duration {
    let attempts = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(name.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    Duration::from_secs(1u64 << attempts.min(9).saturating_sub(1)).min(Duration::from_secs(300))
}

fn error_policy(mcp: Arc<McpServer>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = mcp.name_any();
    let delay = backoff(&ctx, &name);
    ctx.metrics.kubernetes.failed(error);
    warn!(server = %name, reason = error.reason(), error = %error, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// The status of an McpServer with nothing observed yet (for callers that need a default).
pub fn empty_status() -> McpServerStatus {
    McpServerStatus::default()
}
