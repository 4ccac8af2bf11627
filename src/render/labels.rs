//! Labels and annotations every object of a server carries.
//!
//! The selector is the single `mcp-runtime.dev/server` label: selectors are immutable, so they
//! hold only what can never change for a server (the reference system had to delete and recreate
//! Deployments when its 3-label selector drifted).

use std::collections::BTreeMap;

use crate::crd::McpServerSpec;

use super::names::ServerNames;

/// Label whose value identifies the server; the only selector label.
pub const SERVER_LABEL: &str = "mcp-runtime.dev/server";
/// Annotation holding the server's name as the user wrote it.
pub const SERVER_NAME_ANNOTATION: &str = "mcp-runtime.dev/server-name";
/// Annotation holding the description.
pub const DESCRIPTION_ANNOTATION: &str = "mcp-runtime.dev/description";
/// Pod-template annotation that changes whenever the server's own Secret does, so a rotation
/// rolls the pods: the hash of its data ([`DATA_HASH_ANNOTATION`]) while the API wrote it last,
/// else `rv-<resourceVersion>` (the controller never reads secret values).
pub const SECRET_REVISION_ANNOTATION: &str = "mcp-runtime.dev/secret-revision";
/// Annotation on the server's own Secret: the hash of the data written with it, so that a
/// preview and the controller stamp the same revision without reading a value.
pub const DATA_HASH_ANNOTATION: &str = "mcp-runtime.dev/data-hash";
/// Pod-template annotation naming the McpServer, so a Pod event finds its server.
pub const OWNER_ANNOTATION: &str = "mcp-runtime.dev/mcpserver";
/// Pod-template annotation bumped to restart a server (rollout restart).
pub const RESTARTED_AT_ANNOTATION: &str = "mcp-runtime.dev/restarted-at";
/// Value of `app.kubernetes.io/managed-by`.
pub const MANAGER: &str = "mcp-runtime";

/// The selector: `{mcp-runtime.dev/server: <instance>}`.
pub fn selector(names: &ServerNames) -> BTreeMap<String, String> {
    BTreeMap::from([(SERVER_LABEL.to_string(), names.instance.clone())])
}

/// System labels plus the user's (the schema keeps users out of the reserved prefixes, and the
/// system labels are written last so they win regardless).
pub fn labels(spec: &McpServerSpec, names: &ServerNames) -> BTreeMap<String, String> {
    let mut labels = spec.labels.clone();
    labels.extend([
        ("app.kubernetes.io/name".into(), "mcp-server".into()),
        ("app.kubernetes.io/instance".into(), names.instance.clone()),
        ("app.kubernetes.io/component".into(), "mcp-server".into()),
        ("app.kubernetes.io/managed-by".into(), MANAGER.into()),
    ]);
    labels.extend(selector(names));
    labels
}

/// The user's annotations plus the server's name and description.
pub fn annotations(spec: &McpServerSpec) -> BTreeMap<String, String> {
    let mut annotations = spec.annotations.clone();
    annotations.insert(SERVER_NAME_ANNOTATION.into(), spec.name.clone());
    if let Some(d) = &spec.description {
        annotations.insert(DESCRIPTION_ANNOTATION.into(), d.clone());
    }
    annotations
}
