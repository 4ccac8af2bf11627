//! Existing Secrets and ConfigMaps a server refers to (`secretKeyRef`, `configMapKeyRef`,
//! `envFrom`): each must exist with the keys used, unless marked optional, and a hash of the
//! data used goes on the pod template so a rotation rolls the pods.
//!
//! The values are read only to hash them (SHA-256 over name, key and value, in order), never
//! kept, logged or put in status: a missing reference is reported by name and key only. The
//! controller watches the *metadata* of the namespace's Secrets and ConfigMaps (never their
//! values): a change to a referenced one reconciles the servers that use it, so a rotation or a
//! reference that appears is acted on at once. The values are read (one GET per object) only
//! when a referenced object's resourceVersion differs from the last check ([`Seen`]); servers
//! are re-checked every [`RECHECK`] as a backstop, which costs nothing while nothing changed.
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use crate::crd::{EnvSource, McpServerSpec};
use crate::render::labels::DATA_HASH_ANNOTATION;

/// How often servers with references are checked again, a backstop to the watches (a check
/// whose referenced resourceVersions are unchanged makes no request).
pub const RECHECK: Duration = Duration::from_secs(300);

/// The revision of a server's own Secret for its pod template: `rv-<resourceVersion>`, which
/// moves with every write of its data (the API's or a hand edit) and says nothing about the
/// values (a hash of them on a Deployment would let whoever reads Deployments guess a weak
/// secret).
pub fn own_secret_revision(meta: &ObjectMeta) -> Option<String> {
    meta.resource_version.as_ref().map(|rv| format!("rv-{rv}"))
}

/// Whether the own Secret already holds `hash` of data ([`DATA_HASH_ANNOTATION`], written by
/// the API with the data and seen only by those who may read the Secret): writing the same
/// values again then leaves it, and its revision, as they are. A hash is not trusted once
/// someone other than the API wrote the data (by the managed fields; a tie in time counts
/// against the API), since the hand edit left it stale.
pub fn holds_data(meta: &ObjectMeta, hash: &str) -> bool {
    let annotated = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(DATA_HASH_ANNOTATION))
        .is_some_and(|h| h == hash);
    let writes_data = |e: &&ManagedFieldsEntry| {
        e.fields_v1
            .as_ref()
            .is_some_and(|f| f.0.get("f:data").is_some())
    };
    let latest = meta
        .managed_fields
        .iter()
        .flatten()
        .filter(writes_data)
        .max_by_key(|e| {
            let foreign = e.manager.as_deref() != Some(super::API_MANAGER);
            (e.time.as_ref().map(|t| t.0), foreign)
        });
    annotated && latest.is_none_or(|e| e.manager.as_deref() == Some(super::API_MANAGER))
}

/// The kinds a server can refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Secret,
    ConfigMap,
}

/// What was found: each referenced object's data by kind and name (`None`: it does not exist).
type Found = BTreeMap<(Kind, String), Option<BTreeMap<String, Vec<u8>>>>;

/// One reference: the object, the key (`None`: all of it, `envFrom`), optional or not.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ref {
    kind: Kind,
    name: String,
    key: Option<String>,
    optional: bool,
}

