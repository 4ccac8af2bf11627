//! The controller's watches: one per kind for all servers of a scope, each feeding a cache (the
//! status and the memo read them) and a stream of touched objects (the triggers).
//!
//! Managed Deployments, Pods, Services and NetworkPolicies are selected by the
//! `app.kubernetes.io/managed-by=mcp-runtime` label; every Secret and ConfigMap of the scope
//! (one served namespace, or all of them: [`Scope`]) is watched by metadata only (one watch for
//! Secrets: the servers' own and the ones servers refer to, whose values are read only when a
//! referenced resourceVersion changed), and so are the scope's Namespaces (their labels select
//! policies: a relabelling re-runs them). Managed fields are dropped from every cached object,
//! and so is what the controller never reads: a Pod's spec, a Deployment's pod template (its
//! status, generation and replicas are what the status is derived from).

use std::collections::BTreeMap;

use futures::Stream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use crate::crd::McpServer;
use crate::render::labels;
use crate::runtime::client::watch_backoff;
use crate::runtime::references::{self as refs, Kind};
use crate::runtime::scope::Scope;

use super::MANAGED_SELECTOR;

/// A stream of the objects a watch touched.
pub type Touched<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

/// The caches of every watch but the McpServers'.
#[derive(Clone)]
pub struct Caches {
    pub deployments: Store<Deployment>,
    pub pods: Store<Pod>,
    pub services: Store<PartialObjectMeta<Service>>,
    /// Every Secret of the namespace (the same cache as `referable_secrets`).
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
    /// Every Secret and ConfigMap of the namespace, metadata only: their resourceVersions tell
    /// whether a server's references changed since they were last read.
    pub referable_secrets: Store<PartialObjectMeta<Secret>>,
    pub referable_config_maps: Store<PartialObjectMeta<ConfigMap>>,
    /// The scope's namespaces (the one, or all), metadata only: their labels decide the
    /// policies that select namespaces by label.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
}

/// The kinds the controller applies (and prunes): a server's desired state holds only these.
pub fn owned_kinds() -> [ApiResource; 3] {
    [
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
    ]
}

impl Caches {
    /// The cached metadata of the managed object `kind`/`name` in `ns` (a kind of
    /// [`owned_kinds`]; `None` for any other).
    pub fn meta(&self, kind: &str, ns: &str, name: &str) -> Option<ObjectMeta> {
        match kind {
            "Deployment" => cached(&self.deployments, ns, name),
            "Service" => cached(&self.services, ns, name),
            "NetworkPolicy" => cached(&self.network_policies, ns, name),
            _ => None,
        }
    }

    /// Names of the cached objects of `kind` in `ns` whose controlling owner has `uid`.
    pub fn owned(&self, kind: &str, ns: &str, uid: &str) -> Vec<String> {
        match kind {
            "Deployment" => owned_by(&self.deployments, ns, uid),
            "Service" => owned_by(&self.services, ns, uid),
            "NetworkPolicy" => owned_by(&self.network_policies, ns, uid),
            _ => Vec::new(),
        }
    }

    /// The labels of `namespace`, once its watch has seen it.
    pub fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .map(|n| n.metadata.labels.clone().unwrap_or_default())
    }
}

fn cached<K>(store: &Store<K>, ns: &str, name: &str) -> Option<ObjectMeta>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    store
        .get(&ObjectRef::new(name).within(ns))
        .map(|o| o.meta().clone())
}

fn owned_by<K>(store: &Store<K>, ns: &str, uid: &str) -> Vec<String>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let controlled = |m: &ObjectMeta| {
        m.namespace.as_deref() == Some(ns)
            && m.owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.controller == Some(true))
    };
    store
        .state()
        .iter()
        .filter(|o| controlled(o.meta()))
        .filter_map(|o| o.meta().name.clone())
        .collect()
}

/// The triggers, to be handed to the controller (each drives its cache).
pub struct Triggers {
    pub deployments: Touched<Deployment>,
    pub pods: Touched<Pod>,
    pub services: Touched<PartialObjectMeta<Service>>,
    /// Every Secret: a server's own leads to its owner, any other to the servers referring to it.
    pub secrets: Touched<PartialObjectMeta<Secret>>,
    pub network_policies: Touched<PartialObjectMeta<NetworkPolicy>>,
    pub referable_config_maps: Touched<PartialObjectMeta<ConfigMap>>,
    /// A namespace changed (its labels may select other policies): its servers.
    pub namespaces: Touched<PartialObjectMeta<Namespace>>,
}

