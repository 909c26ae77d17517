#!/usr/bin/env bash
# Point reads, point writes and a 50/50 mix on a 3-node replicated Meridian cluster, next to a
# Meridian single node and PostgreSQL 15, all measured in the same run with the same tool.
#
#   bash tests/bench/cluster.sh [duration] [concurrency]
#
# All servers run on this machine on loopback with durable commits (fsync). The cluster's nodes
# listen on 127.0.0.21-23; the workload connects to node 1 (any node routes to the leaseholder).
set -euo pipefail
DURATION=${1:-10s}
CONC=${2:-8}
ROWS=${ROWS:-10000}
PG_PORT=${PG_PORT:-55432}
MR_PORT=${MR_PORT:-56257}
BENCH_NAME=cluster
# shellcheck source=tests/bench/servers.sh
source "$(dirname "$0")/servers.sh"
# shellcheck source=tests/bench/cluster_nodes.sh
source "$(dirname "$0")/cluster_nodes.sh"
start_cluster 3 ""
CL_URL="postgresql://root@127.0.0.21:26257/defaultdb"

declare -A RES
for target in postgres single cluster; do
  case $target in
    postgres) url=$PG_URL ;;
    single) url=$MR_URL ;;
    cluster) url=$CL_URL ;;
  esac
  "$MERIDIAN" workload init kv --initial-rows "$ROWS" "$url" 2>/dev/null
  for mode in read write mix; do
    case $mode in read) pct=100 ;; write) pct=0 ;; mix) pct=50 ;; esac
    RES[$target.$mode]=$("$MERIDIAN" workload run kv --duration "$DURATION" --concurrency "$CONC" \
      --read-percent $pct --initial-rows "$ROWS" --write-mode update --json "$url" 2>/dev/null | tail -n 1)
  done
done

python3 - "$DURATION" "$CONC" \
  "${RES[postgres.read]}" "${RES[single.read]}" "${RES[cluster.read]}" \
  "${RES[postgres.write]}" "${RES[single.write]}" "${RES[cluster.write]}" \
  "${RES[postgres.mix]}" "${RES[single.mix]}" "${RES[cluster.mix]}" <<'PY'
import json, sys
dur, conc = sys.argv[1:3]
vals = sys.argv[3:]
print(f"kv workload, {conc} connections, {dur} per run, all on this machine, durable commits")
print(f"{'test':<7}{'system':<18}{'ops/sec':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'vs PG':>8}")
for i, name in enumerate(("read", "write", "mix")):
    runs = [json.loads(v) for v in vals[3 * i: 3 * i + 3]]
    tot = lambda r: sum(x['ops_per_sec'] for x in r)
    pg = tot(runs[0])
    for sysname, r in zip(("postgres", "meridian 1 node", "meridian 3 nodes"), runs):
        ops = tot(r)
        p = max(r, key=lambda x: x['ops_per_sec'])
        print(f"{name:<7}{sysname:<18}{ops:>10.0f}{p['p50_ms']:>9.2f}{p['p95_ms']:>9.2f}{p['p99_ms']:>9.2f}{ops / max(pg, 1e-9):>7.2f}x")
PY
