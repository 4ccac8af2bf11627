//! The API's writer, `McpServerRuntimeManager` (the seed's runtime manager): creates, updates,
//! starts, stops, restarts and removes servers, and reads their status and logs.
//!
//! It keeps no state: every operation is a change to an `McpServer` resource (starting and
//! stopping are spec changes, restarting is an annotation) that the controller then
//! reconciles. Secret values are split off into the server's own Secret, owned by the
//! McpServer so it goes with it; the resource stores only references.

use std::collections::BTreeMap;

use futures::{AsyncBufReadExt, Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{DeleteParams, ListParams, LogParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};

use crate::crd::{McpServer, McpServerSpec, McpServerStatus};
use crate::render::deployment::CONTAINER;
use crate::render::labels::{self, RESTARTED_AT_ANNOTATION};
use crate::render::{RenderError, ServerNames, parse_document, secret};

use crate::runtime::ssa::with_kind;
use crate::runtime::{API_MANAGER, Error, Result, merge_params};

/// How often an update is tried when only status writes stand in its way.
const UPDATE_ATTEMPTS: usize = 8;

/// What an update requires of the stored server (an `If-Match`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// The document's version ([`McpServer::document_version`], the API's `ETag`).
    Document(String),
    /// The exact `resourceVersion` (moves with status writes too).
    ResourceVersion(String),
}

#[derive(Clone)]
pub struct McpServerRuntimeManager {
    client: Client,
    namespace: String,
    /// Which ServiceAccounts a server may name (checked before anything is stored).
    service_accounts: crate::render::service_account::ServiceAccounts,
}

