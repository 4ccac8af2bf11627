#!/usr/bin/env bash
# Clients generated from the served /openapi.json work unedited, as a new user would make them:
# openapi-python-client (PyPI) and openapi-typescript + openapi-fetch (npm, compiled with tsc
# --strict). Each creates, lists, patches, reads the status of and deletes a server through
# /v1/servers and /v1/namespaces/{namespace}/servers, against `serve` on the local cluster
# serving two namespaces. A generator warning fails the run, but for the one content type no
# generator models (/metrics: application/openmetrics-text). Needs the local cluster
# (scripts/test.sh starts it) and the built binary; the generators come from
# scripts/plugin-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/local-cluster/versions.env
KC=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}/kubeconfig
BIN=${CARGO_TARGET_DIR:-target}/debug/mcp-runtime
OPC_DIR=$CACHE/tools/openapi-python-client-0.29.1
OTS_DIR=$(ls -d "$CACHE"/tools/openapi-ts-7.13.0-* | head -n 1)
HOME_NS=api-clients-$$
OTHER_NS=api-clients-other-$$
WORK=$(mktemp -d)
SRC=$PWD/scripts/api-clients
kubectl() { "$CACHE/bin/$KEY/kubectl" --kubeconfig="$KC" "$@"; }

kubectl create namespace "$HOME_NS" >/dev/null
kubectl create namespace "$OTHER_NS" >/dev/null
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/token"
TOKEN=$(cat "$WORK/token")
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
MCP_RUNTIME_MCP_PROBE_INTERVAL=0 MCP_RUNTIME_NAMESPACES="$HOME_NS,$OTHER_NS" \
  "$BIN" serve --kubeconfig "$KC" --namespace "$HOME_NS" \
  --listen "127.0.0.1:$PORT" --token-file "$WORK/token" > "$WORK/serve.log" 2>&1 &
SERVE=$!
cleanup() {
  kill "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null
  kubectl delete namespace "$HOME_NS" "$OTHER_NS" --wait=false >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 120); do curl -fs -o /dev/null "$URL/readyz" && break; sleep 0.5; done
curl -fs -o /dev/null "$URL/readyz" || { echo "serve did not become ready:"; cat "$WORK/serve.log"; exit 1; }
curl -fsS -o "$WORK/openapi.json" "$URL/openapi.json"

# Warnings of a generator's output (one per line, its first) but the allowed one.
unexpected() { grep -E '^(WARNING|ERROR)' "$1" | grep -v '^WARNING parsing GET /metrics within default\.$' || true; }
failed=0

echo "== openapi-python-client"
mkdir -p "$WORK/py"
echo '{"post_hooks": []}' > "$WORK/py/config.json"
"$OPC_DIR/bin/openapi-python-client" generate --path "$WORK/openapi.json" --meta none \
  --output-path "$WORK/py/mcp_runtime_client" --config "$WORK/py/config.json" > "$WORK/py/generate.log" 2>&1
if [ -n "$(unexpected "$WORK/py/generate.log")" ]; then
  echo "openapi-python-client warned:"; cat "$WORK/py/generate.log"; failed=1
fi
PYTHONPATH="$WORK/py" "$OPC_DIR/bin/python" "$SRC/client.py" "$URL" "$TOKEN" "$OTHER_NS" || failed=1

echo "== openapi-typescript + openapi-fetch"
mkdir -p "$WORK/ts"
cp "$SRC/client.ts" "$SRC/tsconfig.json" "$WORK/ts/"
ln -s "$OTS_DIR/node_modules" "$WORK/ts/node_modules"
echo '{"type": "module"}' > "$WORK/ts/package.json"
( cd "$WORK/ts"
  node_modules/.bin/openapi-typescript "$WORK/openapi.json" -o api.d.ts > generate.log 2>&1 || { cat generate.log; exit 1; }
  # openapi-typescript reports what it cannot model with a warning sign.
  if grep -E '⚠|WARN' generate.log; then echo "openapi-typescript warned"; exit 1; fi
  node_modules/.bin/tsc -p tsconfig.json
  node out/client.js "$URL" "$TOKEN" "$OTHER_NS"
) || failed=1

if [ "$failed" != 0 ]; then
  echo "== serve's warnings and errors (last 40) =="; grep -E 'WARN|ERROR' "$WORK/serve.log" | tail -n 40
fi
exit "$failed"
