# Sourced by the cluster benchmarks after servers.sh: starts and stops a Meridian cluster of
# `meridian start` processes on 127.0.0.21.. (gRPC 26258, SQL 26257, HTTP 8080 on each address).
CL_PIDS=()
stop_cluster() {
  for p in "${CL_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${CL_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  CL_PIDS=()
}
trap 'stop_cluster; cleanup' EXIT

# start_cluster <nodes> "<extra flags>": starts, initialises and waits for SQL on node 1.
start_cluster() {
  local n=$1 extra=$2 join="" i
  for i in $(seq 1 "$n"); do join="$join,127.0.0.$((20 + i)):26258"; done
  join=${join#,}
  for i in $(seq 1 "$n"); do
    # shellcheck disable=SC2086
    "$MERIDIAN" start --insecure --store="$work/cl$i" --listen-addr=127.0.0.$((20 + i)):26258 \
      --sql-addr=127.0.0.$((20 + i)):26257 --http-addr=127.0.0.$((20 + i)):8080 --join="$join" \
      --locality=region=local,zone=z$i $extra >"$work/cl$i.log" 2>&1 &
    CL_PIDS+=($!)
  done
  for _ in $(seq 1 100); do
    "$MERIDIAN" init --insecure --host=127.0.0.21:26258 >/dev/null 2>&1 && break
    sleep 0.2
  done
  for _ in $(seq 1 300); do
    psql -h 127.0.0.21 -p 26257 -U root -d defaultdb -Atc 'select 1' >/dev/null 2>&1 && break
    sleep 0.2
  done
  # Wait until range 1 has a replica on every node (up to 3).
  local want=$((n < 3 ? n : 3))
  for _ in $(seq 1 300); do
    r=$(psql -h 127.0.0.21 -p 26257 -U root -d defaultdb -Atc \
      "select array_length(replicas, 1) from crdb_internal.ranges where range_id = 1" 2>/dev/null || true)
    [ "$r" = "$want" ] && break
    sleep 0.2
  done
}
