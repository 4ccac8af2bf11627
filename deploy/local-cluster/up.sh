#!/usr/bin/env bash
# Starts the local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (fake nodes), all on loopback, and writes a kubeconfig; then one real
# node (node-up.sh: kubelet, containerd, kube-proxy; tainted, so only pods meant for it land
# there; MCP_RUNTIME_REAL_NODE=0 leaves it out). The API server keeps an audit log of writes in
# $STATE/logs/audit.log.
#
#   deploy/local-cluster/up.sh          # builds binaries first if they are not cached
#   export KUBECONFIG=$(deploy/local-cluster/up.sh --print-kubeconfig)
#
# State: $CACHE/cluster (pid files, logs/, pki/, kubeconfig); etcd data in /dev/shm.
# Idempotent: if the cluster is already up and healthy it only prints where it is.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
STATE=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}
KC=$STATE/kubeconfig
PKI=$STATE/pki
LOG=$STATE/logs
QUIET=0; [ "${1:-}" = "--print-kubeconfig" ] && QUIET=1
say() { [ "$QUIET" = 1 ] && echo "$*" >&2 || echo "$*"; }

healthy() {
  [ -s "$KC" ] && [ -s "$STATE/kube-apiserver.pid" ] && kill -0 "$(cat "$STATE/kube-apiserver.pid")" 2>/dev/null &&
    "$BIN/kubectl" --kubeconfig="$KC" get --raw /readyz >/dev/null 2>&1
}
if healthy; then
  say "local cluster already running (kubeconfig $KC)"
  [ "$QUIET" = 1 ] && echo "$KC"
  exit 0
fi
# Leftovers of a cluster that died: stop what is left of it first.
[ -d "$STATE" ] && "$HERE/down.sh" >/dev/null 2>&1 || true

"$HERE/build.sh" >&2
t0=$(date +%s.%N)
mkdir -p "$STATE" "$PKI" "$LOG"
ID=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
DATA=/dev/shm/mcp-etcd-$ID
echo "$DATA" > "$STATE/etcd-data"

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ETCD=$(free_port); PEER=$(free_port); API=$(free_port); KCM=$(free_port); SCHED=$(free_port); KWOK=$(free_port)