fn refs(spec: &McpServerSpec) -> Vec<Ref> {
    let mut out = Vec::new();
    for e in &spec.env {
        match e.source() {
            Some(EnvSource::SecretKey(r)) => out.push(Ref {
                kind: Kind::Secret,
                name: r.name.clone(),
                key: Some(r.key.clone()),
                optional: r.optional,
            }),
            Some(EnvSource::ConfigMapKey(r)) => out.push(Ref {
                kind: Kind::ConfigMap,
                name: r.name.clone(),
                key: Some(r.key.clone()),
                optional: r.optional,
            }),
            _ => {}
        }
    }
    for f in &spec.env_from {
        if let Some(r) = &f.secret_ref {
            out.push(Ref {
                kind: Kind::Secret,
                name: r.name.clone(),
                key: None,
                optional: r.optional,
            });
        }
        if let Some(r) = &f.config_map_ref {
            out.push(Ref {
                kind: Kind::ConfigMap,
                name: r.name.clone(),
                key: None,
                optional: r.optional,
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `spec` refers to the object `kind`/`name` (which servers a watch event concerns).
pub fn refers_to(spec: &McpServerSpec, kind: Kind, name: &str) -> bool {
    refs(spec).iter().any(|r| r.kind == kind && r.name == name)
}

/// The referenced objects (the server's own Secret aside) with the resourceVersion the watch
/// caches hold for each (`None`: not there). Equal `Seen`s mean equal data, so the last
/// check's answer still holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen(Vec<(Kind, String, Option<String>)>);

impl Seen {
    /// `version` gives a cached object's resourceVersion.
    pub fn of(
        spec: &McpServerSpec,
        own_secret: &str,
        version: impl Fn(Kind, &str) -> Option<String>,
    ) -> Seen {
        let mut seen: Vec<_> = refs(spec)
            .into_iter()
            .filter(|r| !(r.kind == Kind::Secret && r.name == own_secret))
            .map(|r| {
                let v = version(r.kind, &r.name);
                (r.kind, r.name, v)
            })
            .collect();
        seen.dedup();
        Seen(seen)
    }
}

/// The outcome of checking a server's references.
#[derive(Clone, Debug, PartialEq)]
pub enum Checked {
    /// Every required reference resolves; the hash of the data used (`None`: no references).
    Resolved(Option<String>),
    /// What is missing, e.g. `Secret github-token (key token)`.
    Missing(Vec<String>),
    /// The server's own Secret exists, but the watch cache has not seen it yet (it is written
    /// just after the McpServer). Nothing is wrong: wait for the watch instead of reporting a
    /// missing reference for a moment.
    Unseen,
}

/// The server's own Secret (where the API put its `secretValue`s, referred to by
/// `secretKeyRef`): named, and whether the controller's watch cache holds it.
pub struct OwnSecret<'a> {
    pub name: &'a str,
    pub exists: bool,
}

/// Reads the referenced objects (values only into the hash) and checks them.
///
/// References to the server's own Secret are not read: the controller watches that one (its
/// revision already rolls the pods), so checking it costs no request, and a fleet whose only
/// references are their own Secrets makes no requests at all while idle.
pub async fn check(
    client: &Client,
    namespace: &str,
    spec: &McpServerSpec,
    own: OwnSecret<'_>,
) -> kube::Result<Checked> {
    let (own_refs, wanted): (Vec<Ref>, Vec<Ref>) = refs(spec)
        .into_iter()
        .partition(|r| r.kind == Kind::Secret && r.name == own.name);
    if !own_refs.is_empty() && !own.exists {
        // The cache is behind the API server right after a create: one metadata GET tells a
        // Secret not yet seen from one that is gone (only then, so an idle fleet makes none).
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        if secrets.get_metadata_opt(own.name).await?.is_some() {
            return Ok(Checked::Unseen);
        }
        return Ok(Checked::Missing(vec![format!(
            "Secret {} (the server's own: its values exist nowhere else; send the server's \
             secret values again)",
            own.name
        )]));
    }
    if wanted.is_empty() {
        return Ok(Checked::Resolved(None));
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut data: Found = BTreeMap::new();
    for r in &wanted {
        let k = (r.kind, r.name.clone());
        if data.contains_key(&k) {
            continue;
        }
        let found = match r.kind {
            Kind::Secret => secrets.get_opt(&r.name).await?.map(|s| {
                s.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect()
            }),
            Kind::ConfigMap => maps.get_opt(&r.name).await?.map(|c| {
                let mut m: BTreeMap<String, Vec<u8>> = c
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                m.extend(
                    c.binary_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.0)),
                );
                m
            }),
        };
        data.insert(k, found);
    }
    Ok(evaluate(&wanted, &data))
}

fn evaluate(wanted: &[Ref], data: &Found) -> Checked {
    let mut missing = Vec::new();
    let mut hash = Sha256::new();
    for r in wanted {
        let what = match r.kind {
            Kind::Secret => "Secret",
            Kind::ConfigMap => "ConfigMap",
        };
        let object = data.get(&(r.kind, r.name.clone())).and_then(Option::as_ref);
        hash.update(format!("{what}/{}\0", r.name));
        match (object, &r.key) {
            (None, _) if r.optional => hash.update(b"absent\0"),
            (None, _) => missing.push(format!("{what} {}", r.name)),
            (Some(map), Some(key)) => match map.get(key) {
                Some(v) => {
                    hash.update(format!("{key}\0"));
                    hash.update(v);
                    hash.update(b"\0");
                }
                None if r.optional => hash.update(b"absent\0"),
                None => missing.push(format!("{what} {} (key {key})", r.name)),
            },
            (Some(map), None) => {
                for (k, v) in map {
                    hash.update(format!("{k}\0"));
                    hash.update(v);
                    hash.update(b"\0");
                }
            }
        }
    }
    if missing.is_empty() {
        Checked::Resolved(Some(hex::encode(&hash.finalize()[..12])))
    } else {
        Checked::Missing(missing)
    }
}

#[cfg(test)]
mod tests;
