//! What a server's desired state takes from the cluster besides its document. The controller
//! observes these ([`crate::controller`]); a preview reads the same facts
//! ([`crate::api::preview`]) or, offline (`mcp-runtime render`), has only the document.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::crd::McpServerSpec;
use crate::render::labels::{
    OWNER_ANNOTATION, RESTARTED_AT_ANNOTATION, SECRET_REVISION_ANNOTATION,
};
use crate::render::{Extras, ServerNames};

/// Pod-template annotation with the hash of the data a server refers to (other than its own
/// Secret): a rotation rolls the pods.
pub const REFERENCES_HASH_ANNOTATION: &str = "mcp-runtime.dev/references-hash";

/// The secret revision a preview shows when the API would write new values: the Secret's next
/// resourceVersion, unknown until it is written.
pub const PENDING_REVISION: &str = "rv-pending";

/// The cluster's part of a server's desired state. `Default`: a server not in the cluster yet,
/// previewed from its document alone.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Inputs {
    /// The McpServer's `metadata.name`, which names its objects; `None`: the document's name
    /// made one, as the API does when it creates the server.
    pub server_name: Option<String>,
    /// The McpServer as owner of every applied object (known once it exists).
    pub owner: Option<OwnerReference>,
    /// The restart marker the API set on the McpServer.
    pub restarted_at: Option<String>,
    /// The revision of the server's own Secret for the pod template: its resourceVersion as
    /// the cluster holds it (`rv-N`, see [`crate::runtime::references::own_secret_revision`]),
    /// [`PENDING_REVISION`] when a preview's values would be written anew, or offline a hash
    /// of the document's values.
    pub secret_revision: Option<String>,
    /// The hash of the referenced Secrets' and ConfigMaps' data.
    pub references_hash: Option<String>,
    /// The MCP probe found the server speaks only the stateless 2026-07-28 revision.
    pub stateless: bool,
    /// The labels of the server's namespace, for the policies that select namespaces by label
    /// (`None`: not known; such a policy then refuses to guess). Part of what a memo compares,
    /// so a relabelled namespace gets its policies anew.
    pub namespace_labels: Option<BTreeMap<String, String>>,
}

/// The label Kubernetes gives every namespace: all an offline render knows of one.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The labels of `namespace` as far as they can be known without a cluster.
pub fn offline_namespace_labels(namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())])
}

impl Inputs {
    /// The name the server's objects are named after.
    pub fn server_name<'a>(&'a self, spec: &'a McpServerSpec) -> &'a str {
        self.server_name.as_deref().unwrap_or(&spec.name)
    }

    /// The pod-template annotations and the era: what rendering takes from the cluster.
    pub(super) fn extras(&self, stored: &McpServerSpec, names: &ServerNames) -> Extras {
        let mut extras = Extras {
            stateless: self.stateless,
            ..Extras::default()
        };
        let annotations = &mut extras.template_annotations;
        annotations.insert(OWNER_ANNOTATION.into(), names.slug.clone());
        if let Some(at) = &self.restarted_at {
            annotations.insert(RESTARTED_AT_ANNOTATION.into(), at.clone());
        }
        if reads_own_secret(stored, names)
            && let Some(revision) = &self.secret_revision
        {
            annotations.insert(SECRET_REVISION_ANNOTATION.into(), revision.clone());
        }
        if let Some(hash) = &self.references_hash {
            annotations.insert(REFERENCES_HASH_ANNOTATION.into(), hash.clone());
        }
        extras
    }
}

/// Whether the stored spec reads the server's own Secret (where the API put its secret
/// values): only then does the Secret's revision belong on the pod template.
fn reads_own_secret(stored: &McpServerSpec, names: &ServerNames) -> bool {
    let by_key = stored
        .env
        .iter()
        .filter_map(|e| e.secret_key_ref.as_ref())
        .any(|r| r.name == names.secret);
    let whole = stored
        .env_from
        .iter()
        .filter_map(|f| f.secret_ref.as_ref())
        .any(|r| r.name == names.secret);
    by_key || whole
}
