#!/usr/bin/env bash
# Runs the commands the READMEs show, as written: the "Try it" block of README.md and the
# "Build, test, benchmark" block of plugins/README.md. Each command must exit 0, or with the code
# its comment names ("exit code 2"); a command ending in `&` runs in the background, and the next
# one waits for the API it starts (as a reader would). Afterwards the README's first server must
# reach Running. Needs the local cluster (scripts/test.sh starts it) and a free port 8080.
#
# The plugin commands write .wasm files and pin digests into the examples' plugin.json; the
# committed plugin.json files are restored afterwards, and what the run made is removed.
set -uo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
for f in plugins/examples/*/plugin.json; do mkdir -p "$WORK/keep/$(dirname "$f")"; cp "$f" "$WORK/keep/$f"; done

cleanup() {
  for server in github everything; do
    [ -n "${TOKEN:-}" ] && curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8080/v1/servers/$server"
  done
  deploy/local-cluster/kubectl delete configmap github-settings --ignore-not-found >/dev/null 2>&1
  deploy/local-cluster/kubectl delete rolebinding ci-views --ignore-not-found >/dev/null 2>&1
  deploy/local-cluster/kubectl delete role mcp-viewer --ignore-not-found >/dev/null 2>&1
  deploy/local-cluster/kubectl delete serviceaccount ci --ignore-not-found >/dev/null 2>&1
  jobs -p | xargs -r kill 2>/dev/null
  wait 2>/dev/null
  (cd "$WORK/keep" && find . -name plugin.json) | while read -r f; do cp "$WORK/keep/$f" "$f"; done
  rm -f plugins/examples/*/*.wasm
  rm -rf "$WORK"
}
trap cleanup EXIT

# The lines of the ```sh block under a heading, one command per line, with each command's
# expected exit code (from a comment line below it that says "exit code N").
commands() { # file, heading
  python3 - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text.split("\n" + sys.argv[2] + "\n", 1)[1]
block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
out = []
for line in block.splitlines():
    s = line.strip()
    if not s:
        continue
    if s.startswith("#"):
        m = re.search(r"exit code (\d+)", s)
        if m and out:
            out[-1][0] = int(m.group(1))
        continue
    out.append([0, line])
for rc, line in out:
    print(f"{rc}\t{line}")
PY
}

failed=0
run_block() { # file, heading
  while IFS=$'\t' read -r want line; do
    echo "\$ $line"
    if [[ "$line" =~ \&[[:space:]]*(#.*)?$ ]]; then
      eval "$line" > "$WORK/background.log" 2>&1
      bg=$!
      # As a reader would: wait while it compiles and starts (up to 20 minutes), not after it died.
      for _ in $(seq 1 2400); do
        curl -fs -o /dev/null http://127.0.0.1:8080/healthz && break
        kill -0 "$bg" 2>/dev/null || break
        sleep 0.5
      done
      curl -fs -o /dev/null http://127.0.0.1:8080/healthz || { echo "  the background command did not start the API:"; tail -n 20 "$WORK/background.log"; failed=1; return; }
      continue
    fi
    eval "$line" > "$WORK/out" 2>&1 < /dev/null
    rc=$?
    head -c 600 "$WORK/out" | sed 's/^/  /'; echo
    if [ "$rc" != "$want" ]; then
      echo "  FAILED: exit code $rc, the README says $want"
      tail -n 30 "$WORK/out"
      failed=1
    fi
  done < <(commands "$1" "$2")
}

run_block README.md "## Try it"
# The README's servers must run: `everything` on the real node when the machine has one (and then
# answer MCP), `github` on the simulated kwok node.
status_of() { # server -> its status as JSON
  curl -s -H "Authorization: Bearer ${TOKEN:-}" "http://127.0.0.1:8080/v1/servers/$1/status"
}
real_node=0
deploy/local-cluster/kubectl get node mcp-node-0 >/dev/null 2>&1 && real_node=1
for server in everything github; do
  want=Running
  [ "$server" = everything ] && [ "$real_node" = 1 ] && want=McpReady
  seen=""
  for _ in $(seq 1 180); do
    seen=$(status_of "$server" | python3 -c '
import json, sys
s = json.load(sys.stdin).get("status") or {}
ready = [c for c in s.get("conditions", []) if c.get("type") == "McpReady" and c.get("status") == "True"]
name = ((s.get("mcp") or {}).get("serverInfo") or {}).get("name")
print("McpReady" if ready and name == "mcp-servers/everything" else s.get("phase", ""))' 2>/dev/null)
    [ "$seen" = "$want" ] || { [ "$want" = Running ] && [ "$seen" = McpReady ]; } && break
    sleep 0.5
  done
  if [ "$seen" = "$want" ] || { [ "$want" = Running ] && [ "$seen" = McpReady ]; }; then
    echo "the README's server $server: $want"
  else
    echo "FAILED: the README's server $server is ${seen:-unknown}, not $want:"
    status_of "$server"; echo
    failed=1
  fi
done

run_block plugins/README.md "## Build, test, benchmark"

[ "$failed" = 0 ] && echo "every README command worked as written" || echo "some README commands failed"
exit "$failed"
