//! One MCP server's objects in the cluster (the seed's `K8sDeployment`): server-side apply of
//! whatever its desired state holds, through one path for every kind; removal of objects it
//! owns that the desired state no longer has; migration of a legacy bare Pod.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client};
use serde_json::Value;
use tracing::{info, warn};

use crate::desired::{Object, fingerprint};
use crate::render::ServerNames;
use crate::render::service::PORT_NAME;

use super::ssa::yaml_safe;
use super::{CONTROLLER_MANAGER, Result, merge_params};

/// One object as the apply left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedObject {
    pub kind: String,
    pub name: String,
    /// See [`fingerprint`]: a later difference means someone changed it.
    pub fingerprint: Option<String>,
}

/// What one apply left in the cluster, read from the API server's answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub objects: Vec<AppliedObject>,
    /// The Service's ClusterIP, where the MCP probe goes (no cluster DNS needed).
    pub cluster_ip: Option<String>,
    /// The node port the API server allocated to the MCP port of a NodePort Service.
    pub node_port: Option<i32>,
}

impl Applied {
    fn record(&mut self, kind: &str, live: &DynamicObject) {
        self.objects.push(AppliedObject {
            kind: kind.to_string(),
            name: live.metadata.name.clone().unwrap_or_default(),
            fingerprint: fingerprint(&live.metadata),
        });
        if kind == "Service" {
            let spec = &live.data["spec"];
            self.cluster_ip = spec["clusterIP"]
                .as_str()
                .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
                .map(str::to_string);
            self.node_port = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == PORT_NAME)
                .and_then(|p| p["nodePort"].as_i64())
                .and_then(|p| i32::try_from(p).ok());
        }
    }
}

pub struct K8sDeployment<'a> {
    pub client: &'a Client,
    pub namespace: &'a str,
    pub names: &'a ServerNames,
}

impl K8sDeployment<'_> {
    fn api(&self, resource: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), self.namespace, resource)
    }

    /// Server-side applies every object (field manager `mcp-runtime`, forced: the controller
    /// owns these fields) and returns what the API server answered, so the caller can tell
    /// later whether anyone changed them since. The objects go out at once, not one after
    /// another: none refers to another by anything the API server assigns, so their order never
    /// mattered, and one round trip instead of three is most of a reconcile's time.
    pub async fn apply(&self, objects: &[Object]) -> Result<Applied> {
        let live = futures::future::try_join_all(objects.iter().map(|o| self.apply_one(o))).await?;
        let mut applied = Applied::default();
        for (o, live) in objects.iter().zip(&live) {
            applied.record(o.kind(), live);
        }
        Ok(applied)
    }

    /// One object. Lists the object must hold exactly ([`Object::exclusive`]: a Service's
    /// ports) are put back whole when another manager added entries, which server-side apply
    /// keeps, or when such an entry makes the merged list invalid (a 422).
    async fn apply_one(&self, o: &Object) -> Result<DynamicObject> {
        let api = self.api(&o.resource);
        let pp = PatchParams::apply(CONTROLLER_MANAGER).force();
        let body = yaml_safe(&o.body)?;
        let live = match api.patch(&o.name, &pp, &Patch::Apply(&body)).await {
            Ok(live) => live,
            Err(kube::Error::Api(s)) if s.code == 422 && !o.exclusive.is_empty() => {
                self.restore_exclusive(&api, o).await?;
                api.patch(&o.name, &pp, &Patch::Apply(&body)).await?
            }
            Err(e) => return Err(e.into()),
        };
        let foreign = o
            .exclusive
            .iter()
            .any(|p| !same_entries(live.data.pointer(p), o.body.pointer(p)));
        if foreign {
            return self.restore_exclusive(&api, o).await;
        }
        Ok(live)
    }

    /// Replaces the exclusive lists with ours (a JSON merge patch replaces lists whole).
    async fn restore_exclusive(
        &self,
        api: &Api<DynamicObject>,
        o: &Object,
    ) -> Result<DynamicObject> {
        info!(kind = o.kind(), name = %o.name, "restoring lists changed by hand");
        let mut patch = serde_json::json!({});
        for pointer in o.exclusive {
            let value = o.body.pointer(pointer).cloned().unwrap_or(Value::Null);
            json_patch::merge(&mut patch, &at_pointer(pointer, value));
        }
        let params = merge_params(CONTROLLER_MANAGER);
        Ok(api.patch(&o.name, &params, &Patch::Merge(&patch)).await?)
    }

    /// Deletes `name` of `resource` (an object the server owns that its desired state no
    /// longer has); already gone is fine.
    pub async fn remove(&self, resource: &ApiResource, name: &str) -> Result<()> {
        match self
            .api(resource)
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => {
                info!(kind = %resource.kind, name, "removed: the server no longer has one");
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The seed's migration: a Pod named like the Deployment that no ReplicaSet owns is a
    /// legacy bare Pod; delete it (pinned to its UID, so a replacement is never hit) with our
    /// pods' grace period. Returns whether such a Pod is still there (deleted now or still
    /// terminating): the caller looks again shortly instead of waiting here.
    pub async fn migrate_legacy_pod(
        &self,
        recorder: &Recorder,
        owner: &ObjectReference,
    ) -> Result<bool> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), self.namespace);
        let name = &self.names.deployment;
        let Some(pod) = pods.get_opt(name).await? else {
            return Ok(false);
        };
        let owners = pod.metadata.owner_references.iter().flatten();
        if owners.clone().any(|o| o.kind == "ReplicaSet") {
            return Ok(false);
        }
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(true);
        }
        let Some(uid) = pod.metadata.uid.clone() else {
            return Ok(false);
        };
        info!(pod = %name, "found legacy bare pod, deleting it for migration to a Deployment");
        // With our pods' grace period, not the bare Pod's (30 s by default, all of it spent
        // when its process ignores SIGTERM as PID 1): the server is down until it is gone.
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            }),
            grace_period_seconds: Some(crate::render::DEFAULT_TERMINATION_GRACE_SECONDS as u32),
            ..Default::default()
        };
        match pods.delete(name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let event = Event {
            type_: EventType::Normal,
            reason: "MigratedLegacyPod".into(),
            note: Some(format!(
                "deleted legacy bare pod {name} (uid {uid}); Deployment {name} follows once it is gone"
            )),
            action: "Migrate".into(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&event, owner).await {
            warn!(error = %e, "could not record the migration event");
        }
        Ok(true)
    }
}

/// Whether the live list holds exactly the desired entries: as many, and each desired entry
/// found in the live one with every field it sets (the API server fills in defaults such as a
/// port's `nodePort`).
fn same_entries(live: Option<&Value>, desired: Option<&Value>) -> bool {
    let (live, desired) = (as_list(live), as_list(desired));
    live.len() == desired.len() && desired.iter().all(|d| live.iter().any(|l| contains(l, d)))
}

fn as_list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Whether `outer` holds everything `inner` sets.
fn contains(outer: &Value, inner: &Value) -> bool {
    match (outer, inner) {
        (Value::Object(o), Value::Object(i)) => i
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| contains(ov, v))),
        _ => outer == inner,
    }
}

/// A merge patch setting `value` at the JSON pointer `pointer`.
fn at_pointer(pointer: &str, value: Value) -> Value {
    let keys: Vec<&str> = pointer.split('/').skip(1).collect();
    keys.into_iter().rev().fold(value, |inner, key| {
        let key = key.replace("~1", "/").replace("~0", "~");
        serde_json::json!({ key: inner })
    })
}

#[cfg(test)]
mod tests;
