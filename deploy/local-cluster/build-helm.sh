#!/usr/bin/env bash
# Builds `helm` from its Go module into $HELM_BIN (outside the repo, keyed by version), like the
# cluster binaries. Idempotent: exits at once when the binary is there. Prints the binary's path.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
if [ -x "$HELM_BIN/helm" ]; then echo "$HELM_BIN/helm"; exit 0; fi
export CGO_ENABLED=0 GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS="-trimpath -buildvcs=false"
mkdir -p "$HELM_BIN"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
cd "$W"; go mod init local.invalid/helmbuild >/dev/null 2>&1
MOD=helm.sh/helm/${HELM_VERSION%%.*}
go get -tool "$MOD/cmd/helm@$HELM_VERSION" >&2
go build -ldflags "-s -w -X $MOD/internal/version.version=$HELM_VERSION" -o "$HELM_BIN/helm.tmp" "$MOD/cmd/helm" >&2
mv "$HELM_BIN/helm.tmp" "$HELM_BIN/helm"
echo "$HELM_BIN/helm"
