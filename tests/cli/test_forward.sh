#!/usr/bin/env bash
# otlparrow forward: OTLP in, Flight / OTLP/gRPC / OTLP/HTTP out, with real
# servers on loopback. Spans sent (generated OTLP, posted as an SDK would)
# are compared span by span (resource, scope and every span field, through
# OTLP/JSON) with what the receiving `serve` holds at exit.
# Usage: test_forward.sh OTLPARROW_BINARY
set -uo pipefail
bin=$1
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/forward_lib.sh
. "$(dirname "$0")/forward_lib.sh"
expect_clip=600

# --- help and option errors
expect 0 "forward --help" "usage: otlparrow forward --to URI" -- "$bin" forward --help
expect 0 "main help lists forward" "forward " -- "$bin" --help
expect 1 "forward needs --to" "give --to URI" -- env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT "$bin" forward
expect 1 "forward bad scheme" "expected flight://HOST:PORT" -- "$bin" forward --to ftp://x:1
expect 1 "forward no port" "expected flight://HOST:PORT" -- "$bin" forward --to flight://localhost
expect 1 "forward path on flight" "a path is only allowed" -- "$bin" forward --to flight://h:1/x
expect 1 "forward unknown option" "unknown option '--frob'" -- "$bin" forward --to flight://h:1 --frob 1
expect 1 "forward bad number" "--batch-size must be an integer" -- "$bin" forward --to flight://h:1 --batch-size lots
expect 1 "forward compression for OTLP" "OTLP out takes none or gzip" -- "$bin" forward --to otlp://h:1 --compression zstd
expect 1 "forward compression for Flight" "--compression" -- "$bin" forward --to flight://h:1 --compression gzip
expect 1 "forward tls half" "go together" -- "$bin" forward --to flight://h:1 --tls-cert x
expect 1 "forward https env" "HTTPS is not supported" -- env OTEL_EXPORTER_OTLP_ENDPOINT=https://h:4318 "$bin" forward

# --- test data: 3 requests (gRPC-framed .pb) and their OTLP/JSON lines
"$bin" gen --spans 1500 --seed 21 --batch 500 -q -o "$tmp/in.pb" || bad "gen"
"$bin" convert "$tmp/in.pb" "$tmp/in.jsonl" >/dev/null 2>&1 || bad "convert in"
"$bin" gen --spans 100 --seed 22 -q -o "$tmp/one.pb" || bad "gen one"

# --- forward -> serve over Arrow Flight
start_serve s1 --otlp-grpc off --otlp-http off --flight 127.0.0.1:0 --dump-on-exit "$tmp/s1.arrows"
fp=$(bound_port s1 "Arrow Flight")
start_bg f1 "$bin" forward --to "flight://127.0.0.1:$fp" --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 --flush-interval 100 --batch-size 700
wait_ready f1
f1_http=$(bound_port f1 "OTLP/HTTP")
f1_grpc=$(bound_port f1 "OTLP/gRPC")
python3 "$tmp/send.py" "http://127.0.0.1:$f1_http/v1/traces" "$tmp/in.pb" "$tmp/acked1" 30 &&
  ok "3 requests acknowledged by forward (HTTP)" || bad "posting to forward"
# the same spans again over OTLP/gRPC (loadgen: 4 x 250 generated spans)
lg=$("$bin" loadgen --otlp-grpc "127.0.0.1:$f1_grpc" --requests 4 --spans-per-request 250 --concurrency 1 --connections 1 --json 2>&1)
lg_spans=$(json_field "$lg" spans)
[ "$lg_spans" = 1000 ] && ok "loadgen through forward's OTLP/gRPC: 1000 spans acknowledged" || bad "loadgen: $lg"
stop_bg f1
final=$(grep "forward: final" "$tmp/f1.err")
check_metrics "flight final metrics" "$final" 2500 2500 0
stop_bg s1
grep -q "wrote 2500 spans" "$tmp/s1.err" && ok "serve holds 2500 spans" || bad "serve: $(cat "$tmp/s1.err")"
"$bin" convert "$tmp/s1.arrows" "$tmp/s1.jsonl" >/dev/null 2>&1 || bad "convert s1"
# the posted spans are there exactly as sent (loadgen's are extra)
same_spans "flight: spans equal to the sent ones" "$tmp/in.jsonl" "$tmp/s1.jsonl" subset

# --- forward --to otlp:// (OTLP/gRPC) and otlp+http:// into a second serve
start_serve s2 --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 --flight off --dump-on-exit "$tmp/s2.arrows"
s2_grpc=$(bound_port s2 "OTLP/gRPC")
s2_http=$(bound_port s2 "OTLP/HTTP")
start_bg f2 "$bin" forward --to "otlp://127.0.0.1:$s2_grpc" --otlp-grpc off --otlp-http 127.0.0.1:0 --compression gzip --connections 2
wait_ready f2
f2_http=$(bound_port f2 "OTLP/HTTP")
python3 "$tmp/send.py" "http://127.0.0.1:$f2_http/v1/traces" "$tmp/in.pb" "$tmp/acked2" 30 &&
  ok "forward --to otlp:// accepted 3 requests" || bad "posting to forward otlp://"
stop_bg f2
check_metrics "otlp:// final metrics" "$(grep "forward: final" "$tmp/f2.err")" 1500 1500 0
# OTLP/HTTP out, endpoint from the environment (TRACES_ENDPOINT path kept)
start_bg f3 env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:$s2_http/v1/traces" \
  OTEL_EXPORTER_OTLP_HEADERS="x-test=1" "$bin" forward --otlp-grpc 127.0.0.1:0 --otlp-http off
