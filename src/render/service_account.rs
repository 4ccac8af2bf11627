//! Which ServiceAccounts servers may run as. A server's `serviceAccountName` decides what its
//! pods may do in the cluster, so it is not the server author's choice alone: the control
//! plane's own ServiceAccount (which may write Deployments and Secrets) is always refused, and
//! `MCP_RUNTIME_ALLOWED_SERVICE_ACCOUNTS` limits the choice to a list, as the reference system's
//! `allowedMcpServerServiceAccounts` does. A server that names none runs as the namespace's
//! `default` account, without its token unless it asks; that is always allowed (the reference
//! required `default` on the list too; ours renders no token by default, so the list guards
//! only the accounts that are named).

use std::collections::BTreeSet;

use crate::crd::McpServerSpec;
use crate::schema::{SchemaKind, Violation, Violations};

/// The rule, from the settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAccounts {
    /// `None`: any account but the control plane's.
    pub allowed: Option<BTreeSet<String>>,
    /// The control plane's own account (`MCP_RUNTIME_OWN_SERVICE_ACCOUNT`, set from the
    /// downward API in the in-cluster manifests).
    pub control_plane: Option<String>,
}

/// The JSON Schema-style rule name in violations, so clients handle it like the others.
pub const RULE: &str = "allowedServiceAccounts";

impl ServiceAccounts {
    /// Refuses a server whose `serviceAccountName` it may not use, at `/serviceAccountName`.
    pub fn check(&self, spec: &McpServerSpec) -> Result<(), Violations> {
        let Some(name) = spec.service_account_name.as_deref() else {
            return Ok(());
        };
        let message = if self.control_plane.as_deref() == Some(name) {
            format!(
                "ServiceAccount {name} is the control plane's own; an MCP server never runs with its permissions"
            )
        } else if let Some(allowed) = self.allowed.as_ref().filter(|a| !a.contains(name)) {
            let list = allowed.iter().cloned().collect::<Vec<_>>().join(", ");
            format!(
                "ServiceAccount {name} is not allowed for MCP servers (allowed: {})",
                if list.is_empty() { "none" } else { &list }
            )
        } else {
            return Ok(());
        };
        Err(Violations {
            schema: SchemaKind::McpServer,
            violations: vec![Violation {
                path: "/serviceAccountName".into(),
                rule: RULE.into(),
                message,
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sa: Option<&str>) -> McpServerSpec {
        McpServerSpec {
            name: "n".into(),
            service_account_name: sa.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn the_control_plane_account_is_refused_even_without_a_list() {
        let rule = ServiceAccounts {
            allowed: None,
            control_plane: Some("mcp-runtime".into()),
        };
        assert!(rule.check(&spec(None)).is_ok());
        assert!(rule.check(&spec(Some("reader"))).is_ok());
        let v = rule.check(&spec(Some("mcp-runtime"))).unwrap_err();
        assert_eq!(v.pairs(), vec![("/serviceAccountName", RULE)]);
        assert!(v.violations[0].message.contains("control plane"));
    }

    #[test]
    fn a_list_admits_only_its_accounts_and_naming_none_stays_allowed() {
        let rule = ServiceAccounts {
            allowed: Some(["reader".to_string(), "k8s-mcp".to_string()].into()),
            control_plane: None,
        };
        assert!(rule.check(&spec(Some("reader"))).is_ok());
        assert!(rule.check(&spec(None)).is_ok());
        let v = rule.check(&spec(Some("admin"))).unwrap_err();
        assert_eq!(v.pairs(), vec![("/serviceAccountName", RULE)]);
        assert!(v.violations[0].message.contains("k8s-mcp, reader"), "{v}");
        let none = ServiceAccounts {
            allowed: Some(BTreeSet::new()),
            control_plane: None,
        };
        assert!(
            none.check(&spec(Some("reader")))
                .unwrap_err()
                .to_string()
                .contains("none")
        );
    }
}
