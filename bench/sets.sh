#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sets.sh - the set type against Redis's sets, in one run on one machine, as
# ratios: statemgr-bench's set_add and set_contains against redis-benchmark's
# SADD and SISMEMBER on the same keyspace (16-byte elements), at 1 and 8
# clients, pipeline 1 and 16, each figure the best of two runs with the
# servers taking turns. Both servers run in memory only (statemgrd
# --no-persist, redis-server without save or AOF), on loopback TCP and free
# ports, and are stopped by PID when it exits.
#
# Usage: bench/sets.sh [--build-dir DIR] [--quick]
#   --build-dir DIR   use statemgrd and statemgr-bench in DIR (default build/)
#   --quick           one round and a fifth of the requests: a smoke run
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
ROUNDS=2
N=200000
while [ $# -gt 0 ]; do
  case "$1" in
  --build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
  --quick) ROUNDS=1; N=40000; shift ;;
  *) echo "usage: bench/sets.sh [--build-dir DIR] [--quick]" >&2; exit 2 ;;
  esac
done

START=$SECONDS
NAME=sets.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SMD="$BUILD/statemgrd"
BENCH="$BUILD/statemgr-bench"
for b in "$SMD" "$BENCH"; do [ -x "$b" ] || die "$b is missing: build it, or give --build-dir"; done
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  die "redis-server and redis-benchmark are needed (apt-get install redis-server)"
fi

KEYSPACE=100000
TMP=$(mktemp -d /tmp/sm-sets.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$TMP/authkey"
chmod 600 "$TMP/authkey"
"$SMD" --listen tcp://127.0.0.1:0 --authkey-file "$TMP/authkey" --ready-file "$TMP/sm.ready" \
  --log-level warn --no-persist >"$TMP/statemgrd.log" 2>&1 &
PIDS+=("$!")
RD_PORT=$(free_port)
redis-server --port "$RD_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --logfile "$TMP/redis.log" &
PIDS+=("$!")
for _ in $(seq 1 200); do
  [ -s "$TMP/sm.ready" ] && redis-cli -p "$RD_PORT" ping 2>/dev/null | grep -q PONG && break
  sleep 0.05
done
[ -s "$TMP/sm.ready" ] || die "statemgrd did not start (see $TMP)"
SM_TCP=$(grep '^tcp://' "$TMP/sm.ready")

# SISMEMBER asks for elements that SADD put there (element:__rand_int__ is
# what redis-benchmark's SADD adds); half of them present, as set_contains.
say "loading $KEYSPACE elements into redis"
redis-benchmark -p "$RD_PORT" -c 8 -n $((KEYSPACE * 4)) -r $((KEYSPACE * 2)) -q \
  SADD myset element:__rand_int__ >/dev/null

for c in 1 8; do
  for p in 1 16; do
    for round in $(seq 1 "$ROUNDS"); do
      say "statemgr: $c clients, pipeline $p (round $round)"
      timeout 300 "$BENCH" -u "$SM_TCP" --authkey-file "$TMP/authkey" -q --csv -c "$c" -P "$p" \
        -n "$N" -r "$KEYSPACE" -t set_add,set_contains >"$TMP/sm.csv"
      while IFS=, read -r w _ _ _ ops _; do
        [ "$w" = workload ] || keep_max "sm|$w|$c|$p" "$ops"
      done <"$TMP/sm.csv"
      say "redis: $c clients, pipeline $p (round $round)"
      for cmd in SADD SISMEMBER; do
        timeout 300 redis-benchmark -p "$RD_PORT" -c "$c" -P "$p" -n "$N" -r "$KEYSPACE" -q --csv \
          "$cmd" myset element:__rand_int__ >"$TMP/redis.csv"
        while IFS=, read -r name rps _; do
          rps=${rps//\"/}
          [ "${name//\"/}" = test ] || keep_max "redis|$cmd|$c|$p" "$rps"
        done <"$TMP/redis.csv"
      done
    done
  done
done

echo "| workload | clients | pipeline | statemgr ops/s | redis ops/s | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
for pair in set_add:SADD set_contains:SISMEMBER; do
  w=${pair%%:*} r=${pair##*:}
  for c in 1 8; do
    for p in 1 16; do
      sm=${R["sm|$w|$c|$p"]:-} rd=${R["redis|$r|$c|$p"]:-}
      printf '| %s vs %s | %s | %s | %.0f | %.0f | %s |\n' "$w" "$r" "$c" "$p" "${sm:-0}" \
        "${rd:-0}" "$(ratio "$sm" "$rd")"
    done
  done
done
