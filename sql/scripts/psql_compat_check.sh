#!/usr/bin/env bash
# End-to-end check, by hand, that psql 15's describe commands work against a Meridian node.
# Usage: sql/scripts/psql_compat_check.sh [port]   (builds nothing; start a node first, e.g.
#   meridian start-single-node --insecure --store=/tmp/m --sql-addr=127.0.0.1:26257 ...)
# Fails (exit 1) on the first psql ERROR.
set -u
PORT="${1:-26257}"
P=(psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U root -d defaultdb)
"${P[@]}" -q -c "DROP TABLE IF EXISTS psql_compat_t" \
  -c "CREATE TABLE psql_compat_t (a INT PRIMARY KEY, b TEXT NOT NULL DEFAULT 'x', c NUMERIC(10,2))" \
  -c "CREATE INDEX psql_compat_t_b ON psql_compat_t (b)" || exit 1
status=0
for cmd in '\l' '\l+' '\dt' '\d' '\d psql_compat_t' '\d+ psql_compat_t' '\di' '\dn' '\x' ; do
  echo "=== $cmd"
  out=$("${P[@]}" -c "$cmd" 2>&1)
  echo "$out"
  if grep -q '^ERROR' <<<"$out"; then status=1; fi
done
echo "=== expanded output"
"${P[@]}" -x -c "SELECT ARRAY[1,2] AS a, 'psql_compat_t'::regclass::text AS t" || status=1
"${P[@]}" -q -c "DROP TABLE psql_compat_t"
exit $status
