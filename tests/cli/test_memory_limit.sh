#!/usr/bin/env bash
# The memory limiter under sustained overload: `serve --data-dir
# --max-memory 32M` takes, for SECONDS (default 15), unpaced OTLP/gRPC from
# two loadgens (8 calls in flight each), Flight DoPut from a third and
# OTLP/HTTP from an SDK-like sender (forward_lib.sh send.py, retrying 503s).
# Checks:
#   - RSS (VmRSS, sampled every 0.2 s from /proc/PID/status) never exceeds
#     max-memory + OVERHEAD. OVERHEAD (288 MiB; measured peaks 265-270 MiB
#     in all) is the memory the limit does not count: code and libraries
#     (~15 MiB), the messages being received and decoded (~20 MiB with 16
#     calls in flight), compaction decoding small segments to merge them
#     (~40 MiB), the encoding of log records and segments, and free memory
#     kept by malloc's per-thread arenas (docs/security.md).
#   - clients are pushed back with retryable errors: UNAVAILABLE from the
#     loadgens (counted from --json) and 503 + Retry-After on OTLP/HTTP;
#     no other error.
#   - nothing acknowledged is dropped: count(*) of "spans" == spans
#     acknowledged over gRPC + HTTP, also after a restart.
# Usage: test_memory_limit.sh OTLPARROW [SECONDS]
# shellcheck disable=SC2154 # tmp and pids come from lib.sh, forward_lib.sh
set -uo pipefail
bin=$1
secs=${2:-15}
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/forward_lib.sh
. "$(dirname "$0")/forward_lib.sh"
limit_mib=32
overhead_mib=288

bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}" "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

http_spans=20000
"$bin" gen --spans $http_spans --seed 5 --batch 500 -q -o "$tmp/http.pb" ||
  bad "gen"
