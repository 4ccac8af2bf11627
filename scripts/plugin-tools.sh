#!/usr/bin/env bash
# Installs the policy toolchains into the cache (outside the repo, keyed by version; a no-op
# when present): componentize-qjs (npm) for JavaScript policies, componentize-py (PyPI) for
# Python policies. `mcp-runtime plugin build` finds them there. Also the official MCP Python SDK
# (PyPI `mcp`), whose servers and clients the bridge tests and benchmark drive, and schemathesis
# (PyPI), which fuzzes the HTTP API from its served OpenAPI document (scripts/api-schemathesis.sh),
# and two client generators a user of the API would pick (scripts/api-clients.sh):
# openapi-python-client (PyPI) and openapi-typescript with openapi-fetch and tsc (npm).
set -euo pipefail
CACHE=${MCP_RUNTIME_CACHE:-$HOME/.cache/mcp-runtime}
QJS_VERSION=0.4.5
PY_VERSION=0.25.1
QJS_DIR=$CACHE/tools/npm-qjs-$QJS_VERSION
PY_DIR=$CACHE/tools/componentize-py-$PY_VERSION
MCP_SDK_VERSION=1.30.0
MCP_DIR=$CACHE/tools/mcp-sdk-$MCP_SDK_VERSION
# The 2.x SDK speaks both eras (2026-07-28 and the handshake): the probe's era tests use it.
MCP_SDK2_VERSION=2.3.0
MCP2_DIR=$CACHE/tools/mcp-sdk-$MCP_SDK2_VERSION
# The official MCP conformance suite (0.1.11 is the newest that runs on Node 20) and the official
# server-everything (the same version as its image, deploy/local-cluster/images.sh).
CONFORMANCE_VERSION=0.1.11
CONFORMANCE_DIR=$CACHE/tools/conformance-$CONFORMANCE_VERSION
EVERYTHING_VERSION=2026.8.31
EVERYTHING_DIR=$CACHE/tools/server-everything-$EVERYTHING_VERSION
# The official Inspector's CLI mode as a client (1.0.3 declares Node 22 but its CLI runs on 20;
# 2.x needs 22).
INSPECTOR_VERSION=1.0.3
INSPECTOR_DIR=$CACHE/tools/inspector-$INSPECTOR_VERSION
SCHEMATHESIS_VERSION=4.32.5
ST_DIR=$CACHE/tools/schemathesis-$SCHEMATHESIS_VERSION
OPC_VERSION=0.29.1
OPC_DIR=$CACHE/tools/openapi-python-client-$OPC_VERSION
# openapi-typescript 7 and openapi-fetch run on Node 20 (@hey-api/openapi-ts needs 22).
OTS_VERSION=7.13.0
OFETCH_VERSION=0.17.0
TSC_VERSION=5.9.3
NODE_TYPES_VERSION=20.19.43
OTS_DIR=$CACHE/tools/openapi-ts-$OTS_VERSION-fetch-$OFETCH_VERSION-tsc-$TSC_VERSION-node-types-$NODE_TYPES_VERSION
if [ ! -x "$QJS_DIR/node_modules/.bin/componentize-qjs" ]; then
  mkdir -p "$QJS_DIR"
  (cd "$QJS_DIR" && npm install --no-audit --no-fund --silent "componentize-qjs@$QJS_VERSION")
fi
if [ ! -x "$PY_DIR/bin/componentize-py" ]; then
  python3 -m venv "$PY_DIR"
  "$PY_DIR/bin/pip" install --quiet "componentize-py==$PY_VERSION"
fi
if [ ! -x "$MCP_DIR/bin/python" ] || ! "$MCP_DIR/bin/python" -c 'import mcp' 2>/dev/null; then
  python3 -m venv "$MCP_DIR"
  "$MCP_DIR/bin/pip" install --quiet "mcp==$MCP_SDK_VERSION"
fi
if [ ! -x "$MCP2_DIR/bin/python" ] || ! "$MCP2_DIR/bin/python" -c 'import mcp.server.mcpserver' 2>/dev/null; then
  python3 -m venv "$MCP2_DIR"
  "$MCP2_DIR/bin/pip" install --quiet "mcp==$MCP_SDK2_VERSION"
fi
if [ ! -x "$CONFORMANCE_DIR/node_modules/.bin/conformance" ]; then
  mkdir -p "$CONFORMANCE_DIR"
  (cd "$CONFORMANCE_DIR" && npm install --no-audit --no-fund --silent "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION")
fi
if [ ! -f "$EVERYTHING_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js" ]; then
  mkdir -p "$EVERYTHING_DIR"
  (cd "$EVERYTHING_DIR" && npm install --no-audit --no-fund --silent --omit=dev "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION")
fi
if [ ! -x "$INSPECTOR_DIR/node_modules/.bin/mcp-inspector" ]; then
  mkdir -p "$INSPECTOR_DIR"
  (cd "$INSPECTOR_DIR" && npm install --no-audit --no-fund --silent --engine-strict=false "@modelcontextprotocol/inspector@$INSPECTOR_VERSION")
fi
if [ ! -x "$ST_DIR/bin/st" ]; then
  python3 -m venv "$ST_DIR"
  "$ST_DIR/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
if [ ! -x "$OPC_DIR/bin/openapi-python-client" ]; then
  python3 -m venv "$OPC_DIR"
  "$OPC_DIR/bin/pip" install --quiet "openapi-python-client==$OPC_VERSION"
fi
if [ ! -x "$OTS_DIR/node_modules/.bin/tsc" ]; then
  mkdir -p "$OTS_DIR"
  (cd "$OTS_DIR" && npm install --no-audit --no-fund --silent "openapi-typescript@$OTS_VERSION" \
    "openapi-fetch@$OFETCH_VERSION" "typescript@$TSC_VERSION" "@types/node@$NODE_TYPES_VERSION")
fi
"$MCP_DIR/bin/python" -c 'import mcp.client.streamable_http, mcp.server.fastmcp'
"$ST_DIR/bin/st" --version >/dev/null
"$QJS_DIR/node_modules/.bin/componentize-qjs" --help >/dev/null
"$PY_DIR/bin/componentize-py" --version
