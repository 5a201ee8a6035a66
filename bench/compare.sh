#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# compare.sh - statemgr against Redis and Python's SyncManager, in one run on
# one machine, as ratios.
#
# It builds statemgrd, statemgr-bench and sm_pingpong (Release: -O3 and link-time optimisation) unless given
# a build directory, then starts, on loopback and free ports:
#   - statemgrd (TCP and a UNIX socket, a temporary authkey, in memory:
#     --no-persist, as Redis runs without persistence below),
#   - redis-server (Debian's package; no persistence),
#   - a Python multiprocessing SyncManager (bench/pymanager.py),
# runs the equivalent workloads against all three and prints:
#   1. throughput: statemgr-bench vs redis-benchmark vs bench/pyclient.py for
#      1, 8 and 50 clients, pipeline 1 and 16, with the ratios;
#   2. the floor: statemgr at 1 client, no pipelining, against a bare
#      loopback ping-pong of the same message sizes (sm_pingpong), over TCP
#      and the UNIX socket;
#   3. memory: resident memory of 1,000,000 dict entries (16-byte keys,
#      64-byte values) against Redis holding them in one hash, and the cost
#      of each idle authenticated connection (10,000 of them);
#   4. Python programs: the same workloads through the statemgr package's
#      proxies (bench/pyclient.py --statemgr-url, statemgrd above) and through
#      multiprocessing.managers proxies (the SyncManager above), at 1 and 8
#      processes, statemgr's also with pipelines of 16; and the Python
#      layer's cost per call: its time per call minus statemgr-bench's (the
#      C library's) for the same workload at 1 client;
#   5. a fenced lock: statemgr's acquire with its fencing token + release
#      (statemgr-bench fenced_lock) against the lock Redis users build, SET
#      KEY TOKEN NX PX 30000 + EVALSHA of a compare-and-delete release
#      (sm_redislock, hiredis; retried at once while taken), one shared lock,
#      1 and 8 clients;
#   6. the issue's targets, each with the measured ratio and whether it holds;
#   7. transactions: statemgr's txn of 4 calls against Redis MULTI/EXEC of
#      the same 4 commands (bench/redis_txn.c, hiredis), at 1 and 8 clients;
#   8. the durable daemon against Redis with its append-only file
#      (bench/durable.sh, same binaries, right after): fsync always and
#      everysec rows, restart with 1,000,000 entries, the stall of a
#      snapshot.
# Workload mapping: dict_set ~ SET (and HSET), dict_get ~ GET (and HGET),
# value_incr ~ INCR, queue_putget and lock ~ LPUSH+RPOP (the rate of
# alternating LPUSH and RPOP: 2 / (1/lpush + 1/rpop)). Python's proxies have
# no pipelining: its pipeline-16 rows repeat its one-call-per-operation
# numbers. Each statemgr, Redis and ping-pong figure is the best of two
# runs, the servers taking turns, so a burst of load from elsewhere on the
# machine spoils neither side alone. Every server it starts is stopped by
# PID when it exits.
#
# Usage: bench/compare.sh [--build-dir DIR] [--quick] [--no-durable] [--write-results] [--note TEXT]
#   --build-dir DIR   use the binaries in DIR (statemgrd, statemgr-bench,
#                     sm_pingpong) instead of building build-compare/
#   --quick           one round instead of the best of two, a fifth of the
#                     requests, 100,000 entries and 2,000 connections for
#                     memory: a smoke run, not a measurement
#   --no-durable      leave out part 8 (bench/durable.sh)
#   --write-results   also write the tables to bench/RESULTS.md, with the
#                     date and the machine
#   --note TEXT       a line to put at the top of bench/RESULTS.md
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=""
QUICK=0
WRITE=0
DURABLE=1
NOTE=""
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
  --write-results)
    WRITE=1
    shift
    ;;
  --no-durable)
    DURABLE=0
    shift
    ;;
  --note)
    NOTE=${2:?--note needs a text}
    shift 2
    ;;
  -h | --help)
    sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "compare.sh: unknown argument $1 (see --help)" >&2
    exit 2
    ;;
  esac
done

START=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
NAME=compare.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# ---- sizes -------------------------------------------------------------

SCALE=1
ROUNDS=2
MEM_ENTRIES=1000000
IDLE_CONNS=10000
if [ "$QUICK" = 1 ]; then
  SCALE=5
  ROUNDS=1
  MEM_ENTRIES=100000
  IDLE_CONNS=2000
