#!/usr/bin/env bash
# TPC-C on a 3-node replicated Meridian cluster next to PostgreSQL 15, in the same run.
#
#   bash tests/bench/tpcc_cluster.sh [warehouses] [duration] [connections]
#
# Loads, runs (no wait times) and checks on each; prints both results and the tpmC ratio.
# TARGETS=cluster skips PostgreSQL (no ratio then); EXTRA_FLAGS= adds flags to every
# `meridian start` (e.g. "--rebalance=false --load-split-qps-threshold=0").
set -euo pipefail
W=${1:-2}
DURATION=${2:-30s}
CONC=${3:-8}
PG_PORT=${PG_PORT:-55432}
MR_PORT=${MR_PORT:-56257}
BENCH_NAME=tpcc-cluster
# shellcheck source=tests/bench/servers.sh
source "$(dirname "$0")/servers.sh"
# shellcheck source=tests/bench/cluster_nodes.sh
source "$(dirname "$0")/cluster_nodes.sh"
start_cluster 3 "${EXTRA_FLAGS:-}"
CL_URL="postgresql://root@127.0.0.21:26257/defaultdb"
declare -A TPM
for target in ${TARGETS:-postgres cluster}; do
  url=$PG_URL; [ $target = cluster ] && url=$CL_URL
  "$MERIDIAN" workload init tpcc --warehouses="$W" --drop "$url" >/dev/null 2>&1
  out=$("$MERIDIAN" workload run tpcc --warehouses="$W" --duration="$DURATION" --concurrency="$CONC" --json "$url" 2>/dev/null | tail -n 1)
  TPM[$target]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tpmc"])' "$out")
  "$MERIDIAN" workload check tpcc --warehouses="$W" "$url" && chk=ok || chk=FAILED
  echo "$target: tpmC ${TPM[$target]} check $chk"
done
[ -n "${TPM[postgres]:-}" ] && [ -n "${TPM[cluster]:-}" ] || exit 0
python3 -c 'import sys; pg, cl = map(float, sys.argv[1:]); print(f"3-node cluster / PostgreSQL tpmC: {cl / pg:.2f}x")' "${TPM[postgres]}" "${TPM[cluster]}"
