//! The built-in local cluster's real node (deploy/local-cluster/node-up.sh, its names in
//! node.env), as `serve` uses it when it started that cluster itself: servers of this machine's
//! own images (`localhost/...`, built by images.sh) are placed there and really run, so a
//! newcomer's first server answers MCP; every other image stays on the simulated kwok node, since
//! the real node must never pull from a registry (that would send traffic off the machine).
//! Without a real node (no root, no iptables) it says so once, everything runs on kwok and no
//! MCP probe is sent (a ClusterIP is routed on this machine only by the real node's guard).

use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};
use mcp_runtime::config::RuntimeConfig;
use mcp_runtime::render::{DEFAULT_BRIDGE_IMAGE, LocalNode};
use tracing::{info, warn};

/// deploy/local-cluster/node.env's NODE_NAME, and what node-up.sh labels and taints it with.
const NODE_NAME: &str = "mcp-node-0";
const NODE_LABEL: (&str, &str) = ("mcp-runtime.dev/node", "real");
const NODE_TAINT: (&str, &str) = ("mcp-runtime.dev/real-node", "NoSchedule");
/// The images built on this machine (images.sh); the bridge's is this checkout's binary.
const LOCAL_IMAGES: &str = "localhost/";
const LOCAL_BRIDGE_IMAGE: &str = "localhost/mcp-runtime:dev";

/// Places servers of local images on the real node when it is Ready, and bridges them with the
/// local build of the bridge (unless a bridge image was set); says once when there is none.
pub async fn use_if_ready(client: &Client, config: &mut RuntimeConfig) {
    if !ready(client).await {
        // Without the node's guard routes a Service's ClusterIP would be sent to the default
        // route, off the machine: with nothing to answer anyway, nothing is probed.
        config.mcp_probe.interval_seconds = 0;
        warn!(
            "the local cluster has no real node (it needs root, iptables and containerd: \
             deploy/local-cluster/node-up.sh): pods are simulated by kwok, so servers run no \
             process; MCP probes are off (McpReady says ProbeDisabled)"
        );
        return;
    }
    config.local_node = Some(LocalNode {
        node_selector: [(NODE_LABEL.0.to_string(), NODE_LABEL.1.to_string())].into(),
        taint: (NODE_TAINT.0.to_string(), NODE_TAINT.1.to_string()),
        image_prefix: LOCAL_IMAGES.into(),
    });
    if config.defaults.bridge_image == DEFAULT_BRIDGE_IMAGE {
        config.defaults.bridge_image = LOCAL_BRIDGE_IMAGE.into();
    }
    info!(
        node = NODE_NAME,
        "servers of {LOCAL_IMAGES} images run on the local cluster's real node (bridge image {}); \
         others stay on the simulated kwok node",
        config.defaults.bridge_image
    );
}

async fn ready(client: &Client) -> bool {
    let nodes: Api<Node> = Api::all(client.clone());
    let Ok(Some(node)) = nodes.get_opt(NODE_NAME).await else {
        return false;
    };
    node.status
        .and_then(|s| s.conditions)
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