fi
VALUE=64
KEYSPACE=100000
CLIENTS_LIST=(1 8 50)
PIPES=(1 16)
# Requests per workload and run, by clients and pipeline (about a second).
sm_n() { # clients pipeline
  if [ "$2" -gt 1 ]; then echo $((200000 / SCALE)); elif [ "$1" = 1 ]; then echo $((20000 / SCALE)); else echo $((40000 / SCALE)); fi
}
redis_n() {
  if [ "$2" -gt 1 ]; then echo $((200000 / SCALE)); elif [ "$1" = 1 ]; then echo $((20000 / SCALE)); else echo $((40000 / SCALE)); fi
}
# The statemgr package's rows (Python worker processes over libstatemgr).
smpy_n() { # clients pipeline
  if [ "$2" -gt 1 ]; then echo $((100000 / SCALE)); elif [ "$1" = 1 ]; then echo $((10000 / SCALE)); else echo $((20000 / SCALE)); fi
}
PY_CLIENTS=(1 8)
py_n() { # workload clients
  case "$1" in
  value_incr) echo $((1000 / SCALE)) ;;
  *) if [ "$2" = 1 ]; then echo $((3000 / SCALE)); else echo $((4000 / SCALE)); fi ;;
  esac
}
# The frame sizes of a dict_set (16-byte key, 64-byte value) and a dict_get
# and their answers, seq numbers of 3 bytes included: the ping-pong sizes.
SET_REQ=103
SET_RESP=10
GET_REQ=35
GET_RESP=78

# ---- tools -------------------------------------------------------------

command -v python3 >/dev/null || die "python3 is needed"
command -v redis-server >/dev/null || die "redis-server is needed (apt-get install redis-server)"
if ! command -v redis-benchmark >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing redis-tools for redis-benchmark"
    apt-get install -y -q redis-tools >/dev/null
  fi
  command -v redis-benchmark >/dev/null || die "redis-benchmark is needed (apt-get install redis-tools)"
fi

if [ -z "$BUILD" ]; then
  BUILD="$ROOT/build-compare"
  say "building optimised binaries (Release: -O3 and link-time optimisation, as a packaged build) in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSM_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target statemgrd statemgr_bench sm_pingpong statemgr_cli \
    >/dev/null
  # The Redis lock client needs hiredis: its rows are left out without it.
  cmake --build "$BUILD" -j "$(nproc)" --target sm_redislock >/dev/null 2>&1 || true
  # The Python package (python/): its rows are left out when it cannot be
  # built (no python3 headers).
  cmake --build "$BUILD" -j "$(nproc)" --target sm_python >/dev/null 2>&1 || true
fi
SMPY=""
if [ -d "$BUILD/python/statemgr" ] && PYTHONPATH="$BUILD/python" python3 -c 'import statemgr' 2>/dev/null; then
  SMPY="$BUILD/python"
else
  say "no statemgr Python package in $BUILD/python: the Python rows are left out"
fi
SMD="$BUILD/statemgrd"
BENCH="$BUILD/statemgr-bench"
PINGPONG="$BUILD/sm_pingpong"
REDISLOCK="$BUILD/sm_redislock"
[ -x "$REDISLOCK" ] || { say "no $REDISLOCK (hiredis missing): the fenced lock rows are left out"; REDISLOCK=""; }
for b in "$SMD" "$BENCH" "$PINGPONG"; do
  [ -x "$b" ] || die "$b is missing: build it, or give --build-dir"
done

# ---- servers, stopped by PID on exit ------------------------------------

TMP=$(mktemp -d /tmp/sm-compare.XXXXXX)
PIDS=()
IDLE_FD_OPEN=0

