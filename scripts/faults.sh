#!/usr/bin/env bash
# The fault suite (tests/faults.rs): serve processes against the local cluster while the
# controller is SIGKILLed, kube-apiserver and etcd are stopped, the leader is killed, a policy
# fails and objects are edited by hand. Prints a report with each case's time to converge.
#
#   scripts/faults.sh          # bounded version (CI: 40 servers, etcd down 10 s)
#   scripts/faults.sh --full   # the issue's sizes: 200 servers, 6 kills, both outages 20 s
#
# The cases stop parts of the shared cluster, so they run one at a time and never beside other
# tests. Starts the local cluster when none is running (and stops it again afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
LC=deploy/local-cluster
. "$LC/versions.env"
KC=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}/kubeconfig
[ "${1:-}" = "--full" ] && export MCP_RUNTIME_FAULTS=full
started=0
if ! { [ -s "$KC" ] && "$BIN/kubectl" --kubeconfig="$KC" get --raw /readyz >/dev/null 2>&1; }; then
  "$LC/up.sh"; started=1
fi
trap '[ "$started" = 1 ] && "$LC/down.sh" >/dev/null || true' EXIT
export MCP_RUNTIME_TEST_KUBECONFIG=$KC
export MCP_RUNTIME_FAULT_REPORT=${MCP_RUNTIME_FAULT_REPORT:-$PWD/target/fault-report.md}
mkdir -p "$(dirname "$MCP_RUNTIME_FAULT_REPORT")"
printf '| case | what happened | time to converge |\n|---|---|---|\n' > "$MCP_RUNTIME_FAULT_REPORT"
t0=$(date +%s)
rc=0
cargo test --locked --test faults -- --ignored --test-threads=1 || rc=$?
echo
echo "== fault suite (${MCP_RUNTIME_FAULTS:-bounded}, $(( $(date +%s) - t0 )) s) =="
cat "$MCP_RUNTIME_FAULT_REPORT"
exit "$rc"
