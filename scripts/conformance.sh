#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, npm) against the same
# server twice: the official server-everything on its own streamable-HTTP transport, and its
# stdio mode behind `mcp-runtime bridge`. Side by side, per check; fails when the bridge fails a
# check the native transport passes (INFO, the suite's word for an optional behaviour it did not
# see, is reported, not failed). The suite's scenarios call tools of its own reference server,
# so some fail on server-everything natively: those are compared, not required.
#
#   scripts/conformance.sh            # both runs, the table, exit 1 on a regression
#
# Needs Node.js (the machine's 20: conformance 0.1.11 is the newest that runs on it) and the
# tools of scripts/plugin-tools.sh. Traffic: loopback only (the suite is pointed at 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${MCP_RUNTIME_CACHE:-$HOME/.cache/mcp-runtime}
eval "$(grep -E '^(CONFORMANCE|EVERYTHING|INSPECTOR)_VERSION=' scripts/plugin-tools.sh)"
SUITE=$CACHE/tools/conformance-$CONFORMANCE_VERSION/node_modules/.bin/conformance
EVERYTHING=$CACHE/tools/server-everything-$EVERYTHING_VERSION/node_modules/@modelcontextprotocol/server-everything/dist/index.js
INSPECTOR=$CACHE/tools/inspector-$INSPECTOR_VERSION/node_modules/.bin/mcp-inspector
[ -x "$SUITE" ] && [ -f "$EVERYTHING" ] && [ -x "$INSPECTOR" ] || scripts/plugin-tools.sh >/dev/null
BIN=${MCP_RUNTIME_BIN:-target/debug/mcp-runtime}
[ -x "$BIN" ] || cargo build -q --bin mcp-runtime
OUT=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$OUT"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_listening() {
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2; return 1
}
run_suite() { # name url
  "$SUITE" server --url "$2" -o "$OUT/$1" >"$OUT/$1.log" 2>&1 || true
  # The official Inspector's CLI as a second client: one tool call, its result kept.
  "$INSPECTOR" --cli "$2" --transport http --method tools/call --tool-name echo \
    --tool-arg "message=through $1" >"$OUT/$1.inspector.json" 2>"$OUT/$1.inspector.log" || true
}

native_port=$(free_port)
PORT=$native_port node "$EVERYTHING" streamableHttp >"$OUT/native-server.log" 2>&1 &
pids+=($!)
wait_listening "$native_port"
run_suite native "http://127.0.0.1:$native_port/mcp"

bridge_port=$(free_port)
"$BIN" bridge --listen "127.0.0.1:$bridge_port" -- node "$EVERYTHING" stdio >"$OUT/bridge.log" 2>&1 &
pids+=($!)
wait_listening "$bridge_port"
curl -sf "http://127.0.0.1:$bridge_port/readyz" >/dev/null || sleep 2
run_suite bridge "http://127.0.0.1:$bridge_port/mcp"

python3 - "$OUT" <<'PY'
import glob, json, os, re, sys

out = sys.argv[1]

def results(run):
    checks = {}
    for path in glob.glob(os.path.join(out, run, "*", "checks.json")):
        scenario = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", os.path.basename(os.path.dirname(path)))
        for c in json.load(open(path)):
            checks[(scenario, c["id"])] = (c["status"], c.get("errorMessage", ""))
    return checks

native, bridge = results("native"), results("bridge")
for run in ("native", "bridge"):
    try:
        said = json.load(open(os.path.join(out, f"{run}.inspector.json")))["content"][0]["text"]
    except (OSError, ValueError, KeyError, IndexError):
        said = None
    ok = said == f"Echo: through {run}"
    (native if run == "native" else bridge)[("inspector-cli", "tools/call echo")] = (
        "SUCCESS" if ok else "FAILURE", f"the Inspector's CLI got {said!r}")
if not native:
    sys.exit("the suite produced no results natively: see " + out)
regressions, rows = [], []
for key in sorted(set(native) | set(bridge)):
    n = native.get(key, ("MISSING", ""))[0]
    b, why = bridge.get(key, ("MISSING", ""))
    rows.append((f"{key[0]} / {key[1]}", n, b))
    # INFO is the suite's word for an optional behaviour it saw absent (e.g. answers as JSON
    # where SSE is allowed too): reported, not a failure. FAILURE or a missing check is.
    if n == "SUCCESS" and b in ("FAILURE", "MISSING"):
        regressions.append((key, why))
width = max(len(r[0]) for r in rows)
print(f"{'scenario / check':<{width}}  {'native':<8}  bridge")
for name, n, b in rows:
    print(f"{name:<{width}}  {n:<8}  {b}")
passed = lambda r: sum(1 for s, _ in r.values() if s == "SUCCESS")
print(f"\npassed: native {passed(native)}/{len(native)}, bridge {passed(bridge)}/{len(bridge)}")
for (scenario, check), why in regressions:
    print(f"REGRESSION {scenario} / {check}: {why}")
sys.exit(1 if regressions else 0)
PY