cleanup() {
  local pid
  if [ "$IDLE_FD_OPEN" = 1 ]; then exec 7>&-; fi
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

wait_file() { # file what
  for _ in $(seq 1 200); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  die "$2 did not start (see $TMP)"
}

# Connections for 10,000 idle clients: the daemon needs a descriptor each.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 100)) ]; then
  IDLE_CONNS=$(($(ulimit -n) - 100))
  say "open files limited to $(ulimit -n): measuring $IDLE_CONNS idle connections"
fi

od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$TMP/authkey"
chmod 600 "$TMP/authkey"

SM_PID=""
SM_TCP=""
SM_UNIX=""
start_statemgrd() {
  rm -f "$TMP/sm.ready" "$TMP/sm.sock"
  "$SMD" --listen tcp://127.0.0.1:0 --listen "unix:$TMP/sm.sock" --authkey-file "$TMP/authkey" \
    --ready-file "$TMP/sm.ready" --log-level warn --no-persist >>"$TMP/statemgrd.log" 2>&1 &
  SM_PID=$!
  PIDS+=("$SM_PID")
  wait_file "$TMP/sm.ready" statemgrd
  sleep 0.1
  SM_TCP=$(grep '^tcp://' "$TMP/sm.ready")
  SM_UNIX=$(grep '^unix:' "$TMP/sm.ready")
}

RD_PID=""
RD_PORT=""
start_redis() {
  RD_PORT=$(free_port)
  redis-server --port "$RD_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --logfile "$TMP/redis.log" &
  RD_PID=$!
  PIDS+=("$RD_PID")
  for _ in $(seq 1 200); do
    redis-cli -p "$RD_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  die "redis-server did not start (see $TMP/redis.log)"
}

PY_PID=""
PY_ADDR=""
start_python() {
  rm -f "$TMP/py.ready"
  python3 "$ROOT/bench/pymanager.py" --authkey-file "$TMP/authkey" --ready-file "$TMP/py.ready" \
    >"$TMP/pymanager.log" 2>&1 &
  PY_PID=$!
  PIDS+=("$PY_PID")
  wait_file "$TMP/py.ready" "the Python manager"
  PY_ADDR=$(cat "$TMP/py.ready")
}

# Every measuring run is bounded: a stuck server fails the comparison.
RUN_LIMIT=300
smbench() { timeout "$RUN_LIMIT" "$BENCH" --authkey-file "$TMP/authkey" -q "$@"; }


# SET key:%012d for every key of the keyspace, and the hash redis-benchmark's
# HGET reads, so GET and HGET find what statemgr's dict_get finds.
redis_preload() {
  python3 - "$KEYSPACE" "$VALUE" <<'EOF' | redis-cli -p "$RD_PORT" --pipe >/dev/null
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
def bulk(b): return b"$%d\r\n%s\r\n" % (len(b), b)
val = b"x" * size
for start in range(0, n, 1000):
    end = min(n, start + 1000)
    parts = [b"MSET"]
    for i in range(start, end):
        parts += [b"key:%012d" % i, val]
    out.write(b"*%d\r\n" % len(parts) + b"".join(bulk(p) for p in parts))
    parts = [b"HSET", b"myhash"]
    for i in range(start, end):
        parts += [b"element:%012d" % i, val]
    out.write(b"*%d\r\n" % len(parts) + b"".join(bulk(p) for p in parts))
EOF
}

# ---- results -----------------------------------------------------------

# R[source|workload|clients|pipeline|transport] = ops/s (lib.sh)
harmonic2() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (a + 0 == 0 || b + 0 == 0) print ""; else printf "%.0f", 2 / (1 / a + 1 / b) }'; }

# Reads statemgr-bench / sm_pingpong / pyclient CSV rows into R.
take_csv() { # source
  local w t c p ops rest
  while IFS=, read -r w t c p ops rest; do
    [ "$w" = workload ] && continue
    [ -n "$w" ] || continue
    keep_max "$1|$w|$c|$p|$t" "$ops"
  done
}

# Runs a command that prints CSV rows and keeps them under source; a failed
# run (a wrong answer included) stops the comparison.
run_csv() { # source command...
  local src=$1
  shift
  "$@" >"$TMP/run.csv" || die "failed (exit $?): $*"
  take_csv "$src" <"$TMP/run.csv"
}

# ---- 1. memory, on fresh servers ----------------------------------------

say "memory: $IDLE_CONNS idle connections"
start_statemgrd
smbench -u "$SM_TCP" -c 1 -n 1000 -t ping >/dev/null
base=$(rss_kb "$SM_PID")
mkfifo "$TMP/idle.in"
python3 "$ROOT/bench/idleconns.py" --url "$SM_TCP" --authkey-file "$TMP/authkey" \
  -n "$IDLE_CONNS" <"$TMP/idle.in" >"$TMP/idle.out" 2>"$TMP/idle.err" &
IDLE_PID=$!
PIDS+=("$IDLE_PID")
exec 7>"$TMP/idle.in"
IDLE_FD_OPEN=1
for _ in $(seq 1 1200); do
  grep -q '^ready' "$TMP/idle.out" && break
  kill -0 "$IDLE_PID" 2>/dev/null || die "idleconns.py failed: $(cat "$TMP/idle.err")"
  sleep 0.05
