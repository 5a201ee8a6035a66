#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# durable.sh - statemgr's durable daemon against Redis with its append-only
# file, in one run on one machine, as ratios.
#
# Both servers keep their files in one temporary directory on the same
# disk. It prints:
#   1. throughput of mutations (dict_set ~ SET, value_incr ~ INCR) at 1, 8
#      and 50 clients, pipeline 1 and 16:
#        statemgrd --fsync always   against redis appendonly yes, appendfsync always
#        statemgrd --fsync everysec against redis appendfsync everysec
#      and statemgrd --fsync everysec against statemgrd --no-persist (what
#      everysec costs statemgr itself);
#   2. restart: a server holding 1,000,000 dict entries (a snapshot of
#      900,000 plus a log of 100,000 more), killed with SIGKILL, from exec
#      to answering (statemgrd: its ready file; redis: PONG instead of
#      LOADING), with Redis's AOF (an RDB preamble plus the commands after
#      it, Redis's default);
#   3. the longest stall one client sees while a snapshot of those
#      1,000,000 entries is taken (statemgr save; redis BGSAVE), against the
#      longest it sees without one, same client, same run;
#   4. the issue's targets, measured ratio and whether each holds.
# Each throughput figure is the best of two runs, the servers taking
# turns. Every server it starts is stopped by PID when it exits.
#
# Usage: bench/durable.sh [--build-dir DIR] [--quick] [--out FILE]
#   --build-dir DIR   use statemgrd, statemgr-bench and statemgr from DIR
#                     instead of building build-compare/
#   --quick           one round, a fifth of the requests, 100,000 entries:
#                     a smoke run, not a measurement
#   --out FILE        also write the tables (Markdown) to FILE
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=""
QUICK=0
OUTFILE=""
while [ $# -gt 0 ]; do
  case "$1" in
  --build-dir)
    BUILD=${2:?--build-dir needs a directory}
    shift 2
    ;;
  --quick)
    QUICK=1
    shift
    ;;
  --out)
    OUTFILE=${2:?--out needs a file}
    shift 2
    ;;
  -h | --help)
    sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "durable.sh: unknown argument $1 (see --help)" >&2
    exit 2
    ;;
  esac
done

START=$SECONDS
NAME=durable.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SCALE=1
ROUNDS=2
ENTRIES=1000000
if [ "$QUICK" = 1 ]; then
  SCALE=5
  ROUNDS=1
  ENTRIES=100000
fi
VALUE=64
KEYSPACE=100000
CLIENTS_LIST=(1 8 50)
PIPES=(1 16)
# Requests per run: fsync-bound rows (MODE always) are slow at one
# client; the others get runs of about a second too, as shorter ones
# measure the machine's moment more than the servers.
req_n() { # clients pipeline [mode]
  local n
  if [ "$2" -gt 1 ]; then n=300000; elif [ "$1" = 1 ]; then n=5000; else n=20000; fi
  if [ "${3:-always}" != always ] && [ "$2" = 1 ]; then n=$((n * 3)); fi
  echo $((n / SCALE))
}

command -v python3 >/dev/null || die "python3 is needed"
command -v redis-server >/dev/null || die "redis-server is needed (apt-get install redis-server)"
command -v redis-benchmark >/dev/null || die "redis-benchmark is needed (apt-get install redis-tools)"

bench_setup durable
smcli() { timeout "$RUN_LIMIT" "$CLI" -u "$SM_URL" --authkey-file "$TMP/authkey" "$@"; }

SM_PID=""
SM_URL=""
# Starts statemgrd with persistence options ("--fsync always" ...) on a data
# directory of its own (kept across starts of the same name).
start_statemgrd() { # name options...
  local name=$1
  shift
  mkdir -p -m 700 "$TMP/sm-$name"
  rm -f "$TMP/sm.ready"
  "$SMD" --listen tcp://127.0.0.1:0 --authkey-file "$TMP/authkey" --ready-file "$TMP/sm.ready" \
    --data-dir "$TMP/sm-$name" --log-level warn "$@" >>"$TMP/statemgrd.log" 2>&1 &
  SM_PID=$!
  PIDS+=("$SM_PID")
  for _ in $(seq 1 6000); do
    [ -s "$TMP/sm.ready" ] && break
    kill -0 "$SM_PID" 2>/dev/null || die "statemgrd $* did not start: $(tail -3 "$TMP/statemgrd.log")"
    sleep 0.01
  done
  [ -s "$TMP/sm.ready" ] || die "statemgrd did not start in time"
  SM_URL=$(grep '^tcp://' "$TMP/sm.ready")
}