wait_for() { # description, timeout seconds, command...
  local what=$1 limit=$2; shift 2
  local end=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "timed out waiting for $what; last log lines:" >&2
      tail -n 30 "$LOG"/*.log >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

# --- PKI (EC P-256 CA and serving cert; RSA service-account key; static admin token) ---
if [ ! -s "$PKI/ca.crt" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=mcp-runtime-local-ca" -days 3650 -out "$PKI/ca.crt" 2>/dev/null
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$TOKEN,admin,admin,\"system:masters\"" > "$PKI/tokens.csv"
  chmod 600 "$PKI"/*.key "$PKI/tokens.csv"
fi
# The serving certificate: loopback for the host, and for pods (the control plane in the
# cluster) the `kubernetes` Service's IP and the real node's IP, where node-up.sh forwards to us.
. "$HERE/node.env"
SANS="IP:127.0.0.1,IP:$NODE_IP,IP:${SERVICE_CIDR%.0/*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
if [ ! -s "$PKI/apiserver.crt" ] || ! openssl x509 -in "$PKI/apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$NODE_IP"; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/apiserver.key" 2>/dev/null
  openssl req -new -key "$PKI/apiserver.key" -subj "/CN=kube-apiserver" -out "$PKI/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$SANS" > "$PKI/apiserver.ext"
  openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt" 2>/dev/null
  chmod 600 "$PKI/apiserver.key"
fi
TOKEN=$(cut -d, -f1 "$PKI/tokens.csv")
# The API server's client certificate towards kubelets (logs, exec); system:masters is enough.
if [ ! -s "$PKI/kubelet-client.crt" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/kubelet-client.key" 2>/dev/null
  openssl req -new -key "$PKI/kubelet-client.key" -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -out "$PKI/kubelet-client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$PKI/kubelet-client.ext"
  openssl x509 -req -in "$PKI/kubelet-client.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/kubelet-client.ext" -out "$PKI/kubelet-client.crt" 2>/dev/null
  chmod 600 "$PKI/kubelet-client.key"
fi

# --- etcd ---
setsid "$BIN/etcd" --name=n0 --data-dir="$DATA" \
  --listen-client-urls="http://127.0.0.1:$ETCD" --advertise-client-urls="http://127.0.0.1:$ETCD" \
  --listen-peer-urls="http://127.0.0.1:$PEER" --initial-advertise-peer-urls="http://127.0.0.1:$PEER" \
  --initial-cluster="n0=http://127.0.0.1:$PEER" --listen-metrics-urls="" \
  --unsafe-no-fsync=true --auto-compaction-retention=1 --quota-backend-bytes=4294967296 \
  >"$LOG/etcd.log" 2>&1 < /dev/null & echo $! > "$STATE/etcd.pid"
echo "$ETCD" > "$STATE/etcd.port"
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD/readyz"

# --- kube-apiserver ---
# An audit log of every write (metadata only: who, what, when; never a body, so never a secret
# value): tests count the writes a replica made, e.g. none after it lost its Lease.
cat > "$STATE/audit-policy.yaml" <<'AUDITEOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
AUDITEOF
: > "$LOG/audit.log"
setsid "$BIN/kube-apiserver" \
  --audit-policy-file="$STATE/audit-policy.yaml" --audit-log-path="$LOG/audit.log" \
  --audit-log-format=json --audit-log-maxsize=200 --audit-log-maxbackup=1 \
  --etcd-servers="http://127.0.0.1:$ETCD" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true \
  --endpoint-reconciler-type=none --profiling=false \
  --kubelet-client-certificate="$PKI/kubelet-client.crt" --kubelet-client-key="$PKI/kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  >"$LOG/kube-apiserver.log" 2>&1 < /dev/null & echo $! > "$STATE/kube-apiserver.pid"
echo "$API" > "$STATE/kube-apiserver.port"

CA_DATA=$(base64 -w0 < "$PKI/ca.crt")
cat > "$KC.tmp" <<KCEOF
apiVersion: v1
kind: Config
clusters:
- name: mcp-runtime-local
  cluster:
    server: https://127.0.0.1:$API
    certificate-authority-data: $CA_DATA
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: mcp-runtime-local
  context:
    cluster: mcp-runtime-local
    user: admin
current-context: mcp-runtime-local
KCEOF
chmod 600 "$KC.tmp"; mv "$KC.tmp" "$KC"
wait_for kube-apiserver 90 "$BIN/kubectl" --kubeconfig="$KC" get --raw /readyz

# --- controllers, scheduler, kwok ---
setsid "$BIN/kube-controller-manager" --kubeconfig="$KC" \
  --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$KCM" \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --use-service-account-credentials=false --concurrent-deployment-syncs=20 \
  --concurrent-replicaset-syncs=20 --concurrent-gc-syncs=40 --kube-api-qps=200 --kube-api-burst=400 \
  >"$LOG/kube-controller-manager.log" 2>&1 < /dev/null & echo $! > "$STATE/kube-controller-manager.pid"
setsid "$BIN/kube-scheduler" --kubeconfig="$KC" \
  --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$SCHED" \
  --kube-api-qps=200 --kube-api-burst=400 \
  >"$LOG/kube-scheduler.log" 2>&1 < /dev/null & echo $! > "$STATE/kube-scheduler.pid"
cat "$BIN/kwok-upstream-stages.yaml" "$HERE/stages/pod-ready.yaml" > "$STATE/kwok-stages.yaml"
printf -- '---\n' >> "$STATE/kwok-stages.yaml"
cat "$HERE/stages/pod-broken-image.yaml" >> "$STATE/kwok-stages.yaml"
# Container logs: kwok plays the node's kubelet (the node's address is kwok's TLS server), and
# every pod's mcp-server container "logs" the CRI-format lines of $STATE/container.log, so
# `kubectl logs` (and -f, as lines are appended) works through the API server like on a node.
printf '%s stdout F mcp-runtime local cluster: simulated container log\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z)" > "$STATE/container.log"
cat >> "$STATE/kwok-stages.yaml" <<LOGS
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: container-logs
spec:
  selector: {}
  logs:
  - containers: [mcp-server]
    logsFile: $STATE/container.log
    follow: true
LOGS
setsid "$BIN/kwok" --kubeconfig="$KC" --config="$STATE/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --manage-nodes-with-label-selector= --manage-single-node= \
  --cidr=10.244.0.0/16 --node-ip=127.0.0.1 --node-port="$KWOK" --node-lease-duration-seconds=40 \
  --server-address="127.0.0.1:$KWOK" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  >"$LOG/kwok.log" 2>&1 < /dev/null & echo $! > "$STATE/kwok.pid"

"$BIN/kubectl" --kubeconfig="$KC" apply -f "$HERE/node.yaml" >/dev/null
wait_for "node Ready" 60 "$BIN/kubectl" --kubeconfig="$KC" wait --for=condition=Ready node/kwok-node-0 --timeout=2s
# The ServiceAccount admission plugin needs the default ServiceAccount, which KCM creates.
wait_for "default ServiceAccount" 60 "$BIN/kubectl" --kubeconfig="$KC" get serviceaccount default -n default

# The real node (kubelet, containerd, kube-proxy), unless asked not to; it needs root.
if [ "${MCP_RUNTIME_REAL_NODE:-1}" != 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    "$HERE/node-up.sh" >&2
  else
    say "no real node: it needs root (MCP_RUNTIME_REAL_NODE=0 to skip it silently)"
  fi
fi

t1=$(date +%s.%N)
say "local cluster ready in $(python3 -c "print(f'{$t1-$t0:.1f}')")s: API https://127.0.0.1:$API"
say "  export KUBECONFIG=$KC"
say "  kubectl: $BIN/kubectl   logs: $LOG/   stop: deploy/local-cluster/down.sh"
[ "$QUIET" = 1 ] && echo "$KC"
exit 0
