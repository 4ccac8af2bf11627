#!/usr/bin/env bash
# Fuzzes the HTTP API with schemathesis (PyPI), driven only by the served /openapi.json: `serve`
# on the local cluster in a namespace of its own, every check, request bodies included. Any
# failure (a 5xx, a status or body the document does not list, an accepted invalid input, a
# refused valid one) fails the run. Needs the local cluster (scripts/test.sh starts it) and the
# built binary (cargo build); schemathesis comes from scripts/plugin-tools.sh.
#
#   scripts/api-schemathesis.sh            # CI: 40 examples per operation
#   ST_MAX_EXAMPLES=500 scripts/api-schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/local-cluster/versions.env
KC=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}/kubeconfig
ST=$CACHE/tools/schemathesis-4.32.5/bin/st
BIN=${CARGO_TARGET_DIR:-target}/debug/mcp-runtime
NS=schemathesis-$$
WORK=$(mktemp -d)
kubectl() { "$CACHE/bin/$KEY/kubectl" --kubeconfig="$KC" "$@"; }

kubectl create namespace "$NS" >/dev/null
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/token"
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
MCP_RUNTIME_MCP_PROBE_INTERVAL=0 "$BIN" serve --kubeconfig "$KC" --namespace "$NS" \
  --listen "127.0.0.1:$PORT" --token-file "$WORK/token" > "$WORK/serve.log" 2>&1 &
SERVE=$!
cleanup() {
  kill "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 120); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz" && break; sleep 0.5; done
curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz" || { echo "serve did not become ready:"; cat "$WORK/serve.log"; exit 1; }

rc=0
# From the work directory: schemathesis keeps a crash cache in the current one.
CONFIG=$PWD/scripts/schemathesis.toml
cd "$WORK"
"$ST" --config-file "$CONFIG" run "http://127.0.0.1:$PORT/openapi.json" \
  --header "Authorization: Bearer $(cat "$WORK/token")" \
  --max-examples "${ST_MAX_EXAMPLES:-40}" \
  --workers 1 \
  --seed "${ST_SEED:-1}" \
  --generation-database none \
  --no-color || rc=$?
if [ "$rc" != 0 ]; then
  echo "== serve's warnings and errors (last 40) =="; grep -E 'WARN|ERROR' "$WORK/serve.log" | tail -n 40
fi
exit "$rc"
