#!/usr/bin/env bash
# Removes the real node and everything node-up.sh did to the host: its processes (kube-proxy,
# kubelet, containerd and the containers' shims), the pods' network namespaces and veths, both
# bridges and their routes, the iptables chains of kube-proxy, kubelet and ours, the mounts
# under the node's state directory, the kubepods cgroups, and the sysctls as they were.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
. "$HERE/node.env"
STATE=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}
NODE=$STATE/node
[ -d "$NODE" ] || exit 0
stop() { # pid file
  local f=$1; [ -s "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}
stop "$STATE/api-forward.pid"
stop "$STATE/kube-proxy.pid"
stop "$STATE/kubelet.pid"
# The containers and their shims (children of no process of ours any more once containerd stops).
SOCK=$NODE/run/containerd.sock
if [ -S "$SOCK" ]; then
  for t in $(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
    ctr --address "$SOCK" -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1
  done
fi
stop "$STATE/containerd.pid"
pkill -KILL -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null
sleep 0.3
# Network: namespaces made by containerd, veths on the pod bridge, both bridges, fallback routes.
for ns in "$NODE"/containerd/state/io.containerd.grpc.v1.cri/netns/* ; do
  [ -e "$ns" ] && { umount "$ns" 2>/dev/null; rm -f "$ns"; }
done
for veth in $(ip -o link show master "$CNI_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip link del "$veth" 2>/dev/null
done
ip link del "$CNI_BRIDGE" 2>/dev/null
ip route del "$POD_CIDR" dev "$NODE_BRIDGE" metric 4000 2>/dev/null
ip route del "$SERVICE_CIDR" dev "$NODE_BRIDGE" metric 4000 2>/dev/null
ip route del "$KWOK_POD_CIDR" dev "$NODE_BRIDGE" metric 4000 2>/dev/null
ip link del "$NODE_BRIDGE" 2>/dev/null
# iptables: ours, then what kube-proxy and kubelet leave (KUBE-* chains in every table).
iptables -t raw -D PREROUTING -i "$CNI_BRIDGE" -j MCP-NODE-GUARD 2>/dev/null
iptables -t raw -F MCP-NODE-GUARD 2>/dev/null; iptables -t raw -X MCP-NODE-GUARD 2>/dev/null
for chain in FORWARD OUTPUT; do iptables -D "$chain" -j MCP-NODE-EGRESS 2>/dev/null; done
iptables -F MCP-NODE-EGRESS 2>/dev/null; iptables -X MCP-NODE-EGRESS 2>/dev/null
ip6tables -D FORWARD -i "$CNI_BRIDGE" -j DROP 2>/dev/null
ip6tables -D FORWARD -o "$CNI_BRIDGE" -j DROP 2>/dev/null
# kube-proxy and kubelet make their chains for IPv6 too (empty here: pods have no IPv6).
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in filter nat mangle raw; do
    "$ipt-save" -t "$table" 2>/dev/null | grep -E '^-A [A-Z-]+ .*-j KUBE-' | sed 's/^-A /-D /' |
      while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null; done
    for chain in $("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
      "$ipt" -t "$table" -F "$chain" 2>/dev/null
    done
    for chain in $("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
      "$ipt" -t "$table" -X "$chain" 2>/dev/null
    done
  done
done
# Mounts under the node's state (pod volumes, overlay snapshots, the shm of sandboxes).
for m in $(awk -v p="$NODE" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r); do
  umount -l "$m" 2>/dev/null
done
# The kubepods cgroups, deepest first.
for controller in /sys/fs/cgroup/*/; do
  [ -d "${controller}kubepods" ] && find "${controller}kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null
done
# Sysctls as they were.
if [ -s "$NODE/sysctl.before" ]; then
  while IFS='=' read -r key value; do sysctl -qw "$key=$value" 2>/dev/null; done < "$NODE/sysctl.before"
fi
rm -rf "$NODE"
echo "real node removed"