done
grep -q '^ready' "$TMP/idle.out" || die "idleconns.py did not open its connections in time"
sleep 1
held=$(rss_kb "$SM_PID")
exec 7>&-
IDLE_FD_OPEN=0
wait "$IDLE_PID" 2>/dev/null || true
forget "$IDLE_PID"
PER_CONN=$(awk -v a="$held" -v b="$base" -v n="$IDLE_CONNS" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')

say "memory: $MEM_ENTRIES dict entries"
before=$(rss_kb "$SM_PID")
smbench -u "$SM_TCP" -c 1 -P 1000 -n "$MEM_ENTRIES" -r "$MEM_ENTRIES" --sequential -d "$VALUE" \
  --prefix mem: -t dict_set >/dev/null
sleep 0.5
SM_MEM_TOTAL=$(rss_kb "$SM_PID")
SM_MEM=$((SM_MEM_TOTAL - before))
stop_server "$SM_PID"

start_redis
before=$(rss_kb "$RD_PID")
redis_hash_load mem:hash "$MEM_ENTRIES" | redis-cli -p "$RD_PORT" --pipe >/dev/null
sleep 0.5
RD_MEM_TOTAL=$(rss_kb "$RD_PID")
RD_MEM=$((RD_MEM_TOTAL - before))
stored=$(redis-cli -p "$RD_PORT" hlen mem:hash)
[ "$stored" = "$MEM_ENTRIES" ] || die "redis holds $stored entries, not $MEM_ENTRIES"
stop_server "$RD_PID"

# ---- 2. throughput ------------------------------------------------------

start_statemgrd
start_redis
start_python
say "warming up"
smbench -u "$SM_TCP" -c 8 -n 20000 -t ping,dict_set >/dev/null
redis-benchmark -p "$RD_PORT" -c 8 -n 20000 -t ping,set -q >/dev/null
redis_preload

for c in "${CLIENTS_LIST[@]}"; do
  for p in "${PIPES[@]}"; do
    tests=dict_set,dict_get,value_incr,queue_putget
    [ "$p" = 1 ] && tests=$tests,lock
    rn=$(redis_n "$c" "$p")
    for round in $(seq 1 "$ROUNDS"); do
      say "statemgr: $c clients, pipeline $p (round $round)"
      run_csv sm smbench -u "$SM_TCP" -c "$c" -P "$p" -n "$(sm_n "$c" "$p")" -d "$VALUE" \
        -r "$KEYSPACE" -t "$tests" --csv

      say "redis: $c clients, pipeline $p (round $round)"
      timeout "$RUN_LIMIT" redis-benchmark -p "$RD_PORT" -c "$c" -n "$rn" -P "$p" -d "$VALUE" \
        -r "$KEYSPACE" -t set,get,incr,lpush,rpop,hset -q --csv >"$TMP/redis.csv"
      timeout "$RUN_LIMIT" redis-benchmark -p "$RD_PORT" -c "$c" -n "$rn" -P "$p" -d "$VALUE" \
        -r "$KEYSPACE" -q --csv HGET myhash element:__rand_int__ >>"$TMP/redis.csv"
      while IFS=, read -r name rps _; do
        name=${name//\"/}
        rps=${rps//\"/}
        [ "$name" = test ] && continue
        keep_max "redis|${name%% *}|$c|$p|tcp" "$rps"
      done <"$TMP/redis.csv"
    done
  done
  say "python: $c clients"
  for w in dict_set dict_get value_incr queue_putget lock; do
    run_csv py timeout "$RUN_LIMIT" python3 "$ROOT/bench/pyclient.py" --address "$PY_ADDR" \
      --authkey-file "$TMP/authkey" -t "$w" -c "$c" -n "$(py_n "$w" "$c")" -d "$VALUE" \
      -r "$KEYSPACE" --csv
  done
  # The same workloads from Python through the statemgr package, right after.
  if [ -n "$SMPY" ] && [[ " ${PY_CLIENTS[*]} " == *" $c "* ]]; then
    for p in "${PIPES[@]}"; do
      tests=(dict_set dict_get value_incr)
      [ "$p" = 1 ] && tests+=(queue_putget lock)
      say "statemgr package (Python): $c processes, pipeline $p"
      for w in "${tests[@]}"; do
        run_csv smpy env PYTHONPATH="$SMPY" timeout "$RUN_LIMIT" python3 "$ROOT/bench/pyclient.py" \
          --statemgr-url "$SM_TCP" --authkey-file "$TMP/authkey" -t "$w" -c "$c" -P "$p" \
          -n "$(smpy_n "$c" "$p")" -d "$VALUE" -r "$KEYSPACE" --csv
      done
    done
  fi
done

# The Python layer's cost per call: one process through the statemgr
# package against statemgr-bench's one client (the C library), the same
# workloads, alternating, best of ROUNDS + 1 each.
if [ -n "$SMPY" ]; then
  for round in $(seq 1 $((ROUNDS + 1))); do
    say "the Python layer's cost per call: 1 process (round $round)"
    for p in "${PIPES[@]}"; do
      run_csv layer_c smbench -u "$SM_TCP" -c 1 -P "$p" -n "$(sm_n 1 "$p")" -d "$VALUE" \
        -r "$KEYSPACE" -t dict_set,dict_get,value_incr --csv
      for w in dict_set dict_get value_incr; do
        run_csv layer_py env PYTHONPATH="$SMPY" timeout "$RUN_LIMIT" python3 \
          "$ROOT/bench/pyclient.py" --statemgr-url "$SM_TCP" --authkey-file "$TMP/authkey" \
          -t "$w" -c 1 -P "$p" -n "$(smpy_n 1 "$p")" -d "$VALUE" -r "$KEYSPACE" --csv
      done
    done
  done
fi

# The fenced lock: statemgr's acquire (with its token) + release against
# Redis's SET NX PX + EVALSHA compare-and-delete, one shared lock, taking
# turns.
if [ -n "$REDISLOCK" ]; then
  for c in 1 8; do
    for round in $(seq 1 "$ROUNDS"); do
      say "fenced lock: $c clients (round $round)"
      run_csv sm smbench -u "$SM_TCP" -c "$c" -n "$(sm_n "$c" 1)" -t fenced_lock --csv
      run_csv redislock timeout "$RUN_LIMIT" "$REDISLOCK" -p "$RD_PORT" -c "$c" \
        -n "$(sm_n "$c" 1)" --csv
    done
  done
fi

# The floor is cheap and the noisiest figure (one client, one core each
# side): one round more than the rest.
for round in $(seq 1 $((ROUNDS + 1))); do
  say "the floor: 1 client over TCP and UNIX (round $round)"
  for t in tcp unix; do
    url=$SM_TCP
    [ "$t" = unix ] && url=$SM_UNIX
    run_csv floor smbench -u "$url" -c 1 -n "$(sm_n 1 1)" -d "$VALUE" -r "$KEYSPACE" \
      -t dict_set,dict_get --csv
    timeout "$RUN_LIMIT" "$PINGPONG" -q -t "$t" -n "$(sm_n 1 1)" -s "$SET_REQ" -r "$SET_RESP" \
      --csv >"$TMP/pp.csv"
    take_csv pp < <(sed 's/^pingpong,/pingpong_set,/' "$TMP/pp.csv")
    timeout "$RUN_LIMIT" "$PINGPONG" -q -t "$t" -n "$(sm_n 1 1)" -s "$GET_REQ" -r "$GET_RESP" \
      --csv >"$TMP/pp.csv"
    take_csv pp < <(sed 's/^pingpong,/pingpong_get,/' "$TMP/pp.csv")
  done
done

# ---- 3. the tables ------------------------------------------------------

OUT="$TMP/report.md"
{
  echo "### Throughput (ops/s; statemgr-bench vs redis-benchmark vs Python SyncManager)"
  echo
  echo "| workload | clients | pipeline | statemgr | redis | redis command | sm/redis | redis hash | sm/redis hash | python | sm/python |"
  echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
  for w in dict_set dict_get value_incr queue_putget lock; do
    for c in "${CLIENTS_LIST[@]}"; do
      for p in "${PIPES[@]}"; do
        [ "$w" = lock ] && [ "$p" != 1 ] && continue
        sm=${R["sm|$w|$c|$p|tcp"]:-}
        hash=""
        case $w in
        dict_set)
          rd=${R["redis|SET|$c|$p|tcp"]:-}
          cmd=SET
          hash=${R["redis|HSET|$c|$p|tcp"]:-}
          ;;
        dict_get)
          rd=${R["redis|GET|$c|$p|tcp"]:-}
          cmd=GET
          hash=${R["redis|HGET|$c|$p|tcp"]:-}
          ;;
        value_incr)
          rd=${R["redis|INCR|$c|$p|tcp"]:-}
          cmd=INCR
          ;;
        *)
          rd=$(harmonic2 "${R["redis|LPUSH|$c|$p|tcp"]:-}" "${R["redis|RPOP|$c|$p|tcp"]:-}")
          cmd=LPUSH+RPOP
          ;;
        esac
        py=${R["py|$w|$c|1|tcp"]:-}
        pymark=""
        [ "$p" != 1 ] && pymark="*"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%s | %s |\n' "$w" "$c" "$p" \
          "${sm:--}" "${rd:--}" "$cmd" "$(ratio "$sm" "$rd")" "${hash:--}" "$(ratio "$sm" "$hash")" \
          "${py:--}" "$pymark" "$(ratio "$sm" "$py")"
      done
    done
  done
  echo
  echo "Each statemgr and redis figure is the best of $ROUNDS run(s), the two servers taking turns."
  echo "\\* Python's proxies cannot pipeline: its pipeline-16 rows compare with its one-call-per-operation rate."
  echo "redis LPUSH+RPOP = 2 / (1/LPUSH + 1/RPOP): the rate of alternating the two, as queue_putget and lock alternate put/get and acquire/release."
  echo
  if [ -n "$SMPY" ]; then
    echo "### Python programs: statemgr's proxies vs multiprocessing.managers proxies"
    echo
    echo "The same workloads from Python worker processes (bench/pyclient.py), through the statemgr package (statemgrd above, over TCP) and through Python's SyncManager proxies, in this run. value_incr is \`v.add(1)\` with statemgr and \`with lock: v.value += 1\` with Python's manager. Each process makes the keys and values of its dict operations before the clock starts, for both sides alike, and a pipeline of statemgr's is written \`with conn.pipeline() as pl: on = pl.on(d)\` then \`on[k] = v\` per call. The Python layer's cost per call is the time per call of one Python process through the statemgr package minus statemgr-bench's (the C library) with one client, for the same workload and pipeline, each the best of $((ROUNDS + 1)) alternating runs made for it; it includes pyclient.py's own loop (checking answers). Without pipelining both wait a loopback round trip per call, so that row is mostly the round trip's noise; the pipeline-16 row shows the layer's own cost."
    echo
    echo "| workload | processes | pipeline | statemgr (Python) | Python manager | statemgr/Python | C library (statemgr-bench) | Python layer, us/call |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for w in dict_set dict_get value_incr queue_putget lock; do
      for c in "${PY_CLIENTS[@]}"; do
        for p in "${PIPES[@]}"; do
          smpy=${R["smpy|$w|$c|$p|tcp"]:-}
          [ -z "$smpy" ] && continue
          py=${R["py|$w|$c|1|tcp"]:-}
          sm=${R["sm|$w|$c|$p|tcp"]:-}
          over="-"
          lpy=${R["layer_py|$w|1|$p|tcp"]:-}
          lc=${R["layer_c|$w|1|$p|tcp"]:-}
          if [ "$c" = 1 ] && [ -n "$lpy" ] && [ -n "$lc" ]; then
            # time per call through Python minus through the C library
            over=$(awk -v py="$lpy" -v c="$lc" 'BEGIN { printf "%.1f (%.0f vs %.0f ops/s)", 1e6 / py - 1e6 / c, py, c }')
          fi
          pymark=""
          [ "$p" != 1 ] && pymark="*"
          printf '| %s | %s | %s | %s | %s%s | %s | %s | %s |\n' "$w" "$c" "$p" "$smpy" "${py:--}" \
            "$pymark" "$(ratio "$smpy" "$py")" "${sm:--}" "$over"
        done
      done
    done
    echo
    echo "\\* Python's proxies cannot pipeline: statemgr's pipeline-16 rows compare with its one-call-per-operation rate. The statemgr (Python) and Python manager figures are single runs."
    echo
  fi
  if [ -n "$REDISLOCK" ]; then
    echo "### Fenced lock: statemgr vs the Redis lock recipe"
    echo
    echo "One lock shared by all clients; ops/s counts an acquire and its release as two requests. statemgr: \`sm_lock_acquire_token\` (the grant's fencing token, checked to be the one after the last) + \`sm_lock_release\`; a taken lock parks the acquire in the daemon. Redis: \`SET KEY TOKEN NX PX 30000\` + \`EVALSHA\` of a get-compare-del script (bench/redislock.c, hiredis), asked again at once while the lock is taken (those retries are not counted); Redis gives no fencing token. Best of $ROUNDS run(s) each, taking turns."
    echo
    echo "| clients | statemgr fenced_lock | redis SET NX PX + EVALSHA | sm/redis |"
    echo "|---:|---:|---:|---:|"
    for c in 1 8; do
      sm=${R["sm|fenced_lock|$c|1|tcp"]:-}
      rd=${R["redislock|redis_lock|$c|1|tcp"]:-}
      printf '| %s | %s | %s | %s |\n' "$c" "${sm:--}" "${rd:--}" "$(ratio "$sm" "$rd")"
    done
    echo
  fi
  echo "### The floor: 1 client, no pipelining, against a bare loopback ping-pong of the same sizes"
  echo
  echo "Best of $((ROUNDS + 1)) alternating runs each (statemgr-bench with 1 client, then sm_pingpong), apart from the runs above."
  echo
  echo "| transport | workload | statemgr ops/s | ping-pong ops/s | request/response bytes | ratio |"
  echo "|---|---|---:|---:|---|---:|"
  for t in tcp unix; do
    for w in dict_set dict_get; do
      sm=${R["floor|$w|1|1|$t"]:-}
      if [ "$w" = dict_set ]; then
        pp=${R["pp|pingpong_set|1|1|$t"]:-}
        sizes="$SET_REQ/$SET_RESP"
      else
        pp=${R["pp|pingpong_get|1|1|$t"]:-}
        sizes="$GET_REQ/$GET_RESP"
      fi
      printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "$w" "${sm:--}" "${pp:--}" "$sizes" \
        "$(ratio "$sm" "$pp")"
    done
  done
  echo
  echo "### Memory (resident, from /proc/PID/status)"
  echo
  echo "| measure | statemgrd | redis-server | ratio |"
  echo "|---|---:|---:|---:|"
  printf '| RSS growth for %s entries (16-byte keys, %s-byte values; one dict / one hash) | %s KiB | %s KiB | %s |\n' \
    "$MEM_ENTRIES" "$VALUE" "$SM_MEM" "$RD_MEM" "$(ratio "$SM_MEM" "$RD_MEM")"
  printf '| RSS of the server after the load | %s KiB | %s KiB | %s |\n' "$SM_MEM_TOTAL" "$RD_MEM_TOTAL" \
    "$(ratio "$SM_MEM_TOTAL" "$RD_MEM_TOTAL")"
  printf '| RSS growth per idle authenticated connection (%s connections) | %s bytes | - | - |\n' \
    "$IDLE_CONNS" "$PER_CONN"
  echo
  echo "### Targets"
  echo
  echo "| target | measured | holds |"
  echo "|---|---|---|"
  for t in tcp unix; do
    check "1 client, P1, dict_set >= 0.85 x ping-pong ($t)" \
      "$(ratio "${R["floor|dict_set|1|1|$t"]:-}" "${R["pp|pingpong_set|1|1|$t"]:-}")" 0.85
    check "1 client, P1, dict_get >= 0.85 x ping-pong ($t)" \
      "$(ratio "${R["floor|dict_get|1|1|$t"]:-}" "${R["pp|pingpong_get|1|1|$t"]:-}")" 0.85
  done
  for c in 8 50; do
    check "$c clients, P1, dict_set >= 1.0 x redis SET" \
      "$(ratio "${R["sm|dict_set|$c|1|tcp"]:-}" "${R["redis|SET|$c|1|tcp"]:-}")" 1.0
    check "$c clients, P1, dict_get >= 1.0 x redis GET" \
      "$(ratio "${R["sm|dict_get|$c|1|tcp"]:-}" "${R["redis|GET|$c|1|tcp"]:-}")" 1.0
  done
  for c in 1 50; do
    check "$c clients, P16, dict_set >= 1.0 x redis SET" \
      "$(ratio "${R["sm|dict_set|$c|16|tcp"]:-}" "${R["redis|SET|$c|16|tcp"]:-}")" 1.0
    check "$c clients, P16, dict_get >= 1.0 x redis GET" \
      "$(ratio "${R["sm|dict_get|$c|16|tcp"]:-}" "${R["redis|GET|$c|16|tcp"]:-}")" 1.0
  done
  lr=$(harmonic2 "${R["redis|LPUSH|8|1|tcp"]:-}" "${R["redis|RPOP|8|1|tcp"]:-}")
  check "8 clients, queue_putget >= 1.0 x redis LPUSH+RPOP" "$(ratio "${R["sm|queue_putget|8|1|tcp"]:-}" "$lr")" 1.0
  check "8 clients, lock >= 1.0 x redis LPUSH+RPOP" "$(ratio "${R["sm|lock|8|1|tcp"]:-}" "$lr")" 1.0
  if [ -n "$REDISLOCK" ]; then
    for c in 1 8; do
      check "$c client(s), fenced lock acquire/release >= 1.0 x redis SET NX PX + EVALSHA release" \
        "$(ratio "${R["sm|fenced_lock|$c|1|tcp"]:-}" "${R["redislock|redis_lock|$c|1|tcp"]:-}")" 1.0
    done
  fi
  check "8 clients, dict_set >= 4 x Python" "$(ratio "${R["sm|dict_set|8|1|tcp"]:-}" "${R["py|dict_set|8|1|tcp"]:-}")" 4
  check "8 clients, dict_get >= 4 x Python" "$(ratio "${R["sm|dict_get|8|1|tcp"]:-}" "${R["py|dict_get|8|1|tcp"]:-}")" 4
  check "8 clients, value_incr >= 10 x Python (lock + get + set)" \
    "$(ratio "${R["sm|value_incr|8|1|tcp"]:-}" "${R["py|value_incr|8|1|tcp"]:-}")" 10
  check "8 clients, P16, dict_set >= 30 x Python" \
    "$(ratio "${R["sm|dict_set|8|16|tcp"]:-}" "${R["py|dict_set|8|1|tcp"]:-}")" 30
  if [ -n "$SMPY" ]; then
    check "Python, 8 processes, dict_set >= 3 x Python's manager" \
      "$(ratio "${R["smpy|dict_set|8|1|tcp"]:-}" "${R["py|dict_set|8|1|tcp"]:-}")" 3
    check "Python, 8 processes, dict_get >= 3 x Python's manager" \
      "$(ratio "${R["smpy|dict_get|8|1|tcp"]:-}" "${R["py|dict_get|8|1|tcp"]:-}")" 3
    check "Python, 8 processes, shared counter (v.add(1)) >= 10 x Python's manager (with lock: v.value += 1)" \
      "$(ratio "${R["smpy|value_incr|8|1|tcp"]:-}" "${R["py|value_incr|8|1|tcp"]:-}")" 10
    check "Python, 8 processes, P16, dict_set >= 30 x Python's manager" \
      "$(ratio "${R["smpy|dict_set|8|16|tcp"]:-}" "${R["py|dict_set|8|1|tcp"]:-}")" 30
  fi
  check "$MEM_ENTRIES entries: statemgrd RSS growth <= 1.0 x redis" \
    "$(ratio "$RD_MEM" "$SM_MEM")" 1.0
  check "idle connection < 8192 bytes (8192 / measured)" "$(ratio 8192 "$PER_CONN")" 1.0001
} >"$OUT"

