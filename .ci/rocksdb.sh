#!/usr/bin/env bash
# Builds RocksDB's C++ library once per machine into the directory that .cargo/config.toml links
# from (ROCKSDB_LIB_DIR). Every cargo build then skips the ~14-minute C++ compile, whatever its
# profile or feature set. Idempotent: does nothing when the library is already there.
set -euo pipefail
lib_dir=$(sed -n 's/^ROCKSDB_LIB_DIR = "\(.*\)"/\1/p' "$(dirname "$0")/../.cargo/config.toml")
if [ -f "$lib_dir/librocksdb.a" ]; then
  exit 0
fi
echo "building RocksDB's C++ library once into $lib_dir (about 14 minutes on 2 cores)..." >&2
build_dir=/var/cache/meridian/rocksdb-build
ROCKSDB_COMPILE=1 cargo build --manifest-path "$(dirname "$0")/../Cargo.toml" -p librocksdb-sys \
  --target-dir "$build_dir"
archive=$(ls -t "$build_dir"/debug/build/librocksdb-sys-*/out/librocksdb.a | head -n 1)
mkdir -p "$lib_dir"
cp "$archive" "$lib_dir/librocksdb.a.tmp"
mv "$lib_dir/librocksdb.a.tmp" "$lib_dir/librocksdb.a"
