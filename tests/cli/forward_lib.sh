# shellcheck shell=bash disable=SC2154
# Helpers for the forward tests (sourced after lib.sh; needs $bin, $tmp):
# background processes with their output in $tmp/NAME.out / NAME.err,
# bound ports read from their "... on HOST:PORT" lines, an OTLP/HTTP sender
# that retries like an SDK, and span comparisons through OTLP/JSON.

declare -A pids

# start_bg NAME cmd...: runs cmd in the background.
start_bg() {
  local name=$1
  shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids[$name]=$!
}

# wait_ready NAME: until its stdout says "ready" (10 s).
wait_ready() {
  for _ in $(seq 100); do
    grep -q "ready" "$tmp/$1.out" 2>/dev/null && return 0
    kill -0 "${pids[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  bad "$1 did not start: $(cat "$tmp/$1.out" "$tmp/$1.err" 2>/dev/null | head -c 600)"
  return 1
}

start_serve() {
  local name=$1
  shift
  start_bg "$name" "$bin" serve "$@"
  wait_ready "$name"
}

# bound_port NAME WHAT: the port of the "WHAT on HOST:PORT" line.
bound_port() {
  grep "$2 on " "$tmp/$1.out" | head -1 | sed -E 's/.* on [^ ]*:([0-9]+).*/\1/'
}

# stop_bg NAME [SIGNAL]: signal (TERM) and wait (20 s, then KILL); after
# TERM the exit status must be 0 (sanitizer reports fail too).
stop_bg() {
  local pid=${pids[$1]}
  kill "-${2:-TERM}" "$pid" 2>/dev/null
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && {
    bad "$1 did not stop"
    kill -KILL "$pid"
  }
  wait "$pid" 2>/dev/null
  local st=$?
  if [ "${2:-TERM}" = TERM ] && [ "$st" -ne 0 ]; then
    bad "$1 exited $st after SIGTERM: $(tail -c 1500 "$tmp/$1.err")"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# json_field JSON KEY: a number from a flat JSON line.
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1].strip().splitlines()[-1])[sys.argv[2]])' "$1" "$2" 2>/dev/null; }

# metric LINE KEY: key=value from a forward metrics line.
metric() { sed -nE "s/.* $2=([0-9-]+).*/\1/p" <<<"$1"; }

# check_metrics NAME LINE ACCEPTED EXPORTED FAILED: and the balance
# accepted = exported + failed + dropped + queued.
check_metrics() {
  local a e f d q
  a=$(metric "$2" accepted) e=$(metric "$2" exported) f=$(metric "$2" failed)
  d=$(metric "$2" dropped) q=$(metric "$2" queued)
  if [ "$a" = "$3" ] && [ "$e" = "$4" ] && [ "$f" = "$5" ] &&
    [ $((e + f + d + q)) -eq "$a" ]; then
    ok "$1"
  else
    bad "$1: wanted accepted=$3 exported=$4 failed=$5, got: $2"
  fi
}

# same_spans NAME SENT.jsonl GOT.jsonl [subset]: every sent span (resource,
# scope and span fields) is in GOT exactly as sent; without subset GOT
# holds nothing else.
same_spans() {
  if python3 "$tmp/spans.py" "$2" "$3" "${4:-}" >"$tmp/cmp.txt" 2>&1; then
    ok "$1 ($(cat "$tmp/cmp.txt"))"
  else
    bad "$1: $(head -c 800 "$tmp/cmp.txt")"
  fi
}

cat >"$tmp/spans.py" <<'PY'
import json, sys
def spans(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        for rs in json.loads(line).get("resourceSpans", []):
            res = json.dumps(rs.get("resource", {}), sort_keys=True)
            for ss in rs.get("scopeSpans", []):
                scope = json.dumps(ss.get("scope", {}), sort_keys=True)
                for sp in ss.get("spans", []):
                    key = (sp["traceId"], sp["spanId"])
                    val = (res, scope, json.dumps(sp, sort_keys=True))
                    out.setdefault(key, []).append(val)
    return out
sent, got = spans(sys.argv[1]), spans(sys.argv[2])
subset = len(sys.argv) > 3 and sys.argv[3] == "subset"
bad = 0
for k, v in sent.items():
    g = got.get(k, [])
    if len(g) != 1 or g[0] != v[0]:
        bad += 1
        if bad <= 3:
            print("span %s/%s: sent %s, got %d: %s" % (k[0], k[1], v[0][2][:200], len(g), g[:1]))
if not subset and len(got) != len(sent):
    bad += 1
    print("got %d spans, sent %d" % (len(got), len(sent)))
if bad:
    sys.exit(1)
print("%d spans compared" % len(sent))
PY

# send.py URL FRAMED.pb ACKED_FILE DEADLINE_S [GAP_S]: posts each request
# of a gRPC-framed .pb like an OTLP SDK: retries on 429/502/503/504 and
# connection errors (honouring Retry-After) until DEADLINE_S; writes the
# index of each acknowledged (200) request to ACKED_FILE, and each attempt
# that failed (with the time and why) to ACKED_FILE.log. URL @FILE: the URL
# is read from FILE before each attempt (a restarted receiver's new port).
# Exit 0 when all were acknowledged.
cat >"$tmp/send.py" <<'PY'
import sys, time, struct, urllib.request, urllib.error
url, path, acked_path, deadline = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
gap = float(sys.argv[5]) if len(sys.argv) > 5 else 0
data = open(path, "rb").read()
reqs = []
if data[:1] == b"\0":
    i = 0
    while i < len(data):
        n = struct.unpack(">I", data[i + 1:i + 5])[0]
        reqs.append(data[i + 5:i + 5 + n])
        i += 5 + n
else:
    reqs.append(data)
end = time.time() + deadline
acked = open(acked_path, "w")
log = open(acked_path + ".log", "a")
all_ok = True
for idx, body in enumerate(reqs):
    while True:
        wait = 0.1
        try:
            to = open(url[1:]).read().strip() if url.startswith("@") else url
            r = urllib.request.Request(to, data=body, method="POST",
                                       headers={"Content-Type": "application/x-protobuf"})
            with urllib.request.urlopen(r, timeout=5) as resp:
                resp.read()
            acked.write("%d\n" % idx)
            acked.flush()
            break
        except urllib.error.HTTPError as e:
            log.write("%.3f request %d: HTTP %d\n" % (time.time(), idx, e.code))
            log.flush()
            if e.code not in (429, 502, 503, 504):
                print("request %d: HTTP %d (final)" % (idx, e.code), file=sys.stderr)
                all_ok = False
                break
            ra = e.headers.get("Retry-After")
            if ra and ra.isdigit():
                wait = min(float(ra), 0.5)
        except Exception as e:
            log.write("%.3f request %d: %r\n" % (time.time(), idx, e))
            log.flush()
        if time.time() > end:
            print("request %d: deadline" % idx, file=sys.stderr)
            all_ok = False
            break
        time.sleep(wait)
    if gap:
        time.sleep(gap)
sys.exit(0 if all_ok else 1)
PY
