#!/usr/bin/env bash
# Contention benchmark: the bank workload (SERIALIZABLE transfers, client-side retry on 40001) at
# 1, 4 and 16 clients, Meridian next to PostgreSQL 15, same tool, same run.
#
#   bash tests/bench/contention.sh [duration] [accounts]      # defaults: 10s, 100 accounts
#
# Starts a PostgreSQL 15 server (Debian's package, installed if missing) and a Meridian single node,
# both on loopback with durable commits (fsync on both). For each client count and each system it
# reloads the bank table with `meridian workload init bank`, runs `meridian workload run bank
# --json`, and prints transfers/sec, retry rate (retried attempts / all attempts), latency
# percentiles (first attempt to commit) and whether money was conserved. CLIENTS="1 4 16" overrides
# the client counts. Exits non-zero if any run broke the invariant.
set -euo pipefail
DURATION=${1:-10s}
ACCOUNTS=${2:-100}
CLIENTS=${CLIENTS:-1 4 16}
PG_PORT=${PG_PORT:-55433}
MR_PORT=${MR_PORT:-56258}
BENCH_NAME=contention
# shellcheck source=tests/bench/servers.sh
source "$(dirname "$0")/servers.sh"
results="$work/results.jsonl"
status=0
for c in $CLIENTS; do
  for target in postgres meridian; do
    url=$PG_URL; [ $target = meridian ] && url=$MR_URL
    "$MERIDIAN" workload init bank --accounts "$ACCOUNTS" "$url" 2>/dev/null
    if ! out=$("$MERIDIAN" workload run bank --duration "$DURATION" --concurrency "$c" \
        --accounts "$ACCOUNTS" --json "$url" 2>"$work/run.err"); then
      status=1
      echo "run failed: $target, $c clients:" >&2
      tail -n 5 "$work/run.err" >&2
    fi
    line=$(printf '%s\n' "$out" | tail -n 1)
    [ -n "$line" ] && printf '{"system":"%s","run":%s}\n' "$target" "$line" >>"$results"
  done
done

python3 - "$DURATION" "$ACCOUNTS" "$results" <<'PY'
import json, sys
dur, accounts, path = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
print(f"bank workload, {accounts} accounts, {dur} per run, one node on loopback, durable commits, SERIALIZABLE")
print(f"{'clients':>7}  {'system':<9}{'transfers/s':>12}{'retry rate':>11}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>7}  invariant")
for r in rows:
    run, t = r["run"], r["run"]["transfer"]
    ok = "ok" if run["invariant_ok"] else "VIOLATED"
    print(f"{run['concurrency']:>7}  {r['system']:<9}{t['ops_per_sec']:>12.0f}{run['retry_rate']*100:>10.1f}%"
          f"{t['p50_ms']:>9.2f}{t['p95_ms']:>9.2f}{t['p99_ms']:>9.2f}{t['errors']:>7}  {ok}")
PY
exit $status
