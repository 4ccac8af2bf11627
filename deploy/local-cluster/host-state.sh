#!/usr/bin/env bash
# Prints what the real node may change on the host, so that a test can compare before up.sh
# and after down.sh: links, addresses, routes, iptables rules (not the empty built-in tables,
# which stay loaded once used), mounts and kubepods cgroups under our state, the sysctls the
# node touches, and processes of the node's binaries.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
. "$HERE/node.env"
STATE=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}
echo "## links"; ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
echo "## addresses"; ip -o addr show | awk '{print $2, $4}' | sort
echo "## routes"; ip route show table all | grep -v '^local\|^broadcast\|proto kernel' | sort
echo "## iptables"; for t in filter nat mangle raw; do iptables-save -t "$t" 2>/dev/null | grep -E '^(-A|:[A-Z])' | grep -vE '^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ' | sed "s/^/$t /"; done
echo "## ip6tables"; ip6tables-save 2>/dev/null | grep -E '^(-A|:[A-Z])' | grep -vE '^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) '
echo "## mounts"; awk -v p="$STATE" 'index($2, p) == 1 {print $2}' /proc/mounts | sort
echo "## cgroups"; ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null
echo "## sysctls"; for s in $NODE_SYSCTLS; do echo "$s=$(sysctl -n "$s" 2>/dev/null)"; done
echo "## processes"; pgrep -a -f "$STATE/node|bin/$KEY/(kubelet|kube-proxy)" | grep -v pgrep | awk '{print $2}' | sort
exit 0
