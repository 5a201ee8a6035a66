#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# instructions.sh - instructions statemgrd executes per request, counted by
# valgrind's callgrind (all its threads, libraries included; not the
# kernel's work): a figure that stays the same on a loaded machine, where
# throughput does not, for comparing two builds of the daemon's hot paths.
#
# For each mode (--no-persist, --fsync everysec, --fsync always) and each
# workload (dict_set, value_incr) it starts statemgrd under callgrind on a
# data directory of its own, warms up with 2,000 requests, zeroes the
# counts, runs statemgr-bench, and divides what callgrind counted by the
# requests: at 1 client without pipelining and at 50 clients with
# pipelines of 16. Every daemon it starts is stopped by PID.
#
# Usage: bench/instructions.sh [--build-dir DIR] [--quick]
#   --build-dir DIR   use statemgrd and statemgr-bench in DIR (default
#                     build/; an optimised build gives the figures that
#                     matter)
#   --quick           a tenth of the requests: a smoke run
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
SCALE=1
while [ $# -gt 0 ]; do
  case "$1" in
  --build-dir)
    BUILD=$(cd "${2:?--build-dir needs a directory}" && pwd)
    shift 2
    ;;
  --quick)
    SCALE=10
    shift
    ;;
  *)
    echo "usage: bench/instructions.sh [--build-dir DIR] [--quick]" >&2
    exit 2
    ;;
  esac
done

START=$SECONDS
NAME=instructions.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SMD="$BUILD/statemgrd"
BENCH="$BUILD/statemgr-bench"
for b in "$SMD" "$BENCH"; do [ -x "$b" ] || die "$b is missing: build it, or give --build-dir"; done
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
  die "valgrind (with callgrind_control) is needed (apt-get install valgrind)"
fi

TMP=$(mktemp -d /tmp/sm-instructions.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do stop_pid "$p"; done; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$TMP/authkey"
chmod 600 "$TMP/authkey"

# Prints the instructions per request of one mode, workload and load.
count() { # mode workload requests clients pipeline
  local mode=$1 w=$2 n=$3 c=$4 p=$5 opts dir="$TMP/run-$1-$2-$4"
  mkdir -p "$dir"
  mkdir -m 700 "$dir/data"
  if [ "$mode" = memory ]; then opts=(--no-persist); else opts=(--data-dir "$dir/data" --fsync "$mode"); fi
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$SMD" --listen tcp://127.0.0.1:0 \
    --authkey-file "$TMP/authkey" --ready-file "$dir/ready" --log-level warn "${opts[@]}" \
    >"$dir/log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 3000); do
    [ -s "$dir/ready" ] && break
    kill -0 "$pid" 2>/dev/null || die "statemgrd did not start: $(tail -3 "$dir/log")"
    sleep 0.02
  done
  local url
  url=$(grep '^tcp://' "$dir/ready") || die "statemgrd did not start in time"
  local run=("$BENCH" --authkey-file "$TMP/authkey" -q -u "$url" -c "$c" -P "$p" -t "$w")
  "${run[@]}" -n 2000 >/dev/null || die "statemgr-bench failed ($mode $w)"
  callgrind_control --zero "$pid" >/dev/null 2>&1
  "${run[@]}" -n "$n" >/dev/null || die "statemgr-bench failed ($mode $w)"
  callgrind_control --dump=measured "$pid" >/dev/null 2>&1
  stop_server "$pid"
  local total
  total=$(awk '/^summary:/ { print $2; exit }' "$dir/cg.out.1")
  echo $((total / n))
}

echo "| workload | mode | 1 client, P1 | 50 clients, P16 |"
echo "|---|---|---:|---:|"
for w in dict_set value_incr; do
  for mode in memory everysec always; do
    n1=$((20000 / SCALE))
    [ "$mode" = always ] && n1=$((3000 / SCALE)) # one sync per request
    say "$w, $mode"
    a=$(count "$mode" "$w" "$n1" 1 1)
    b=$(count "$mode" "$w" $((100000 / SCALE)) 50 16)
    printf '| %s | %s | %s | %s |\n' "$w" "$mode" "$a" "$b"
  done
done
