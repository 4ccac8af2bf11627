//! The NetworkPolicy of one server: ingress only from the control plane and the platform, on
//! the MCP port; egress to DNS, plus the public internet (`default`) and the named CIDRs the
//! server's spec allows. Internal addresses stay out of reach in `default` mode: an MCP server
//! runs code and tools on behalf of users, and the classic escalation is a tool fetching
//! `http://169.254.169.254/` or an internal admin endpoint.
//!
//! Enforcement needs a CNI that implements NetworkPolicy; without one the object is inert (and
//! harmless), which is why it is on by default.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::{McpServerSpec, NetworkMode};

use super::names::ServerNames;
use super::service::{ServiceType, serving};
use super::{RenderContext, labels};

/// IPv4 ranges no server reaches in `default` mode: "this" network, RFC 1918, carrier-grade
/// NAT, loopback, link-local (cloud metadata 169.254.169.254 included), IETF protocol
/// assignments, benchmarking, multicast and reserved.
pub const BLOCKED_V4: [&str; 11] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
];
/// IPv6 ranges blocked in `default` mode: loopback, unique local (AWS's metadata endpoint
/// fd00:ec2::254 included), link-local and multicast. (The API server refuses IPv4-mapped
/// ranges in `except`; implementations match those addresses as IPv4, which the IPv4 rule
/// covers.)
pub const BLOCKED_V6: [&str; 4] = ["::1/128", "fc00::/7", "fe80::/10", "ff00::/8"];

/// Who may call servers, from the runtime's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkDefaults {
    pub mode: NetworkMode,
    /// The control plane's pods (same namespace as the servers).
    pub control_plane: BTreeMap<String, String>,
    /// The platform's pods calling MCP servers.
    pub platform_pods: BTreeMap<String, String>,
    /// Namespaces of the platform's pods; `None`: the servers' namespace.
    pub platform_namespaces: Option<BTreeMap<String, String>>,
}

impl Default for NetworkDefaults {
    fn default() -> Self {
        NetworkDefaults {
            mode: NetworkMode::Default,
            control_plane: BTreeMap::from([
                ("app.kubernetes.io/name".into(), "mcp-runtime".into()),
                ("app.kubernetes.io/component".into(), "control-plane".into()),
            ]),
            platform_pods: BTreeMap::from([("mcp-runtime.dev/client".into(), "true".into())]),
            platform_namespaces: None,
        }
    }
}

fn selector(labels: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.clone()),
        ..Default::default()
    }
}

fn port(p: u16, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(p))),
        protocol: Some(protocol.into()),
        ..Default::default()
    }
}

/// The range's network address (`10.20.1.0/16` is `10.20.0.0/16`): the API server refuses a
/// CIDR with bits set beyond its prefix, which the schema's pattern cannot tell.
fn network_address(cidr: &str) -> String {
    cidr.parse::<ipnet::IpNet>()
        .map(|net| net.trunc().to_string())
        .unwrap_or_else(|_| cidr.to_string())
}

fn block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.into(),
            except: (!except.is_empty()).then(|| except.iter().map(|s| s.to_string()).collect()),
        }),
        ..Default::default()
    }
}

/// The server's NetworkPolicy, or `None` in mode `off`.
///
/// Long (over 80 lines): the policy is one literal object; its rules read as the manifest will.
pub fn network_policy(
    spec: &McpServerSpec,
    names: &ServerNames,
    ctx: &RenderContext,
) -> Option<NetworkPolicy> {
    let net = spec.network.clone().unwrap_or_default();
    let mode = net.mode.unwrap_or(ctx.network.mode);
    if mode == NetworkMode::Off {
        return None;
    }
    // Ingress: nothing at all for a plain stdio server (no port); else the MCP port, from the
    // control plane and the platform, and from anywhere when the Service is a NodePort (its
    // clients are outside the cluster, and node-port traffic may arrive from any address).
    let ingress = match serving(spec, ctx).http() {
        None => vec![],
        Some((p, _)) => {
            let mut from = vec![
                NetworkPolicyPeer {
                    pod_selector: Some(selector(&ctx.network.control_plane)),
                    ..Default::default()
                },
                NetworkPolicyPeer {
                    pod_selector: Some(selector(&ctx.network.platform_pods)),
                    namespace_selector: ctx.network.platform_namespaces.as_ref().map(selector),
                    ..Default::default()
                },
            ];
            if ctx.defaults.service_type == ServiceType::NodePort {
                from.extend(["0.0.0.0/0", "::/0"].map(|cidr| NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: cidr.into(),
                        except: None,
                    }),
                    ..Default::default()
                }));
            }
            vec![NetworkPolicyIngressRule {
                from: Some(from),
                ports: Some(vec![port(p, "TCP")]),
            }]
        }
    };
    let mut egress = vec![NetworkPolicyEgressRule {
        // DNS: any resolver the pod is configured with (kube-dns, node-local caches).
        to: None,
        ports: Some(vec![port(53, "UDP"), port(53, "TCP")]),
    }];
    if mode == NetworkMode::Default {
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![
                block("0.0.0.0/0", &BLOCKED_V4),
                block("::/0", &BLOCKED_V6),
            ]),
            ports: None,
        });
    }
    for a in &net.allow {
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![block(&network_address(&a.cidr), &[])]),
            ports: (!a.ports.is_empty()).then(|| a.ports.iter().map(|p| port(*p, "TCP")).collect()),
        });
    }
    let mut annotations = labels::annotations(spec);
    if !net.allow.is_empty() {
        annotations.insert(
            "mcp-runtime.dev/egress-allow".into(),
            net.allow
                .iter()
                .map(|a| format!("{}={}", a.name, a.cidr))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    Some(NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(names.deployment.clone()),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(labels::labels(spec, names)),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(&labels::selector(names))),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(ingress),
            egress: Some(egress),
        }),
    })
}

#[cfg(test)]
mod tests;
