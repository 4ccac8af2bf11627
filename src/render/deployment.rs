//! The Deployment that runs one MCP server.
//!
//! Pods get the Pod Security Standards `restricted` profile by default (non-root, no privilege
//! escalation, every capability dropped, RuntimeDefault seccomp) and no service-account token
//! unless the spec asks: the reference system ran untrusted MCP servers with neither.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, ConfigMapKeySelector, Container, ContainerPort,
    EnvFromSource, EnvVar as K8sEnvVar, EnvVarSource, ExecAction, HTTPGetAction, KeyToPath,
    LocalObjectReference, PodSecurityContext, PodSpec, PodTemplateSpec, Probe as K8sProbe,
    ResourceRequirements, SeccompProfile, SecretEnvSource, SecretKeySelector, SecretVolumeSource,
    SecurityContext, TCPSocketAction, Toleration as K8sToleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::{EnvSource, ImagePullSecret, McpServerSpec, Probe, ResourceList};

use super::names::ServerNames;
use super::service::{PORT_NAME, Serving, serving};
use super::{RenderContext, RenderError, labels};

/// Name of the container running the MCP server (the reference system's name, kept).
pub const CONTAINER: &str = "mcp-server";
/// Volume holding the server's own secret values mounted as files (the reference's name).
pub const OWN_SECRET_VOLUME: &str = "mounted-secrets";
/// Init container and shared volume that bring the bridge binary into a stdio server's pod.
pub const BRIDGE_INIT_CONTAINER: &str = "install-bridge";
pub const BRIDGE_VOLUME: &str = "mcp-bridge";
const BRIDGE_DIR: &str = "/mcp-bridge";
/// Where the bridge image keeps the binary (deploy/Containerfile).
const BRIDGE_BINARY_IN_IMAGE: &str = "/usr/local/bin/mcp-runtime";

/// The Deployment; `template_extra` are annotations for the pod template only (secret
/// revision, restart marker), whose change rolls the pods.
///
/// Long (over 80 lines): the pod spec is one literal, field by field as Kubernetes shows it.
pub fn deployment(
    spec: &McpServerSpec,
    names: &ServerNames,
    ctx: &RenderContext,
    template_extra: BTreeMap<String, String>,
) -> Result<Deployment, RenderError> {
    let labels = labels::labels(spec, names);
    let mut template_annotations = labels::annotations(spec);
    template_annotations.extend(template_extra);
    let (env, mut mounts, mut volumes) = environment(spec, names)?;
    let serving = serving(spec, ctx);
    let init_containers = match serving {
        Serving::Bridged { image, .. } => {
            volumes.push(Volume {
                name: BRIDGE_VOLUME.into(),
                empty_dir: Some(k8s_openapi::api::core::v1::EmptyDirVolumeSource {
                    size_limit: Some(Quantity("128Mi".into())),
                    ..Default::default()
                }),
                ..Default::default()
            });
            mounts.push(VolumeMount {
                name: BRIDGE_VOLUME.into(),
                mount_path: BRIDGE_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            });
            Some(vec![bridge_init_container(spec, ctx, image)])
        }
        _ => None,
    };
    let container = container(spec, ctx, serving, env, mounts);
    let pod = PodSpec {
        init_containers,
        containers: vec![container],
        volumes: (!volumes.is_empty()).then_some(volumes),
        security_context: Some(pod_security(spec, ctx)),
        automount_service_account_token: Some(spec.automount_service_account_token),
        service_account_name: spec.service_account_name.clone(),
        enable_service_links: Some(false),
        node_selector: node_selector(spec, ctx),
        tolerations: tolerations(spec, ctx),
        priority_class_name: spec.priority_class_name.clone(),
        runtime_class_name: spec
            .runtime_class_name
            .clone()
            .or_else(|| ctx.defaults.runtime_class_name.clone()),
        image_pull_secrets: image_pull_secrets(spec, names),
        termination_grace_period_seconds: spec
            .termination_grace_period_seconds
            .or(ctx.defaults.termination_grace_period_seconds),
        // The pause container is PID 1 of the pod, not the server: a server without a SIGTERM
        // handler (Node.js and Python run as PID 1 ignore SIGTERM) then dies of it at once, so
        // stops, restarts and rollouts do not wait out the grace period. The pod's containers
        // are all ours (the bridge's init container has ended), so they see nothing foreign.
        share_process_namespace: Some(true),
        ..Default::default()
    };
    Ok(Deployment {
        metadata: ObjectMeta {
            name: Some(names.deployment.clone()),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: Some(labels::annotations(spec)),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(if spec.stopped { 0 } else { spec.replicas }),
            revision_history_limit: Some(5),
            selector: LabelSelector {
                match_labels: Some(labels::selector(names)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(template_annotations),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Copies the bridge binary (the control plane's own, same version) into the shared volume.
fn bridge_init_container(spec: &McpServerSpec, ctx: &RenderContext, image: &str) -> Container {
    let small = BTreeMap::from([
        ("cpu".to_string(), Quantity("10m".into())),
        ("memory".to_string(), Quantity("32Mi".into())),
    ]);
    Container {
        name: BRIDGE_INIT_CONTAINER.into(),
        image: Some(image.to_string()),
        image_pull_policy: Some(default_pull_policy(image).into()),
        command: Some(vec![
            BRIDGE_BINARY_IN_IMAGE.into(),
            "bridge".into(),
            "--copy-to".into(),
            BRIDGE_DIR.into(),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(small.clone()),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("64Mi".into()),
            )])),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            read_only_root_filesystem: Some(true),
            ..container_security(spec, ctx)
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: BRIDGE_VOLUME.into(),
            mount_path: BRIDGE_DIR.into(),
            ..Default::default()
        }]),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }
}

/// Seconds before the first liveness check: with its three failures 30 s apart, a server that
/// never listens is restarted two minutes after it started, the startup budget of the system we
/// replace (its startup probe, 2 s x 60), without a startup probe.
const LIVENESS_DELAY_SECONDS: i32 = 60;

/// The bridge's probes: ready when the child answered (`/readyz`, every second from the moment
/// the container starts), alive while the bridge answers (`/healthz`, every 30 s, first after
/// [`LIVENESS_DELAY_SECONDS`]). No startup probe: see [`http_default_probes`].
fn bridge_probes(port: u16) -> [Option<K8sProbe>; 2] {
    let http = |path: &str, period, failure, delay| K8sProbe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        }),
        initial_delay_seconds: delay,
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failure),
        ..Default::default()
    };
    [
        Some(http("/readyz", 1, 2, None)),
        Some(http("/healthz", 30, 3, Some(LIVENESS_DELAY_SECONDS))),
    ]
}

