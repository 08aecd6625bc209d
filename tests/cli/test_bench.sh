#!/usr/bin/env bash
# `otlparrow bench --quick`: the output is complete and sane (every scenario
# row, positive numbers, ratio = protobuf / arrow, JSON that parses, a
# well-formed SVG with one bar per ratio); no timing assertions. Also the
# option errors and an --input file.
# Usage: test_bench.sh OTLPARROW_BINARY
set -uo pipefail
bin=$1
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
expect_clip=600

expect 0 "bench --help" "usage: otlparrow bench" -- "$bin" bench --help
expect 0 "main help lists bench" "bench " -- "$bin" --help
expect 1 "bench --repeats 0" "--repeats 0: expected 1.." -- "$bin" bench --repeats 0
expect 1 "bench --spans bad" "--spans x: expected" -- "$bin" bench --spans x
expect 1 "bench unknown option" "unknown argument '--frob'" -- "$bin" bench --frob
expect 1 "bench --out needs a value" "--out needs a value" -- "$bin" bench --out
expect 1 "bench nothing to measure" "nothing to measure" -- "$bin" bench --spans 0 --out "$tmp/none"
expect 1 "bench missing input" "/nonexistent/x.pb" -- "$bin" bench --quick --spans 0 --input /nonexistent/x.pb --out "$tmp/none"

# check_output DIR STDOUT_FILE REQUIRED_IDS...: the JSON, markdown and SVG
# agree and hold every required row.
check_output() {
  python3 - "$@" <<'PY'
import json, math, re, sys
import xml.etree.ElementTree as ET
out, stdout_file, required = sys.argv[1], sys.argv[2], sys.argv[3:]
errors = []
doc = json.load(open(out + "/bench.json"))
m = doc["machine"]
for k in ("cpu_model", "cores", "simd", "compiler", "zstd", "lz4", "grpc", "protobuf_c"):
    if not m.get(k):
        errors.append("machine lacks " + k)
rows = doc["rows"]
ids = [r["id"] for r in rows]
for want in required:
    if not any(re.fullmatch(want, i) for i in ids):
        errors.append("no row matching " + want + " in " + ",".join(ids))
n_ratios = 0
for r in rows:
    sides = [s for s in ("protobuf", "arrow") if r[s] is not None]
    if not sides:
        errors.append(r["id"] + ": no measurement")
    for s in sides:
        st = r[s]
        if not st["samples"] or any(not (v > 0) for v in st["samples"]):
            errors.append("%s: %s samples not positive: %s" % (r["id"], s, st["samples"]))
        if not (st["min"] <= st["median"] <= st["max"]):
            errors.append("%s: %s median outside min-max" % (r["id"], s))
    if r["protobuf"] and r["arrow"]:
        want = r["protobuf"]["median"] / r["arrow"]["median"]
        if r["ratio"] is None or abs(r["ratio"] - want) > 1e-9 * max(1, want):
            errors.append("%s: ratio %s, protobuf/arrow is %s" % (r["id"], r["ratio"], want))
        n_ratios += 1
    elif r["ratio"] is not None:
        errors.append(r["id"] + ": ratio without both sides")
# the markdown table on stdout: one line per row, ratio printed as in JSON
table = [l for l in open(stdout_file).read().splitlines() if l.startswith("| ")]
if not table or "Protobuf" not in table[0] or "ratio" not in table[0]:
    errors.append("stdout has no table header")
body = table[1:]
if len(body) != len(rows):
    errors.append("table has %d rows, JSON %d" % (len(body), len(rows)))
for line, r in zip(body, rows):
    cells = [c.strip() for c in line.strip("|").split("|")]
    if cells[0] != r["scenario"]:
        errors.append("table row %r is not %r" % (cells[0], r["scenario"]))
    if r["ratio"] is not None and cells[3] != "%.2f" % r["ratio"]:
        errors.append("%s: table ratio %s, JSON %.2f" % (r["id"], cells[3], r["ratio"]))
if [l for l in open(out + "/bench.md").read().splitlines() if l.startswith("| ")] != table:
    errors.append("bench.md differs from the stdout table")
# the SVG: well-formed, one bar per row with a ratio (plus the background)
svg = ET.parse(out + "/bench.svg").getroot()
if not svg.tag.endswith("svg"):
    errors.append("SVG root is " + svg.tag)
rects = [e for e in svg.iter() if e.tag.endswith("rect")]
if len(rects) != n_ratios + 1:
    errors.append("SVG has %d bars, %d ratios" % (len(rects) - 1, n_ratios))
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
PY
}

