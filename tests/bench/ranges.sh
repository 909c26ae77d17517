#!/usr/bin/env bash
# How write throughput and latency change with the number of ranges on a 3-node cluster, and
# what idle ranges cost.
#
#   bash tests/bench/ranges.sh [duration] [concurrency] [range counts...]
#
# For each range count N (default 1 10 100 1000): load kv, split it into N ranges, run a
# write-only kv workload (overwrites of random loaded keys, so every range takes writes).
# Before the first and after the last, with no load, sample node 1's CPU time and resident
# memory for 30 seconds (idle ranges quiesce: no ticks, no heartbeats), in total and by thread.
set -euo pipefail
DURATION=${1:-10s}
CONC=${2:-8}
shift 2 || true
COUNTS=("$@")
[ ${#COUNTS[@]} -eq 0 ] && COUNTS=(1 10 100 1000)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
work=$(mktemp -d /tmp/meridian-ranges.XXXXXX)
cargo build -q -p cluster --bin meridian
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
MERIDIAN="$target_dir/debug/meridian"
cleanup() { rm -rf "$work"; }
# shellcheck source=tests/bench/cluster_nodes.sh
source "$(dirname "$0")/cluster_nodes.sh"
start_cluster 3 ""
URL="postgresql://root@127.0.0.21:26257/defaultdb"

# idle_sample: with no load, waits 10 s (ranges quiesce, leases of idle ranges lapse), then
# samples node 1's CPU time (in total and per thread) and resident memory over 30 s.
idle_sample() {
  local total pid ticks
  total=$(psql -h 127.0.0.21 -p 26257 -U root -d defaultdb -Atc "select count(*) from crdb_internal.ranges")
  pid=${CL_PIDS[0]}
  sleep 10
  ticks=$(getconf CLK_TCK)
  threads() { for t in /proc/"$pid"/task/*; do printf '%s %s\n' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"; done; }
  cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  local c0 t0 c1 t1 before after rss
  before=$(threads); c0=$(cpu); t0=$(date +%s.%N)
  sleep 30
  after=$(threads); c1=$(cpu); t1=$(date +%s.%N)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  python3 - "$total" "$c0" "$c1" "$t0" "$t1" "$ticks" "$rss" "$before" "$after" <<'PY'
import sys
from collections import Counter
total, c0, c1, t0, t1, ticks, rss, before, after = sys.argv[1:]
secs = float(t1) - float(t0)
cpu = (int(c1) - int(c0)) / int(ticks) / secs * 100
print(f"idle: node 1 holds replicas of {total} ranges: {cpu:.2f}% of one core over 30 s, {int(rss) / 1024:.0f} MiB resident")
def per_thread(text):
    c = Counter()
    for line in text.splitlines():
        name, _, t = line.rpartition(" ")
        c[name] += int(t)
    return c
b, a = per_thread(before), per_thread(after)
used = {k: (a[k] - b.get(k, 0)) / int(ticks) / secs * 100 for k in a}
print("  by thread: " + ", ".join(f"{k} {v:.2f}%" for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v > 0))
PY
}

# The cost of an idle node before any table is split: the fixed part (liveness, range 1).
idle_sample

printf "%-8s %10s %9s %9s %9s\n" ranges "writes/s" "p50 ms" "p95 ms" "p99 ms"
for n in "${COUNTS[@]}"; do
  rows=$(( n * 10 > 10000 ? n * 10 : 10000 ))
  "$MERIDIAN" workload init kv --initial-rows "$rows" --splits "$n" "$URL" >/dev/null 2>&1
  out=$("$MERIDIAN" workload run kv --duration "$DURATION" --concurrency "$CONC" --read-percent 0 \
    --write-mode update --initial-rows "$rows" --json "$URL" 2>/dev/null | tail -n 1)
  python3 - "$n" "$out" <<'PY'
import json, sys
n, r = sys.argv[1], json.loads(sys.argv[2])[0]
print(f"{n:<8} {r['ops_per_sec']:>10.0f} {r['p50_ms']:>9.2f} {r['p95_ms']:>9.2f} {r['p99_ms']:>9.2f}")
PY
done

idle_sample
