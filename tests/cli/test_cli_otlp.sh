#!/usr/bin/env bash
# The OTLP side of the otlparrow tool: gen to every format, convert between
# every pair of formats (values compared through `inspect --json` of the
# resulting .arrow files), readable span output, and clear errors.
# Usage: test_cli_otlp.sh OTLPARROW_BINARY SHARED_DIR
set -uo pipefail
bin=$1
shared=$2
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
expect_clip=400

# json_of FILE: inspect --json without the format name
json_of() { "$bin" inspect --json "$1" 2>&1 | sed 's/"format":"[a-z]*"//'; }

# --- help texts
expect 0 "gen --help" "usage: otlparrow gen" -- "$bin" gen --help
expect 0 "gen --help documents the framing" "big-endian" -- "$bin" gen --help
expect 0 "convert --help names OTLP" "OTLP" -- "$bin" convert --help
expect 0 "inspect --help names OTLP" "OTLP" -- "$bin" inspect --help
expect 0 "main help lists gen" "gen " -- "$bin" --help

# --- option errors
expect 1 "gen bad number" "--spans needs" -- "$bin" gen --spans many
expect 1 "gen services 0" "--services must be 1 to 20" -- "$bin" gen --spans 5 --services 0 -o "$tmp/x.pb"
expect 1 "gen services 21" "--services must be 1 to 20" -- "$bin" gen --services 21 -o "$tmp/x.pb"
expect 1 "gen batch 0" "--batch must be at least 1" -- "$bin" gen --batch 0 -o "$tmp/x.pb"
expect 1 "gen max-trace-spans 0" "--max-trace-spans must be 1 to 100000" -- "$bin" gen --max-trace-spans 0 -o "$tmp/x.pb"
expect 0 "gen max-trace-spans 1: one span per trace" "500 spans in 500 traces" -- "$bin" gen --spans 500 --max-trace-spans 1 -o "$tmp/one.pb"
n14=$("$bin" gen --spans 1400 --max-trace-spans 14 -o "$tmp/c14.pb" 2>&1 | sed -nE 's/.* in ([0-9]+) traces.*/\1/p')
[ -n "$n14" ] && [ "$n14" -ge 100 ] && ok "gen max-trace-spans caps traces ($n14 traces for 1400 spans)" || bad "gen max-trace-spans cap: '$n14' traces for 1400 spans"
expect 1 "gen unknown option" "unknown argument --frob" -- "$bin" gen --frob
expect 1 "gen bad format" "--format must be" -- "$bin" gen --format xml
expect 1 "convert bad format" "--format must be" -- "$bin" convert a b --format xml
[ ! -e "$tmp/x.pb" ] && ok "failed gen leaves no file" || bad "failed gen left a file"

# --- gen to every format
N=3000
for ext in pb json arrow arrows; do
  expect 0 "gen .$ext" "$N spans" -- "$bin" gen --spans $N --seed 5 --services 12 --batch 400 -o "$tmp/g.$ext"
done
expect 0 "gen single request" "1 request," -- "$bin" gen --spans 500 --seed 5 -o "$tmp/one.pb"
# framing: several requests are gRPC-framed (0 byte first), one is plain (0x0a)
[ "$(head -c1 "$tmp/g.pb" | od -An -tx1 | tr -d ' ')" = "00" ] && ok "framed .pb starts with 0" || bad "framed .pb"
[ "$(head -c1 "$tmp/one.pb" | od -An -tx1 | tr -d ' ')" = "0a" ] && ok "single .pb is a plain request" || bad "single .pb"
[ "$(wc -l <"$tmp/g.json")" -ge 8 ] && ok "json: one request per line" || bad "json lines"
# deterministic: same seed, same bytes; another seed, other bytes
"$bin" gen --spans $N --seed 5 --services 12 --batch 400 -o "$tmp/g2.pb" -q
cmp -s "$tmp/g.pb" "$tmp/g2.pb" && ok "gen is deterministic" || bad "gen is not deterministic"
"$bin" gen --spans $N --seed 6 --services 12 --batch 400 -o "$tmp/g3.pb" -q
cmp -s "$tmp/g.pb" "$tmp/g3.pb" && bad "another seed gives the same bytes" || ok "another seed differs"
# stdout: pb by default, readable from stdin
if "$bin" gen --spans 200 --seed 5 | cmp -s - <("$bin" gen --spans 200 --seed 5 -o - --format pb); then
  ok "gen to stdout"
else
  bad "gen to stdout"
fi
expect 0 "gen | inspect -" "200 rows" -- bash -c "'$bin' gen --spans 200 --batch 50 | '$bin' inspect -"
expect 0 "json on stdin" "OTLP/JSON" -- bash -c "'$bin' inspect - <'$tmp/g.json'"

# --- every format to every format, and back to .arrow: the same values
ref=$(json_of "$tmp/g.arrow")
[ -n "$ref" ] && [[ "$ref" == *'"batches"'* ]] && ok "reference json" || bad "reference json: ${ref:0:200}"
# OTLP inputs give one batch per request, as the stream holds them
per_req=$(json_of "$tmp/g.arrows" | md5sum)
for a in pb json; do
  [ "$(json_of "$tmp/g.$a" | md5sum)" = "$per_req" ] && ok "inspect --json of .$a equals .arrows" ||
    bad "inspect --json of .$a differs from .arrows"
