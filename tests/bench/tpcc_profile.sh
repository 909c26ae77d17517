#!/usr/bin/env bash
# Where a 3-node cluster's time goes under TPC-C: starts three `meridian start` processes on
# 127.0.0.21-23, loads W warehouses, runs TPC-C (no wait times) and records a CPU profile of node 1
# (the gateway) with perf for 12 s in the middle of the run, then runs the consistency checks.
#
#   bash tests/bench/tpcc_profile.sh [warehouses] [duration] [connections]   # defaults: 2 40s 8
#   perf report -i "$OUT/perf.data" --children --stdio -g none --percent-limit 1
#
# OUT= sets the output directory (default /tmp/meridian-tpcc-profile); MERIDIAN= a binary.
set -euo pipefail
W=${1:-2}
DURATION=${2:-40s}
CONC=${3:-8}
OUT=${OUT:-/tmp/meridian-tpcc-profile}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${MERIDIAN:-}" ]; then
  (cd "$ROOT" && cargo build -q -p cluster --bin meridian)
  target_dir=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  MERIDIAN="$target_dir/debug/meridian"
fi
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"
PIDS=()
join=127.0.0.21:26258,127.0.0.22:26258,127.0.0.23:26258
for i in 1 2 3; do
  "$MERIDIAN" start --insecure --store="$OUT/cl$i" --listen-addr=127.0.0.2$i:26258 \
    --sql-addr=127.0.0.2$i:26257 --http-addr=127.0.0.2$i:8080 --join=$join \
    --locality=region=local,zone=z$i >"$OUT/cl$i.log" 2>&1 &
  PIDS+=($!)
done
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do "$MERIDIAN" init --insecure --host=127.0.0.21:26258 >/dev/null 2>&1 && break; sleep 0.2; done
URL=postgresql://root@127.0.0.21:26257/defaultdb
for _ in $(seq 1 300); do "$MERIDIAN" sql --url "$URL" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
"$MERIDIAN" workload init tpcc --warehouses="$W" --drop "$URL" 2> >(tr "\r" "\n" | tail -n 2 >&2) >/dev/null
"$MERIDIAN" workload run tpcc --warehouses="$W" --duration="$DURATION" --concurrency="$CONC" "$URL" \
  >"$OUT/run.out" 2>&1 &
run=$!
sleep 12
perf record -e cpu-clock -F 299 --call-graph dwarf -o "$OUT/perf.data" -p "${PIDS[0]}" -- sleep 12 \
  >/dev/null 2>&1
wait $run
tail -n 7 "$OUT/run.out"
"$MERIDIAN" workload check tpcc --warehouses="$W" "$URL"
echo "profile: $OUT/perf.data"
