#!/usr/bin/env bash
# otlparrow query / otlparrow trace: output formats checked against an
# independent path (the OTLP/JSON encoder, read by Python), SQL errors with
# their caret, the trace tree, and the same queries over Arrow Flight.
# usage: test_query.sh OTLPARROW
set -u
B=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
expect_clip=400

"$B" gen --spans 300 --seed 5 --batch 100 -q -o "$tmp/s.pb" || exit 1
"$B" gen --spans 300 --seed 5 -q -o "$tmp/one.pb" || exit 1
"$B" convert "$tmp/s.pb" "$tmp/s.json" >/dev/null 2>&1 || exit 1
"$B" gen --spans 300 --seed 5 --batch 100 -q -o "$tmp/s.arrow" || exit 1
COLS="trace_id, span_id, parent_span_id, name, service_name, start_time, duration, status_code, status_message, attributes"
SQL="SELECT $COLS FROM spans"

# ---------------------------------------------------------------- help
expect 0 "query --help" "usage: otlparrow query" -- "$B" query --help
expect 0 "trace --help" "usage: otlparrow trace" -- "$B" trace --help
expect 2 "query without SQL" "usage: otlparrow query" -- "$B" query
expect 0 "listed in the command help" "query SQL" -- "$B" --help

# ---------------------------------------------------------------- --repeat
expect 0 "repeat: timing names the runs" "median of 3 runs, first" -- \
  "$B" query --input "$tmp/s.pb" "SELECT count(*) AS n FROM spans" --repeat 3 --timing --format csv
out=$("$B" query --input "$tmp/s.pb" "SELECT count(*) AS n FROM spans" --repeat 4 --format csv 2>/dev/null)
one=$("$B" query --input "$tmp/s.pb" "SELECT count(*) AS n FROM spans" --format csv 2>/dev/null)
[ -n "$one" ] && [ "$out" = "$one" ] && ok "repeat prints the result once" || bad "repeat output: '$out' vs '$one'"
# later runs reuse the memory of earlier ones (the query cache): same rows
"$B" gen --spans 20000 --seed 9 --max-trace-spans 3 -q -o "$tmp/g.arrow" || exit 1
GSQL="SELECT trace_id, count(*) AS n, avg(duration), max(duration), min(duration) FROM spans GROUP BY trace_id ORDER BY n DESC, trace_id LIMIT 20"
out=$("$B" query --input "$tmp/g.arrow" "$GSQL" --repeat 5 --format csv 2>/dev/null)
one=$("$B" query --input "$tmp/g.arrow" "$GSQL" --format csv 2>/dev/null)
[ "$(printf '%s\n' "$one" | wc -l)" -eq 21 ] && [ "$out" = "$one" ] && ok "repeat of a GROUP BY gives the rows of one run" || bad "repeat GROUP BY output differs: '$out' vs '$one'"
expect 1 "repeat 0 refused" "--repeat needs a number of runs" -- "$B" query --input "$tmp/s.pb" "SELECT 1" --repeat 0
expect 1 "repeat with --flight refused" "not with --flight" -- "$B" query --flight 127.0.0.1:1 "SELECT 1" --repeat 2

# ---------------------------------------------------------------- --max-memory
"$B" gen --spans 20000 --seed 3 --max-trace-spans 4 --batch 3000 -q -o "$tmp/m.arrow" || exit 1
GB="SELECT trace_id, count(*) AS n, max(duration) AS m FROM spans GROUP BY trace_id ORDER BY n DESC, trace_id LIMIT 20"
expect 1 "max-memory: GROUP BY over it fails" "GROUP BY needs more than 64 KiB for" -- \
  "$B" query --input "$tmp/m.arrow" "$GB" --max-memory 64K
expect 1 "max-memory: the message names the option" "(query memory limit, --max-memory); add a WHERE" -- \
  "$B" query --input "$tmp/m.arrow" "$GB" --max-memory 64K --threads 1
expect 1 "max-memory: ORDER BY over it fails" "ORDER BY needs more than 256 KiB for 20K rows" -- \
  "$B" query --input "$tmp/m.arrow" "SELECT trace_id, start_time FROM spans ORDER BY trace_id, start_time" --max-memory 256K
expect 1 "max-memory: a big result fails" "the result needs more than 256 KiB" -- \
  "$B" query --input "$tmp/m.arrow" "SELECT name, attributes FROM spans" --max-memory 256K
