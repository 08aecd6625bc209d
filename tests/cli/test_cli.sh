#!/usr/bin/env bash
# The otlparrow tool as a person uses it: help texts, clear errors with exit
# status 1, and conversions whose output reads back the same.
# Usage: test_cli.sh OTLPARROW_BINARY SHARED_DIR
set -uo pipefail
bin=$1
shared=$2
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

expect 0 "help" "inspect FILE" -- "$bin" --help
expect 2 "no command" "usage:" -- "$bin"
expect 2 "unknown command" "unknown command 'frobnicate'" -- "$bin" frobnicate
expect 0 "version" "otlparrow 0." -- "$bin" version
for c in inspect convert demo; do
  expect 0 "$c --help" "usage: otlparrow $c" -- "$bin" $c --help
done
expect 0 "serve --help lists the limits" "--max-grpc-connections N" -- "$bin" serve --help
expect 1 "serve bad limit names the flag" "--max-flight-recv-size must be a number" -- "$bin" serve --max-flight-recv-size 0
expect 1 "inspect missing file" "$tmp/nope.arrow" -- "$bin" inspect "$tmp/nope.arrow"
expect 1 "inspect no file" "needs a FILE" -- "$bin" inspect
expect 1 "inspect bad option" "unknown option --frob" -- "$bin" inspect x --frob
expect 1 "inspect bad number" "--rows needs" -- "$bin" inspect x --rows many
expect 1 "convert bad compression" "brotli" -- "$bin" convert a b --compression brotli
expect 1 "convert needs two paths" "needs IN and OUT" -- "$bin" convert a

printf 'this is not arrow data at all, not even close....' >"$tmp/garbage"
expect 1 "inspect garbage" "error:" -- "$bin" inspect "$tmp/garbage"
: >"$tmp/empty"
expect 1 "inspect empty file" "error:" -- "$bin" inspect "$tmp/empty"

# demo data, then conversions between every format and compression
expect 0 "demo" "read back equal" -- "$bin" demo --rows 5000 --batch 1000 --dir "$tmp/demo"
src="$tmp/demo/spans.arrow"
"$bin" inspect --json "$src" >"$tmp/ref.json" 2>&1 || bad "inspect --json demo"
for fmt in arrows arrow; do
  for c in none lz4 zstd; do
    out="$tmp/out-$c.$fmt"
    if "$bin" convert "$src" "$out" --compression "$c" 2>/dev/null &&
       "$bin" inspect --json "$out" >"$tmp/got.json" 2>&1 &&
       sed 's/"format":"[a-z]*"//' "$tmp/ref.json" | cmp -s - <(sed 's/"format":"[a-z]*"//' "$tmp/got.json"); then
      ok "convert to $fmt/$c reads back the same values"
    else
      bad "convert to $fmt/$c"
    fi
  done
done
# stdin/stdout streams
if "$bin" convert "$src" - --compression zstd | "$bin" inspect --json - >"$tmp/pipe.json" 2>&1 &&
   sed 's/"format":"[a-z]*"//' "$tmp/ref.json" | cmp -s - <(sed 's/"format":"[a-z]*"//' "$tmp/pipe.json"); then
  ok "convert to stdout | inspect stdin"
else
  bad "convert to stdout | inspect stdin"
fi
# a truncated file is an error, not a crash (exit 1, not a signal)
head -c 3000 "$tmp/out-none.arrows" >"$tmp/trunc.arrows"
expect 1 "inspect truncated stream" "error:" -- "$bin" inspect "$tmp/trunc.arrows"
head -c 3000 "$tmp/out-none.arrow" >"$tmp/trunc.arrow"
expect 1 "inspect truncated file" "error:" -- "$bin" inspect "$tmp/trunc.arrow"
# a failed convert leaves no output file behind
"$bin" convert "$tmp/trunc.arrows" "$tmp/never.arrows" >/dev/null 2>&1
[ ! -e "$tmp/never.arrows" ] && ok "failed convert leaves no output" || bad "failed convert left output"
# a FIFO (or /dev/null) is written in place, never renamed over: the
# reader gets the same bytes a regular file gets, and the FIFO stays a FIFO
mkfifo "$tmp/pipe.arrows"
cat "$tmp/pipe.arrows" >"$tmp/from-fifo.arrows" &
reader=$!
if "$bin" convert "$src" "$tmp/pipe.arrows" --compression none 2>/dev/null &&
   [ -p "$tmp/pipe.arrows" ] && wait "$reader" &&
   cmp -s "$tmp/from-fifo.arrows" "$tmp/out-none.arrows"; then
  ok "convert to a FIFO writes in place"
else
  kill "$reader" 2>/dev/null
  bad "convert to a FIFO"
fi
# table output shows the rows
expect 0 "inspect table" "trace_id" -- "$bin" inspect "$src" --rows 3 --batches 1

finish