fn container(
    spec: &McpServerSpec,
    ctx: &RenderContext,
    serving: Serving<'_>,
    env: Vec<K8sEnvVar>,
    mounts: Vec<VolumeMount>,
) -> Container {
    let image = spec
        .image
        .clone()
        .unwrap_or_else(|| ctx.defaults.image.clone());
    let pull_policy = spec
        .image_pull_policy
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| default_pull_policy(&image).to_string());
    let resources = spec.resources.clone().unwrap_or_default();
    let requests = resources.requests.or(&ctx.defaults.resources.requests);
    let limits = resources.limits.or(&ctx.defaults.resources.limits);
    let port = |port: u16| {
        Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: i32::from(port),
            protocol: Some("TCP".into()),
            ..Default::default()
        }])
    };
    let (ports, probes) = match serving {
        Serving::Http { port: p, .. } => (port(p), http_default_probes(p)),
        Serving::Bridged { port: p, .. } => (port(p), bridge_probes(p)),
        Serving::Stdio => (None, [None, None]),
    };
    // Bridged: the bridge runs the original command as its child (`args` follow it unchanged).
    let command = match serving {
        Serving::Bridged { port, path, .. } => Some(
            [
                format!("{BRIDGE_DIR}/mcp-runtime"),
                "bridge".into(),
                "--listen".into(),
                format!("0.0.0.0:{port}"),
                "--path".into(),
                path.into(),
                "--".into(),
            ]
            .into_iter()
            .chain(spec.command.iter().cloned())
            .collect(),
        ),
        _ => (!spec.command.is_empty()).then(|| spec.command.clone()),
    };
    let given = spec.probes.clone().unwrap_or_default();
    // Defaults for readiness and liveness only: a startup probe is the spec's own choice.
    let [readiness, liveness] = probes;
    Container {
        name: CONTAINER.into(),
        image: Some(image),
        image_pull_policy: Some(pull_policy),
        command,
        args: (!spec.args.is_empty()).then(|| spec.args.clone()),
        working_dir: spec.working_dir.clone(),
        env: (!env.is_empty()).then_some(env),
        env_from: env_from(spec),
        ports,
        startup_probe: given.startup.as_ref().map(probe),
        readiness_probe: given.readiness.as_ref().map(probe).or(readiness),
        liveness_probe: given.liveness.as_ref().map(probe).or(liveness),
        resources: Some(ResourceRequirements {
            requests: quantities(&requests),
            limits: quantities(&limits),
            ..Default::default()
        }),
        security_context: Some(container_security(spec, ctx)),
        // Unbridged stdio servers read JSON-RPC from stdin; keep it open like the reference did.
        stdin: matches!(serving, Serving::Stdio).then_some(true),
        tty: Some(false),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }
}

