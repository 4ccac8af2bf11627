#!/usr/bin/env bash
# Installs the policy toolchains into the cache (outside the repo, keyed by version; a no-op
# when present): componentize-qjs (npm) for JavaScript policies, componentize-py (PyPI) for
# Python policies. `mcp-runtime plugin build` finds them there. Also the official MCP Python SDK
# (PyPI `mcp`), whose servers and clients the bridge tests and benchmark drive, and schemathesis
# (PyPI), which fuzzes the HTTP API from its served OpenAPI document (scripts/api-schemathesis.sh).
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
SCHEMATHESIS_VERSION=4.32.5
ST_DIR=$CACHE/tools/schemathesis-$SCHEMATHESIS_VERSION
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
if [ ! -x "$ST_DIR/bin/st" ]; then
  python3 -m venv "$ST_DIR"
  "$ST_DIR/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$MCP_DIR/bin/python" -c 'import mcp.client.streamable_http, mcp.server.fastmcp'
"$ST_DIR/bin/st" --version >/dev/null
"$QJS_DIR/node_modules/.bin/componentize-qjs" --help >/dev/null
"$PY_DIR/bin/componentize-py" --version
