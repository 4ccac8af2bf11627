#!/usr/bin/env bash
# The project's test command (README): format check, clippy with -D warnings, and every test,
# the integration tests against the real local cluster (deploy/local-cluster), which this script
# builds (cached outside the repo) and starts, and stops again if it started it.
set -euo pipefail
cd "$(dirname "$0")/.."
LC=deploy/local-cluster
. "$LC/versions.env"
KC=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}/kubeconfig

# Build the cluster binaries and helm in the background while cargo compiles (no-op when cached).
mkdir -p "$CACHE"
{ "$LC/build.sh" && "$LC/build-helm.sh"; } > "$CACHE/build-last.log" 2>&1 &
build_pid=$!

# The JavaScript and Python policy toolchains (cached; tests build the example plugins).
scripts/plugin-tools.sh

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --lib --bins --tests --no-run
# The binary as `cargo run` builds it (the README's commands): without the dev-dependencies'
# features (rstest turns on syn's `visit`, tokio's `test-util`), so most crates compile a second
# time. Built here, beside the cluster build, so that no later step waits on the compiler.
cargo build --locked

if ! wait "$build_pid"; then
  echo "building the local cluster failed:" >&2; tail -n 60 "$CACHE/build-last.log" >&2; exit 1
fi

started=0
if ! { [ -s "$KC" ] && "$BIN/kubectl" --kubeconfig="$KC" get --raw /readyz >/dev/null 2>&1; }; then
  # What the real node changes on the host must all be undone by down.sh: compared at the end.
  # A cluster an earlier run left behind without its API server (a machine stopped mid-run) is
  # taken down first, so that the comparison is with the host as it was before any of ours.
  if [ -e "${KC%/kubeconfig}/node" ]; then "$LC/down.sh" >/dev/null 2>&1 || true; fi
  "$LC/host-state.sh" > "$CACHE/host-before.txt"
  "$LC/up.sh"
  started=1
fi
on_exit() {
  rc=$?
  if [ "$rc" != 0 ]; then
    echo "== tests failed; last lines of the local cluster's logs ==" >&2
    for f in "${KC%/kubeconfig}"/logs/*.log; do
      case "$f" in */audit.log) continue ;; esac
      echo "--- $f" >&2; tail -n 50 "$f" >&2
    done
  fi
  if [ "$started" = 1 ]; then
    "$LC/down.sh" || true
    "$LC/host-state.sh" > "$CACHE/host-after.txt"
    if ! diff -u "$CACHE/host-before.txt" "$CACHE/host-after.txt" >&2; then
      echo "down.sh left the host changed (above)" >&2
      [ "$rc" = 0 ] && rc=1
    fi
  fi
  exit "$rc"
}
trap on_exit EXIT

export MCP_RUNTIME_TEST_KUBECONFIG=$KC
cargo test --locked --lib --bins --tests
# The official MCP conformance suite and Inspector CLI: the bridge passes every check the same
# server's own HTTP transport passes.
scripts/conformance.sh
# The HTTP API fuzzed from its served OpenAPI document (schemathesis, every check).
scripts/api-schemathesis.sh
# Clients generated from the served OpenAPI document (Python, TypeScript) drive the API unedited.
scripts/api-clients.sh
# Every command the READMEs show, as written.
scripts/readme-commands.sh
# The bounded fault suite (it stops cluster components, so it runs alone, after the rest; the
# full one: scripts/faults.sh --full).
scripts/faults.sh