# The servers above are stopped first: the durable rows get the machine.
# ---- 7. transactions: statemgr's txn against Redis MULTI/EXEC ----------
# One transaction of four calls (dict set, dict get, value add, dict del)
# against MULTI SET GET INCR DEL EXEC sent as one batch by a hiredis client
# (sm_redis_txn, built when libhiredis-dev is installed), 1 and 8 clients.
TXN_BIN="$BUILD/sm_redis_txn"
if [ -x "$TXN_BIN" ]; then
  say "transactions: txn4 against MULTI/EXEC"
  start_statemgrd
  start_redis
  TXN_N=$((QUICK ? 20000 : 100000))
  {
    echo
    echo "## Transactions (4 calls) against Redis MULTI/EXEC"
    echo
    echo "| clients | statemgr txn/s | Redis MULTI/EXEC txn/s | ratio |"
    echo "| --- | --- | --- | --- |"
    for c in 1 8; do
      best_sm=0
      best_rd=0
      for _ in $(seq 1 $((QUICK ? 1 : 2))); do
        sm=$(smbench --url "$SM_TCP" -t txn4 -c "$c" -n "$TXN_N" | sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p')
        rd=$(timeout "$RUN_LIMIT" "$TXN_BIN" 127.0.0.1 "$RD_PORT" "$c" "$TXN_N" | sed -n 's/^ops_per_s=//p')
        [ -n "$sm" ] && [ -n "$rd" ] || die "the transaction row failed"
        [ "$sm" -gt "$best_sm" ] && best_sm=$sm
        [ "$rd" -gt "$best_rd" ] && best_rd=$rd
      done
      echo "| $c | $best_sm | $best_rd | $(awk -v a="$best_sm" -v b="$best_rd" 'BEGIN { printf "%.2f", a / b }') |"
    done
  } >>"$OUT"
  stop_pid "$SM_PID"
  stop_pid "$RD_PID"
else
  say "no $TXN_BIN (libhiredis-dev missing): the transaction row is left out"
fi

if [ "$DURABLE" = 1 ]; then
  for pid in "${PIDS[@]}"; do stop_server "$pid"; done
  say "the durable daemon against redis's append-only file (bench/durable.sh)"
  quick=()
  [ "$QUICK" = 1 ] && quick=(--quick)
  "$ROOT/bench/durable.sh" --build-dir "$BUILD" "${quick[@]}" --out "$TMP/durable.md" >/dev/null ||
    die "bench/durable.sh failed"
  {
    echo
    cat "$TMP/durable.md"
  } >>"$OUT"
fi

cat "$OUT"

if [ "$WRITE" = 1 ]; then
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  # The sections other scripts write (bench/instructions.sh,
  # bench/cluster.sh) stay as they were, after this script's.
  KEPT=$(awk '/^### Instructions per request|^## Replicated group/ { k = 1 } k' \
    "$ROOT/bench/RESULTS.md" 2>/dev/null || true)
  {
    echo "# statemgr benchmark results"
    echo
    echo "Measured by \`bench/compare.sh$([ "$QUICK" = 1 ] && echo " --quick")\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    if [ -n "$NOTE" ]; then
      echo "$NOTE"
      echo
    fi
    echo "- machine: \`$(uname -a)\`"
    echo "- CPUs: $(nproc) x ${cpu:-unknown}; load average at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $(redis-server --version | cut -d' ' -f1-3), $(python3 --version), statemgr $("$SMD" --version 2>/dev/null | head -1)"
    echo "- value size $VALUE bytes, keyspace $KEYSPACE keys of 16 bytes; all servers on loopback, one run, one machine"
    echo
    cat "$OUT"
    echo
    echo "### How to read these numbers"
    echo
    echo "- ops/s counts requests: a queue put and its get are two, as are an acquire and its release; value_incr is one atomic add (Python: \`with lock: v.value += 1\`, four round trips)."
    echo "- statemgr-bench and pyclient.py check every answer (a wrong one fails the run); redis-benchmark does not."
    echo "- With pipelining, statemgr-bench sends P requests with one write (sm_pipeline_exec) and redis-benchmark -P does the same with RESP."
    echo "- Single runs on a small shared VM drift: back-to-back one-client runs have varied between about 20k and 44k ops/s within two minutes. Hence the alternating best-of-N; still, treat a ratio within about 0.2 of its target as undecided, and compare only figures from the same invocation."
    if [ -n "$KEPT" ]; then
      echo
      printf '%s\n' "$KEPT"
    fi
  } >"$ROOT/bench/RESULTS.md"
  say "wrote $ROOT/bench/RESULTS.md"
fi
