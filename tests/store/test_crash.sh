#!/bin/bash
# The store survives SIGKILL: `otlparrow serve --data-dir` takes Flight
# DoPut batches (each with an "oa-batch-id:" key) from store_crash_client,
# is killed with SIGKILL at random moments several times and restarted; the
# client resends from its last acknowledged batch each time. In the end
# every acknowledged batch must be stored exactly once (and no batch twice),
# after a last crash and again after a clean stop and restart.
# usage: test_crash.sh OTLPARROW STORE_CRASH_CLIENT [ROUNDS]
set -u
BIN=$1
CLIENT=$2
ROUNDS=${3:-8}
DIR=$(mktemp -d /tmp/oa_crash_XXXXXX)
SPID=
CPID=
cleanup() {
  [ -n "$CPID" ] && kill -9 "$CPID" 2>/dev/null
  [ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
DATA=$DIR/data
ACKED=$DIR/acked
: >"$ACKED"
fail() {
  echo "FAIL: $*" >&2
  echo "--- server stderr" >&2
  tail -20 "$DIR/err" >&2
  exit 1
}

STARTS=0
start_server() {
  STARTS=$((STARTS + 1))
  local out=$DIR/out.$STARTS # a fresh file: never an earlier run's address
  "$BIN" serve --data-dir "$DATA" --otlp-grpc off --otlp-http off \
    --flight 127.0.0.1:0 --max-memory 256M >"$out" 2>"$DIR/err" &
  SPID=$!
  for _ in $(seq 1 200); do
    grep -q "ready" "$out" 2>/dev/null && break
    kill -0 "$SPID" 2>/dev/null || fail "server did not start"
    sleep 0.05
  done
  ADDR=$(sed -n 's/.*Arrow Flight on \([0-9.:]*\).*/\1/p' "$out")
  [ -n "$ADDR" ] || fail "no Flight address in: $(cat "$out")"
}

next=0
RANDOM=42
for round in $(seq 1 "$ROUNDS"); do
  start_server
  "$CLIENT" put "$ADDR" "$next" 1000000 >>"$ACKED" 2>>"$DIR/client.err" &
  CPID=$!
  # 0.2 .. 1.7 s: through appends, flushes (every 2 s) and compactions
  sleep "$(printf '0.%d' $((RANDOM % 10)))"
  sleep "$((RANDOM % 2))"
  kill -9 "$SPID"
  wait "$SPID" 2>/dev/null || true
  SPID=
  wait "$CPID" 2>/dev/null
  CPID=
  last=$(tail -1 "$ACKED")
  [ -n "$last" ] && next=$((last + 1))
  echo "round $round: $(wc -l <"$ACKED") batches acknowledged so far"
done
[ "$(wc -l <"$ACKED")" -gt 0 ] || fail "no batch was ever acknowledged"

start_server
"$CLIENT" check "$ADDR" "$ACKED" || fail "after the last SIGKILL"
kill -TERM "$SPID"
wait "$SPID" || fail "clean stop failed"
SPID=
start_server
"$CLIENT" check "$ADDR" "$ACKED" || fail "after a clean restart"
kill -TERM "$SPID"
wait "$SPID" || fail "clean stop failed"
SPID=
ls "$DATA" | grep -q '^seg-' || fail "no segment was ever written"
echo "ok: $(wc -l <"$ACKED") acknowledged batches, each stored once"