expect 1 "max-memory: bad value" "--max-memory needs a number" -- "$B" query --input "$tmp/m.arrow" "SELECT 1" --max-memory lots
expect 1 "max-rows: over it fails" "more than the limit of 10" -- "$B" query --input "$tmp/m.arrow" "SELECT name FROM spans" --max-rows 10
expect 0 "max-rows: within it" "(10 rows)" -- "$B" query --input "$tmp/m.arrow" "SELECT name FROM spans LIMIT 10" --max-rows 10
unl=$("$B" query --input "$tmp/m.arrow" "$GB" --max-memory 0 --format csv 2>&1)
lim=$("$B" query --input "$tmp/m.arrow" "$GB" --max-memory 8M --format csv 2>&1)
dflt=$("$B" query --input "$tmp/m.arrow" "$GB" --format csv 2>&1)
[ "$(echo "$unl" | wc -l)" = 21 ] && [ "$unl" = "$lim" ] && [ "$unl" = "$dflt" ] &&
  ok "max-memory: under it the same rows" || bad "max-memory changed the rows: '$unl' vs '$lim' vs '$dflt'"

# ---------------------------------------------------------------- CSV
"$B" query --input "$tmp/s.pb" "$SQL" --format csv >"$tmp/q.csv" 2>"$tmp/err"
expect 0 "csv runs" "" -- cat "$tmp/err"
# every span of the OTLP/JSON encoding, keyed by span id, against the CSV
check_csv() {
  python3 - "$1" "$tmp/s.json" <<'EOF'
import csv, json, sys
spans = {}
for line in open(sys.argv[2]):
    req = json.loads(line)
    for rs in req["resourceSpans"]:
        svc = None
        for kv in rs["resource"].get("attributes", []):
            if kv["key"] == "service.name":
                svc = kv["value"].get("stringValue")
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                s["_svc"] = svc
                spans[s["spanId"].lower()] = s
rows = list(csv.reader(open(sys.argv[1], newline="")))
head = rows[0]
assert head == ["trace_id", "span_id", "parent_span_id", "name", "service_name",
                "start_time", "duration", "status_code", "status_message",
                "attributes"], head
assert len(rows) == 1 + len(spans), (len(rows), len(spans))
seen = set()
for r in rows[1:]:
    d = dict(zip(head, r))
    s = spans[d["span_id"]]
    seen.add(d["span_id"])
    assert d["trace_id"] == s["traceId"].lower(), d
    assert d["parent_span_id"] == s.get("parentSpanId", "").lower(), d
    assert d["name"] == s["name"], d
    assert d["service_name"] == (s["_svc"] or ""), d
    assert d["start_time"] == str(s["startTimeUnixNano"]), d
    assert int(d["duration"]) == int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"]), d
    assert int(d["status_code"]) == s.get("status", {}).get("code", 0), d
    assert d["status_message"] == s.get("status", {}).get("message", ""), d
    attrs = json.loads(d["attributes"])
    assert [a[0] for a in attrs] == [kv["key"] for kv in s.get("attributes", [])], d
assert seen == set(spans)
print("ok")
EOF
}
expect 0 "csv values equal the OTLP/JSON encoding" "ok" -- check_csv "$tmp/q.csv"
expect 0 "csv lines end in CRLF" "" -- grep -q $'\r$' "$tmp/q.csv"
"$B" query --input "$tmp/s.arrow" "$SQL" --format csv --output "$tmp/q2.csv"
expect 0 "csv from an Arrow IPC file (--output)" "ok" -- check_csv "$tmp/q2.csv"
"$B" query --input - "$SQL" --format csv <"$tmp/s.pb" >"$tmp/q3.csv"
expect 0 "csv from stdin" "ok" -- check_csv "$tmp/q3.csv"

# RFC 4180: quotes doubled, fields with commas quoted, empty string "" vs NULL
check_quoting() {
  python3 - "$tmp/q.csv" <<'EOF'
import sys
raw = open(sys.argv[1], newline="").read()
# attributes are JSON arrays: always quoted, inner quotes doubled
assert ',"[[""' in raw, "JSON text not quoted"
# a root span: parent NULL -> empty field right after the span id
lines = raw.split("\r\n")
assert any(l.split(",")[2] == "" for l in lines[1:] if l), "no empty parent"
# status_message "" is written as "" (an empty string, not NULL)
assert any(',""' in l for l in lines[1:]), "no quoted empty string"
print("ok")
EOF
}
expect 0 "csv quoting (RFC 4180)" "ok" -- check_quoting

