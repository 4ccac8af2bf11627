#!/usr/bin/env bash
# Stops exactly the processes up.sh started (by their pid files, in reverse order), removes the
# real node with what it changed on the host (node-down.sh), and removes etcd's data. Leaves the
# PKI and logs in $CACHE/cluster for inspection.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
STATE=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}
[ -d "$STATE" ] || { echo "no local cluster state in $STATE"; exit 0; }
# The real node first (it undoes its changes to the host), then the control plane.
"$HERE/node-down.sh"
for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f=$STATE/$c.pid
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
done
if [ -s "$STATE/etcd-data" ]; then
  data=$(cat "$STATE/etcd-data")
  case "$data" in /dev/shm/mcp-etcd-*) rm -rf "$data" ;; esac
  rm -f "$STATE/etcd-data"
fi
rm -f "$STATE/kubeconfig"
echo "local cluster stopped"
