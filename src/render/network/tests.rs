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
    network_policy(s, &names, &RenderContext::default()).map(|np| serde_json::to_value(np).unwrap())
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
