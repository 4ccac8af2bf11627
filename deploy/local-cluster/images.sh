#!/usr/bin/env bash
# Builds the real node's images from packages, without a registry or a container engine, into
# $CACHE/images (one OCI archive each, named by what it is made of, so a cached one is reused),
# and imports them into the node's containerd when its socket is given:
#
#   deploy/local-cluster/images.sh [containerd socket]
#
# Every image is named localhost/...: a missing one makes containerd try http://localhost/v2/,
# refused on loopback, and nothing is ever looked up elsewhere.
#   localhost/pause:3.10              the pod sandbox (Kubernetes' pause.c, static)
#   localhost/mcp-everything:<ver>    the official @modelcontextprotocol/server-everything (npm)
#                                     on the host's Node.js, with the libraries it needs
#   localhost/mcp-time:<ver>          the official mcp-server-time (PyPI; a stdio server of the
#                                     Python SDK 2.x) on Debian's Python, with its libraries
#   localhost/mcp-runtime:dev         this checkout's mcp-runtime binary (the control plane and
#                                     bridge image)
#   localhost/broken-exit:1           exits 1 at once (CrashLoopBackOff)
#   localhost/broken-oom:1            allocates past any small limit (OOMKilled)
#   localhost/broken-root:1           runs as root (refused by runAsNonRoot)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/versions.env"
SOCK=${1:-}
IMAGES=$CACHE/images
mkdir -p "$IMAGES"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
EVERYTHING_VERSION=2026.8.31
TIME_VERSION=2026.10.19
NONROOT=65532

pack() { # name, archive, rootfs, extra oci-image.py args...
  local name=$1 out=$2 rootfs=$3; shift 3
  [ -s "$out" ] || python3 "$HERE/oci-image.py" --name "$name" --rootfs "$rootfs" -o "$out" "$@"
}

# The shared libraries `ldd` lists for the binaries given, copied into a rootfs.
libs_into() { # rootfs, binaries...
  local rootfs=$1; shift
  for lib in $(ldd "$@" 2>/dev/null | grep -o '/[^ :]*\.so[^ :]*' | grep -v "^$rootfs" | sort -u); do
    mkdir -p "$rootfs$(dirname "$lib")"; cp -L "$lib" "$rootfs$lib"
  done
}

static_c() { # name, C source -> $W/<name>/<name>
  mkdir -p "$W/$1"; printf '%s\n' "$2" > "$W/$1.c"
  gcc -static -O2 -o "$W/$1/$1" "$W/$1.c"
}

# --- pause ---
PAUSE_SRC=$CACHE/go/mod/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c
PAUSE=$IMAGES/pause-3.10.tar
if [ ! -s "$PAUSE" ]; then
  mkdir -p "$W/pause"; gcc -static -O2 -DVERSION=3.10 -o "$W/pause/pause" "$PAUSE_SRC"
  pack localhost/pause:3.10 "$PAUSE" "$W/pause" --entrypoint '["/pause"]' --user "$NONROOT"
fi

# --- the official server-everything on the host's Node.js ---
NODE_V=$(node --version)
EVERYTHING=$IMAGES/mcp-everything-$EVERYTHING_VERSION-node-$NODE_V.tar
if [ ! -s "$EVERYTHING" ]; then
  R=$W/everything; mkdir -p "$R/app" "$R/usr/bin" "$R/tmp"
  (cd "$R/app" && npm install --no-audit --no-fund --silent --omit=dev \
    "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION" >/dev/null)
  cp "$(command -v node)" "$R/usr/bin/node"
  # The libraries of node and of mcp-runtime (glibc, libgcc_s, libm: a subset of node's), so
  # the bridge's binary runs in this image too.
  libs_into "$R" "$R/usr/bin/node"
  chmod 1777 "$R/tmp"
  pack "localhost/mcp-everything:$EVERYTHING_VERSION" "$EVERYTHING" "$R" --user "$NONROOT" \
    --entrypoint '["/usr/bin/node", "/app/node_modules/@modelcontextprotocol/server-everything/dist/index.js"]' \
    --env PATH=/usr/bin --env HOME=/tmp
fi