# --- the quick run, every section
out="$tmp/out"
if "$bin" bench --quick --out "$out" >"$tmp/stdout" 2>"$tmp/stderr"; then
  ok "bench --quick runs"
else
  bad "bench --quick runs: $(head -c 600 "$tmp/stderr")"
fi
if [ -s "$tmp/stderr" ]; then
  bad "bench is silent on stderr when it is not a terminal: $(head -c 300 "$tmp/stderr")"
else
  ok "bench is silent on stderr when it is not a terminal"
fi
required=(
  'serialize\.gen\.10000' 'serialize_batch\.gen\.10000' 'serialize_ipc\.gen\.10000'
  'deserialize_otlp\.gen\.10000' 'deserialize_ipc\.gen\.10000' 'memory\.gen\.10000'
  'rss_serialize\.gen\.10000' 'rss_deserialize_otlp\.gen\.10000' 'rss_deserialize_ipc\.gen\.10000'
  'size_raw\.gen\.10000' 'size_zstd1\.gen\.10000' 'size_zstd3\.gen\.10000' 'size_lz4\.gen\.10000'
  'size_ipc_lz4\.gen\.10000' 'size_ipc_zstd\.gen\.10000'
  'size_nodict_raw\.gen\.10000' 'size_nodict_zstd1\.gen\.10000'
  'size_nodict_zstd3\.gen\.10000' 'size_nodict_lz4\.gen\.10000'
  'put_10k\.rps' 'put_10k\.gbps' 'put_100k\.rps' 'put_100k\.gbps'
  'get_10k\.rps' 'get_10k\.gbps' 'get_100k\.rps' 'get_100k\.gbps')
# the analytics rows exist when the query engine is linked into the tool
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if "analytics" in d["extra"] else 1)' "$out/bench.json" 2>/dev/null; then
  echo "note: query engine not linked, no analytics rows"
else
  required+=('groupby\.10000' 'sort\.10000' 'filter\.10000')
fi
if msg=$(check_output "$out" "$tmp/stdout" "${required[@]}" 2>&1); then
  ok "quick output complete and consistent"
else
  bad "quick output complete and consistent:
$msg"
fi
if grep -q "serialize 10000 spans" "$tmp/stdout" && grep -q "DoPut" "$tmp/stdout"; then
  ok "table names the scenarios"
else
  bad "table names the scenarios: $(head -c 600 "$tmp/stdout")"
fi

# --- an OTLP input file instead of generated spans
"$bin" gen --spans 700 --seed 3 -o "$tmp/in.pb" >/dev/null 2>&1
if "$bin" bench --quick --spans 0 --input "$tmp/in.pb" --no-flight --no-analytics \
  --out "$tmp/out2" >"$tmp/stdout2" 2>"$tmp/stderr2"; then
  ok "bench --input runs"
else
  bad "bench --input runs: $(head -c 600 "$tmp/stderr2")"
fi
if msg=$(check_output "$tmp/out2" "$tmp/stdout2" 'serialize\.in\.pb\.700' \
  'deserialize_ipc\.in\.pb\.700' 'size_zstd3\.in\.pb\.700' 2>&1); then
  ok "--input rows are the file's 700 spans"
else
  bad "--input rows are the file's 700 spans:
$msg"
fi
if grep -q "DoPut\|GROUP BY" "$tmp/stdout2"; then
  bad "--no-flight --no-analytics leave those rows out"
else
  ok "--no-flight --no-analytics leave those rows out"
fi

finish