RD_PID=""
RD_PORT=""
# Starts redis-server with options, its files in a directory of its own.
start_redis() { # name options...
  local name=$1
  shift
  mkdir -p "$TMP/rd-$name"
  RD_PORT=$(free_port)
  redis-server --port "$RD_PORT" --bind 127.0.0.1 --dir "$TMP/rd-$name" --save '' \
    --daemonize no --logfile "$TMP/redis.log" "$@" &
  RD_PID=$!
  PIDS+=("$RD_PID")
  wait_redis || die "redis-server did not start (see $TMP/redis.log)"
}
# Waits until redis answers PONG (not LOADING).
wait_redis() {
  for _ in $(seq 1 60000); do
    [ "$(redis-cli -p "$RD_PORT" ping 2>/dev/null)" = PONG ] && return 0
    kill -0 "$RD_PID" 2>/dev/null || return 1
    sleep 0.005
  done
  return 1
}


# ---- 1. throughput of mutations -----------------------------------------

run_sm() { # key-source mode
  local c p
  for c in "${CLIENTS_LIST[@]}"; do
    for p in "${PIPES[@]}"; do
      smbench -u "$SM_URL" -c "$c" -P "$p" -n "$(req_n "$c" "$p" "$2")" -d "$VALUE" -r "$KEYSPACE" \
        -t dict_set,value_incr --csv >"$TMP/run.csv" || die "statemgr-bench failed ($1 $c/$p)"
      while IFS=, read -r w _ cc pp ops _; do
        [ "$w" = workload ] && continue
        keep_max "$1|$w|$cc|$pp" "$ops"
      done <"$TMP/run.csv"
    done
  done
}
run_redis() { # key-source mode
  local c p name rps
  for c in "${CLIENTS_LIST[@]}"; do
    for p in "${PIPES[@]}"; do
      timeout "$RUN_LIMIT" redis-benchmark -p "$RD_PORT" -c "$c" -n "$(req_n "$c" "$p" "$2")" -P "$p" \
        -d "$VALUE" -r "$KEYSPACE" -t set,incr -q --csv >"$TMP/redis.csv"
      while IFS=, read -r name rps _; do
        name=${name//\"/}
        rps=${rps//\"/}
        [ "$name" = test ] && continue
        keep_max "$1|${name%% *}|$c|$p" "$rps"
      done <"$TMP/redis.csv"
    done
  done
}

for mode in always everysec; do
  for round in $(seq 1 "$ROUNDS"); do
    say "statemgr --fsync $mode (round $round)"
    start_statemgrd "$mode" --fsync "$mode"
    run_sm "sm_$mode" "$mode"
    stop_server "$SM_PID"
    say "redis appendfsync $mode (round $round)"
    start_redis "$mode" --appendonly yes --appendfsync "$mode"
    run_redis "rd_$mode" "$mode"
    stop_server "$RD_PID"
  done
done
for round in $(seq 1 "$ROUNDS"); do
  say "statemgr --no-persist against --fsync everysec, 50 clients, pipeline 16 (round $round)"
  for mode in memory everysec2; do
    if [ "$mode" = memory ]; then start_statemgrd memory --no-persist; else start_statemgrd everysec2 --fsync everysec; fi
    smbench -u "$SM_URL" -c 50 -P 16 -n "$(req_n 50 16)" -d "$VALUE" -r "$KEYSPACE" -t dict_set,value_incr \
      --csv >"$TMP/run.csv" || die "statemgr-bench failed ($mode)"
    while IFS=, read -r w _ cc pp ops _; do
      [ "$w" = workload ] && continue
      keep_max "sm_$mode|$w|$cc|$pp" "$ops"
    done <"$TMP/run.csv"
    stop_server "$SM_PID"
  done
done

# ---- 2. restart with 1,000,000 entries ----------------------------------

FIRST=$((ENTRIES * 9 / 10))
REST=$((ENTRIES - FIRST))

say "restart: statemgr with $ENTRIES entries"
start_statemgrd restart --fsync everysec
smbench -u "$SM_URL" -c 1 -P 1000 -n "$FIRST" -r "$FIRST" --sequential -d "$VALUE" --prefix mem: \
  -t dict_set >/dev/null
smcli save >/dev/null || die "statemgr save failed"
smbench -u "$SM_URL" -c 1 -P 1000 -n "$REST" -r "$REST" --sequential -d "$VALUE" --prefix tail: \
  -t dict_set >/dev/null
sleep 1.5 # everysec: the last records reach the disk
SM_DISK=$(du -sk "$TMP/sm-restart" | cut -f1)
stop_server "$SM_PID" KILL
t0=$(now_ms)
start_statemgrd restart --fsync everysec
SM_RESTART_MS=$(($(now_ms) - t0))
n=$(smcli len mem:dict)
[ "$n" = "$FIRST" ] || die "after the restart statemgr holds $n entries in mem:dict, not $FIRST"
n=$(smcli len tail:dict)
[ "$n" = "$REST" ] || die "after the restart statemgr holds $n entries in tail:dict, not $REST"

say "restart: redis with $ENTRIES entries"
start_redis restart --appendonly yes --appendfsync everysec
redis_hash_load mem:hash "$FIRST" | redis-cli -p "$RD_PORT" --pipe >/dev/null
redis-cli -p "$RD_PORT" bgrewriteaof >/dev/null
for _ in $(seq 1 6000); do
  redis-cli -p "$RD_PORT" info persistence | grep -q '^aof_rewrite_in_progress:0' && break
  sleep 0.05
done
redis_hash_load tail:hash "$REST" | redis-cli -p "$RD_PORT" --pipe >/dev/null
sleep 1.5
RD_DISK=$(du -sk "$TMP/rd-restart" | cut -f1)
stop_server "$RD_PID" KILL
t0=$(now_ms)
RD_PORT_KEEP=$RD_PORT
redis-server --port "$RD_PORT_KEEP" --bind 127.0.0.1 --dir "$TMP/rd-restart" --save '' \
  --daemonize no --logfile "$TMP/redis.log" --appendonly yes --appendfsync everysec &
RD_PID=$!
PIDS+=("$RD_PID")
wait_redis || die "redis-server did not come back (see $TMP/redis.log)"
RD_RESTART_MS=$(($(now_ms) - t0))
n=$(redis-cli -p "$RD_PORT" hlen mem:hash)
[ "$n" = "$FIRST" ] || die "after the restart redis holds $n entries in mem:hash, not $FIRST"

# ---- 3. the longest stall during a snapshot -----------------------------

# One client writing for a few seconds; its longest latency without and
# with a snapshot taken in the middle.
STALL_N=$((60000 / SCALE))
sm_stall() { # with-snapshot(0/1) -> max_us
  smbench -u "$SM_URL" -c 1 -n "$STALL_N" -r "$KEYSPACE" -d "$VALUE" --prefix stall: -t dict_set \
    --csv >"$TMP/stall.csv" &
  local b=$!
  if [ "$1" = 1 ]; then
    sleep 0.5
    local t=$(now_ms)
    smcli save >/dev/null || die "statemgr save failed"
    echo $(($(now_ms) - t)) >"$TMP/sm_save_ms"
  fi
  wait "$b" || die "statemgr-bench failed during the stall run"
  awk -F, 'NR == 2 { print $8 }' "$TMP/stall.csv"
}
rd_stall() { # with-snapshot(0/1) -> max_us
  timeout "$RUN_LIMIT" redis-benchmark -p "$RD_PORT" -c 1 -n "$STALL_N" -d "$VALUE" -r "$KEYSPACE" \
    -t set -q --csv >"$TMP/stall.csv" &
  local b=$!
  if [ "$1" = 1 ]; then
    sleep 0.5
    local t=$(now_ms)
    redis-cli -p "$RD_PORT" bgsave >/dev/null
    sleep 0.2
    for _ in $(seq 1 6000); do
      redis-cli -p "$RD_PORT" info persistence | grep -q '^rdb_bgsave_in_progress:0' && break
      sleep 0.01
    done
    echo $(($(now_ms) - t)) >"$TMP/rd_save_ms"
  fi
  wait "$b" || die "redis-benchmark failed during the stall run"
  awk -F, 'NR == 2 { gsub(/"/, "", $8); printf "%.1f\n", $8 * 1000 }' "$TMP/stall.csv"
}
say "stall: statemgr"
SM_BASE_MAX=$(sm_stall 0)
SM_SNAP_MAX=$(sm_stall 1)
stop_server "$SM_PID"
say "stall: redis"
RD_BASE_MAX=$(rd_stall 0)
RD_SNAP_MAX=$(rd_stall 1)
stop_server "$RD_PID"
SM_SAVE_MS=$(cat "$TMP/sm_save_ms")
RD_SAVE_MS=$(cat "$TMP/rd_save_ms")

# ---- 4. the tables --------------------------------------------------------

OUT="$TMP/report.md"
{
  echo "### Durable throughput (ops/s; statemgr-bench vs redis-benchmark, files on the same disk)"
  echo
  echo "| workload | clients | pipeline | statemgr always | redis always | ratio | statemgr everysec | redis everysec | ratio |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for w in dict_set value_incr; do
    cmd=SET
    [ "$w" = value_incr ] && cmd=INCR
    for c in "${CLIENTS_LIST[@]}"; do
      for p in "${PIPES[@]}"; do
        a=${R["sm_always|$w|$c|$p"]:-}
        ra=${R["rd_always|$cmd|$c|$p"]:-}
        e=${R["sm_everysec|$w|$c|$p"]:-}
        re=${R["rd_everysec|$cmd|$c|$p"]:-}
        printf '| %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$w" "$cmd" "$c" "$p" "${a:--}" \
          "${ra:--}" "$(ratio "$a" "$ra")" "${e:--}" "${re:--}" "$(ratio "$e" "$re")"
      done
    done
  done
  echo
  echo "Best of $ROUNDS run(s) each, statemgr and redis taking turns."
  echo
  echo "### What everysec costs statemgr (50 clients, pipeline 16)"
  echo
  echo "| workload | --no-persist | --fsync everysec | everysec / memory |"
  echo "|---|---:|---:|---:|"
  for w in dict_set value_incr; do
    m=${R["sm_memory|$w|50|16"]:-}
    e=${R["sm_everysec2|$w|50|16"]:-}
    printf '| %s | %s | %s | %s |\n' "$w" "${m:--}" "${e:--}" "$(ratio "$e" "$m")"
  done
  echo
  echo "### Restart with $ENTRIES entries after SIGKILL (snapshot of $FIRST, then $REST more in the log)"
  echo
  echo "| server | files on disk | exec to answering |"
  echo "|---|---:|---:|"
  printf '| statemgrd (snapshot + log) | %s KiB | %s ms |\n' "$SM_DISK" "$SM_RESTART_MS"
  printf '| redis-server (AOF: RDB preamble + commands) | %s KiB | %s ms |\n' "$RD_DISK" "$RD_RESTART_MS"
  echo
  echo "### The longest stall of one writing client while a snapshot of $ENTRIES entries is taken"
  echo
  echo "| server | longest latency, no snapshot | longest latency, snapshot taken | snapshot took |"
  echo "|---|---:|---:|---:|"
  printf '| statemgrd (statemgr save: forked child) | %s us | %s us | %s ms |\n' "$SM_BASE_MAX" "$SM_SNAP_MAX" "$SM_SAVE_MS"
  printf '| redis-server (BGSAVE: forked child) | %s us | %s us | %s ms |\n' "$RD_BASE_MAX" "$RD_SNAP_MAX" "$RD_SAVE_MS"
  echo
  echo "### Targets"
  echo
  echo "| target | measured | holds |"
  echo "|---|---|---|"
  for mode in always everysec; do
    for w in dict_set value_incr; do
      cmd=SET
      [ "$w" = value_incr ] && cmd=INCR
      for c in "${CLIENTS_LIST[@]}"; do
        for p in "${PIPES[@]}"; do
          check "$mode, $c clients, P$p, $w >= 1.0 x redis $cmd" \
            "$(ratio "${R["sm_$mode|$w|$c|$p"]:-}" "${R["rd_$mode|$cmd|$c|$p"]:-}")" 1.0
        done
      done
    done
  done
  check "everysec, 50 clients, P16, dict_set >= 0.90 x statemgr in memory" \
    "$(ratio "${R["sm_everysec2|dict_set|50|16"]:-}" "${R["sm_memory|dict_set|50|16"]:-}")" 0.90
  check "restart with $ENTRIES entries at least as fast as redis (redis ms / statemgr ms)" \
    "$(ratio "$RD_RESTART_MS" "$SM_RESTART_MS")" 1.0
} >"$OUT"

cat "$OUT"
if [ -n "$OUTFILE" ]; then cp "$OUT" "$OUTFILE"; fi
