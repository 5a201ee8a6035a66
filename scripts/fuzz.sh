#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz.sh - builds the libFuzzer harnesses of tests/fuzz with clang and runs
# each one for a bounded time:
#
#   ./scripts/fuzz.sh [SECONDS]      (default 60 per run)
#
# The harnesses are built in build-fuzz/ (CC=clang, -DSM_FUZZ=ON) with
# AddressSanitizer and UndefinedBehaviorSanitizer. Each runs on a copy of
# its committed seed corpus (tests/fuzz/corpus/<harness>/), so the committed
# corpus never grows; the copies, logs and any crash-*/leak-*/oom-*/timeout-*
# inputs stay in build-fuzz/fuzz-run/<run>/. fuzz_dispatch runs twice: with
# its registry persisting across inputs (per-input leak checks off, the exit
# check still on), and with a fresh registry per input (leaks pinned to the
# input). Runs go $(nproc) at a time (FUZZ_JOBS overrides). The exit status
# is non-zero when any run crashed, leaked, ran out of memory or timed out.
# clang, libclang-rt-14-dev and llvm-14 come from ./scripts/setup.sh --test.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS]  (a positive number of seconds per run)" >&2
  exit 2
fi
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz.sh: clang not found; ./scripts/setup.sh --test installs it" >&2
  exit 1
fi

echo "== fuzz: building the harnesses in build-fuzz/ (clang)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSM_FUZZ=ON \
  -DSM_BUILD_TESTS=OFF -DSM_WERROR=ON --log-level=WARNING
cmake --build build-fuzz --target fuzz -j "$(nproc)"

bin=$PWD/build-fuzz/tests/fuzz
out=$PWD/build-fuzz/fuzz-run
rm -rf "$out"
mkdir -p "$out"

# Symbolized reports need llvm-symbolizer, which Debian installs versioned.
for s in llvm-symbolizer /usr/lib/llvm-14/bin/llvm-symbolizer; do
  if command -v "$s" >/dev/null 2>&1; then
    export ASAN_SYMBOLIZER_PATH
    ASAN_SYMBOLIZER_PATH=$(command -v "$s")
    break
  fi
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Each run: name, harness, then extra environment (VAR=value ...) and
# libFuzzer flags after "--".
runs=(
  "frame fuzz_frame --"
  "value fuzz_value --"
  "dispatch fuzz_dispatch -- -detect_leaks=0"
  "dispatch-isolated fuzz_dispatch FUZZ_DISPATCH_RESET_EVERY=1 --"
)

# Runs one line of $runs in the background-friendly way: returns its status.
run_one() {
  local name=$1 harness=$2
  shift 2
  local envs=() flags=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    envs+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  flags=("$@")
  local dir=$out/$name
  mkdir -p "$dir/corpus"
  cp tests/fuzz/corpus/"$harness"/* "$dir/corpus/"
  (cd "$dir" && env "${envs[@]}" "$bin/$harness" -max_total_time="$secs" -timeout=30 \
    -rss_limit_mb=2560 -print_final_stats=1 "${flags[@]}" corpus >log 2>&1)
}

jobs=${FUZZ_JOBS:-$(nproc)}
failed=()
pids=()
names=()
# Waits for the runs started so far and records the failures.
collect() {
  local i
  for i in "${!pids[@]}"; do
    local name=${names[$i]} dir=$out/${names[$i]}
    if wait "${pids[$i]}" && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$dir/log"; then
      echo "fuzz: $name: ok ($(grep -m1 -E '^stat::number_of_executed_units' "$dir/log" | awk '{print $2}') inputs in ${secs}s)"
    else
      failed+=("$name")
      echo "fuzz: $name: FAILED; log: $dir/log" >&2
      grep -m1 -A30 -E 'ERROR: |runtime error:' "$dir/log" >&2 || tail -n 30 "$dir/log" >&2
      ls "$dir"/crash-* "$dir"/leak-* "$dir"/oom-* "$dir"/timeout-* 2>/dev/null >&2 || true
    fi
  done
  pids=()
  names=()
}

echo "== fuzz: ${#runs[@]} runs of ${secs}s, $jobs at a time"
for line in "${runs[@]}"; do
  # shellcheck disable=SC2086 # the line is words on purpose
  run_one $line &
  pids+=($!)
  names+=("${line%% *}")
  if [ ${#pids[@]} -ge "$jobs" ]; then collect; fi
done
collect

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: every harness ran ${secs}s without a crash or a leak"