/// The reference's rule: a bare local image (no `/` and no `.` in the reference) is never
/// pulled; everything else is pulled when absent.
pub fn default_pull_policy(image: &str) -> &'static str {
    if !image.contains('/') && !image.contains('.') {
        "Never"
    } else {
        "IfNotPresent"
    }
}

/// TCP probes for HTTP servers: readiness every second (the reference: 2 s), liveness every
/// 30 s as the reference, and its two-minute startup budget kept by delaying liveness
/// ([`LIVENESS_DELAY_SECONDS`]) rather than by a startup probe. A startup probe holds readiness
/// back: its first try comes as the container starts, before the server listens, and readiness
/// is only probed at its own next tick once the startup probe passed. Measured on the real node
/// with startup 1 s x 120 and readiness every 2 s: create → Ready 1.98 s p50, a plain Deployment
/// with a 1 s readiness probe 0.99 s. The kubelet probes readiness as soon as the container
/// runs, so this is the plain Deployment's pace.
fn http_default_probes(port: u16) -> [Option<K8sProbe>; 2] {
    let tcp = |period, failure, success, delay| K8sProbe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        }),
        initial_delay_seconds: delay,
        period_seconds: Some(period),
        timeout_seconds: Some(1),
        failure_threshold: Some(failure),
        success_threshold: success,
        ..Default::default()
    };
    [
        Some(tcp(1, 2, Some(1), None)),
        Some(tcp(30, 3, None, Some(LIVENESS_DELAY_SECONDS))),
    ]
}

fn probe(p: &Probe) -> K8sProbe {
    K8sProbe {
        tcp_socket: p.tcp_socket.as_ref().map(|t| TCPSocketAction {
            port: IntOrString::Int(i32::from(t.port)),
            ..Default::default()
        }),
        http_get: p.http_get.as_ref().map(|h| HTTPGetAction {
            path: Some(h.path.clone()),
            port: IntOrString::Int(i32::from(h.port)),
            ..Default::default()
        }),
        exec: p.exec.as_ref().map(|e| ExecAction {
            command: Some(e.command.clone()),
        }),
        initial_delay_seconds: p.initial_delay_seconds,
        period_seconds: p.period_seconds,
        timeout_seconds: p.timeout_seconds,
        failure_threshold: p.failure_threshold,
        success_threshold: p.success_threshold,
        ..Default::default()
    }
}

fn quantities(list: &ResourceList) -> Option<BTreeMap<String, Quantity>> {
    let map: BTreeMap<String, Quantity> = [
        ("cpu", &list.cpu),
        ("memory", &list.memory),
        ("ephemeral-storage", &list.ephemeral_storage),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), Quantity(v))))
    .collect();
    (!map.is_empty()).then_some(map)
}