# --- the official mcp-server-time (PyPI) on Debian's Python 3.11 ---
PY=/usr/bin/python3.11
TIME_IMAGE=$IMAGES/mcp-time-$TIME_VERSION-$("$PY" -c 'import platform; print(platform.python_version())').tar
if [ ! -s "$TIME_IMAGE" ]; then
  R=$W/time; mkdir -p "$R/app" "$R/usr/bin" "$R/usr/lib" "$R/tmp"
  # A venv of Debian's Python for pip (it brings none); cp311 manylinux wheels for the native parts.
  python3 -m venv "$W/pip"
  "$W/pip/bin/pip" install --quiet --disable-pip-version-check --no-compile --target "$R/app" \
    "mcp-server-time==$TIME_VERSION"
  cp "$PY" "$R/usr/bin/python3.11"
  cp -a /usr/lib/python3.11 "$R/usr/lib/python3.11"
  rm -rf "$R/usr/lib/python3.11/test" "$R/usr/lib/python3.11/"{idlelib,tkinter,turtledemo,ensurepip}
  libs_into "$R" "$PY" /usr/lib/python3.11/lib-dynload/*.so $(find "$R/app" -name '*.so')
  chmod 1777 "$R/tmp"
  pack "localhost/mcp-time:$TIME_VERSION" "$TIME_IMAGE" "$R" --user "$NONROOT" \
    --entrypoint '["/usr/bin/python3.11", "-m", "mcp_server_time"]' \
    --env PATH=/usr/bin --env HOME=/tmp --env PYTHONPATH=/app --env PYTHONDONTWRITEBYTECODE=1
fi

# --- this checkout's mcp-runtime (stripped), the bridge image ---
BINARY=$ROOT/target/debug/mcp-runtime
if [ -x "$BINARY" ]; then
  SUM=$(sha256sum "$BINARY" | cut -c1-16)
  RUNTIME=$IMAGES/mcp-runtime-dev-$SUM.tar
  if [ ! -s "$RUNTIME" ]; then
    rm -f "$IMAGES"/mcp-runtime-dev-*.tar  # one binary's image at a time
    R=$W/runtime; mkdir -p "$R/usr/local/bin"
    strip -o "$R/usr/local/bin/mcp-runtime" "$BINARY"
    libs_into "$R" "$BINARY"
    pack localhost/mcp-runtime:dev "$RUNTIME" "$R" --user "$NONROOT" \
      --entrypoint '["/usr/local/bin/mcp-runtime"]'
  fi
fi

# --- broken images for the failure tests ---
BROKEN_EXIT=$IMAGES/broken-exit-1.tar
if [ ! -s "$BROKEN_EXIT" ]; then
  static_c exit1 '#include <stdio.h>
int main(void) { fputs("broken-exit: failing on purpose\n", stderr); return 1; }'
  pack localhost/broken-exit:1 "$BROKEN_EXIT" "$W/exit1" --entrypoint '["/exit1"]' --user "$NONROOT"
fi
BROKEN_OOM=$IMAGES/broken-oom-1.tar
if [ ! -s "$BROKEN_OOM" ]; then
  static_c oom '#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) { for (int i = 0; i < 64; i++) { char *p = malloc(16 << 20); if (p) memset(p, 1, 16 << 20); } pause(); return 0; }'
  pack localhost/broken-oom:1 "$BROKEN_OOM" "$W/oom" --entrypoint '["/oom"]' --user "$NONROOT"
fi
BROKEN_ROOT=$IMAGES/broken-root-1.tar
if [ ! -s "$BROKEN_ROOT" ]; then
  mkdir -p "$W/root"; cp "$W/pause/pause" "$W/root/pause" 2>/dev/null ||
    gcc -static -O2 -DVERSION=3.10 -o "$W/root/pause" "$PAUSE_SRC"
  pack localhost/broken-root:1 "$BROKEN_ROOT" "$W/root" --entrypoint '["/pause"]'
fi

if [ -n "$SOCK" ]; then
  for archive in "$PAUSE" "$EVERYTHING" "$TIME_IMAGE" ${RUNTIME:+"$RUNTIME"} "$BROKEN_EXIT" "$BROKEN_OOM" "$BROKEN_ROOT"; do
    ctr --address "$SOCK" -n k8s.io images import --no-unpack=false "$archive" >/dev/null
  done
fi
echo "images in $IMAGES"
