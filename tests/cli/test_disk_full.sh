#!/usr/bin/env bash
# A full disk: `serve --data-dir` on a 16 MiB tmpfs, most of it taken by a
# filler file. OTLP/gRPC ingest (loadgen) runs until the disk is full:
# then every client gets a retryable error naming the full disk (gRPC and
# Flight UNAVAILABLE, OTLP/HTTP 503 with Retry-After), the server keeps
# running, and nothing acknowledged is lost. The filler is deleted: ingest
# resumes without errors, and count(*) equals the acknowledged spans, also
# after a restart. Needs root to mount the tmpfs: otherwise it prints
# "skipped: cannot mount" and exits 77 (registered as SKIP_RETURN_CODE).
# Usage: test_disk_full.sh OTLPARROW STORE_CRASH_CLIENT
# shellcheck disable=SC2154 # tmp and pids come from lib.sh, forward_lib.sh
set -uo pipefail
bin=$1
client=$2
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/forward_lib.sh
. "$(dirname "$0")/forward_lib.sh"
# shellcheck disable=SC2034 # read by expect in lib.sh
expect_clip=600
mnt=$tmp/mnt
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=16m tmpfs "$mnt" 2>"$tmp/mount.err"; then
  echo "skipped: cannot mount a tmpfs: $(cat "$tmp/mount.err")"
  exit 77
fi
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  sleep 0.2
  umount -l "$mnt" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

gp=$(free_port)
hp=$(free_port)
fp=$(free_port)
serve_up() {
  start_serve srv --otlp-grpc "127.0.0.1:$gp" --otlp-http "127.0.0.1:$hp" \
    --flight "127.0.0.1:$fp" --data-dir "$mnt/data"
}
serve_up || {
  finish
  exit
}
"$bin" gen --spans 20 --seed 3 -q -o "$tmp/small.pb" || bad "gen"

# loadgen_text NAME SECONDS: paced OTLP/gRPC; sets lg_ok (acknowledged
# requests of 500 spans, none partially rejected), lg_errors, lg_line
# (the errors line) and lg_first (the first error).
loadgen_text() {
  "$bin" loadgen --otlp-grpc "127.0.0.1:$gp" --duration "$2" --rate 25 \
    --spans-per-request 500 --connections 1 --concurrency 2 >"$tmp/$1.txt" 2>&1
  lg_ok=$(sed -nE 's/^ +([0-9]+) requests in .*/\1/p' "$tmp/$1.txt")
  lg_line=$(grep '^  errors:' "$tmp/$1.txt")
  lg_errors=$(sed -nE 's/^  errors: ([0-9]+).*/\1/p' "$tmp/$1.txt")
  lg_first=$(sed -n 's/^  first error: //p' "$tmp/$1.txt")
  if grep -q 'rejected spans' "$tmp/$1.txt"; then
    bad "$1: spans rejected by partial success: $(cat "$tmp/$1.txt")"
  fi
}

# 1. fill the disk but about 3 MiB, then ingest until it is full
avail=$(df -k --output=avail "$mnt" | tail -1)
dd if=/dev/zero of="$mnt/filler" bs=1k count=$((avail - 3072)) 2>/dev/null
loadgen_text full 6
acked=$((lg_ok * 500))
if [ "${lg_ok:-0}" -gt 0 ] && [ "${lg_errors:-0}" -gt 0 ] &&
  [[ "$lg_line" =~ ^"  errors: $lg_errors UNAVAILABLE=$lg_errors"$ ]] &&
  [[ "$lg_first" == *"disk full"*"No space left on device"* ]]; then
  ok "gRPC until full: $lg_ok acknowledged, then $lg_errors UNAVAILABLE: $lg_first"
else
  bad "gRPC until full: $lg_ok acknowledged; $lg_line; first error: $lg_first"
fi

# 2. while full (the last bytes taken too, so that even a small request
# does not fit): OTLP/HTTP 503 with Retry-After, Flight UNAVAILABLE
dd if=/dev/zero of="$mnt/filler2" bs=4k 2>/dev/null
code=$(curl -s -o "$tmp/http.body" -D "$tmp/http.hdr" -w '%{http_code}' \
  -H 'Content-Type: application/x-protobuf' --data-binary "@$tmp/small.pb" \
  "http://127.0.0.1:$hp/v1/traces")
if [ "$code" = 503 ] && grep -qi '^retry-after: [0-9]' "$tmp/http.hdr" &&
  grep -qa 'disk full' "$tmp/http.body"; then
  ok "OTLP/HTTP while full: 503, $(grep -i '^retry-after' "$tmp/http.hdr" | tr -d '\r')"
else
  [ "$code" = 200 ] && acked=$((acked + 20))
  bad "OTLP/HTTP while full: HTTP $code: $(head -c 300 "$tmp/http.body")"
fi
expect 3 "Flight DoPut while full: UNAVAILABLE naming the disk" "disk full" -- \
  "$client" put "127.0.0.1:$fp" 0 10
if kill -0 "${pids[srv]}" 2>/dev/null; then
  ok "server still running"
else
  bad "server died: $(tail -c 800 "$tmp/srv.err")"
fi
n=$("$bin" query --flight "127.0.0.1:$fp" --format csv \
  "SELECT count(*) AS n FROM spans" 2>&1 | tail -1 | tr -d '\r')
[ "$n" = "$acked" ] && ok "while full: count(*) = $n acknowledged" ||
  bad "while full: count(*) = '$n', acknowledged $acked"

# 3. space comes back: ingest resumes
rm -f "$mnt/filler" "$mnt/filler2"
sleep 1
loadgen_text resumed 3
if [ "${lg_ok:-0}" -gt 0 ] && [ "${lg_errors:-1}" -eq 0 ]; then
  ok "gRPC after space came back: $lg_ok acknowledged, no errors"
else
  bad "gRPC after space came back: $lg_ok acknowledged; $lg_line; $lg_first"
fi
acked=$((acked + lg_ok * 500))
code=$(curl -s -o "$tmp/http.body" -w '%{http_code}' \
  -H 'Content-Type: application/x-protobuf' --data-binary "@$tmp/small.pb" \
  "http://127.0.0.1:$hp/v1/traces")
[ "$code" = 200 ] && acked=$((acked + 20))
[ "$code" = 200 ] && ok "OTLP/HTTP after space came back: 200" ||
  bad "OTLP/HTTP after space came back: HTTP $code: $(head -c 300 "$tmp/http.body")"

count_is() {
  local n
  n=$("$bin" query --flight "127.0.0.1:$fp" --format csv \
    "SELECT count(*) AS n FROM spans" 2>&1 | tail -1 | tr -d '\r')
  [ "$n" = "$acked" ] && ok "$1: count(*) = $n acknowledged" ||
    bad "$1: count(*) = '$n', acknowledged $acked"
}
count_is "after space came back"
sleep 2.5 # a background flush writes segments now
compgen -G "$mnt/data/seg-*" >/dev/null && ok "segments written after space came back" ||
  bad "no segment in $(ls "$mnt/data")"
stop_bg srv
serve_up && {
  count_is "after a restart"
  stop_bg srv
}
finish