/// Starts nothing yet: the watches run as the controller polls their streams.
pub fn watches(client: &Client, scope: &Scope) -> (Caches, Triggers) {
    let managed = watcher::Config::default().labels(MANAGED_SELECTOR);
    let (deployments, dep_writer) = reflector::store();
    let dep_stream = watcher(scope.api::<Deployment>(client.clone()), managed.clone())
        .backoff(watch_backoff())
        .modify(|d: &mut Deployment| {
            d.managed_fields_mut().clear();
            if let Some(spec) = d.spec.as_mut() {
                spec.template = Default::default();
            }
        })
        .reflect(dep_writer)
        .touched_objects();
    let (pods, pod_writer) = reflector::store();
    let pod_stream = watcher(scope.api::<Pod>(client.clone()), managed.clone())
        .backoff(watch_backoff())
        .modify(|p: &mut Pod| {
            p.managed_fields_mut().clear();
            // Only labels, annotations, and statuses are read; the spec is dead weight.
            p.spec = None;
        })
        .reflect(pod_writer)
        .touched_objects();
    // Metadata only for the rest: a hand edit changes the resourceVersion, which is all the
    // memo compares, and the controller never reads secret values.
    let (services, svc_stream) = metadata_watch::<Service>(client, scope, managed.clone());
    let (network_policies, np_stream) = metadata_watch::<NetworkPolicy>(client, scope, managed);
    let all = watcher::Config::default();
    let (referable_secrets, sec_stream) = metadata_watch::<Secret>(client, scope, all.clone());
    let (referable_config_maps, ref_cm_stream) = metadata_watch::<ConfigMap>(client, scope, all);
    let (namespaces, ns_stream) = namespace_watch(client, scope);
    let caches = Caches {
        namespaces,
        deployments,
        pods,
        services,
        secrets: referable_secrets.clone(),
        network_policies,
        referable_secrets,
        referable_config_maps,
    };
    let triggers = Triggers {
        deployments: Box::pin(dep_stream),
        pods: Box::pin(pod_stream),
        services: svc_stream,
        secrets: sec_stream,
        network_policies: np_stream,
        referable_config_maps: ref_cm_stream,
        namespaces: ns_stream,
    };
    (caches, triggers)
}

/// A metadata watch of the scope's namespaces: of every one for `*`, else of the one by name
/// (a field selector, so the control plane needs `get`/`list`/`watch` on that namespace alone,
/// granted by name).
fn namespace_watch(
    client: &Client,
    scope: &Scope,
) -> (
    Store<PartialObjectMeta<Namespace>>,
    Touched<PartialObjectMeta<Namespace>>,
) {
    let config = match scope {
        Scope::All => watcher::Config::default(),
        Scope::Namespace(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
    };
    let (store, writer) = reflector::store();
    let api: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
    let stream = watcher(api, config)
        .backoff(watch_backoff())
        .modify(|o: &mut PartialObjectMeta<Namespace>| o.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects();
    (store, Box::pin(stream))
}

/// The servers of a namespace that changed (a relabelling may change which policies apply).
pub fn namespace_servers(
    store: Store<McpServer>,
) -> impl Fn(PartialObjectMeta<Namespace>) -> Vec<ObjectRef<McpServer>> {
    move |namespace| {
        let name = namespace.metadata.name;
        store
            .state()
            .iter()
            .filter(|m| m.metadata.namespace == name)
            .map(|m| ObjectRef::from_obj(m.as_ref()))
            .collect()
    }
}

/// A metadata-only watch of `K` in `scope` (managed fields dropped): its cache and its stream
/// of touched objects.
fn metadata_watch<K>(
    client: &Client,
    scope: &Scope,
    config: watcher::Config,
) -> (Store<PartialObjectMeta<K>>, Touched<PartialObjectMeta<K>>)
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
    let stream = watcher(scope.api::<PartialObjectMeta<K>>(client.clone()), config)
        .backoff(watch_backoff())
        .modify(|o: &mut PartialObjectMeta<K>| o.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects();
    (store, Box::pin(stream))
}

/// The server a managed Pod belongs to (the owner annotation of its template).
pub fn owner_of(pod: &Pod) -> Option<ObjectRef<McpServer>> {
    pod.annotations().get(labels::OWNER_ANNOTATION).map(|n| {
        ObjectRef::<McpServer>::new(n).within(pod.namespace().as_deref().unwrap_or_default())
    })
}

/// The servers a Secret concerns: the one that controls it (a server's own Secret), else the ones
/// that refer to it.
pub fn secret_servers(
    store: Store<McpServer>,
) -> impl Fn(kube::api::ObjectMeta) -> Vec<ObjectRef<McpServer>> {
    let referrers = referrers(store, Kind::Secret);
    move |meta| match controlling_server(&meta) {
        Some(owner) => vec![owner],
        None => referrers(meta),
    }
}

/// The McpServer that controls an object, from its owner references.
fn controlling_server(meta: &ObjectMeta) -> Option<ObjectRef<McpServer>> {
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "McpServer")?;
    Some(ObjectRef::new(&owner.name).within(meta.namespace.as_deref().unwrap_or_default()))
}

/// The servers that refer to a Secret or ConfigMap of this `kind` (managed ones, our own
/// Secrets, are handled as owned objects). A scan of the cached servers: such events are rare.
pub fn referrers(
    store: Store<McpServer>,
    kind: Kind,
) -> impl Fn(kube::api::ObjectMeta) -> Vec<ObjectRef<McpServer>> {
    move |meta| {
        let managed = meta.labels.as_ref().is_some_and(|l| {
            l.get("app.kubernetes.io/managed-by").map(String::as_str) == Some(labels::MANAGER)
        });
        let Some(name) = meta.name.filter(|_| !managed) else {
            return Vec::new();
        };
        store
            .state()
            .iter()
            .filter(|m| m.metadata.namespace == meta.namespace)
            .filter(|m| refs::refers_to(&m.spec, kind, &name))
            .map(|m| ObjectRef::from_obj(m.as_ref()))
            .collect()
    }
}
