#!/usr/bin/env bash
# Fault injection for otlparrow forward (bounded, well under 90 s):
# 1. A known set of spans (40 OTLP/HTTP requests, posted like an SDK that
#    retries 503s and connection errors) goes through `forward` with its
#    persistent queue to `serve --data-dir`, while the server is SIGKILLed
#    and restarted several times and forward itself is SIGKILLed and
#    restarted on its queue. At the end the server holds every
#    acknowledged span exactly once (batch ids make replays idempotent).
# 2. A destination unreachable for longer than the retry window: the spans
#    are reported failed; accepted = exported + failed + dropped + queued.
# Usage: test_forward_faults.sh OTLPARROW_BINARY
# OA_KEEP_TMP=DIR: on failure, the scratch directory (every server and
# forward log, the sender's per-request log) is copied into DIR.
set -uo pipefail
bin=$1
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/forward_lib.sh
. "$(dirname "$0")/forward_lib.sh"
trap 'if [ "$fail" != 0 ] && [ -n "${OA_KEEP_TMP:-}" ]; then
  mkdir -p "$OA_KEEP_TMP" && cp -r "$tmp" "$OA_KEEP_TMP/" &&
    echo "kept $tmp in $OA_KEEP_TMP"; fi; rm -rf "$tmp"' EXIT
expect_clip=600
SECONDS=0

"$bin" gen --spans 12000 --seed 31 --batch 300 -q -o "$tmp/in.pb" || bad "gen"
"$bin" convert "$tmp/in.pb" "$tmp/in.jsonl" >/dev/null 2>&1 || bad "convert"
fp=$(free_port)
# forward's OTLP/HTTP port: bound anew (port 0) by each forward process and
# read by the sender before each attempt (a port chosen ahead of time may be
# taken by another process while forward restarts)

op=$(free_port)
dest="flight://127.0.0.1:$fp"
serve_up() {
  rm -f "$tmp/srv.out" # as in forward_up
  start_serve srv --otlp-grpc "127.0.0.1:$op" --otlp-http off --flight "127.0.0.1:$fp" \
    --data-dir "$tmp/srv" --dump-on-exit "$tmp/final.arrows"
}
forward_up() {
  # the killed process's "ready" and port must not be read for the new one
  # (start_bg truncates its output file only once the job runs)
  rm -f "$tmp/fwd.out"
  start_bg fwd "$bin" forward --to "$dest" --otlp-grpc off \
    --otlp-http 127.0.0.1:0 --data-dir "$tmp/fwd" --flush-interval 100 \
    --batch-size 1000 --retry-max-elapsed 120000 --timeout 2000 \
    --shutdown-timeout 30000
  wait_ready fwd
  echo "http://127.0.0.1:$(bound_port fwd "OTLP/HTTP")/v1/traces" >"$tmp/url.new"
  mv "$tmp/url.new" "$tmp/url"
}

