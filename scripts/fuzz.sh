#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS over a work corpus seeded with our
# own seeds (fuzz/corpus/), Arrow's gold files and Arrow's fuzz-regression
# inputs (copied from OA_SHARED_DIR at run time), after replaying every
# fuzz-regression input once. Fails if a target reports a finding; the
# reproducer is left as crash-*/leak-*/timeout-*/oom-* in the artifacts dir.
# Usage: scripts/fuzz.sh BUILD_DIR [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS]}
SECONDS_PER_TARGET=${2:-60}
SHARED=${OA_SHARED_DIR:-$(cd .. && pwd)/shared}
ARROW_TESTING=$SHARED/arrow-testing
WORK=$BUILD/fuzz-work
ARTIFACTS=${OA_FUZZ_ARTIFACTS:-$BUILD/fuzz-artifacts}

if [ ! -d "$ARROW_TESTING" ]; then
  echo "fuzz: $ARROW_TESTING not found (set OA_SHARED_DIR)" >&2
  exit 2
fi
mkdir -p "$ARTIFACTS"
# UBSan findings stop the target (the build lets them recover otherwise)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
status=0
summary=()
targets=()
for bin in "$BUILD"/fuzz/fuzz_*; do
  [ -x "$bin" ] && [ -f "$bin" ] && targets+=("$(basename "$bin")")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets in $BUILD/fuzz: build with CC=clang cmake -DOA_FUZZ=ON" >&2
  exit 1
fi
for target in "${targets[@]}"; do
  kind=${target#fuzz_}
  regress=""
  gold_ext=""
  case $kind in
    ipc_stream) regress=$ARROW_TESTING/fuzz-regression/ipc-stream; gold_ext=stream; kind=stream ;;
    ipc_file) regress=$ARROW_TESTING/fuzz-regression/ipc-file; gold_ext=arrow_file; kind=file ;;
  esac
  bin=$(cd "$BUILD/fuzz" && pwd)/$target
  seeds=$WORK/$target-seeds
  corpus=$WORK/$target-corpus
  rm -rf "$seeds"
  mkdir -p "$seeds" "$corpus"
  if [ -d fuzz/corpus/$kind ]; then cp fuzz/corpus/$kind/* "$seeds/"; fi
  if [ -n "$gold_ext" ]; then
    for f in "$ARROW_TESTING"/integration/*/*."$gold_ext"; do
      cp "$f" "$seeds/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
  fi
  # OTLP seeds: small requests made by the generator of the same build
  if [ -x "$BUILD/otlparrow" ]; then
    for n in 1 3 20; do
      case $kind in
        otlp_pb) "$BUILD/otlparrow" gen --spans $n --seed $n -o "$seeds/gen-$n.pb" >/dev/null 2>&1 ;;
        otlp_json) "$BUILD/otlparrow" gen --spans $n --seed $n -o "$seeds/gen-$n.json" >/dev/null 2>&1 ;;
      esac
    done
  fi
  regress_files=()
  # Arrow's fuzz-regression inputs and the findings of our own runs
  for f in ${regress:+"$regress"/*} fuzz/corpus/regressions/$kind/*; do
    [ -f "$f" ] || continue
    case $(basename "$f") in README*) continue ;; esac
    regress_files+=("$f")
    cp "$f" "$seeds/"
  done

  # 1. every regression input once (a plain file list runs each input once)
  echo "fuzz: $target: replaying ${#regress_files[@]} regression inputs"
  if [ ${#regress_files[@]} -gt 0 ] && ! "$bin" -rss_limit_mb=2048 -timeout=30 -artifact_prefix="$ARTIFACTS/$target-" \
        "${regress_files[@]}" >"$WORK/$target-regress.log" 2>&1; then
    echo "fuzz: $target FAILED on a regression input:" >&2
    tail -n 40 "$WORK/$target-regress.log" >&2
    status=1
    summary+=("$target: regression replay FAILED")
  fi

  # 2. fuzz for SECONDS from the seeds
  echo "fuzz: $target: fuzzing for ${SECONDS_PER_TARGET}s ($(ls "$seeds" | wc -l) seeds)"
  start=$(date +%s)
  "$bin" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -rss_limit_mb=2048 \
    -timeout=30 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$target-" \
    "$corpus" "$seeds" >"$WORK/$target.log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/$target.log" | grep -o '[0-9]*$' | tail -1)
  if [ $rc -ne 0 ] || ls "$ARTIFACTS/$target-"crash-* "$ARTIFACTS/$target-"leak-* \
       "$ARTIFACTS/$target-"oom-* "$ARTIFACTS/$target-"timeout-* >/dev/null 2>&1; then
    echo "fuzz: $target FOUND A PROBLEM (exit $rc); reproducers in $ARTIFACTS:" >&2
    ls "$ARTIFACTS" >&2
    grep -A30 -m1 'ERROR:\|==ERROR\|runtime error\|deadly signal' "$WORK/$target.log" >&2
    status=1
    summary+=("$target: FINDING after ${elapsed}s")
  else
    summary+=("$target: ${elapsed}s, ${execs:-?} executions, ${#regress_files[@]} regression inputs, no finding")
  fi
done
echo "fuzz summary:"
for s in "${summary[@]}"; do echo "  $s"; done
exit $status
