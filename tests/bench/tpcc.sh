#!/usr/bin/env bash
# TPC-C-like benchmark: Meridian next to PostgreSQL 15, same tool, same run.
#
#   bash tests/bench/tpcc.sh [warehouses] [duration] [connections]     # defaults: 2 30s 8
#
# Starts PostgreSQL 15 (Debian's package, installed if missing) and a Meridian single node on
# loopback, both with durable commits (tests/bench/servers.sh), and on each runs
# `meridian workload init tpcc --drop`, `run tpcc` (no keying/think time, SERIALIZABLE; RAMP=
# sets a warm-up, ISOLATION= another level for PostgreSQL) and `check tpcc`. Prints tpmC,
# efficiency and per-transaction throughput and p50/p95/p99 side by side with Meridian/PostgreSQL
# ratios. Exits non-zero if a consistency check fails.
set -euo pipefail
W=${1:-2}
DURATION=${2:-30s}
CONC=${3:-8}
RAMP=${RAMP:-0s}
ISOLATION=${ISOLATION:-serializable}
PG_PORT=${PG_PORT:-55434}
MR_PORT=${MR_PORT:-56259}
BENCH_NAME=tpcc
# shellcheck source=tests/bench/servers.sh
source "$(dirname "$0")/servers.sh"
declare -A RES CHECK
for target in postgres meridian; do
  url=$PG_URL; [ $target = meridian ] && url=$MR_URL
  echo "== $target: init (W=$W)" >&2
  "$MERIDIAN" workload init tpcc --drop --warehouses "$W" "$url" 2> >(tr '\r' '\n' | tail -n 1 >&2)
  echo "== $target: run ($DURATION, $CONC connections)" >&2
  RES[$target]=$("$MERIDIAN" workload run tpcc --warehouses "$W" --duration "$DURATION" --ramp "$RAMP" \
    --concurrency "$CONC" --isolation "$ISOLATION" --json "$url" 2>"$work/$target.run.log" | tail -n 1)
  grep -m 5 failed "$work/$target.run.log" >&2 || true
  echo "== $target: check" >&2
  if "$MERIDIAN" workload check tpcc --warehouses "$W" "$url" >"$work/$target.check" 2>&1; then
    CHECK[$target]=ok
  else
    CHECK[$target]=FAILED; cat "$work/$target.check" >&2
  fi
done

python3 - "$W" "$DURATION" "$CONC" "$ISOLATION" "${RES[postgres]}" "${RES[meridian]}" "${CHECK[postgres]}" "${CHECK[meridian]}" <<'PY'
import json, sys
w, dur, conc, iso, pg, mr, pgc, mrc = sys.argv[1:]
pg, mr = json.loads(pg), json.loads(mr)
print(f"tpcc W={w}, {conc} connections, {dur}, no wait, {iso}; one node each on loopback, durable commits")
print(f"{'system':<10}{'tpmC':>10}{'efficiency':>12}{'retries':>9}{'errors':>8}  check")
for name, r, c in (("postgres", pg, pgc), ("meridian", mr, mrc)):
    print(f"{name:<10}{r['tpmc']:>10.0f}{r['efficiency_pct']:>11.0f}%{r['retries']:>9}{r['errors']:>8}  {c}")
print(f"{'ratio':<10}{mr['tpmc']/max(pg['tpmc'],1e-9):>9.2f}x tpmC of PostgreSQL")
print()
print(f"{'txn':<12}{'system':<10}{'ops/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'retries':>9}")
for p, m in zip(pg["transactions"], mr["transactions"]):
    for name, t in (("postgres", p), ("meridian", m)):
        print(f"{t['op']:<12}{name:<10}{t['ops_per_sec']:>8.1f}{t['p50_ms']:>9.1f}{t['p95_ms']:>9.1f}{t['p99_ms']:>9.1f}{t['retries']:>9}")
sys.exit(0 if pgc == "ok" and mrc == "ok" else 1)
PY
