#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy,
# etcd and kwok from their Go modules into $BIN (outside the repo, keyed by version). Idempotent:
# exits at once when every binary is already there. Nothing of Kubernetes is vendored or committed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
export CGO_ENABLED=0 GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS="-trimpath -buildvcs=false"
want="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy etcd kwok kwok-upstream-stages.yaml"
have_all() { for b in $want; do [ -s "$BIN/$b" ] || return 1; done; }
if have_all; then echo "local cluster binaries cached in $BIN"; exit 0; fi
mkdir -p "$BIN"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
t0=$(date +%s)
step() { echo "[build $(( $(date +%s) - t0 ))s] $*"; }

# --- etcd (small, first so the cluster can at least store data) ---
if [ ! -s "$BIN/etcd" ]; then
  step "etcd $ETCD_VERSION"
  mkdir "$W/etcd"; cd "$W/etcd"; go mod init local.invalid/etcdbuild >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3 && mv "$BIN/etcd.tmp" "$BIN/etcd"
fi

# --- kwok and its stages (kept in a module of its own: its k8s.io requirements must not be bent) ---
if [ ! -s "$BIN/kwok" ] || [ ! -s "$BIN/kwok-upstream-stages.yaml" ]; then
  step "kwok $KWOK_VERSION"
  mkdir "$W/kwok"; cd "$W/kwok"; go mod init local.invalid/kwokbuild >/dev/null 2>&1
  go get -tool "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  go build -ldflags "-s -w" -o "$BIN/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok && mv "$BIN/kwok.tmp" "$BIN/kwok"
  KD=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  # kwok's own stages, copied out of the module (data of a dependency, not committed). pod-ready
  # is ours (stages/pod-ready.yaml) so that broken-image markers can take other paths.
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
           pod/fast/pod-complete pod/fast/pod-delete; do
    cat "$KD/kustomize/stage/$f.yaml"; echo '---'
  done > "$BIN/kwok-upstream-stages.yaml.tmp"
  mv "$BIN/kwok-upstream-stages.yaml.tmp" "$BIN/kwok-upstream-stages.yaml"
fi

# --- kubernetes: a wrapper module with a replace line for every staging module ---
missing=0
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do [ -s "$BIN/$b" ] || missing=1; done
if [ "$missing" = 1 ]; then
  step "kubernetes $K8S_VERSION"
  mkdir "$W/k8s"; cd "$W/k8s"; go mod init local.invalid/k8sbuild >/dev/null 2>&1
  KMOD=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  STAGE=v0.${K8S_VERSION#v1.}
  for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$KMOD"); do
    go mod edit -replace="$m=$m@$STAGE"
  done
  GD=$(sed -n 's/^godebug \(.*\)/\1/p' "$KMOD" | head -1)
  [ -n "$GD" ] && go mod edit -godebug="$GD"
  cmds="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy"
  go get -tool $(for c in $cmds; do echo "$c@$K8S_VERSION"; done)
  MINOR=${K8S_VERSION#v1.}; MINOR=${MINOR%%.*}; LDF="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDF+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$W/out"
  go build -ldflags "$LDF" -o "$W/out/" $cmds
  mv "$W/out/"* "$BIN/"
fi
step "done: $(ls "$BIN" | tr '\n' ' ')"
