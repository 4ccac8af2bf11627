//! How flags, `MCP_RUNTIME_*` variables, the reference's names and defaults become one checked
//! [`RuntimeConfig`]: one function per group of settings, each refusing a bad value with the
//! variable it came from.

use std::collections::BTreeMap;
use std::path::Path;

use crate::crd::{NetworkMode, ResourceList, Resources};
use crate::render::network::NetworkDefaults;
use crate::render::service::ServiceType;
use crate::render::{DEFAULT_BASE_IMAGE, Defaults};
use crate::schema::SchemaKind;

use super::legacy::ARCHESTRA_FALLBACKS;
use super::types::default_reap_interval;
use super::*;

/// The variable of the per-namespace settings.
const NAMESPACE_SETTINGS: &str = "MCP_RUNTIME_NAMESPACE_SETTINGS";

/// A setting's own value, else the reference's variable for it.
struct Lookup<'a> {
    env: &'a dyn Environment,
}

impl Lookup<'_> {
    /// The reference's variable for `setting`, if set: (its name, its value).
    fn legacy(&self, setting: &str) -> Option<(&'static str, String)> {
        ARCHESTRA_FALLBACKS
            .iter()
            .find(|(s, _)| *s == setting)
            .and_then(|(_, var)| self.env.var(var).map(|v| (*var, v)))
    }

    fn text(&self, own: &Option<String>, setting: &str) -> Option<String> {
        own.clone()
            .or_else(|| self.legacy(setting).map(|(_, v)| v.trim().to_string()))
    }
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Variable {
        var,
        reason: reason.into(),
    }
}

impl Settings {
    /// Resolves flags and environment into a checked [`RuntimeConfig`].
    pub fn resolve(&self, env: &dyn Environment) -> Result<RuntimeConfig, ConfigError> {
        let look = Lookup { env };
        let in_cluster = self.in_cluster.unwrap_or_else(|| {
            // The reference compares this variable to the string "true".
            look.legacy("in_cluster")
                .is_some_and(|(_, v)| v.trim() == "true")
        });
        let namespace = look
            .text(&self.namespace, "namespace")
            .or_else(|| env.var("POD_NAMESPACE"))
            .unwrap_or_else(|| "default".into());
        let mut config = RuntimeConfig {
            namespaces: self.namespaces(&look, &namespace),
            namespace_settings: BTreeMap::new(),
            namespace,
            kubeconfig: self.kubeconfig_source(&look, in_cluster)?,
            cluster_domain: look
                .text(&self.cluster_domain, "cluster_domain")
                .unwrap_or_else(|| "cluster.local".into()),
            defaults: self.server_defaults(&look),
            plugin_dir: self.plugin_dir.as_ref().map(|p| p.display().to_string()),
            plugin_timeout_max_ms: self.plugin_timeout_max_ms,
            listen: self
                .listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            tls: self.tls(),
            auth: self.auth()?,
            log_format: self.log_format()?,
            reconcile_concurrency: self.reconcile_concurrency.unwrap_or(16),
            mcp_probe: self.mcp_probe(),
            failed_pod_reap_interval_seconds: self.reap_interval(&look)?,
            service: self.service(&look, in_cluster)?,
            service_accounts: self.service_accounts(),
            local_node: None,
            network: self.network()?,
        };
        let mut doc =
            serde_json::to_value(&config).map_err(|e| invalid("MCP_RUNTIME_*", e.to_string()))?;
        // Checked as given, so that a violation names its path in the setting.
        let per_namespace = self.namespace_settings()?;
        if let Some(given) = &per_namespace {
            doc["namespaceSettings"] = given.clone();
        }
        SchemaKind::RuntimeConfig.validate(&doc)?;
        if let Some(given) = per_namespace {
            config.namespace_settings = serde_json::from_value(given)
                .map_err(|e| invalid(NAMESPACE_SETTINGS, e.to_string()))?;
        }
        // A namespace's settings for a namespace not served would silently apply nowhere.
        let served = config.served();
        if let Some(name) = config.namespace_settings.keys().find(|n| !served.serves(n)) {
            let reason = format!(
                "{name} is not a namespace this control plane serves (MCP_RUNTIME_NAMESPACES)"
            );
            return Err(invalid(NAMESPACE_SETTINGS, reason));
        }
        Ok(config)
    }

