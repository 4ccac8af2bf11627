#!/usr/bin/env bash
# Stops or restarts one component of the running local cluster, for the fault suite:
#
#   deploy/local-cluster/component.sh stop  kube-apiserver|etcd|kube-controller-manager|...
#   deploy/local-cluster/component.sh start kube-apiserver|etcd|...
#
# `stop` records the process's exact command line (from /proc) and terminates it (SIGTERM, then
# SIGKILL after 5 s), so clients see connection refused, as in a real outage. `start` runs the
# recorded command line again with the same ports, data directory and PKI, appending to the
# component's log. etcd's data lives in /dev/shm and survives its restart.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
STATE=${MCP_RUNTIME_CLUSTER_STATE:-$CACHE/cluster}
op=${1:?stop|start}; c=${2:?component}
case "$c" in etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok) ;; *) echo "unknown component $c" >&2; exit 2;; esac
pidf=$STATE/$c.pid; cmdf=$STATE/$c.cmdline
case "$op" in
  stop)
    pid=$(cat "$pidf")
    kill -0 "$pid" 2>/dev/null || { echo "$c is not running" >&2; exit 1; }
    cp "/proc/$pid/cmdline" "$cmdf"
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "$c stopped"
    ;;
  start)
    [ -s "$cmdf" ] || { echo "no recorded command line for $c (stop it first)" >&2; exit 1; }
    mapfile -d '' argv < "$cmdf"
    setsid "${argv[@]}" >>"$STATE/logs/$c.log" 2>&1 < /dev/null & echo $! > "$pidf"
    echo "$c started (pid $(cat "$pidf"))"
    ;;
  *) echo "usage: $0 stop|start COMPONENT" >&2; exit 2 ;;
esac
