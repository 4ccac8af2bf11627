#!/usr/bin/env bash
# The control plane's image as users get it, without a container engine: a statically linked
# mcp-runtime (x86_64-unknown-linux-musl, release) in a minimal OCI image (the binary, the CA
# certificates, an empty /tmp; user 65532; entrypoint `mcp-runtime serve`), packed by
# oci-image.py into $CACHE/images and named localhost/mcp-runtime:static. Imports it into the
# real node's containerd when its socket is given. deploy/Containerfile builds the same for
# users with a container engine.
#
#   deploy/local-cluster/static-image.sh [containerd socket]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/versions.env"
SOCK=${1:-}
TARGET=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET" >/dev/null
command -v musl-gcc >/dev/null || apt-get install -y -qq --no-install-recommends musl-tools >/dev/null ||
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends musl-tools >/dev/null; }
(cd "$ROOT" && cargo build --release --locked --quiet --bin mcp-runtime --target "$TARGET")
BINARY=$ROOT/target/$TARGET/release/mcp-runtime
# Static (or static-pie): no shared library needed at all.
if readelf -d "$BINARY" | grep -q NEEDED; then
  echo "$BINARY needs shared libraries: $(readelf -d "$BINARY" | grep NEEDED)" >&2; exit 1
fi
IMAGES=$CACHE/images; mkdir -p "$IMAGES"
SUM=$(sha256sum "$BINARY" | cut -c1-16)
ARCHIVE=$IMAGES/mcp-runtime-static-$SUM.tar
if [ ! -s "$ARCHIVE" ]; then
  rm -f "$IMAGES"/mcp-runtime-static-*.tar
  W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
  mkdir -p "$W/usr/local/bin" "$W/etc/ssl/certs" "$W/tmp"
  strip -o "$W/usr/local/bin/mcp-runtime" "$BINARY"
  cp /etc/ssl/certs/ca-certificates.crt "$W/etc/ssl/certs/"
  chmod 1777 "$W/tmp"
  python3 "$HERE/oci-image.py" --name localhost/mcp-runtime:static --rootfs "$W" -o "$ARCHIVE" \
    --user 65532 --entrypoint '["/usr/local/bin/mcp-runtime"]' --cmd '["serve"]' --env HOME=/tmp
fi
[ -n "$SOCK" ] && ctr --address "$SOCK" -n k8s.io images import "$ARCHIVE" >/dev/null
echo "$ARCHIVE ($(du -h "$ARCHIVE" | cut -f1))"
