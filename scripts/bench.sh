#!/usr/bin/env bash
# Runs the benchmarks of BUILD_DIR (see docs/benchmarks.md).
# Usage: scripts/bench.sh BUILD_DIR [ROWS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: scripts/bench.sh BUILD_DIR [ROWS] [REPEATS]}
ROWS=${2:-1000000}
REPEATS=${3:-5}
if [ ! -x "$BUILD/bench/bench_ipc" ]; then
  echo "bench: $BUILD/bench/bench_ipc missing (configure with -DOA_BUILD_BENCH=ON and build)" >&2
  exit 1
fi
echo "== IPC write/read ($(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d))"
"$BUILD/bench/bench_ipc" "$ROWS" "$REPEATS"
if [ -x "$BUILD/bench/bench_flight" ]; then
  echo
  echo "== OTLP/gRPC ingest and Arrow Flight DoPut/DoGet over loopback (${OA_BENCH_SECONDS:-5} s per scenario)"
  "$BUILD/bench/bench_flight" "$BUILD/otlparrow" "${OA_BENCH_SECONDS:-5}" ${OA_BENCH_FILTER:-}
fi
if [ -d node_modules/@duckdb/node-api ] && command -v node >/dev/null; then
  echo
  node bench/bench_query_duckdb.mjs "$BUILD/otlparrow" "$ROWS" "$REPEATS"
fi
