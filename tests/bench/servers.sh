# Sourced by the comparison scripts: starts PostgreSQL 15 (Debian's package, installed if missing)
# and a Meridian single node on loopback, both with durable commits, and stops both on exit.
#
# Needs BENCH_NAME (names the work directory), PG_PORT and MR_PORT. Sets work (a temporary
# directory, removed on exit), MERIDIAN (the binary), PG_URL (database `bench`) and MR_URL.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
work=$(mktemp -d "/tmp/meridian-$BENCH_NAME.XXXXXX")
chmod 755 "$work"

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
