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
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d /tmp/meridian-bench.XXXXXX)
chmod 755 "$work"
PG_PORT=${PG_PORT:-55432}
MR_PORT=${MR_PORT:-56257}

if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
  apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
fi
cargo build -q -p cluster --bin meridian
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
MERIDIAN="$target_dir/debug/meridian"

cleanup() {
  [ -n "${MR_PID:-}" ] && kill "$MR_PID" 2>/dev/null || true
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg" && chown postgres "$work/pg"
runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$work/pg" -A trust -U root >/dev/null
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg" -o "-p $PG_PORT -k $work/pg -c listen_addresses=127.0.0.1" -l "$work/pg/server.log" start >/dev/null
"$MERIDIAN" start-single-node --insecure --store="$work/meridian" --sql-addr=127.0.0.1:$MR_PORT \
  --listen-addr=127.0.0.1:0 --http-addr=127.0.0.1:0 >"$work/meridian.log" 2>&1 &
MR_PID=$!
for _ in $(seq 1 100); do
  psql -h 127.0.0.1 -p $MR_PORT -U root -d defaultdb -Atc 'select 1' >/dev/null 2>&1 && break
  sleep 0.2
done
psql -h 127.0.0.1 -p $PG_PORT -U root -d postgres -Atc 'create database bench' >/dev/null

PG_URL="postgresql://root@127.0.0.1:$PG_PORT/bench"
MR_URL="postgresql://root@127.0.0.1:$MR_PORT/defaultdb"
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
