#!/usr/bin/env bash
# One end-to-end scenario under valgrind (memcheck), zero reports required:
#  1. gen -> convert (OTLP protobuf -> Arrow IPC file -> OTLP/JSON) ->
#     inspect, each a process under valgrind;
#  2. serve under valgrind with OTLP/gRPC, OTLP/HTTP and Flight on free
#     loopback ports; loadgen (not under valgrind) sends OTLP/gRPC requests
#     and Flight DoPut batches, curl posts OTLP/HTTP (protobuf, gzip); then
#     SIGINT, and the spans dumped on exit are counted.
# A memcheck error or a definite/indirect leak makes valgrind exit 99.
# Bounded: about a minute on a 2-core machine.
# Usage: scripts/valgrind_e2e.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: scripts/valgrind_e2e.sh BUILD_DIR}
BIN=$(cd "$BUILD" && pwd)/otlparrow
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind_e2e: valgrind not found (apt-get install valgrind)" >&2
  exit 2
fi
WORK=$(mktemp -d /tmp/oa-valgrind-XXXXXX)
SERVE_PID=
cleanup() {
  [ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
VG=(valgrind --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --num-callers=30 --quiet)
fail() { echo "valgrind_e2e: FAILED: $*" >&2; exit 1; }

# ---------------------------------------------------------- 1. the tools
step() {
  local log=$WORK/vg-$1.log
  shift
  if ! "${VG[@]}" --log-file="$log" "$@" >"$WORK/out.txt" 2>&1; then
    cat "$WORK/out.txt" "$log" >&2
    fail "$*"
  fi
}
step gen "$BIN" gen --spans 300 --seed 7 -o "$WORK/spans.pb"
step convert1 "$BIN" convert "$WORK/spans.pb" "$WORK/spans.arrow"
step convert2 "$BIN" convert "$WORK/spans.arrow" "$WORK/spans.json"
step inspect "$BIN" inspect "$WORK/spans.arrow"
grep -q "300" "$WORK/out.txt" || fail "inspect does not show the 300 spans"
echo "valgrind_e2e: gen, convert, inspect: clean"

# ---------------------------------------------------------- 2. serve
"${VG[@]}" --log-file="$WORK/vg-serve.log" "$BIN" serve \
  --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 --flight 127.0.0.1:0 \
  --dump-on-exit "$WORK/dump.arrows" >"$WORK/serve.out" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 600); do
  grep -q "ready" "$WORK/serve.out" && break
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q "ready" "$WORK/serve.out" || { cat "$WORK/serve.out" "$WORK/vg-serve.log" >&2; fail "serve did not start"; }
addr() { sed -n "s|.*$1 on \([0-9.:]*\).*|\1|p" "$WORK/serve.out" | head -1; }
GRPC=$(addr "OTLP/gRPC")
HTTP=$(addr "OTLP/HTTP")
FLIGHT=$(addr "Arrow Flight")

"$BIN" loadgen --otlp-grpc "$GRPC" --requests 20 --spans-per-request 50 \
  --connections 1 --concurrency 2 --duration 60 >"$WORK/lg1.txt" 2>&1 \
  || { cat "$WORK/lg1.txt" >&2; fail "loadgen OTLP/gRPC"; }
"$BIN" loadgen --flight "$FLIGHT" --requests 4 --batch-spans 500 \
  --duration 60 >"$WORK/lg2.txt" 2>&1 \
  || { cat "$WORK/lg2.txt" >&2; fail "loadgen Flight DoPut"; }
gzip -c "$WORK/spans.pb" >"$WORK/spans.pb.gz"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 \
  -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: gzip' \
  --data-binary @"$WORK/spans.pb.gz" "http://$HTTP/v1/traces")
[ "$code" = 200 ] || fail "OTLP/HTTP answered $code"
# a malformed body: 400, and nothing leaks on the error path
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 \
  -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: gzip' \
  --data-binary @"$WORK/spans.pb" "http://$HTTP/v1/traces")
[ "$code" = 400 ] || fail "OTLP/HTTP answered $code to a corrupt gzip body"

kill -INT "$SERVE_PID"
wait "$SERVE_PID"
rc=$?
SERVE_PID=
if [ $rc -ne 0 ]; then
  cat "$WORK/serve.out" "$WORK/vg-serve.log" >&2
  fail "serve exited $rc under valgrind (99: memcheck reports)"
fi
"$BIN" inspect "$WORK/dump.arrows" >"$WORK/dump.txt" 2>&1 || fail "dump unreadable"
# 20 x 50 over gRPC + 300 over HTTP (Flight puts go to their own datasets)
grep -q "1300 rows\|rows: 1300\|1300 spans" "$WORK/dump.txt" \
  || grep -q "wrote 1300 spans" "$WORK/serve.out" \
  || { cat "$WORK/serve.out" >&2; fail "expected 1300 spans in the dump"; }
echo "valgrind_e2e: serve (OTLP/gRPC, OTLP/HTTP, Flight DoPut, SIGINT): clean"
