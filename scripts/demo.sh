#!/usr/bin/env bash
# `make demo`: the whole pipeline on the embedded defaults, on loopback.
#   1. otlparrow serve with a fresh data directory (Flight, persistent store);
#   2. examples/export_spans: 100K spans from the C exporter API over Flight;
#   3. OTLP/gRPC traffic (otlparrow loadgen) through otlparrow forward, the
#      OTLP-to-Arrow gateway, into the same server;
#   4. the field's GROUP BY (spans per trace, avg/max/min duration, top 100)
#      with otlparrow query over Flight, and a count per source;
#   5. the server stops; the data is read back from its directory.
# Usage: scripts/demo.sh [BUILD_DIR] (default build). OA_DEMO_SPANS changes
# the number of spans of step 2, OA_DEMO_DIR the data directory (data/demo).
# Exits non-zero if any step fails or a span is missing at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BIN=$BUILD/otlparrow
EXPORT=$BUILD/examples/export_spans
SPANS=${OA_DEMO_SPANS:-100000}
DATA=${OA_DEMO_DIR:-data/demo}
OTLP_REQUESTS=50
for f in "$BIN" "$EXPORT"; do
  [ -x "$f" ] || { echo "demo: $f is missing: run 'make build' first" >&2; exit 1; }
done

rm -rf "$DATA"
mkdir -p "$DATA"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }

# wait_port LOG WHAT: the port of the "WHAT on HOST:PORT" line of LOG.
wait_port() {
  local port=""
  for _ in $(seq 100); do
    port=$(sed -nE "s#.*$2 on [^ ]*:([0-9]+).*#\1#p" "$1" | head -1)
    if [ -n "$port" ] && grep -q ready "$1"; then
      echo "$port"
      return 0
    fi
    sleep 0.1
  done
  echo "demo: the process writing $1 did not start:" >&2
  cat "$1" >&2
  return 1
}

say "1/5 otlparrow serve (Flight on loopback, data in $DATA/store)"
"$BIN" serve --flight 127.0.0.1:0 --otlp-grpc off --otlp-http off \
  --data-dir "$DATA/store" >"$DATA/serve.log" 2>&1 &
pids+=($!)
serve_pid=$!
FLIGHT=$(wait_port "$DATA/serve.log" "Arrow Flight")
echo "serve: Arrow Flight on 127.0.0.1:$FLIGHT"

say "2/5 examples/export_spans: $SPANS spans through the C exporter API"
"$EXPORT" "grpc://127.0.0.1:$FLIGHT" "$SPANS"

say "3/5 OTLP/gRPC through otlparrow forward (the OTLP-to-Arrow gateway)"
"$BIN" forward --to "flight://127.0.0.1:$FLIGHT" --otlp-grpc 127.0.0.1:0 \
  --otlp-http off --data-dir "$DATA/forward" >"$DATA/forward.log" \
  2>"$DATA/forward.err" &
pids+=($!)
fwd_pid=$!
OTLP=$(wait_port "$DATA/forward.log" "OTLP/gRPC")
"$BIN" loadgen --otlp-grpc "127.0.0.1:$OTLP" --requests "$OTLP_REQUESTS" \
  --spans-per-request 1000 --connections 1 --concurrency 2 --seed 7
kill -TERM "$fwd_pid"
wait "$fwd_pid" || { echo "demo: forward failed:" >&2; cat "$DATA/forward.err" >&2; exit 1; }
echo "forward: $(tail -n 1 "$DATA/forward.err")"

say "4/5 otlparrow query over Flight"
"$BIN" query --flight "127.0.0.1:$FLIGHT" \
  "SELECT service_name, count(*) AS spans, count(DISTINCT trace_id) AS traces
   FROM spans GROUP BY service_name ORDER BY spans DESC"
echo
echo "Spans per trace, top 100 (the field's GROUP BY):"
"$BIN" query --flight "127.0.0.1:$FLIGHT" --timing \
  "SELECT hex(trace_id) AS trace_id, count(*) AS spans,
          avg(duration) / 1e6 AS avg_ms, max(duration) / 1e6 AS max_ms,
          min(duration) / 1e6 AS min_ms
   FROM spans GROUP BY trace_id ORDER BY spans DESC, trace_id LIMIT 100"

say "5/5 stop the server; read the store back from $DATA/store"
kill -TERM "$serve_pid"
wait "$serve_pid" || { echo "demo: serve failed:" >&2; cat "$DATA/serve.log" >&2; exit 1; }
pids=()
"$BIN" query --data-dir "$DATA/store" \
  "SELECT count(*) AS spans, count(DISTINCT trace_id) AS traces,
          min(start_time) AS first, max(start_time) AS last FROM spans"
stored=$("$BIN" query --data-dir "$DATA/store" --format csv \
  "SELECT count(*) AS n FROM spans" | tail -n 1 | tr -d "\r")
expected=$((SPANS + OTLP_REQUESTS * 1000))
if [ "$stored" != "$expected" ]; then
  echo "demo: FAILED: the store holds $stored spans, $expected were sent" >&2
  exit 1
fi
echo
echo "demo: every span arrived ($SPANS from the C API + $((OTLP_REQUESTS * 1000)) through forward)."
echo "demo: done. Try: $BIN query --data-dir $DATA/store \"SELECT ...\" (docs/sql.md)"