done
for a in pb json arrow arrows; do
  for b in pb json arrow arrows; do
    if "$bin" convert "$tmp/g.$a" "$tmp/c.$a.$b" 2>/dev/null &&
       "$bin" convert "$tmp/c.$a.$b" "$tmp/r.$a.$b.arrow" 2>/dev/null &&
       [ "$(json_of "$tmp/r.$a.$b.arrow" | md5sum)" = "$(echo "$ref" | md5sum)" ]; then
      ok "convert $a -> $b -> arrow keeps every value"
    else
      bad "convert $a -> $b -> arrow"
    fi
  done
done
# OTLP written back is the generator's OTLP, byte for byte
for a in pb json arrow arrows; do
  cmp -s "$tmp/g.pb" "$tmp/c.$a.pb" && ok "$a -> pb equals gen's pb" || bad "$a -> pb differs from gen's pb"
  cmp -s "$tmp/g.json" "$tmp/c.$a.json" && ok "$a -> json equals gen's json" || bad "$a -> json differs"
done
# a multi-batch stream becomes a file with shared dictionaries; compressions
for c in lz4 zstd; do
  expect 0 "stream -> file ($c)" "Arrow IPC file, 8 batches" -- "$bin" convert "$tmp/g.arrows" "$tmp/z-$c.arrow" --compression $c
done
[ "$(json_of "$tmp/z-zstd.arrow" | md5sum)" = "$(echo "$ref" | md5sum)" ] && ok "zstd file reads back" || bad "zstd file"
expect 0 "explicit --format pb" "OTLP protobuf" -- "$bin" convert "$tmp/g.arrow" "$tmp/noext" --format pb
cmp -s "$tmp/noext" "$tmp/g.pb" && ok "--format pb output" || bad "--format pb output"
expect 0 "inspect by content, not name" "OTLP protobuf" -- "$bin" inspect "$tmp/noext" --rows 1 --batches 1

# --- readable spans
out=$("$bin" inspect "$tmp/g.pb" --rows 400 --batches 1 2>&1)
for want in "span schema" "resource 0: service.name=" "scope " "2025-01-01T00:00:" " ms  SERVER" \
            "CLIENT" "trace " " span " " parent " "(root)" "attributes: " "http.response.status_code=" \
            "rpc.system=grpc" "db.statement=" "event " \
            "telemetry.sdk.language=" "status ERROR"; do
  [[ "$out" == *"$want"* ]] && ok "inspect spans shows '$want'" || bad "inspect spans lacks '$want'"
done
[[ "$out" =~ trace\ [0-9a-f]{32}\ span\ [0-9a-f]{16} ]] && ok "hex ids" || bad "hex ids"
[[ "$out" =~ app.product.ids=\[P[0-9]+ ]] && ok "arrays shown as [..]" || bad "arrays"
out=$("$bin" inspect "$tmp/g.pb" --rows 100000 2>&1)
[[ "$out" == *"link trace "* ]] && ok "links shown" || bad "links not shown"
[[ "$out" =~ exception.stacktrace=\"[^\"]*\\n ]] && ok "stack traces shown with \\n" || bad "stack traces"
[[ "$out" =~ feature_flag.context=\{targetingKey= ]] && ok "kvlists shown as {..}" || bad "kvlists"
[[ "$out" == *"8 batches, $N rows"* ]] && ok "span count" || bad "span count: ${out: -100}"

# --- bad inputs: exit 1 with a message, no crash
head -c 2000 "$tmp/g.pb" >"$tmp/trunc.pb"
expect 1 "truncated framed pb" "runs past the end" -- "$bin" inspect "$tmp/trunc.pb"
head -c 3 "$tmp/g.pb" >"$tmp/short.pb"
expect 1 "frame header cut" "truncated header" -- "$bin" inspect "$tmp/short.pb"
head -c 1000 "$tmp/one.pb" >"$tmp/trunc1.pb"
expect 1 "truncated request" "otlp protobuf" -- "$bin" convert "$tmp/trunc1.pb" "$tmp/never.arrow"
[ ! -e "$tmp/never.arrow" ] && ok "failed convert leaves no output" || bad "failed convert left output"
printf '\000\000\000\000\000\001\000\000\000\005hello' >"$tmp/compressed.pb"
expect 1 "compressed frame" "compressed" -- "$bin" inspect "$tmp/compressed.pb"
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":' >"$tmp/bad.json"
expect 1 "truncated json" "error:" -- "$bin" convert "$tmp/bad.json" "$tmp/bad.arrow"
printf '{"resourceSpans": 5}\n' >"$tmp/bad2.json"
expect 1 "json of the wrong shape" "error:" -- "$bin" inspect "$tmp/bad2.json"
printf 'garbage!' >"$tmp/garbage.pb"
expect 1 "garbage .pb" "error:" -- "$bin" inspect "$tmp/garbage.pb"
prim="$shared/arrow-testing/integration/1.0.0-littleendian/generated_primitive.stream"
if [ -f "$prim" ]; then
  expect 1 "non-span data to pb" "needs span batches" -- "$bin" convert "$prim" "$tmp/prim.pb"
  expect 1 "non-span data to json" "needs span batches" -- "$bin" convert "$prim" "$tmp/prim.json"
  expect 0 "non-span stream -> file still works" "Arrow IPC file" -- "$bin" convert "$prim" "$tmp/prim.arrow"
fi
# spans with a bad id are rejected and reported, the rest kept
python3 - "$tmp/badid.json" <<'EOF' 2>/dev/null || printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00","spanId":"0102030405060708","name":"a"},{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"b"}]}]}]}' >"$tmp/badid.json"
import sys
open(sys.argv[1], "w").write('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00","spanId":"0102030405060708","name":"a"},{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"b"}]}]}]}')
EOF
expect 0 "rejected span reported" "1 span rejected" -- "$bin" convert "$tmp/badid.json" "$tmp/badid.arrow"

finish
