#!/usr/bin/env bash
# The long soak (issue 8): tests/cli/test_soak.sh for --minutes minutes
# (default 10) against the binaries of a build directory. Mixed OTLP/gRPC,
# OTLP/HTTP, Flight DoPut/DoGet and count(*) queries against
# `serve --data-dir`; checks a flat RSS, only retryable errors and every
# acknowledged span stored (see the test's header). Its last "soak:" line
# is the summary recorded in docs/security.md.
# Usage: scripts/soak.sh [--minutes N] [--build DIR]   (DIR default: build)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
minutes=10
build=build
while [ $# -gt 0 ]; do
  case $1 in
  --minutes) minutes=${2:?--minutes needs a number}; shift 2 ;;
  --build) build=${2:?--build needs a directory}; shift 2 ;;
  -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
  *) echo "soak.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
case $minutes in
'' | *[!0-9]*) echo "soak.sh: --minutes must be a whole number" >&2; exit 2 ;;
esac
bin=$build/otlparrow
client=$build/tests/store_crash_client
for f in "$bin" "$client"; do
  [ -x "$f" ] || { echo "soak.sh: $f missing (build first: make build)" >&2; exit 2; }
done
# 10 000 OTLP/gRPC spans/s: 6 M spans in 10 minutes, which the final
# count(*) holds in the server's memory at once (a few GB)
export OA_SOAK_GRPC_RATE=${OA_SOAK_GRPC_RATE:-20}
exec tests/cli/test_soak.sh "$bin" "$client" $((minutes * 60))
