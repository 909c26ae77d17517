#!/usr/bin/env bash
# Single-node point-select and insert benchmark: Meridian next to PostgreSQL 15, same tool, same run.
#
#   bash tests/bench/compare.sh [duration] [concurrency]
#
# Starts a PostgreSQL 15 server (Debian's package, installed if missing) and a Meridian single node,
# both on loopback with durable commits (fsync on both), loads the kv table on each with
# `meridian workload init kv`, runs a read-only and an insert-only `meridian workload run kv` on each,
# and prints throughput, latency percentiles and the Meridian/PostgreSQL ratios.
set -euo pipefail
DURATION=${1:-10s}
CONC=${2:-8}
ROWS=${ROWS:-10000}
PG_PORT=${PG_PORT:-55432}
MR_PORT=${MR_PORT:-56257}
BENCH_NAME=bench
# shellcheck source=tests/bench/servers.sh
source "$(dirname "$0")/servers.sh"
declare -A RES
for target in postgres meridian; do
  url=$PG_URL; [ $target = meridian ] && url=$MR_URL
  "$MERIDIAN" workload init kv --initial-rows "$ROWS" "$url" 2>/dev/null
  for mode in select insert; do
    pct=100; [ $mode = insert ] && pct=0
    RES[$target.$mode]=$("$MERIDIAN" workload run kv --duration "$DURATION" --concurrency "$CONC" \
      --read-percent $pct --initial-rows "$ROWS" --json "$url" 2>/dev/null | tail -n 1)
  done
done

python3 - "$DURATION" "$CONC" "${RES[postgres.select]}" "${RES[meridian.select]}" "${RES[postgres.insert]}" "${RES[meridian.insert]}" <<'PY'
import json, sys
dur, conc, pgs, mrs, pgi, mri = sys.argv[1:]
print(f"kv workload, {conc} connections, {dur} per run, one node on loopback, durable commits")
print(f"{'test':<13}{'system':<10}{'ops/sec':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
for name, pg, mr in (("point-select", pgs, mrs), ("insert", pgi, mri)):
    pg, mr = json.loads(pg)[0], json.loads(mr)[0]
    for sysname, r in (("postgres", pg), ("meridian", mr)):
        print(f"{name:<13}{sysname:<10}{r['ops_per_sec']:>10.0f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['p99_ms']:>9.2f}")
    print(f"{name:<13}{'ratio':<10}{mr['ops_per_sec']/max(pg['ops_per_sec'],1e-9):>10.2f}x throughput of PostgreSQL")
PY