impl McpServerRuntimeManager {
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        McpServerRuntimeManager {
            client,
            namespace: namespace.into(),
            service_accounts: Default::default(),
        }
    }

    /// Refuses servers naming a ServiceAccount the settings do not allow, with the path.
    pub fn with_service_accounts(
        mut self,
        rule: crate::render::service_account::ServiceAccounts,
    ) -> Self {
        self.service_accounts = rule;
        self
    }

    /// The same writer for servers of `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Self {
        McpServerRuntimeManager {
            namespace: namespace.to_string(),
            ..self.clone()
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Validates a server document and splits it into the resource to store and its Secrets.
    fn prepare(&self, doc: &Value) -> Result<(String, McpServerSpec, Vec<Secret>)> {
        let spec = parse_document(doc).map_err(|source| Error::Render {
            name: doc
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            source,
        })?;
        let names = ServerNames::new(&spec.name).ok_or_else(|| Error::Render {
            name: spec.name.clone(),
            source: RenderError::Name,
        })?;
        self.service_accounts
            .check(&spec)
            .map_err(|v| Error::Render {
                name: spec.name.clone(),
                source: RenderError::Invalid(v),
            })?;
        let (stored, env, pull) = secret::split(&spec, &names, &self.namespace);
        Ok((
            names.slug.clone(),
            stored,
            env.into_iter().chain(pull).collect(),
        ))
    }

    /// Creates a server; fails with [`Error::AlreadyExists`] when one of that name exists.
    pub async fn create(&self, doc: &Value) -> Result<McpServer> {
        let (name, spec, secrets) = self.prepare(doc)?;
        let mcp = McpServer {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
            spec,
            status: None,
        };
        let pp = PostParams {
            field_manager: Some(API_MANAGER.into()),
            ..Default::default()
        };
        let created = match self.api::<McpServer>().create(&pp, &mcp).await {
            Ok(c) => c,
            Err(kube::Error::Api(s)) if s.code == 409 => return Err(Error::AlreadyExists(name)),
            Err(e) => return Err(e.into()),
        };
        self.apply_secrets(&created, secrets).await?;
        Ok(created)
    }

    /// Replaces a server's spec (a PUT as `mcp-runtime-api`, the manager that created it, so
    /// field ownership stays with the API). `expected` is the caller's `If-Match`:
    /// - [`Precondition::Document`]: the update happens only while the document (spec, labels,
    ///   annotations) is still at that version. The controller's status writes move the
    ///   resourceVersion but not the document, so a conflict they cause is retried here, and
    ///   only a real edit of the document in between is a [`Error::Conflict`].
    /// - [`Precondition::ResourceVersion`]: Kubernetes' own rule, exactly that resourceVersion
    ///   (any write in between, status included, is a conflict).
    /// - none: the last writer wins; status writes in between are retried.
    pub async fn update(&self, doc: &Value, expected: Option<Precondition>) -> Result<McpServer> {
        let (name, spec, secrets) = self.prepare(doc)?;
        let api = self.api::<McpServer>();
        let pp = PostParams {
            field_manager: Some(API_MANAGER.into()),
            ..Default::default()
        };
        let mut last = String::new();
        for _ in 0..UPDATE_ATTEMPTS {
            let mut current = api
                .get_opt(&name)
                .await?
                .ok_or_else(|| Error::NotFound(name.clone()))?;
            match &expected {
                Some(Precondition::Document(v)) if current.document_version() != *v => {
                    return Err(Error::Conflict {
                        name,
                        message: format!(
                            "the document is at version {}, not {v}",
                            current.document_version()
                        ),
                    });
                }
                Some(Precondition::ResourceVersion(rv)) => {
                    current.metadata.resource_version = Some(rv.clone());
                }
                _ => {}
            }
            current.spec = spec.clone();
            current.status = None;
            current.metadata.managed_fields = None;
            match api.replace(&name, &pp, &current).await {
                Ok(updated) => {
                    self.apply_secrets(&updated, secrets).await?;
                    return Ok(updated);
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    last = s.message;
                    if matches!(expected, Some(Precondition::ResourceVersion(_))) {
                        break;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict {
            name,
            message: last,
        })
    }

    /// The server's own Secrets, owned by the McpServer (garbage-collected with it).
    async fn apply_secrets(&self, owner: &McpServer, secrets: Vec<Secret>) -> Result<()> {
        let Some(owner_ref) = owner.controller_owner_ref(&()) else {
            return Ok(());
        };
        for mut s in secrets {
            s.metadata.owner_references = Some(vec![owner_ref.clone()]);
            let name = s.name_any();
            self.api::<Secret>()
                .patch(
                    &name,
                    &PatchParams::apply(API_MANAGER).force(),
                    &Patch::Apply(with_kind(&s, "v1", "Secret")?),
                )
                .await?;
        }
        Ok(())
    }

    async fn patch_spec(&self, name: &str, patch: Value) -> Result<McpServer> {
        match self
            .api::<McpServer>()
            .patch(name, &merge_params(API_MANAGER), &Patch::Merge(&patch))
            .await
        {
            Ok(m) => Ok(m),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::NotFound(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts (unpauses) a stopped server.
    pub async fn start(&self, name: &str) -> Result<McpServer> {
        self.patch_spec(name, json!({"spec": {"stopped": false}}))
            .await
    }

    /// Stops a server: scaled to zero, configuration, Secret and Service kept.
    pub async fn stop(&self, name: &str) -> Result<McpServer> {
        self.patch_spec(name, json!({"spec": {"stopped": true}}))
            .await
    }

    /// Restarts a server's pods with a rolling restart (a new pod-template annotation).
    pub async fn restart(&self, name: &str) -> Result<McpServer> {
        let at = k8s_openapi::jiff::Timestamp::now().to_string();
        self.patch_spec(
            name,
            json!({"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: at}}}),
        )
        .await
    }

    /// Removes a server; its Deployment, Service and Secrets are garbage-collected.
    pub async fn remove(&self, name: &str) -> Result<()> {
        match self
            .api::<McpServer>()
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::NotFound(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, name: &str) -> Result<McpServer> {
        self.api::<McpServer>()
            .get_opt(name)
            .await?
            .ok_or_else(|| Error::NotFound(name.into()))
    }

    pub async fn status(&self, name: &str) -> Result<Option<McpServerStatus>> {
        Ok(self.get(name).await?.status)
    }

    pub async fn list(&self) -> Result<Vec<McpServer>> {
        Ok(self
            .api::<McpServer>()
            .list(&ListParams::default())
            .await?
            .items)
    }

    /// The server's pods, running ones first.
    async fn pods(&self, name: &str) -> Result<Vec<Pod>> {
        let names = ServerNames::new(name).ok_or_else(|| Error::NotFound(name.into()))?;
        let selector: BTreeMap<_, _> = labels::selector(&names);
        let selector = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut pods = self
            .api::<Pod>()
            .list(&ListParams::default().labels(&selector))
            .await?
            .items;
        pods.sort_by_key(|p| {
            p.status.as_ref().and_then(|s| s.phase.clone()).as_deref() != Some("Running")
        });
        Ok(pods)
    }

    /// Log lines of the server's MCP container, through the API server; with `follow`, the
    /// stream stays open.
    pub async fn logs(
        &self,
        name: &str,
        tail: Option<i64>,
        follow: bool,
    ) -> Result<impl Stream<Item = Result<String>> + use<>> {
        let pod = self
            .pods(name)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("{name} (no pod)")))?;
        let params = LogParams {
            container: Some(CONTAINER.into()),
            follow,
            tail_lines: tail,
            ..Default::default()
        };
        let reader = self
            .api::<Pod>()
            .log_stream(&pod.name_any(), &params)
            .await?;
        Ok(reader
            .lines()
            .map_err(|e| Error::Config(format!("log stream: {e}")))
            .boxed())
    }
}