# ---------------------------------------------------------------- JSON lines
"$B" query --input "$tmp/s.pb" "$SQL" --format json >"$tmp/q.jsonl"
check_json() {
  python3 - "$tmp/q.jsonl" "$tmp/q.csv" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == len(rows) == 300, (len(objs), len(rows))
for o, r in zip(objs, rows):
    assert o["trace_id"] == r["trace_id"] and o["span_id"] == r["span_id"]
    assert (o["parent_span_id"] or "") == r["parent_span_id"]
    assert o["parent_span_id"] is None or len(o["parent_span_id"]) == 16
    # int64 values are JSON strings (notes/json_format.md), others numbers
    assert o["name"] == r["name"] and str(o["status_code"]) == r["status_code"]
    assert str(o["start_time"]) == r["start_time"]
    a = o["attributes"]
    assert json.loads(r["attributes"]) == (json.loads(a) if isinstance(a, str) else a)
print("ok")
EOF
}
expect 0 "json lines agree with csv" "ok" -- check_json

# ---------------------------------------------------------------- Arrow IPC
"$B" query --input "$tmp/s.pb" "$SQL" --format arrow --output "$tmp/q.arrows"
expect 0 "arrow output is an IPC stream of 300 rows" "300 rows" -- "$B" inspect "$tmp/q.arrows"
"$B" query --input "$tmp/s.pb" "$SQL" --format arrow | "$B" query --input - "$SQL" --format csv >"$tmp/q4.csv"
expect 0 "arrow to stdout reads back as the same csv" "" -- cmp "$tmp/q.csv" "$tmp/q4.csv"

# ---------------------------------------------------------------- table
"$B" query --input "$tmp/s.pb" "SELECT trace_id, name, start_time, status_code FROM spans" >"$tmp/t.txt"
expect 0 "table: header and rule" "trace_id" -- head -1 "$tmp/t.txt"
expect 0 "table: rule under the header" "-----" -- sed -n 2p "$tmp/t.txt"
expect 0 "table: row count" "(300 rows)" -- tail -1 "$tmp/t.txt"
expect 0 "table: ISO-8601 UTC times" "T00:00:0" -- grep -m1 -E '20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z' "$tmp/t.txt"
check_table() {
  python3 - "$tmp/t.txt" <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
head, rule = lines[0], lines[1]
# columns line up: each rule dash run starts where a header name starts
starts = [i for i in range(len(rule)) if rule[i] == "-" and (i == 0 or rule[i-1] == " ")]
for s in starts:
    assert head[s] != " " and (s == 0 or head[s-1] == " "), (s, head)
for l in lines[2:-2]:
    assert len(l) <= len(rule), l
print("ok")
EOF
}
expect 0 "table: columns aligned" "ok" -- check_table
"$B" query --input "$tmp/s.pb" "SELECT name FROM spans" --max-width 8 >"$tmp/t2.txt"
expect 0 "table: long values cut with an ellipsis" "…" -- cat "$tmp/t2.txt"
expect 1 "table: no value wider than --max-width" "" -- grep -qE '^.{9,}$' <(sed '1,2d;$d' "$tmp/t2.txt")

