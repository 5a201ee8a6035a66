#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh - sets everything up and runs every test.
#
#   ./scripts/test.sh           the full run below (what CI runs: .ci/run)
#   ./scripts/test.sh --quick   only the build and ctest in build/: installs
#                               just the build dependencies (no clang, no
#                               valgrind), skips valgrind, the sanitizer,
#                               release, install and fuzz steps
#
# The full run:
#   1. ./scripts/setup.sh --test (dependencies, then the build in build/)
#   2. ctest in build/ (the Check suites, and the Python package's tests:
#      python, and python_cpython with CPython's own manager tests), then the
#      protocol, object and connection-handling suites again with the daemon
#      under valgrind memcheck (any error or leak fails)
#   3. an AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/,
#      and ctest there
#   4. a Release (-O3) build in build-o3/, which must compile without a
#      warning (the optimiser sees more than RelWithDebInfo does)
#   5. ./scripts/check-install.sh (install, then build consumers against it),
#      and the Python package installed with pip into a temporary directory,
#      then used from there with no build tree (scripts/check-python-install.sh)
#   6. ./scripts/fuzz.sh: the libFuzzer harnesses, $SM_FUZZ_SECONDS (default
#      60) seconds per run
# Every step runs even when an earlier test step failed; the exit status is
# non-zero when anything failed.
set -euo pipefail

usage() {
  sed -n '5,9s/^# \{0,1\}//p' "$0"
}

quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  -h | --help) usage; exit 0 ;;
  *) echo "test.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "test.sh: one option at most" >&2; usage >&2; exit 2; }
cd "$(dirname "$0")/.."

if [ "$quick" = 1 ]; then
  ./scripts/setup.sh
  echo "== ctest: build/"
  (cd build && ctest --output-on-failure -j2) || { echo "test.sh --quick: FAILED" >&2; exit 1; }
  echo "test.sh --quick: all ctest suites passed (the full run is ./scripts/test.sh)"
  exit 0
fi

./scripts/setup.sh --test

failed=()

echo "== ctest: build/"
(cd build && ctest --output-on-failure -j2) || failed+=("ctest build/")

echo "== valgrind: the daemon under memcheck for the protocol, object and connection suites"
(cd build && SMTEST_VALGRIND=1 ctest --output-on-failure -j2 \
  -R '^(wire|robust|dict|list|var|ns|cli|preauth|throttle|sighup|escape|url|cycles|config|metrics|slowlog|logging)$') ||
  failed+=("valgrind build/")

echo "== sanitizer build: build-asan/"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSM_SANITIZE=ON -DSM_WERROR=ON \
  --log-level=WARNING
cmake --build build-asan -j "$(nproc)"
echo "== ctest: build-asan/"
(cd build-asan &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j2) || failed+=("ctest build-asan/")

echo "== release build (-O3): compiles without warnings"
(cmake -S . -B build-o3 -DCMAKE_BUILD_TYPE=Release -DSM_BUILD_TESTS=OFF -DSM_WERROR=ON \
  --log-level=WARNING &&
  cmake --build build-o3 -j "$(nproc)") || failed+=("release build")

echo "== install check"
./scripts/check-install.sh build || failed+=("check-install")
./scripts/check-python-install.sh build || failed+=("check-python-install")

echo "== fuzz: the frame decoder, the value codec and the dispatcher"
./scripts/fuzz.sh "${SM_FUZZ_SECONDS:-60}" || failed+=("fuzz")

if [ ${#failed[@]} -ne 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "test.sh: all tests passed"