# chaos NAME STEPS...: a fresh server and forwarder, the 40 requests
# posted while each step (server | forward) SIGKILLs and restarts one of
# them; then forward is stopped (it flushes), the server too (it dumps),
# and every acknowledged span is looked up in the dump. With MODE once:
# exactly once; with MODE present: at least once.
chaos() {
  local name=$1 mode=$2
  shift 2
  rm -rf "$tmp/srv" "$tmp/fwd" "$tmp/final.arrows" "$tmp"/*.all.err "$tmp/acked.log"
  mkdir -p "$tmp/srv" "$tmp/fwd"
  serve_up
  forward_up
  python3 "$tmp/send.py" "@$tmp/url" "$tmp/in.pb" "$tmp/acked" 50 0.1 &
  local sender=$! kills=0 step
  for step in "$@"; do
    sleep 0.7
    kill -0 "$sender" 2>/dev/null || break
    echo "$(date +%s.%N) SIGKILL $step" >>"$tmp/acked.log"
    if [ "$step" = server ]; then
      kill -KILL "${pids[srv]}"
      wait "${pids[srv]}" 2>/dev/null
      cat "$tmp/srv.err" >>"$tmp/srv.all.err"
      sleep 0.4 # forward retries meanwhile
      serve_up
    else
      kill -KILL "${pids[fwd]}"
      wait "${pids[fwd]}" 2>/dev/null
      cat "$tmp/fwd.err" >>"$tmp/fwd.all.err"
      forward_up
    fi
    kills=$((kills + 1))
  done
  wait "$sender" && ok "$name: all 40 requests acknowledged by forward ($kills kills on the way)" ||
    bad "$name: sender: $(wc -l <"$tmp/acked") requests acknowledged"
  stop_bg fwd
  cat "$tmp/fwd.err" >>"$tmp/fwd.all.err"
  local final q f
  final=$(grep "forward: final" "$tmp/fwd.err")
  q=$(metric "$final" queued)
  f=$(metric "$final" failed)
  [ "$q" = 0 ] && [ "$f" = 0 ] && ok "$name: forward drained its queue ($final)" || bad "$name: forward final: $final"
  [ -z "$(find "$tmp/fwd/queue" -type f 2>/dev/null)" ] && ok "$name: persistent queue empty at the end" ||
    bad "$name: queue files left: $(find "$tmp/fwd/queue" -type f | head)"
  stop_bg srv
  "$bin" convert "$tmp/final.arrows" "$tmp/final.jsonl" >/dev/null 2>&1 || bad "$name: convert dump: $(cat "$tmp/srv.err")"
  if python3 "$tmp/once.py" "$tmp/in.jsonl" "$tmp/final.jsonl" "$tmp/acked" "$mode" >"$tmp/once.txt" 2>&1; then
    ok "$name: acknowledged spans held $mode ($(cat "$tmp/once.txt"))"
  else
    bad "$name: acknowledged spans not held $mode: $(cat "$tmp/once.txt")"
  fi
}

cat >"$tmp/once.py" <<'PY'
import json, sys
def requests(path):
    out = []
    for line in open(path):
        if line.strip():
            ids = []
            for rs in json.loads(line).get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    ids += [(s["traceId"], s["spanId"]) for s in ss.get("spans", [])]
            out.append(ids)
    return out
sent = requests(sys.argv[1])
got = {}
for ids in requests(sys.argv[2]):
    for k in ids:
        got[k] = got.get(k, 0) + 1
acked = [int(x) for x in open(sys.argv[3]) if x.strip()]
want = [k for i in acked for k in sent[i]]
missing = [k for k in want if got.get(k, 0) == 0]
dups = [k for k, n in got.items() if n > 1]
print("%d acknowledged spans, %d held, %d missing, %d duplicated"
      % (len(want), len(got), len(missing), len(dups)))
once = sys.argv[4] == "once"
sys.exit(1 if missing or (once and dups) or not want else 0)
PY

# forward alone killed (the server keeps running): nothing acknowledged
# may be lost (its queue is replayed)
chaos "forward kills" present forward forward forward
# both killed: the server must persist and drop replayed duplicates
chaos "server and forward kills" once server forward server forward server

# OTLP/gRPC out through the same persistent queue: at least once (an OTLP
# server has no batch ids to drop replays by)
dest="otlp://127.0.0.1:$op"
chaos "otlp:// with forward kills" present forward forward
dest="flight://127.0.0.1:$fp"

# --- the queue survives a stop with the destination down, is replayed by
# the next process, and a damaged entry is skipped, not fatal. The first
# process forwards to Flight (Arrow IPC queue entries), the next one to
# OTLP/gRPC: it converts the entries left in the same data dir.
rm -rf "$tmp/fwd" "$tmp/srv" "$tmp/final.arrows"
down=$(free_port)
start_bg q1 "$bin" forward --to "flight://127.0.0.1:$down" --otlp-grpc off \
  --otlp-http 127.0.0.1:0 --data-dir "$tmp/fwd" --timeout 300 --shutdown-timeout 300
wait_ready q1
"$bin" gen --spans 300 --seed 33 --batch 100 -q -o "$tmp/q.pb"
"$bin" convert "$tmp/q.pb" "$tmp/q.jsonl" >/dev/null 2>&1
python3 "$tmp/send.py" "http://127.0.0.1:$(bound_port q1 "OTLP/HTTP")/v1/traces" "$tmp/q.pb" "$tmp/acked_q" 10 ||
  bad "posting to q1"
stop_bg q1
check_metrics "destination down at stop: spans stay queued on disk" "$(grep "forward: final" "$tmp/q1.err")" 300 0 0
nq=$(wc -l <"$tmp/acked_q")
[ "$(find "$tmp/fwd/queue" -name '*.oaq' | wc -l)" = "$nq" ] && ok "one queue file per acknowledged request ($nq)" ||
  bad "queue, $nq requests: $(ls "$tmp/fwd/queue")"
# a queue file can be looked at: inspect checks it and shows its batch; a
# damaged copy is refused, naming the checksum
qf=$(find "$tmp/fwd/queue" -name '*.oaq' | sort | head -1)
qspans=$("$bin" inspect "$qf" --json --rows 0 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["queue_entry"]["spans"], sum(b["length"] for b in d["batches"]))')
read -r qh qr <<<"$qspans"
[ "${qh:-0}" -gt 0 ] && [ "$qh" = "$qr" ] && ok "inspect a queue file: its batch id, $qh spans as its header says" ||
  bad "inspect queue file: $qspans"
expect 0 "inspect a queue file (text)" "checksums good; payload: Arrow IPC stream" -- "$bin" inspect "$qf" --rows 1
cp "$qf" "$tmp/damaged.oaq"
printf 'X' | dd of="$tmp/damaged.oaq" bs=1 seek=200 conv=notrunc 2>/dev/null
expect 1 "inspect a damaged queue file" "payload checksum mismatch" -- "$bin" inspect "$tmp/damaged.oaq"
printf 'OAQ1 torn' >"$tmp/fwd/queue/0000000000000000-00000000000000000000000000000000.oaq"
mkdir -p "$tmp/srv"
serve_up
start_bg q2 "$bin" forward --to "otlp://127.0.0.1:$op" --otlp-grpc off \
  --otlp-http 127.0.0.1:0 --data-dir "$tmp/fwd"
wait_ready q2
sleep 1
stop_bg q2
final=$(grep "forward: final" "$tmp/q2.err")
check_metrics "replayed by the next process" "$final" 300 300 0
[ "$(metric "$final" corrupt_files)" = 1 ] && grep -q "skipping queue file" "$tmp/q2.err" &&
  ok "damaged queue file reported and skipped" || bad "corrupt file: $final $(cat "$tmp/q2.err")"
[ -z "$(find "$tmp/fwd/queue" -name '*.oaq')" ] && ok "queue empty after replay" || bad "queue: $(ls "$tmp/fwd/queue")"
stop_bg srv
"$bin" convert "$tmp/final.arrows" "$tmp/final.jsonl" >/dev/null 2>&1
same_spans "replayed spans arrive as sent" "$tmp/q.jsonl" "$tmp/final.jsonl"

# --- 2. destination unreachable longer than the retry window
dead=$(free_port)
start_bg dead "$bin" forward --to "flight://127.0.0.1:$dead" --otlp-grpc off \
  --otlp-http 127.0.0.1:0 --retry-max-elapsed 1500 --timeout 300 --verbose \
  --metrics-interval 1
wait_ready dead
dp=$(bound_port dead "OTLP/HTTP")
"$bin" gen --spans 300 --seed 32 --batch 100 -q -o "$tmp/small.pb"
python3 "$tmp/send.py" "http://127.0.0.1:$dp/v1/traces" "$tmp/small.pb" "$tmp/acked_dead" 10 &&
  ok "unreachable destination: requests still buffered (200)" || bad "posting to dead forward"
failed_seen=
for _ in $(seq 60); do
  line=$(grep "forward: metrics" "$tmp/dead.err" | tail -1)
  [ "$(metric "$line" failed)" = 300 ] && { failed_seen=$line; break; }
  sleep 0.1
done
[ -n "$failed_seen" ] && ok "spans reported failed while running" || bad "no failed metric: $(tail -3 "$tmp/dead.err")"
stop_bg dead
check_metrics "unreachable: accepted = failed, nothing vanished" "$(grep "forward: final" "$tmp/dead.err")" 300 0 300

echo "took $SECONDS s"
[ "$SECONDS" -lt 90 ] && ok "bounded under 90 s" || bad "took $SECONDS s"
finish
