#!/usr/bin/env bash
# TPC-C across three regions on `meridian demo --global` (nine in-process nodes, three per region,
# with the built-in region-to-region RTT matrix times LATENCY_SCALE):
#
#   bash tests/bench/tpcc_multiregion.sh [warehouses] [duration] [connections]  # defaults: 3 30s 12
#
# Creates database `tpcc`, runs `meridian workload init tpcc --regions=us-east1,us-west1,europe-west1`
# (REGIONAL BY ROW warehouse-keyed tables homed per partition, GLOBAL item), then `run tpcc` with
# one gateway URL per region (each terminal works on a warehouse of one partition through that
# partition's region), then `check tpcc`. SCALE=0.1 loads a reduced (NON-SPEC) data set for quick
# looks; LATENCY_SCALE=0 turns the simulated latency off. Exits non-zero if a check fails.
set -euo pipefail
W=${1:-3}
DURATION=${2:-30s}
CONC=${3:-12}
SCALE=${SCALE:-1}
LATENCY_SCALE=${LATENCY_SCALE:-1}
REGIONS=us-east1,us-west1,europe-west1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
cargo build -q -p cluster --bin meridian
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
MERIDIAN="$target_dir/debug/meridian"
work=$(mktemp -d /tmp/meridian-tpcc-mr.XXXXXX)

"$MERIDIAN" demo --global --no-example-database --latency-scale="$LATENCY_SCALE" \
  --sql-addr=127.0.0.1:0 >"$work/demo.out" 2>"$work/demo.log" </dev/null &
DEMO_PID=$!
cleanup() {
  kill "$DEMO_PID" 2>/dev/null || true
  wait "$DEMO_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 600); do
  grep -q "Press Ctrl-C" "$work/demo.out" 2>/dev/null && break
  kill -0 "$DEMO_PID" 2>/dev/null || { cat "$work/demo.log" >&2; exit 1; }
  sleep 0.2
done
# `region <name>: postgresql://.../<db>?...` -> the same gateway, database tpcc, in region order.
declare -A URL
while IFS= read -r line; do
  name=${line#region }; name=${name%%:*}
  url=${line#*: }
  URL[$name]=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/tpcc")))' "$url")
done < <(grep '^region ' "$work/demo.out")
urls=()
for r in ${REGIONS//,/ }; do
  [ -n "${URL[$r]:-}" ] || { echo "no gateway for $r in: $(cat "$work/demo.out")" >&2; exit 1; }
  urls+=("${URL[$r]}")
done
"$MERIDIAN" sql --url "${urls[0]/\/tpcc/\/defaultdb}" -e 'CREATE DATABASE IF NOT EXISTS tpcc' >/dev/null

echo "== init (W=$W, scale $SCALE, regions $REGIONS)" >&2
"$MERIDIAN" workload init tpcc --warehouses="$W" --scale="$SCALE" --regions="$REGIONS" "${urls[0]}" \
  2> >(tr '\r' '\n' | tail -n 1 >&2)
echo "== run ($DURATION, $CONC connections, one gateway per region)" >&2
"$MERIDIAN" workload run tpcc --warehouses="$W" --scale="$SCALE" --regions="$REGIONS" \
  --duration="$DURATION" --concurrency="$CONC" "${urls[@]}" 2> >(grep -v '^ *[0-9]*s ' >&2)
echo "== check" >&2
"$MERIDIAN" workload check tpcc --warehouses="$W" "${urls[0]}"