    /// `MCP_RUNTIME_NAMESPACE_SETTINGS` as JSON, unchecked (the schema checks it in place).
    fn namespace_settings(&self) -> Result<Option<serde_json::Value>, ConfigError> {
        let Some(text) = non_empty(self.namespace_settings.as_deref()) else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| invalid(NAMESPACE_SETTINGS, format!("must be a JSON object: {e}")))
    }

    /// In the cluster, a given kubeconfig file, the default kubeconfig, or the local cluster.
    fn kubeconfig_source(
        &self,
        look: &Lookup<'_>,
        in_cluster: bool,
    ) -> Result<KubeconfigSource, ConfigError> {
        let env = look.env;
        let path = self
            .kubeconfig
            .as_ref()
            .map(|p| p.display().to_string())
            .or_else(|| look.legacy("kubeconfig").map(|(_, v)| v));
        let source = |source, path, context| KubeconfigSource {
            source,
            path,
            context,
        };
        if in_cluster {
            return Ok(source(KubeconfigKind::InCluster, None, None));
        }
        if let Some(path) = path {
            if !env.exists(Path::new(&path)) {
                let reason = format!("kubeconfig file {path} does not exist");
                return Err(invalid("MCP_RUNTIME_KUBECONFIG", reason));
            }
            return Ok(source(
                KubeconfigKind::File,
                Some(path),
                self.context.clone(),
            ));
        }
        let default_file = env
            .var("HOME")
            .is_some_and(|h| env.exists(&Path::new(&h).join(".kube/config")));
        if env.var("KUBECONFIG").is_some() || default_file {
            return Ok(source(KubeconfigKind::Default, None, self.context.clone()));
        }
        let local = local_cluster_kubeconfig(env).display().to_string();
        Ok(source(KubeconfigKind::Local, Some(local), None))
    }

    /// The served namespaces as listed (trimmed, each once, in order); none listed: the control
    /// plane's own ([`RuntimeConfig::served`]). The schema checks each name and that `*`
    /// stands alone.
    /// The reference's `…_ENVIRONMENT_NAMESPACES` lists namespaces *besides* the main one.
    fn namespaces(&self, look: &Lookup<'_>, own: &str) -> Vec<String> {
        let text = match (&self.namespaces, look.legacy("namespaces")) {
            (Some(given), _) => given.clone(),
            (None, Some((_, extra))) if !extra.trim().is_empty() => format!("{own},{extra}"),
            _ => String::new(),
        };
        let mut listed: Vec<String> = Vec::new();
        for name in text.split(',') {
            let name = name.trim();
            if !name.is_empty() && !listed.iter().any(|n| n == name) {
                listed.push(name.to_string());
            }
        }
        listed
    }

    fn server_defaults(&self, look: &Lookup<'_>) -> ServerDefaults {
        ServerDefaults {
            image: look
                .text(&self.base_image, "base_image")
                .unwrap_or_else(|| DEFAULT_BASE_IMAGE.into()),
            bridge_image: match &self.bridge_image {
                Some(b) => b.trim().to_string(),
                None => crate::render::DEFAULT_BRIDGE_IMAGE.to_string(),
            },
            resources: self.resources(look),
            run_as_user: self.run_as_user,
            read_only_root_filesystem: self.read_only_root_filesystem.unwrap_or(false),
            runtime_class_name: non_empty(self.runtime_class.as_deref()),
        }
    }

    fn resources(&self, look: &Lookup<'_>) -> Resources {
        let d = Defaults::default().resources;
        let requests = ResourceList {
            cpu: look
                .text(&self.cpu_request, "cpu_request")
                .or(d.requests.cpu),
            memory: look
                .text(&self.memory_request, "memory_request")
                .or(d.requests.memory),
            ephemeral_storage: look
                .text(&self.ephemeral_storage_request, "ephemeral_storage_request")
                .or(d.requests.ephemeral_storage),
        };
        let limits = ResourceList {
            cpu: self.cpu_limit.clone(),
            memory: look
                .text(&self.memory_limit, "memory_limit")
                .or(d.limits.memory),
            ephemeral_storage: look
                .text(&self.ephemeral_storage_limit, "ephemeral_storage_limit")
                .or(d.limits.ephemeral_storage),
        };
        Resources { requests, limits }
    }

    fn tls(&self) -> Option<Tls> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some(Tls {
                cert_file: c.display().to_string(),
                key_file: k.display().to_string(),
            }),
            _ => None,
        }
    }

    fn auth(&self) -> Result<Auth, ConfigError> {
        let token_secret = match self.token_secret.as_deref().map(|s| s.split_once('/')) {
            None => None,
            Some(Some((name, key))) if !name.is_empty() && !key.is_empty() => Some(SecretKey {
                name: name.into(),
                key: key.into(),
            }),
            Some(_) => {
                return Err(invalid(
                    "MCP_RUNTIME_TOKEN_SECRET",
                    "must be <secret name>/<key>",
                ));
            }
        };
        Ok(Auth {
            token_file: self.token_file.as_ref().map(|p| p.display().to_string()),
            token_secret,
            metrics_require_auth: self.metrics_require_auth.unwrap_or(false),
            disabled: self.auth_disabled.unwrap_or(false),
            kubernetes: self.kubernetes_auth.unwrap_or(true),
            token_audiences: self
                .token_audiences
                .iter()
                .flat_map(|l| l.split(','))
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
            review_cache_seconds: self
                .auth_cache_seconds
                .unwrap_or_else(super::types::default_review_cache_seconds),
        })
    }

    fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.log_format.as_deref() {
            None | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(_) => Err(invalid("MCP_RUNTIME_LOG_FORMAT", "must be text or json")),
        }
    }

    fn mcp_probe(&self) -> McpProbeSettings {
        let d = McpProbeSettings::default();
        McpProbeSettings {
            interval_seconds: self.mcp_probe_interval.unwrap_or(d.interval_seconds),
            timeout_seconds: self.mcp_probe_timeout.unwrap_or(d.timeout_seconds),
            gates_ready: self.mcp_probe_gates_ready.unwrap_or(d.gates_ready),
        }
    }

    fn reap_interval(&self, look: &Lookup<'_>) -> Result<u32, ConfigError> {
        if let Some(s) = self.failed_pod_reap_interval {
            return Ok(s);
        }
        match look.legacy("failed_pod_reap_interval") {
            None => Ok(default_reap_interval()),
            Some((var, v)) => v
                .trim()
                .parse()
                .map_err(|_| invalid(var, "must be a whole number of seconds")),
        }
    }

    fn service(&self, look: &Lookup<'_>, in_cluster: bool) -> Result<ServiceSettings, ConfigError> {
        let node_host = look
            .text(&self.node_host, "node_host")
            .filter(|h| !h.is_empty());
        let type_ = match self.service_type.as_deref().map(str::trim) {
            Some("ClusterIP") => ServiceType::ClusterIP,
            Some("NodePort") => ServiceType::NodePort,
            Some(_) => {
                return Err(invalid(
                    "MCP_RUNTIME_SERVICE_TYPE",
                    "must be ClusterIP or NodePort",
                ));
            }
            // The reference: NodePort unless it runs in the cluster.
            None if node_host.is_some() && !in_cluster => ServiceType::NodePort,
            None => ServiceType::ClusterIP,
        };
        Ok(ServiceSettings { type_, node_host })
    }

    fn service_accounts(&self) -> ServiceAccountSettings {
        let allowed = self.allowed_service_accounts.as_deref().map(|list| {
            // In the given order (a schema error's index points into it), once each.
            let mut names: Vec<String> = Vec::new();
            for n in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !names.iter().any(|m| m == n) {
                    names.push(n.to_string());
                }
            }
            names
        });
        ServiceAccountSettings {
            allowed,
            control_plane: non_empty(self.own_service_account.as_deref()),
        }
    }

    fn network(&self) -> Result<NetworkSettings, ConfigError> {
        let d = NetworkDefaults::default();
        let mode = match self.network_policy.as_deref().map(str::trim) {
            None | Some("default") => NetworkMode::Default,
            Some("restricted") => NetworkMode::Restricted,
            Some("off") => NetworkMode::Off,
            Some(_) => {
                let reason = "must be restricted, default or off";
                return Err(invalid("MCP_RUNTIME_NETWORK_POLICY", reason));
            }
        };
        let pods = selector(
            &self.platform_pod_selector,
            "MCP_RUNTIME_PLATFORM_POD_SELECTOR",
        )?;
        let namespaces = selector(
            &self.platform_namespace_selector,
            "MCP_RUNTIME_PLATFORM_NAMESPACE_SELECTOR",
        )?;
        Ok(NetworkSettings {
            mode,
            platform_pod_selector: pods.unwrap_or(d.platform_pods),
            platform_namespace_selector: namespaces,
            control_plane_pod_selector: d.control_plane,
        })
    }
}

/// A trimmed value, `None` when empty.
fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// A label selector from `key=value[,key=value]`.
fn selector(
    value: &Option<String>,
    var: &'static str,
) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
    match value {
        None => Ok(None),
        Some(t) => label_map(t)
            .filter(|m| !m.is_empty())
            .map(Some)
            .ok_or_else(|| invalid(var, "must be key=value[,key=value]")),
    }
}

/// `k=v[,k=v]` into a label map.
fn label_map(text: &str) -> Option<BTreeMap<String, String>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}
