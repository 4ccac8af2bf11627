//! One MCP server's objects in the cluster (the reference's `K8sDeployment`): migration of a
//! legacy bare Pod, server-side apply of the Deployment and Service, removal of a Service the
//! transport no longer needs.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Resource};
use tracing::{info, warn};

use crate::render::{Manifests, ServerNames};

use super::{CONTROLLER_MANAGER, Error, Result};

/// How long the migration waits for a legacy Pod to be gone before the Deployment is created.
pub const MIGRATION_WAIT: Duration = Duration::from_secs(60);

pub struct K8sDeployment {
    pub names: ServerNames,
    pub namespace: String,
    client: Client,
}

impl K8sDeployment {
    pub fn new(client: Client, namespace: &str, names: ServerNames) -> Self {
        K8sDeployment {
            names,
            namespace: namespace.to_string(),
            client,
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The seed's migration: a Pod named like the Deployment that no ReplicaSet owns is a legacy
    /// bare Pod; delete it (pinned to its UID, so a replacement is never hit) and wait until it
    /// is gone. A ReplicaSet-owned Pod is left alone. Returns whether a Pod was migrated.
    pub async fn migrate_legacy_pod(
        &self,
        recorder: &Recorder,
        owner: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        owner_ref: &k8s_openapi::api::core::v1::ObjectReference,
    ) -> Result<bool> {
        let pods: Api<Pod> = self.api();
        let name = &self.names.deployment;
        let Some(pod) = pods.get_opt(name).await? else {
            return Ok(false);
        };
        let owned_by_replicaset = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "ReplicaSet");
        if owned_by_replicaset {
            return Ok(false);
        }
        let Some(uid) = pod.metadata.uid.clone() else {
            return Ok(false);
        };
        info!(server = owner.name.as_deref().unwrap_or_default(), pod = %name, "found legacy bare pod, deleting it for migration to a Deployment");
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
        let gone = tokio::time::timeout(
            MIGRATION_WAIT,
            await_condition(pods.clone(), name, conditions::is_deleted(&uid)),
        )
        .await;
        if gone.is_err() {
            return Err(Error::MigrationTimeout {
                pod: name.clone(),
                seconds: MIGRATION_WAIT.as_secs(),
            });
        }
        let event = Event {
            type_: EventType::Normal,
            reason: "MigratedLegacyPod".into(),
            note: Some(format!(
                "deleted legacy bare pod {name} (uid {uid}) before creating Deployment {name}"
            )),
            action: "Migrate".into(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&event, owner_ref).await {
            warn!(error = %e, "could not record the migration event");
        }
        Ok(true)
    }

    /// Applies the Deployment, the Service and the NetworkPolicy (server-side apply, field
    /// manager `mcp-runtime`, forced: the controller owns these fields). Removes the Service or
    /// the NetworkPolicy when there is none to apply and `exists` says one is there. Returns
    /// what the API server answered, so the caller can tell later whether anyone changed the
    /// objects since.
    ///
    /// Long (over 80 lines): the apply order (Secret, Deployment, Service, NetworkPolicy) and
    /// each object's removal are one sequence whose order is the point.
    pub async fn apply(
        &self,
        manifests: &Manifests,
        owner: &OwnerReference,
        exists: Existing,
    ) -> Result<Applied> {
        let mut applied = Applied::default();
        let pp = PatchParams::apply(CONTROLLER_MANAGER).force();
        let mut deployment = manifests.deployment.clone();
        deployment.metadata.owner_references = Some(vec![owner.clone()]);
        let deployment = with_kind(&deployment, "apps/v1", "Deployment")?;
        let live = self
            .api::<Deployment>()
            .patch(&self.names.deployment, &pp, &Patch::Apply(&deployment))
            .await?;
        applied.deployment_generation = live.metadata.generation;
        match &manifests.service {
            Some(service) => {
                let mut service = service.clone();
                service.metadata.owner_references = Some(vec![owner.clone()]);
                let desired_ports = service.spec.as_ref().and_then(|s| s.ports.clone());
                let service = with_kind(&service, "v1", "Service")?;
                let api = self.api::<Service>();
                let mut live = match api
                    .patch(&self.names.service, &pp, &Patch::Apply(&service))
                    .await
                {
                    Ok(live) => live,
                    // A port added by hand under our port's name makes the merged list
                    // invalid: put our ports back first, then apply.
                    Err(kube::Error::Api(s)) if s.code == 422 => {
                        self.reset_ports(&desired_ports).await?;
                        api.patch(&self.names.service, &pp, &Patch::Apply(&service))
                            .await?
                    }
                    Err(e) => return Err(e.into()),
                };
                // Server-side apply keeps list entries other managers added; a Service must
                // expose exactly our ports, so foreign ones go.
                if !same_ports(
                    live.spec.as_ref().and_then(|s| s.ports.as_ref()),
                    desired_ports.as_ref(),
                ) {
                    live = self.reset_ports(&desired_ports).await?;
                }
                applied.node_port = live
                    .spec
                    .as_ref()
                    .and_then(|s| s.ports.as_ref())
                    .and_then(|ps| {
                        ps.iter()
                            .find(|p| p.name.as_deref() == Some(crate::render::service::PORT_NAME))
                    })
                    .and_then(|p| p.node_port);
                applied.cluster_ip = live
                    .spec
                    .as_ref()
                    .and_then(|s| s.cluster_ip.clone())
                    .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
                applied.service_version = live.metadata.resource_version;
            }
            None if exists.service => {
                match self
                    .api::<Service>()
                    .delete(&self.names.service, &DeleteParams::default())
                    .await
                {
                    Ok(_) => {
                        info!(service = %self.names.service, "removed the Service: the server no longer speaks streamable-http")
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            None => {}
        }
        let policies = self.api::<k8s_openapi::api::networking::v1::NetworkPolicy>();
        match &manifests.network_policy {
            Some(np) => {
                let mut np = np.clone();
                np.metadata.owner_references = Some(vec![owner.clone()]);
                let np = with_kind(&np, "networking.k8s.io/v1", "NetworkPolicy")?;
                let live = policies
                    .patch(&self.names.deployment, &pp, &Patch::Apply(&np))
                    .await?;
                applied.network_policy_version = live.metadata.resource_version;
            }
            // Mode `off`: remove the one an earlier mode left (404: gone meanwhile).
            None if !exists.network_policy => {}
            None => match policies
                .delete(&self.names.deployment, &DeleteParams::default())
                .await
            {
                Ok(_) => {
                    info!(policy = %self.names.deployment, "removed the NetworkPolicy (network mode off)")
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(applied)
    }
}

impl K8sDeployment {
    /// Replaces the Service's port list with ours (a JSON merge patch replaces lists whole).
    async fn reset_ports(
        &self,
        ports: &Option<Vec<k8s_openapi::api::core::v1::ServicePort>>,
    ) -> Result<Service> {
        info!(service = %self.names.service, "restoring the Service's ports changed by hand");
        Ok(self
            .api::<Service>()
            .patch(
                &self.names.service,
                &super::merge_params(super::CONTROLLER_MANAGER),
                &Patch::Merge(serde_json::json!({"spec": {"ports": ports}})),
            )
            .await?)
    }
}

/// Whether the live ports are exactly the desired ones (by name, port, protocol, target).
fn same_ports(
    live: Option<&Vec<k8s_openapi::api::core::v1::ServicePort>>,
    desired: Option<&Vec<k8s_openapi::api::core::v1::ServicePort>>,
) -> bool {
    let key = |ps: Option<&Vec<k8s_openapi::api::core::v1::ServicePort>>| {
        let mut v: Vec<_> = ps
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone(),
                    p.port,
                    p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    p.target_port.clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        v
    };
    key(live) == key(desired)
}

/// Which optional objects the watch caches hold for a server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Existing {
    pub service: bool,
    pub network_policy: bool,
}

/// What one apply left in the cluster: the Deployment's generation (it moves only when its
/// spec changes, not with its status), the Service's and the NetworkPolicy's resourceVersions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub deployment_generation: Option<i64>,
    pub service_version: Option<String>,
    pub network_policy_version: Option<String>,
    /// The node port the API server allocated to the MCP port of a NodePort Service.
    pub node_port: Option<i32>,
    /// The Service's ClusterIP, where the MCP probe goes (no cluster DNS needed).
    pub cluster_ip: Option<String>,
}

/// A typed object as the body of a server-side apply: JSON with `apiVersion` and `kind` (which
/// apply requires), written so the API server's YAML reader takes it (see [`yaml_safe`]).
pub fn with_kind<T: serde::Serialize>(
    obj: &T,
    api_version: &str,
    kind: &str,
) -> serde_json::Result<Box<serde_json::value::RawValue>> {
    let mut v = serde_json::to_value(obj)?;
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), api_version.into());
        m.insert("kind".into(), kind.into());
    }
    yaml_safe(&v)
}

/// JSON that a YAML reader reads back as the same value. The API server decodes
/// server-side-apply bodies as YAML, which refuses the raw characters YAML does not call
/// printable (DEL, the C1 controls but NEL, U+FFFE and U+FFFF: `yaml: control characters are
/// not allowed`); serde_json leaves them unescaped, so a server whose command or environment
/// holds one could be stored but never applied. They are written as `\uXXXX` escapes instead,
/// which JSON and YAML both read as the character itself.
pub fn yaml_safe<T: serde::Serialize>(
    value: &T,
) -> serde_json::Result<Box<serde_json::value::RawValue>> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, YamlSafe);
    value.serialize(&mut serializer)?;
    // The serializer writes UTF-8; an error here would be a defect of it.
    let text = String::from_utf8(out).map_err(serde::ser::Error::custom)?;
    serde_json::value::RawValue::from_string(text)
}

/// A compact JSON formatter that escapes what YAML may not hold raw.
struct YamlSafe;

impl serde_json::ser::Formatter for YamlSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if matches!(
                c,
                '\u{7f}'
                    ..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            ) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests;
