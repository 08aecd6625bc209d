#!/usr/bin/env bash
# Soak: `serve --data-dir` (persistence on, fsync per batch) under a steady
# mixed load for SECONDS (default 35; scripts/soak.sh runs it for minutes):
#   - OTLP/gRPC: loadgen, paced;
#   - OTLP/HTTP: a framed file of requests posted one by one like an SDK
#     (forward_lib.sh send.py: retries 429/503 honouring Retry-After);
#   - Flight DoPut: loadgen --flight (datasets loadgen-N, dropped as it goes)
#     and store_crash_client putting id-tagged batches to "crash" in a loop
#     that resumes after its last acknowledged batch;
#   - queries: a paced loadgen --mode get (DoGet of its own 5000-span
#     dataset) and, about every second, `otlparrow query --flight` running
#     a GROUP BY on that dataset on the server. Not on "spans": a query
#     over the whole store materializes all of it in the server (memory
#     grows with the data, not bounded by --max-memory), which would make
#     RSS grow with the stored data; "spans" is counted once at the end.
# Checks:
#   - errors: only retryable ones (UNAVAILABLE) from any client; no query
#     fails; every HTTP request is finally acknowledged;
#   - RSS flat: VmRSS and RssAnon of the server are sampled from
#     /proc/PID/status every second. The first quarter (at least 5 s) is
#     warm-up; of the rest, max(second half) <= max(first half) * 1.2 +
#     SLACK (32 MiB), for both (RssAnon is the heap; VmRSS also counts the
#     mmap'ed segment pages that queries touch);
#   - every accepted span is there: count(*) of "spans" == spans
#     acknowledged over OTLP/gRPC + OTLP/HTTP, and every acknowledged
#     "crash" batch is stored exactly once, before and after a restart.
# Prints one summary line "soak: ..." (scripts/soak.sh records it).
# Usage: test_soak.sh OTLPARROW STORE_CRASH_CLIENT [SECONDS]
# shellcheck disable=SC2154 # tmp and pids come from lib.sh, forward_lib.sh
set -uo pipefail
bin=$1
client=$2
secs=${3:-35}
# OTLP/gRPC requests/s of 500 spans (the final count(*) over "spans"
# materializes every stored span in the server: scripts/soak.sh lowers it)
grpc_rate=${OA_SOAK_GRPC_RATE:-40}
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/forward_lib.sh
. "$(dirname "$0")/forward_lib.sh"
slack_mib=32

bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}" "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# HTTP: about 5 requests/s of up to 100 spans (whole traces), for most of
# the run.
http_spans=$((secs * 400))
"$bin" gen --spans "$http_spans" --seed 7 --batch 100 -q -o "$tmp/http.pb" ||
  bad "gen"
