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
mod tests {
    use super::*;
    use crate::crd::{AllowedCidr, Network, Transport};

    fn spec(network: Option<Network>, transport: Transport) -> McpServerSpec {
        McpServerSpec {
            name: "n".into(),
            image: Some("ghcr.io/a/b:1".into()),
            transport,
            network,
            ..Default::default()
        }
    }

    fn render(s: &McpServerSpec) -> Option<serde_json::Value> {
        let names = ServerNames::new(&s.name).unwrap();
        network_policy(s, &names, &RenderContext::default())
            .map(|np| serde_json::to_value(np).unwrap())
    }

    fn http() -> Transport {
        Transport::StreamableHttp {
            port: 8080,
            path: "/mcp".into(),
        }
    }

    #[test]
    fn default_mode_reaches_the_public_internet_but_no_internal_range() {
        let np = render(&spec(None, http())).unwrap();
        let egress = np["spec"]["egress"].as_array().unwrap();
        assert_eq!(egress.len(), 2, "DNS + public");
        assert_eq!(egress[0]["ports"][0]["port"], 53);
        let v4 = &egress[1]["to"][0]["ipBlock"];
        assert_eq!(v4["cidr"], "0.0.0.0/0");
        for range in [
            "10.0.0.0/8",
            "169.254.0.0/16",
            "100.64.0.0/10",
            "127.0.0.0/8",
        ] {
            assert!(
                v4["except"].as_array().unwrap().iter().any(|e| e == range),
                "{range}"
            );
        }
        assert!(
            egress[1]["to"][1]["ipBlock"]["except"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "fc00::/7")
        );
        let from = &np["spec"]["ingress"][0];
        assert_eq!(from["ports"][0]["port"], 8080);
        assert_eq!(
            from["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
            "mcp-runtime"
        );
    }

    #[test]
    fn allowed_ranges_are_written_as_their_network_address() {
        assert_eq!(network_address("10.20.1.7/16"), "10.20.0.0/16");
        assert_eq!(network_address("fe80::1/64"), "fe80::/64");
        assert_eq!(network_address("2001:DB8::/32"), "2001:db8::/32");
        assert_eq!(network_address("140.82.112.0/20"), "140.82.112.0/20");
    }

    #[test]
    fn restricted_mode_allows_only_dns_and_the_named_cidrs() {
        let net = Network {
            mode: Some(NetworkMode::Restricted),
            allow: vec![AllowedCidr {
                name: "corp-git".into(),
                cidr: "10.20.0.0/16".into(),
                ports: vec![443],
            }],
        };
        let np = render(&spec(Some(net), http())).unwrap();
        let egress = np["spec"]["egress"].as_array().unwrap();
        assert_eq!(egress.len(), 2, "DNS + the allowed range");
        assert_eq!(egress[1]["to"][0]["ipBlock"]["cidr"], "10.20.0.0/16");
        assert_eq!(egress[1]["to"][0]["ipBlock"].get("except"), None);
        assert_eq!(egress[1]["ports"][0]["port"], 443);
        assert_eq!(
            np["metadata"]["annotations"]["mcp-runtime.dev/egress-allow"],
            "corp-git=10.20.0.0/16"
        );
    }

    #[test]
    fn off_renders_nothing_and_plain_stdio_takes_no_ingress() {
        let off = Network {
            mode: Some(NetworkMode::Off),
            allow: vec![],
        };
        assert!(render(&spec(Some(off), http())).is_none());
        // No command: cannot be bridged, so no port and no ingress at all.
        let np = render(&spec(None, Transport::Stdio)).unwrap();
        assert_eq!(np["spec"]["ingress"], serde_json::json!([]));
        assert_eq!(
            np["spec"]["policyTypes"],
            serde_json::json!(["Ingress", "Egress"])
        );
    }

    #[test]
    fn node_ports_admit_any_source_on_the_mcp_port_only() {
        let s = spec(None, http());
        let names = ServerNames::new(&s.name).unwrap();
        let mut ctx = RenderContext::default();
        let cluster_ip = serde_json::to_value(network_policy(&s, &names, &ctx)).unwrap();
        ctx.defaults.service_type = ServiceType::NodePort;
        let node_port = serde_json::to_value(network_policy(&s, &names, &ctx)).unwrap();
        let from = |np: &serde_json::Value| np["spec"]["ingress"][0]["from"].clone();
        assert_eq!(from(&cluster_ip).as_array().unwrap().len(), 2);
        let peers = from(&node_port);
        assert_eq!(
            peers.as_array().unwrap()[..2],
            from(&cluster_ip).as_array().unwrap()[..]
        );
        assert_eq!(peers[2]["ipBlock"]["cidr"], "0.0.0.0/0");
        assert_eq!(peers[3]["ipBlock"]["cidr"], "::/0");
        assert_eq!(node_port["spec"]["ingress"][0]["ports"][0]["port"], 8080);
        assert_eq!(node_port["spec"]["egress"], cluster_ip["spec"]["egress"]);
        let svc = crate::render::service::service(&s, &names, &ctx, false).unwrap();
        assert_eq!(svc.spec.unwrap().type_.as_deref(), Some("NodePort"));
    }
}
