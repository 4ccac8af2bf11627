#!/usr/bin/env bash
# Adds one real node to the running local cluster: containerd + runc + CNI (Debian packages),
# kubelet and kube-proxy (built with the control plane), images built from packages
# (images.sh). Called by up.sh; node-down.sh undoes every change it makes to the host.
#
# The node is tainted `mcp-runtime.dev/real-node=true:NoSchedule` and labelled
# `mcp-runtime.dev/node=real`: only pods that tolerate the taint land on it, the rest keep
# going to the kwok node. Facts and the settings this VM needs: ../shared/reference/real-node.md.
#
# Every packet stays on the machine: pods reach only pod IPs, ClusterIPs and the node IP (a raw
# PREROUTING guard on the pod bridge), nothing of the pod or service ranges leaves by the uplink
# (FORWARD/OUTPUT rules), both ranges fall back to a port-less bridge instead of the default
# route, and pods resolve nothing (nameserver 127.0.0.1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
. "$HERE/node.env"
STATE=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}
PKI=$STATE/pki; LOG=$STATE/logs; KC=$STATE/kubeconfig
NODE=$STATE/node
kubectl() { "$BIN/kubectl" --kubeconfig="$KC" "$@"; }
t0=$(date +%s.%N)

# --- packages (a fresh machine has none of them) ---
need=""
for c in containerd runc ctr iptables conntrack socat; do command -v "$c" >/dev/null || need=1; done
[ -x /usr/lib/cni/bridge ] || need=1
PACKAGES="containerd runc containernetworking-plugins iptables conntrack socat"
if [ -n "$need" ]; then
  apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null; }
fi
# The package may start its own containerd (systemd); ours has its own socket and root.
mkdir -p "$NODE"/{containerd,kubelet,cni,run}

# --- host state to restore on the way down (first start only) ---
if [ ! -s "$NODE/sysctl.before" ]; then
  for s in $NODE_SYSCTLS; do echo "$s=$(sysctl -n "$s")"; done > "$NODE/sysctl.before"
fi
UPLINK=$(ip route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1); exit}')
echo "$UPLINK" > "$NODE/uplink"

# --- addresses: the node IP on a bridge with no ports; fallback routes for both ranges ---
ip link show "$NODE_BRIDGE" >/dev/null 2>&1 || ip link add "$NODE_BRIDGE" type bridge
ip addr replace "$NODE_IP/32" dev "$NODE_BRIDGE"
ip link set "$NODE_BRIDGE" up
ip route replace "$POD_CIDR" dev "$NODE_BRIDGE" metric 4000
ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE" metric 4000
ip route replace "$KWOK_POD_CIDR" dev "$NODE_BRIDGE" metric 4000

# --- guard rules, in chains of our own so that down removes exactly them ---
iptables -t raw -N MCP-NODE-GUARD 2>/dev/null || iptables -t raw -F MCP-NODE-GUARD
iptables -t raw -A MCP-NODE-GUARD -d "$POD_CIDR" -j RETURN
iptables -t raw -A MCP-NODE-GUARD -d "$SERVICE_CIDR" -j RETURN
iptables -t raw -A MCP-NODE-GUARD -d "$NODE_IP" -j RETURN
iptables -t raw -A MCP-NODE-GUARD -j DROP
iptables -t raw -C PREROUTING -i "$CNI_BRIDGE" -j MCP-NODE-GUARD 2>/dev/null ||
  iptables -t raw -I PREROUTING 1 -i "$CNI_BRIDGE" -j MCP-NODE-GUARD
iptables -N MCP-NODE-EGRESS 2>/dev/null || iptables -F MCP-NODE-EGRESS
iptables -A MCP-NODE-EGRESS -i "$CNI_BRIDGE" ! -o "$CNI_BRIDGE" -j DROP
if [ -n "$UPLINK" ]; then
  for range in "$POD_CIDR" "$SERVICE_CIDR" "$KWOK_POD_CIDR"; do
    iptables -A MCP-NODE-EGRESS -s "$range" -o "$UPLINK" -j DROP
    iptables -A MCP-NODE-EGRESS -d "$range" -o "$UPLINK" -j DROP
  done
fi
for chain in FORWARD OUTPUT; do
  iptables -C "$chain" -j MCP-NODE-EGRESS 2>/dev/null || iptables -I "$chain" 1 -j MCP-NODE-EGRESS
done
# IPv6: pods get none but link-local; nothing of the pod bridge is forwarded anywhere.
if command -v ip6tables >/dev/null; then
  ip6tables -C FORWARD -i "$CNI_BRIDGE" -j DROP 2>/dev/null || ip6tables -I FORWARD 1 -i "$CNI_BRIDGE" -j DROP
  ip6tables -C FORWARD -o "$CNI_BRIDGE" -j DROP 2>/dev/null || ip6tables -I FORWARD 1 -o "$CNI_BRIDGE" -j DROP