n_http=$(python3 -c 'import struct,sys
d = open(sys.argv[1], "rb").read(); i = n = 0
while i < len(d): i += 5 + struct.unpack(">I", d[i+1:i+5])[0]; n += 1
print(n)' "$tmp/http.pb")
"$bin" gen --spans 1000 --seed 6 -q -o "$tmp/probe.pb" || bad "gen"

gp=$(free_port)
hp=$(free_port)
fp=$(free_port)
start_serve srv --otlp-grpc "127.0.0.1:$gp" --otlp-http "127.0.0.1:$hp" \
  --flight "127.0.0.1:$fp" --data-dir "$tmp/data" --max-memory ${limit_mib}M || {
  finish
  exit
}
spid=${pids[srv]}
(
  while kill -0 "$spid" 2>/dev/null; do
    awk '/^VmRSS:/ {print $2}' "/proc/$spid/status" 2>/dev/null
    sleep 0.2
  done
) >"$tmp/rss" &
sampler=$!
bg_pids+=("$sampler")

lg=("$bin" loadgen --duration "$secs" --json)
for i in 1 2; do
  "${lg[@]}" --otlp-grpc "127.0.0.1:$gp" --spans-per-request 1000 \
    --connections 2 --concurrency 4 --seed $i >"$tmp/grpc$i.json" 2>&1 &
  bg_pids+=($!)
done
"${lg[@]}" --flight "127.0.0.1:$fp" --batch-spans 10000 --connections 2 \
  --drop-bytes 8M >"$tmp/put.json" 2>&1 &
bg_pids+=($!)
# an SDK-like sender: retries 503s honouring Retry-After (at most 0.5 s)
python3 "$tmp/send.py" "http://127.0.0.1:$hp/v1/traces" "$tmp/http.pb" \
  "$tmp/http.acked" $((secs + 30)) 2>"$tmp/http.err" &
http_pid=$!
bg_pids+=("$http_pid")
# an OTLP/HTTP request while overloaded shows what a client is told
sleep $((secs / 2))
saw_503=0
for _ in $(seq 40); do
  code=$(curl -s -o "$tmp/h.body" -D "$tmp/h.hdr" -w '%{http_code}' \
    -H 'Content-Type: application/x-protobuf' \
    --data-binary "@$tmp/probe.pb" "http://127.0.0.1:$hp/v1/traces")
  if [ "$code" = 503 ]; then
    saw_503=1
    break
  fi
  # a 200 stored spans too: the sender's count alone would miss them
  [ "$code" = 200 ] && http_spans=$((http_spans + 1000))
  sleep 0.05
done
wait "${bg_pids[@]:1:3}"
wait "$http_pid"
http_rc=$?
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null

stat_of() { json_field "$(cat "$1")" "$2"; }
status_of() {
  python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
e = d.get("errors_by_status", {})
print(e.get("UNAVAILABLE", 0), " ".join("%s=%s" % kv for kv in e.items() if kv[0] != "UNAVAILABLE"))' "$1" 2>&1
}
grpc_spans=0
retry_total=0
for w in grpc1 grpc2 put; do
  read -r retry other <<<"$(status_of "$tmp/$w.json")"
  n=$(stat_of "$tmp/$w.json" requests)
  if [ -z "${other:-}" ] && [ -n "$n" ] && [ "$n" -gt 0 ]; then
    ok "$w: $n acknowledged, $retry UNAVAILABLE"
  else
    bad "$w: unexpected: $(head -c 500 "$tmp/$w.json")"
  fi
  retry_total=$((retry_total + ${retry:-0}))
  [ "$w" != put ] && grpc_spans=$((grpc_spans + $(stat_of "$tmp/$w.json" spans)))
done
[ "$retry_total" -gt 0 ] && ok "overload pushed back: $retry_total retryable errors" ||
  bad "no retryable error: the load did not reach the limit"
if [ "$saw_503" = 1 ] && grep -qi '^retry-after: [0-9]' "$tmp/h.hdr" &&
  grep -qa 'memory limit' "$tmp/h.body"; then
  ok "OTLP/HTTP over the limit: 503, $(grep -i '^retry-after' "$tmp/h.hdr" | tr -d '\r')"
else
  bad "OTLP/HTTP over the limit: no 503 with Retry-After (last HTTP $code: $(head -c 200 "$tmp/h.body"))"
fi
if [ "$http_rc" -eq 0 ] && [ "$(wc -l <"$tmp/http.acked")" -eq "$n_http" ]; then
  ok "OTLP/HTTP sender: all $n_http requests acknowledged after retries"
else
  bad "OTLP/HTTP sender: $(wc -l <"$tmp/http.acked") of $n_http acknowledged: $(head -c 300 "$tmp/http.err")"
fi
max_kb=$(sort -n "$tmp/rss" | tail -1)
bound_kb=$(((limit_mib + overhead_mib) * 1024))
if [ "${OA_SANITIZED:-0}" = 1 ]; then
  ok "RSS max $((${max_kb:-0} / 1024)) MiB (not judged in a sanitizer build)"
elif [ -n "$max_kb" ] && [ "$max_kb" -le "$bound_kb" ]; then
  ok "RSS max $((max_kb / 1024)) MiB <= $limit_mib + $overhead_mib MiB ($(wc -l <"$tmp/rss") samples)"
else
  bad "RSS max $((${max_kb:-0} / 1024)) MiB > $limit_mib + $overhead_mib MiB"
fi

want=$((grpc_spans + http_spans))
count_is() {
  local n
  n=$("$bin" query --flight "127.0.0.1:$fp" --format csv \
    "SELECT count(*) AS n FROM spans" 2>&1 | tail -1 | tr -d '\r')
  [ "$n" = "$want" ] && ok "$1: count(*) = $n = acknowledged $grpc_spans (gRPC) + $http_spans (HTTP)" ||
    bad "$1: count(*) = '$n', acknowledged $want = $grpc_spans (gRPC) + $http_spans (HTTP)"
}
count_is "after the overload"
stop_bg srv
start_serve srv --otlp-grpc off --otlp-http off --flight "127.0.0.1:$fp" \
  --data-dir "$tmp/data" && {
  count_is "after a restart"
  stop_bg srv
}
finish