n_http=$(python3 -c 'import struct,sys
d = open(sys.argv[1], "rb").read(); i = n = 0
while i < len(d): i += 5 + struct.unpack(">I", d[i+1:i+5])[0]; n += 1
print(n)' "$tmp/http.pb")

gp=$(free_port)
hp=$(free_port)
fp=$(free_port)
start_serve srv --otlp-grpc "127.0.0.1:$gp" --otlp-http "127.0.0.1:$hp" \
  --flight "127.0.0.1:$fp" --data-dir "$tmp/data" --max-memory 256M || {
  finish
  exit
}
spid=${pids[srv]}

# RSS sampler: "seconds VmRSS_kB RssAnon_kB" per line.
(
  t=0
  while kill -0 "$spid" 2>/dev/null; do
    awk -v t=$t '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} END {print t, r, a}' \
      "/proc/$spid/status" 2>/dev/null
    t=$((t + 1))
    sleep 1
  done
) >"$tmp/rss" &
sampler=$!
bg_pids+=("$sampler")

lg=("$bin" loadgen --duration "$secs" --json)
# DoGet first: the queries below run on its fixed-size dataset
"${lg[@]}" --flight "127.0.0.1:$fp" --mode get --rate 1 --batch-spans 5000 \
  --connections 1 >"$tmp/get.json" 2>"$tmp/get.err" &
get_pid=$!
bg_pids+=("$get_pid")
# the queries stop before loadgen --mode get drops its dataset
end=$((SECONDS + secs - 3))
q_sql='SELECT service_name, count(*) AS n FROM "loadgen-get" GROUP BY service_name ORDER BY n DESC'
for _ in $(seq 100); do
  "$bin" query --flight "127.0.0.1:$fp" "$q_sql" >/dev/null 2>&1 && break
  sleep 0.1
done
"${lg[@]}" --otlp-grpc "127.0.0.1:$gp" --rate "$grpc_rate" --spans-per-request 500 \
  --connections 2 --concurrency 4 >"$tmp/grpc.json" 2>"$tmp/grpc.err" &
grpc_pid=$!
"${lg[@]}" --flight "127.0.0.1:$fp" --rate 4 --batch-spans 2000 \
  --connections 2 --drop-bytes 32M >"$tmp/put.json" 2>"$tmp/put.err" &
put_pid=$!
python3 "$tmp/send.py" "http://127.0.0.1:$hp/v1/traces" "$tmp/http.pb" \
  "$tmp/http.acked" $((secs + 60)) 0.15 2>"$tmp/http.err" &
http_pid=$!
bg_pids+=("$grpc_pid" "$put_pid" "$http_pid")

# Flight batches with ids, resumed after the last acknowledged one; and a
# query each second.
: >"$tmp/crash.acked"
next=0
puts=0
put_fail=0
queries=0
query_fail=0
while [ $SECONDS -lt "$end" ]; do
  "$client" put "127.0.0.1:$fp" "$next" 200 >>"$tmp/crash.acked" \
    2>>"$tmp/crash.err" || put_fail=$((put_fail + 1))
  puts=$((puts + 1))
  last=$(tail -1 "$tmp/crash.acked")
  [ -n "$last" ] && next=$((last + 1))
  if ! "$bin" query --flight "127.0.0.1:$fp" --format csv "$q_sql" \
    >"$tmp/q.out" 2>"$tmp/q.err"; then
    query_fail=$((query_fail + 1))
    [ $query_fail -le 3 ] && echo "query failed: $(head -c 300 "$tmp/q.err")"
  fi
  queries=$((queries + 1))
  sleep 0.5
done

wait "$grpc_pid" "$put_pid" "$get_pid"
wait "$http_pid"
http_rc=$?
kill "$sampler" 2>/dev/null # RSS is judged over the load only
wait "$sampler" 2>/dev/null

# errors_by_status of a loadgen JSON line, without OK and UNAVAILABLE.
unexpected() {
  python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
e = {k: v for k, v in d.get("errors_by_status", {}).items() if k not in ("OK", "UNAVAILABLE")}
print(" ".join("%s=%s" % kv for kv in e.items()))' "$1" 2>&1
}
retryable() {
  python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(d.get("errors_by_status", {}).get("UNAVAILABLE", 0))' "$1" 2>/dev/null
}
for w in grpc put get; do
  u=$(unexpected "$tmp/$w.json")
  n=$(json_field "$(cat "$tmp/$w.json")" requests)
  if [ -z "$u" ] && [ -n "$n" ] && [ "$n" -gt 0 ]; then
    ok "loadgen $w: $n requests, $(retryable "$tmp/$w.json") retryable errors"
  else
    bad "loadgen $w: unexpected errors '$u': $(head -c 400 "$tmp/$w.json" "$tmp/$w.err")"
  fi
done
grpc_spans=$(json_field "$(cat "$tmp/grpc.json")" spans)
if [ "$http_rc" -eq 0 ] && [ "$(wc -l <"$tmp/http.acked")" -eq "$n_http" ]; then
  ok "OTLP/HTTP: all $n_http requests acknowledged"
else
  bad "OTLP/HTTP: $(wc -l <"$tmp/http.acked") of $n_http acknowledged: $(head -c 400 "$tmp/http.err")"
  http_spans=-1
fi
if [ "$query_fail" -eq 0 ] && [ "$queries" -gt 0 ]; then
  ok "$queries GROUP BY queries during the load"
else
  bad "$query_fail of $queries queries failed"
fi
# A put run ends early only when the server refused (retryable) or went away.
if ! grep -qv "UNAVAILABLE" "$tmp/crash.err" 2>/dev/null; then
  ok "Flight id-tagged puts: $(wc -l <"$tmp/crash.acked") batches acknowledged in $puts runs ($put_fail ended by a retryable error)"
else
  bad "Flight id-tagged puts: $(grep -v UNAVAILABLE "$tmp/crash.err" | head -3)"
fi

# RSS flat after warm-up.
rss_line=$(python3 - "$tmp/rss" "$slack_mib" <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
slack = int(sys.argv[2]) * 1024
warm = max(5, len(rows) // 4)
rest = rows[warm:]
if len(rest) < 4:
    print("FAIL only %d samples" % len(rows)); sys.exit()
h = len(rest) // 2
res = []
okay = True
for col, name in ((1, "VmRSS"), (2, "RssAnon")):
    a = max(r[col] for r in rest[:h]); b = max(r[col] for r in rest[h:])
    lo = min(r[col] for r in rows); hi = max(r[col] for r in rows)
    good = b <= a * 1.2 + slack
    okay = okay and good
    res.append("%s min %d max %d MiB, first-half max %d second-half max %d MiB%s" %
               (name, lo // 1024, hi // 1024, a // 1024, b // 1024, "" if good else " GROWS"))
print(("ok " if okay else "FAIL ") + "%d samples: " % len(rows) + "; ".join(res))
PY
)
if [[ $rss_line == ok* ]]; then
  ok "RSS flat: ${rss_line#ok }"
elif [ "${OA_SANITIZED:-0}" = 1 ]; then
  ok "RSS not judged in a sanitizer build: ${rss_line#* }"
else
  bad "RSS: ${rss_line#FAIL }"
fi

# Every acknowledged span and batch is stored, also after a restart.
count_spans() {
  "$bin" query --flight "127.0.0.1:$fp" --format csv \
    "SELECT count(*) AS n FROM spans" 2>&1 | tail -1 | tr -d '\r'
}
want=$((grpc_spans + http_spans))
check_all() {
  local got
  got=$(count_spans)
  if [ "$got" = "$want" ]; then
    ok "$1: count(*) = $got = $grpc_spans (gRPC) + $http_spans (HTTP)"
  else
    bad "$1: count(*) = '$got', acknowledged $want = $grpc_spans (gRPC) + $http_spans (HTTP)"
  fi
  if "$client" check "127.0.0.1:$fp" "$tmp/crash.acked" >"$tmp/check.out" 2>&1; then
    ok "$1: $(tail -1 "$tmp/check.out")"
  else
    bad "$1: $(head -c 600 "$tmp/check.out")"
  fi
}
check_all "after the load"
stored=$(count_spans)
stop_bg srv
start_serve srv2 --otlp-grpc off --otlp-http off --flight "127.0.0.1:$fp" \
  --data-dir "$tmp/data" && {
  check_all "after a restart"
  stop_bg srv2
}
du=$(du -sm "$tmp/data" | cut -f1)
echo "soak: ${secs}s, spans stored $stored (gRPC $grpc_spans, HTTP $http_spans)," \
  "crash batches $(wc -l <"$tmp/crash.acked"), queries $queries," \
  "retryable errors gRPC $(retryable "$tmp/grpc.json") put $(retryable "$tmp/put.json")" \
  "get $(retryable "$tmp/get.json"), data ${du} MiB; RSS ${rss_line#* }"
finish