fi
echo "nameserver 127.0.0.1" > "$NODE/resolv.conf"

# --- certificates: the kubelet (system:node:<name>) and kube-proxy (system:kube-proxy) ---
client_cert() { # name, subject
  [ -s "$PKI/$1.crt" ] && return
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$1.key" 2>/dev/null
  openssl req -new -key "$PKI/$1.key" -subj "$2" -out "$PKI/$1.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
  chmod 600 "$PKI/$1.key"
}
client_cert node "/O=system:nodes/CN=system:node:$NODE_NAME"
client_cert kube-proxy "/CN=system:kube-proxy"
SERVER=$(sed -n 's/^ *server: //p' "$KC" | head -1)
kubeconfig_for() { # name -> $NODE/<name>.kubeconfig
  cat > "$NODE/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$SERVER", certificate-authority: "$PKI/ca.crt"}}]
users: [{name: $1, user: {client-certificate: "$PKI/$1.crt", client-key: "$PKI/$1.key"}}]
contexts: [{name: local, context: {cluster: local, user: $1}}]
current-context: local
EOF
  chmod 600 "$NODE/$1.kubeconfig"
}
kubeconfig_for node
kubeconfig_for kube-proxy

# --- containerd (its own root, state and socket) ---
SOCK=$NODE/run/containerd.sock
cat > "$NODE/containerd.toml" <<EOF
version = 2
root = "$NODE/containerd/root"
state = "$NODE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:3.10"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE/cni"
EOF
cat > "$NODE/cni/10-mcp-runtime.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "mcp-runtime", "plugins": [
  {"type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$NODE/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
setsid containerd --config "$NODE/containerd.toml" >"$LOG/containerd.log" 2>&1 < /dev/null &
echo $! > "$STATE/containerd.pid"
for _ in $(seq 1 100); do ctr --address "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
"$HERE/images.sh" "$SOCK" >/dev/null

# --- kubelet ---
cat > "$NODE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: "$PKI/ca.crt"}}
authorization: {mode: AlwaysAllow}
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
cgroupsPerQOS: true
cgroupRoot: /
enforceNodeAllocatable: [pods]
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
syncFrequency: 5s
resolvConf: $NODE/resolv.conf
serializeImagePulls: false
maxPods: 30
registerWithTaints: [{key: mcp-runtime.dev/real-node, value: "true", effect: NoSchedule}]
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
setsid "$BIN/kubelet" --config="$NODE/kubelet.yaml" --kubeconfig="$NODE/node.kubeconfig" \
  --root-dir="$NODE/kubelet" --cert-dir="$NODE/kubelet/pki" --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" --node-labels="mcp-runtime.dev/node=real" \
  >"$LOG/kubelet.log" 2>&1 < /dev/null &
echo $! > "$STATE/kubelet.pid"

# --- kube-proxy (iptables) ---
cat > "$NODE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$NODE/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$NODE_IP/32"]
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
setsid "$BIN/kube-proxy" --config="$NODE/kube-proxy.yaml" >"$LOG/kube-proxy.log" 2>&1 < /dev/null &
echo $! > "$STATE/kube-proxy.pid"

for _ in $(seq 1 300); do
  kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s >/dev/null 2>&1 && break
  sleep 0.2
done
if ! kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s >/dev/null 2>&1; then
  echo "the real node did not become Ready; last kubelet lines:" >&2; tail -n 30 "$LOG/kubelet.log" >&2; exit 1
fi
for _ in $(seq 1 100); do curl -fs -o /dev/null http://127.0.0.1:10256/healthz && break; sleep 0.1; done

# --- the API server for pods (a control plane in the cluster) ---
# It listens on loopback only; pods reach it at the node IP, on the same port, through a
# forwarder (TCP, so TLS and client identities pass through untouched), as the endpoint of the
# `kubernetes` Service (up.sh runs it with --endpoint-reconciler-type=none, so it is ours to
# write; its certificate names the Service IP and the node IP).
API=$(cat "$STATE/kube-apiserver.port")
setsid socat "TCP-LISTEN:$API,bind=$NODE_IP,reuseaddr,fork" "TCP:127.0.0.1:$API" \
  >"$LOG/api-forward.log" 2>&1 < /dev/null &
echo $! > "$STATE/api-forward.pid"
kubectl apply --server-side --field-manager=mcp-runtime-local-cluster -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: mcp-runtime-local-cluster}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
ports: [{name: https, port: $API, protocol: TCP}]
EOF
echo "real node $NODE_NAME Ready in $(python3 -c "print(f'{$(date +%s.%N)-$t0:.1f}')")s (node IP $NODE_IP, pods $POD_CIDR)"