wait_ready f3
grep -q "forwarding to otlp+http://127.0.0.1:$s2_http/v1/traces" "$tmp/f3.out" &&
  ok "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT picked up" || bad "env endpoint: $(cat "$tmp/f3.out")"
f3_grpc=$(bound_port f3 "OTLP/gRPC")
lg=$("$bin" loadgen --otlp-grpc "127.0.0.1:$f3_grpc" --requests 2 --spans-per-request 100 --concurrency 1 --connections 1 --json 2>&1)
[ "$(json_field "$lg" spans)" = 200 ] && ok "loadgen through forward --to otlp+http://" || bad "loadgen f3: $lg"
stop_bg f3
check_metrics "otlp+http:// final metrics" "$(grep "forward: final" "$tmp/f3.err")" 200 200 0
stop_bg s2
grep -q "wrote 1700 spans" "$tmp/s2.err" && ok "second serve holds 1700 spans" || bad "serve 2: $(cat "$tmp/s2.err")"
"$bin" convert "$tmp/s2.arrows" "$tmp/s2.jsonl" >/dev/null 2>&1 || bad "convert s2"
same_spans "otlp://: spans equal to the sent ones" "$tmp/in.jsonl" "$tmp/s2.jsonl" subset

# --- TLS and bearer tokens: serve with a self-signed certificate and a
# token; forward over grpc+tls:// (Flight) and otlp+tls:// (OTLP/gRPC)
if openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1; then
  start_serve s3 --otlp-grpc 127.0.0.1:0 --otlp-http off --flight 127.0.0.1:0 \
    --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" --auth-token s3cret \
    --dump-on-exit "$tmp/s3.arrows"
  s3_flight=$(bound_port s3 "Arrow Flight")
  s3_grpc=$(bound_port s3 "OTLP/gRPC")
  start_bg f5 env OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20s3cret" \
    "$bin" forward --to "grpc+tls://127.0.0.1:$s3_flight" --tls-ca "$tmp/cert.pem" \
    --otlp-grpc off --otlp-http 127.0.0.1:0 --flush-interval 100
  start_bg f6 "$bin" forward --to "otlp+tls://127.0.0.1:$s3_grpc" --tls-ca "$tmp/cert.pem" \
    --headers "authorization=Bearer%20s3cret" --otlp-grpc off --otlp-http 127.0.0.1:0
  start_bg f7 "$bin" forward --to "grpc+tls://127.0.0.1:$s3_flight" --tls-ca "$tmp/cert.pem" \
    --token wrong --otlp-grpc off --otlp-http 127.0.0.1:0 --flush-interval 100
  wait_ready f5
  wait_ready f6
  wait_ready f7
  for f in f5 f6 f7; do
    python3 "$tmp/send.py" "http://127.0.0.1:$(bound_port $f "OTLP/HTTP")/v1/traces" "$tmp/one.pb" "$tmp/acked_$f" 10 ||
      bad "posting to $f"
  done
  sleep 0.5
  stop_bg f5
  stop_bg f6
  stop_bg f7
  check_metrics "Flight over TLS, token from OTEL_EXPORTER_OTLP_HEADERS" "$(grep "forward: final" "$tmp/f5.err")" 100 100 0
  check_metrics "OTLP/gRPC over TLS, token from --headers" "$(grep "forward: final" "$tmp/f6.err")" 100 100 0
  check_metrics "a wrong token is refused and counted failed" "$(grep "forward: final" "$tmp/f7.err")" 100 0 100
  grep -q "UNAUTHENTICATED" "$tmp/f7.err" && ok "wrong token: UNAUTHENTICATED reported" || bad "f7: $(cat "$tmp/f7.err")"
  stop_bg s3
  grep -q "wrote 200 spans" "$tmp/s3.err" && ok "TLS serve holds 200 spans" || bad "s3: $(cat "$tmp/s3.err")"
else
  echo "skip TLS checks: openssl cannot make a certificate"
fi

# --- backpressure: a tiny buffer and a dead destination make the
# receivers answer retryable instead of dropping
dead=$(free_port)
start_bg f4 "$bin" forward --to "otlp://127.0.0.1:$dead" --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 --max-buffer-spans 100 --retry-max-elapsed 3000 --timeout 500 --shutdown-timeout 200
wait_ready f4
f4_http=$(bound_port f4 "OTLP/HTTP")
f4_grpc=$(bound_port f4 "OTLP/gRPC")
# 60 spans fit; 60 more would pass the 100-span limit: UNAVAILABLE
lg=$("$bin" loadgen --otlp-grpc "127.0.0.1:$f4_grpc" --requests 2 --spans-per-request 60 --concurrency 1 --connections 1 --json 2>&1)
[ "$(json_field "$lg" spans)" = 60 ] && ok "first 60 spans buffered" || bad "first gRPC request: $lg"
[[ "$lg" == *'"UNAVAILABLE":1'* ]] && ok "full buffer: OTLP/gRPC UNAVAILABLE" || bad "gRPC backpressure: $lg"
hdrs=$(curl -s -D - -o /dev/null -H 'Content-Type: application/x-protobuf' --data-binary @"$tmp/one.pb" "http://127.0.0.1:$f4_http/v1/traces")
[[ "$hdrs" == *" 503"* && "$hdrs" == *"Retry-After"* ]] && ok "full buffer: OTLP/HTTP 503 with Retry-After" || bad "full buffer answer: $hdrs"
stop_bg f4
final=$(grep "forward: final" "$tmp/f4.err")
check_metrics "dead destination: failed, not vanished" "$final" 60 0 60

finish
