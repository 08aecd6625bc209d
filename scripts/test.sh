#!/usr/bin/env bash
# The full test run (`make test`, CI): every step runs even if an earlier one
# failed, and the exit status is non-zero if any failed.
#  1. ASan+UBSan build and its unit tests (interop tests excluded: they run
#     in step 3 against the optimized build);
#  2. libFuzzer targets built with clang: every regression input once, then
#     each target fuzzed for OA_TEST_FUZZ_SECONDS (default 20) from the seeds;
#  3. one end-to-end scenario under valgrind (scripts/valgrind_e2e.sh: the
#     tools and a serve + loadgen + curl run, zero memcheck reports), then
#     LAST the main ctest of BUILD_DIR (unit + interop), so that the output
#     ends with ctest's summary.
# Usage: scripts/test.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: scripts/test.sh BUILD_DIR}
ASAN_DIR=${OA_ASAN_DIR:-build-asan}
FUZZ_DIR=${OA_FUZZ_DIR:-build-fuzz}
FUZZ_SECONDS=${OA_TEST_FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
export OA_SHARED_DIR=${OA_SHARED_DIR:-$(cd .. && pwd)/shared}

failed=()
step() { echo; echo "==== test.sh: $*"; }
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "test.sh: '$1' not found: $2 (scripts/deps.sh installs it)" >&2
    return 1
  fi
}

# -------------------------------------------------- 1. sanitizers
step "1/3 ASan+UBSan unit tests ($ASAN_DIR)"
mkdir -p "$ASAN_DIR" "$FUZZ_DIR" "$BUILD"
if need cmake "needed to build" && need ctest "needed to run the tests"; then
  if cmake -S . -B "$ASAN_DIR" -DCMAKE_BUILD_TYPE=Debug -DOA_SANITIZE=ON \
       -DOA_BUILD_BENCH=OFF >"$ASAN_DIR/configure.log" 2>&1 \
     && cmake --build "$ASAN_DIR" -j "$JOBS" >"$ASAN_DIR/build.log" 2>&1; then
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
      ctest --test-dir "$ASAN_DIR" --output-on-failure -j "$JOBS" -E '^interop\.' \
      || failed+=("asan unit tests")
  else
    cat "$ASAN_DIR/configure.log" "$ASAN_DIR/build.log" 2>/dev/null | tail -n 40
    failed+=("asan build")
  fi
else
  failed+=("asan (tools missing)")
fi

# -------------------------------------------------- 2. fuzzing
step "2/3 libFuzzer targets ($FUZZ_DIR, ${FUZZ_SECONDS}s each)"
if need clang "the fuzz targets need clang with libFuzzer (libclang-rt-14-dev)"; then
  if CC=clang cmake -S . -B "$FUZZ_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOA_FUZZ=ON \
       -DOA_BUILD_TESTS=OFF -DOA_BUILD_BENCH=OFF >"$FUZZ_DIR/configure.log" 2>&1 \
     && cmake --build "$FUZZ_DIR" -j "$JOBS" >"$FUZZ_DIR/build.log" 2>&1; then
    scripts/fuzz.sh "$FUZZ_DIR" "$FUZZ_SECONDS" || failed+=("fuzzing")
  else
    cat "$FUZZ_DIR/configure.log" "$FUZZ_DIR/build.log" 2>/dev/null | tail -n 40
    failed+=("fuzz build")
  fi
else
  failed+=("fuzz (clang missing)")
fi

# -------------------------------------------------- 3. main tests, last
step "3/3 unit and interop tests ($BUILD)"
need node "the interop tests need node (and npm ci)" || failed+=("node missing")
if [ ! -d node_modules/apache-arrow ]; then
  echo "test.sh: node_modules/apache-arrow missing: run scripts/deps.sh (npm ci)" >&2
  failed+=("node_modules missing")
fi
# (re-configure so that interop tests are registered if node_modules appeared
# after the first configure)
if ! { cmake -S . -B "$BUILD" && cmake --build "$BUILD" -j "$JOBS"; } >"$BUILD/rebuild.log" 2>&1; then
  tail -n 40 "$BUILD/rebuild.log"
  failed+=("build")
fi
step "3/3 valgrind end-to-end scenario ($BUILD)"
if need valgrind "the end-to-end scenario runs under valgrind"; then
  scripts/valgrind_e2e.sh "$BUILD" || failed+=("valgrind scenario")
else
  failed+=("valgrind missing")
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "test.sh: FAILED before the main tests: ${failed[*]}"
fi
# nothing is printed after ctest: its summary is the last line
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" || exit 1
[ ${#failed[@]} -eq 0 ]