# ---------------------------------------------------------------- errors
expect 1 "bad SQL: position" "SQL error at 1:" -- "$B" query --input "$tmp/s.pb" "SELECT trace_id FROM spans WHERE"
err=$("$B" query --input "$tmp/s.pb" "SELECT trace_id,
  nosuch FROM spans" 2>&1)
caret_line=$(printf '%s\n' "$err" | grep -n '^ *\^$' | cut -d: -f1)
sql_line=$(printf '%s\n' "$err" | grep -n 'nosuch FROM spans' | tail -1 | cut -d: -f1)
if [[ "$err" == *"SQL error at 2:3"* && -n "$caret_line" && "$caret_line" -eq $((sql_line + 1)) ]] &&
  [ "$(printf '%s\n' "$err" | sed -n "${caret_line}p")" = "    ^" ]; then
  ok "caret under line 2 column 3"
else
  bad "caret under line 2 column 3: $err"
fi
expect 1 "unknown table" "no table 'nope'" -- "$B" query --input "$tmp/s.pb" "SELECT * FROM nope"
expect 1 "unknown format" "--format needs" -- "$B" query --input "$tmp/s.pb" "$SQL" --format xml
expect 1 "two sources" "one source" -- "$B" query --input "$tmp/s.pb" --flight 127.0.0.1:1 "$SQL"
expect 1 "missing input file" "nope.pb" -- "$B" query --input "$tmp/nope.pb" "$SQL"
expect 1 "two statements" "one SQL statement" -- "$B" query --input "$tmp/s.pb" "SELECT 1" "SELECT 2"

# ---------------------------------------------------------------- trace
# the trace with the most spans, and its root, from the CSV
read -r TID NSPANS ROOT < <(python3 - "$tmp/q.csv" <<'EOF'
import csv, sys, collections
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
c = collections.Counter(r["trace_id"] for r in rows)
tid, n = c.most_common(1)[0]
root = [r["name"] for r in rows if r["trace_id"] == tid and r["parent_span_id"] == ""][0]
print(tid, n, root.replace(" ", "_"))
EOF
)
"$B" trace "$TID" --input "$tmp/s.pb" >"$tmp/tree.txt" 2>&1
expect 0 "trace: summary line" "trace $TID: $NSPANS spans" -- head -1 "$tmp/tree.txt"
expect 0 "trace: root first, unindented" "${ROOT//_/ } [" -- sed -n 2p "$tmp/tree.txt"
check_tree() {
  python3 - "$tmp/tree.txt" "$tmp/q.csv" "$TID" <<'EOF'
import csv, sys, re
lines = open(sys.argv[1]).read().rstrip("\n").split("\n")[1:]
rows = {r["span_id"]: r for r in csv.DictReader(open(sys.argv[2], newline="")) if r["trace_id"] == sys.argv[3]}
assert len(lines) == len(rows), (len(lines), len(rows))
stack = []  # span ids by depth
prev_start = {}
for l in lines:
    m = re.search(r"span ([0-9a-f]{16})$", l)
    sid = m.group(1)
    # depth: the tree prefix is 3 display columns per level
    prefix = re.match(r"^((?:│  |   )*(?:├─ |└─ )?)", l).group(1)
    depth = len(prefix) // 3
    stack = stack[:depth]
    parent = stack[-1] if stack else ""
    r = rows[sid]
    if depth:
        assert r["parent_span_id"] == parent, (l, r["parent_span_id"], parent)
    # children of one parent in start order
    key = (depth, parent)
    assert prev_start.get(key, -1) <= int(r["start_time"]), l
    prev_start[key] = int(r["start_time"])
    # the duration printed matches
    d = int(r["duration"])
    assert r["name"] in l
    stack.append(sid)
print("ok")
EOF
}
expect 0 "trace: tree follows parent_span_id, children by start" "ok" -- check_tree
"$B" trace "$TID" --input "$tmp/s.arrow" >"$tmp/tree2.txt" 2>&1
expect 0 "trace: same tree from Arrow IPC" "" -- cmp "$tmp/tree.txt" "$tmp/tree2.txt"
expect 1 "trace: unknown id" "trace 0123456789abcdef0123456789abcdef not found" -- "$B" trace 0123456789abcdef0123456789abcdef --input "$tmp/s.pb"
expect 1 "trace: bad id" "32 hex digits" -- "$B" trace xyz --input "$tmp/s.pb"
expect 2 "trace: no id" "usage: otlparrow trace" -- "$B" trace

# ---------------------------------------------------------------- Flight
start_serve() { # start_serve LOG [args]: sets SRV, FP (Flight port), HP (HTTP port)
  local log=$1
  shift
  "$B" serve --flight 127.0.0.1:0 --otlp-grpc off --otlp-http 127.0.0.1:0 "$@" >"$log" 2>&1 &
  SRV=$!
  for _ in $(seq 100); do
    grep -q ready "$log" && break
    sleep 0.1
  done
  FP=$(grep -o 'Arrow Flight on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
  HP=$(grep -o 'OTLP/HTTP on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
}
post() { # post PORT FILE
  python3 - "$1" "$2" <<'EOF'
import sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:%s/v1/traces" % sys.argv[1],
    data=open(sys.argv[2], "rb").read(), headers={"Content-Type": "application/x-protobuf"})
print(urllib.request.urlopen(req).status)
EOF
}
start_serve "$tmp/serve.log"
if [ -n "${FP:-}" ] && [ -n "${HP:-}" ]; then
  expect 0 "serve takes the spans" "200" -- post "$HP" "$tmp/one.pb"
  "$B" query --flight "127.0.0.1:$FP" "$SQL" --format csv >"$tmp/f.csv" 2>"$tmp/f.err"
  expect 0 "flight: csv equals the local result (as sets of rows)" "" -- cmp <(sort "$tmp/q.csv") <(sort "$tmp/f.csv")
  expect 1 "flight: SQL error with its caret" "^" -- "$B" query --flight "127.0.0.1:$FP" "SELECT trace_id FROM spans WHERE"
  expect 1 "flight: SQL error is INVALID_ARGUMENT" "INVALID_ARGUMENT" -- "$B" query --flight "127.0.0.1:$FP" "SELECT trace_id FROM spans WHERE"
  expect 1 "flight: unknown table is NOT_FOUND" "NOT_FOUND" -- "$B" query --flight "127.0.0.1:$FP" "SELECT * FROM nope"
  "$B" trace "$TID" --flight "127.0.0.1:$FP" >"$tmp/tree3.txt" 2>&1
  expect 0 "flight: same trace tree" "" -- cmp "$tmp/tree.txt" "$tmp/tree3.txt"
  expect 1 "flight: unknown trace" "not found" -- "$B" trace 0123456789abcdef0123456789abcdef --flight "127.0.0.1:$FP"
  "$B" query --flight "127.0.0.1:$FP" "$SQL" --format arrow --output "$tmp/f.arrows"
  expect 0 "flight: arrow output" "300 rows" -- "$B" inspect "$tmp/f.arrows"
  kill "$SRV"
  wait "$SRV"
else
  bad "serve did not start: $(cat "$tmp/serve.log")"
fi

# Flight queries get the memory limit of --max-query-memory
start_serve "$tmp/serve3.log" --max-query-memory 64K
if [ -n "${FP:-}" ] && [ -n "${HP:-}" ]; then
  "$B" gen --spans 20000 --seed 3 --max-trace-spans 4 -q -o "$tmp/m.pb"
  expect 0 "serve takes 20K spans" "200" -- post "$HP" "$tmp/m.pb"
  expect 1 "flight: over --max-query-memory is RESOURCE_EXHAUSTED" "RESOURCE_EXHAUSTED" -- \
    "$B" query --flight "127.0.0.1:$FP" "$GB"
  expect 1 "flight: the message says what ran out" "GROUP BY needs more than 64 KiB for" -- \
    "$B" query --flight "127.0.0.1:$FP" "$GB"
  expect 1 "flight: the message names the server's option" "--max-query-memory" -- \
    "$B" query --flight "127.0.0.1:$FP" "$GB"
  expect 0 "flight: a small query still runs" "20000" -- \
    "$B" query --flight "127.0.0.1:$FP" "SELECT count(*) FROM spans" --format csv
  kill "$SRV"
  wait "$SRV"
else
  kill "$SRV" 2>/dev/null
  bad "serve --max-query-memory did not start: $(cat "$tmp/serve3.log")"
  kill "$SRV" 2>/dev/null
fi

# ---------------------------------------------------------------- data dir
start_serve "$tmp/serve2.log" --data-dir "$tmp/data"
if [ -n "${FP:-}" ] && [ -n "${HP:-}" ]; then
  expect 0 "serve --data-dir takes the spans" "200" -- post "$HP" "$tmp/one.pb"
  kill "$SRV"
  wait "$SRV"
  "$B" query --data-dir "$tmp/data" "$SQL" --format csv >"$tmp/d.csv" 2>"$tmp/d.err"
  expect 0 "data dir: csv equals the local result (as sets of rows)" "" -- cmp <(sort "$tmp/q.csv") <(sort "$tmp/d.csv")
  "$B" trace "$TID" --data-dir "$tmp/data" >"$tmp/tree4.txt" 2>&1
  expect 0 "data dir: same trace tree" "" -- cmp "$tmp/tree.txt" "$tmp/tree4.txt"
  expect 1 "data dir: unknown table" "no table 'nope'" -- "$B" query --data-dir "$tmp/data" "SELECT * FROM nope"
else
  bad "serve --data-dir did not start: $(cat "$tmp/serve2.log")"
  kill "$SRV" 2>/dev/null
fi

finish
