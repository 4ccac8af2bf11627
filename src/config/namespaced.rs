//! Settings that differ per served namespace (`namespaceSettings`, from
//! `MCP_RUNTIME_NAMESPACE_SETTINGS`): a team's default image, resources, RuntimeClass, network
//! mode and allowed ServiceAccounts. [`RenderContexts`] gives each namespace its render
//! settings, the control plane's defaults with that namespace's settings over them; the
//! controller, the API's writes and its previews all ask it, so a namespace's rules hold the
//! same way in each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::crd::{NetworkMode, Resources};
use crate::render::RenderContext;

/// What one namespace sets differently; anything not given is the control plane's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// By field: a request or limit not given is the default's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// The only accounts its servers may name (replacing the control plane's list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_service_accounts: Option<Vec<String>>,
}

impl NamespaceSettings {
    /// `ctx` (the control plane's defaults) with these settings over it.
    pub fn apply(&self, ctx: &mut RenderContext) {
        let defaults = &mut ctx.defaults;
        if let Some(image) = &self.image {
            defaults.image = image.clone();
        }
        if let Some(r) = &self.resources {
            defaults.resources.requests = r.requests.or(&defaults.resources.requests);
            defaults.resources.limits = r.limits.or(&defaults.resources.limits);
        }
        if let Some(class) = &self.runtime_class_name {
            defaults.runtime_class_name = Some(class.clone());
        }
        if let Some(mode) = self.network_mode {
            ctx.network.mode = mode;
        }
        if let Some(allowed) = &self.allowed_service_accounts {
            defaults.service_accounts.allowed = Some(allowed.iter().cloned().collect());
        }
    }
}

/// The render settings of every served namespace: the control plane's, and each namespace's
/// own over them.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderContexts {
    /// The control plane's own namespace, with the defaults as the settings give them.
    pub home: RenderContext,
    pub per_namespace: BTreeMap<String, NamespaceSettings>,
}

/// No namespace's own settings: every namespace renders with the defaults.
impl From<RenderContext> for RenderContexts {
    fn from(home: RenderContext) -> Self {
        RenderContexts {
            home,
            per_namespace: BTreeMap::new(),
        }
    }
}

impl RenderContexts {
    /// The render settings for servers of `namespace`.
    pub fn of(&self, namespace: &str) -> RenderContext {
        let mut ctx = self.home.clone();
        ctx.namespace = namespace.to_string();
        if let Some(settings) = self.per_namespace.get(namespace) {
            settings.apply(&mut ctx);
        }
        ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Defaults;

    fn home() -> RenderContext {
        RenderContext {
            namespace: "home".into(),
            defaults: Defaults::default(),
            network: Default::default(),
        }
    }

    #[test]
    fn a_namespace_gets_its_own_settings_over_the_defaults_and_others_the_defaults() {
        let team: NamespaceSettings = serde_json::from_value(serde_json::json!({
            "image": "registry.team-a/base:1",
            "resources": {"limits": {"memory": "256Mi"}},
            "runtimeClassName": "gvisor",
            "networkMode": "restricted",
            "allowedServiceAccounts": ["mcp-tools"]
        }))
        .unwrap();
        let contexts = RenderContexts {
            home: home(),
            per_namespace: BTreeMap::from([("team-a".to_string(), team)]),
        };
        let a = contexts.of("team-a");
        let defaults = Defaults::default();
        assert_eq!(a.namespace, "team-a");
        assert_eq!(a.defaults.image, "registry.team-a/base:1");
        assert_eq!(a.defaults.resources.limits.memory.as_deref(), Some("256Mi"));
        assert_eq!(
            a.defaults.resources.requests, defaults.resources.requests,
            "requests not given stay the defaults'"
        );
        assert_eq!(
            a.defaults.resources.limits.ephemeral_storage,
            defaults.resources.limits.ephemeral_storage
        );
        assert_eq!(a.defaults.runtime_class_name.as_deref(), Some("gvisor"));
        assert_eq!(a.network.mode, NetworkMode::Restricted);
        assert_eq!(
            a.defaults.service_accounts.allowed,
            Some(["mcp-tools".to_string()].into())
        );
        let b = contexts.of("team-b");
        let mut expected = home();
        expected.namespace = "team-b".into();
        assert_eq!(b, expected);
    }
}