fn pod_security(spec: &McpServerSpec, ctx: &RenderContext) -> PodSecurityContext {
    let o = spec.security_context.clone().unwrap_or_default();
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: o.run_as_user.or(ctx.defaults.run_as_user),
        run_as_group: o.run_as_group,
        fs_group: o.fs_group,
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_security(spec: &McpServerSpec, ctx: &RenderContext) -> SecurityContext {
    let o = spec.security_context.clone().unwrap_or_default();
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(
            o.read_only_root_filesystem
                .unwrap_or(ctx.defaults.read_only_root_filesystem),
        ),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Environment variables, file mounts for secret sources with a `mountPath`, and the volumes
/// those mounts need (one per distinct Secret).
type Environment = (Vec<K8sEnvVar>, Vec<VolumeMount>, Vec<Volume>);

/// Long (over 80 lines): one arm per source of a variable (value, secret value, Secret and
/// ConfigMap keys, file mounts), which must stay side by side to stay consistent.
fn environment(spec: &McpServerSpec, names: &ServerNames) -> Result<Environment, RenderError> {
    let mut env = Vec::new();
    let mut mounts = Vec::new();
    // secret name -> (volume name, items)
    let mut volumes: BTreeMap<String, (String, Vec<KeyToPath>, bool)> = BTreeMap::new();
    for var in &spec.env {
        let source = var.source().ok_or_else(|| RenderError::EnvSource {
            name: var.name.clone(),
        })?;
        let secret_ref = match source {
            EnvSource::Plain(value) => {
                env.push(K8sEnvVar {
                    name: var.name.clone(),
                    value: Some(value.to_string()),
                    ..Default::default()
                });
                continue;
            }
            EnvSource::ConfigMapKey(r) => {
                env.push(K8sEnvVar {
                    name: var.name.clone(),
                    value_from: Some(EnvVarSource {
                        config_map_key_ref: Some(ConfigMapKeySelector {
                            name: r.name.clone(),
                            key: r.key.clone(),
                            optional: r.optional.then_some(true),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                continue;
            }
            EnvSource::Secret(_) => (names.secret.clone(), var.name.clone(), false),
            EnvSource::SecretKey(r) => (r.name.clone(), r.key.clone(), r.optional),
        };
        let (secret_name, key, optional) = secret_ref;
        match &var.mount_path {
            None => env.push(K8sEnvVar {
                name: var.name.clone(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret_name,
                        key,
                        optional: optional.then_some(true),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            Some(path) => {
                let next = volumes.len();
                let volume_name = if secret_name == names.secret {
                    OWN_SECRET_VOLUME.to_string()
                } else {
                    format!("secret-{next}")
                };
                let entry = volumes
                    .entry(secret_name)
                    .or_insert_with(|| (volume_name, Vec::new(), optional));
                entry.1.push(KeyToPath {
                    key: key.clone(),
                    path: key.clone(),
                    mode: None,
                });
                mounts.push(VolumeMount {
                    name: entry.0.clone(),
                    mount_path: path.clone(),
                    sub_path: Some(key),
                    read_only: Some(true),
                    ..Default::default()
                });
            }
        }
    }
    let volumes = volumes
        .into_iter()
        .map(|(secret_name, (volume_name, mut items, optional))| {
            items.sort_by(|a, b| a.key.cmp(&b.key));
            items.dedup_by(|a, b| a.key == b.key);
            Volume {
                name: volume_name,
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret_name),
                    items: Some(items),
                    optional: optional.then_some(true),
                    default_mode: Some(0o444),
                }),
                ..Default::default()
            }
        })
        .collect();
    Ok((env, mounts, volumes))
}

fn env_from(spec: &McpServerSpec) -> Option<Vec<EnvFromSource>> {
    let out: Vec<EnvFromSource> = spec
        .env_from
        .iter()
        .map(|e| EnvFromSource {
            prefix: e.prefix.clone(),
            secret_ref: e.secret_ref.as_ref().map(|r| SecretEnvSource {
                name: r.name.clone(),
                optional: r.optional.then_some(true),
            }),
            config_map_ref: e.config_map_ref.as_ref().map(|r| ConfigMapEnvSource {
                name: r.name.clone(),
                optional: r.optional.then_some(true),
            }),
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// The built-in local cluster's real node, if this server goes there ([`super::LocalNode`]).
fn local_node<'a>(spec: &McpServerSpec, ctx: &'a RenderContext) -> Option<&'a super::LocalNode> {
    let node = ctx.defaults.local_node.as_ref()?;
    let placed = !spec.node_selector.is_empty() || !spec.tolerations.is_empty();
    let local_image = spec
        .image
        .as_deref()
        .is_some_and(|i| i.starts_with(&node.image_prefix));
    (!placed && local_image).then_some(node)
}

fn node_selector(spec: &McpServerSpec, ctx: &RenderContext) -> Option<BTreeMap<String, String>> {
    if let Some(node) = local_node(spec, ctx) {
        return Some(node.node_selector.clone());
    }
    (!spec.node_selector.is_empty()).then(|| spec.node_selector.clone())
}

fn tolerations(spec: &McpServerSpec, ctx: &RenderContext) -> Option<Vec<K8sToleration>> {
    if let Some(node) = local_node(spec, ctx) {
        return Some(vec![K8sToleration {
            key: Some(node.taint.0.clone()),
            operator: Some("Exists".into()),
            effect: Some(node.taint.1.clone()),
            ..Default::default()
        }]);
    }
    (!spec.tolerations.is_empty()).then(|| {
        spec.tolerations
            .iter()
            .map(|t| K8sToleration {
                key: t.key.clone(),
                operator: t.operator.clone(),
                value: t.value.clone(),
                effect: t.effect.clone(),
                toleration_seconds: t.toleration_seconds,
            })
            .collect()
    })
}

fn image_pull_secrets(
    spec: &McpServerSpec,
    names: &ServerNames,
) -> Option<Vec<LocalObjectReference>> {
    let mut out: Vec<LocalObjectReference> = Vec::new();
    let mut own = false;
    for p in &spec.image_pull_secrets {
        match p {
            ImagePullSecret::Existing { name } => {
                if !out.iter().any(|r| &r.name == name) {
                    out.push(LocalObjectReference { name: name.clone() });
                }
            }
            ImagePullSecret::Credentials { .. } => own = true,
        }
    }
    if own {
        out.push(LocalObjectReference {
            name: names.pull_secret.clone(),
        });
    }
    (!out.is_empty()).then_some(out)
}
