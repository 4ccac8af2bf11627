//! Which namespaces a control plane serves (`MCP_RUNTIME_NAMESPACES`), and the watches that
//! cover exactly those.
//!
//! A listed set gets one watch per kind *per namespace*, so the control plane needs a Role in
//! each listed namespace and nothing cluster-wide; `*` gets one cluster-wide watch per kind
//! (and needs a ClusterRole). One reflector store cannot be fed by several watches (each
//! relist of one namespace would replace the whole store), so every namespace is a
//! [`Scope`] of its own, with its own caches and its own controller loop
//! (`controller::run`); what is shared (the client, plugins, metrics, the leader's term) is
//! shared by reference.

use std::collections::BTreeSet;

use kube::{Api, Client, Resource};

/// The namespaces served: every one, or a listed set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    All,
    Listed(BTreeSet<String>),
}

/// The watched part of the cluster that one controller loop covers: one namespace, or all.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    Namespace(String),
}

/// The setting's word for every namespace.
pub const EVERY_NAMESPACE: &str = "*";

impl Served {
    /// From the settings' list (`["*"]` is every namespace; the schema keeps `*` alone).
    pub fn from_list(list: &[String]) -> Served {
        if list.iter().any(|n| n == EVERY_NAMESPACE) {
            Served::All
        } else {
            Served::Listed(list.iter().cloned().collect())
        }
    }

    /// Whether servers in `namespace` are this control plane's.
    pub fn serves(&self, namespace: &str) -> bool {
        match self {
            Served::All => true,
            Served::Listed(set) => set.contains(namespace),
        }
    }

    /// One scope per listed namespace, or the one cluster-wide scope.
    pub fn scopes(&self) -> Vec<Scope> {
        match self {
            Served::All => vec![Scope::All],
            Served::Listed(set) => set.iter().cloned().map(Scope::Namespace).collect(),
        }
    }

    /// For logs and the API's start line: `*` or the names, comma-separated.
    pub fn describe(&self) -> String {
        match self {
            Served::All => EVERY_NAMESPACE.into(),
            Served::Listed(set) => set.iter().cloned().collect::<Vec<_>>().join(","),
        }
    }
}

impl Scope {
    /// The API of `K` over this scope.
    pub fn api<K>(&self, client: Client) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self {
            Scope::All => Api::all(client),
            Scope::Namespace(ns) => Api::namespaced(client, ns),
        }
    }

    /// Whether an object in `namespace` lies in this scope.
    pub fn covers(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespace(ns) => ns == namespace,
        }
    }

    /// For logs: the namespace, or `*`.
    pub fn name(&self) -> &str {
        match self {
            Scope::All => EVERY_NAMESPACE,
            Scope::Namespace(ns) => ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_listed_set_serves_exactly_its_namespaces_one_scope_each() {
        let served = Served::from_list(&list(&["b", "a", "b"]));
        assert!(served.serves("a") && served.serves("b") && !served.serves("c"));
        assert_eq!(
            served.scopes(),
            vec![Scope::Namespace("a".into()), Scope::Namespace("b".into())]
        );
        assert_eq!(served.describe(), "a,b");
    }

    #[test]
    fn every_namespace_is_one_cluster_wide_scope() {
        let served = Served::from_list(&list(&["*"]));
        assert!(served.serves("anything"));
        assert_eq!(served.scopes(), vec![Scope::All]);
        assert!(Scope::All.covers("x") && !Scope::Namespace("a".into()).covers("x"));
    }
}
