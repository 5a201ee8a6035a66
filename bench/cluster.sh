#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cluster.sh - the replicated group (statemgrd --cluster) against the single
# durable daemon, in one run on one machine: 3 etcd members and 3 statemgrd
# members on loopback, and one statemgrd --fsync always beside them.
#
# It prints:
#   1. replicated throughput and p50/p99 of mutations (dict_set,
#      value_incr) through the leader at 1, 8 and 50 clients, pipeline 1
#      and 16, in a closed loop (each client sends as soon as it is
#      answered), against the single durable daemon (--fsync always), as
#      ratios;
#   2. dict_set at 50 clients x pipeline 16 at fixed rates (10,000,
#      20,000 and 30,000 requests/s, statemgr-bench --rate: latency from
#      each request's scheduled time), for the group and the single
#      durable daemon: the rate achieved and p50/p99. A closed loop at
#      50 x 16 keeps 800 requests outstanding, so by Little's law its p50
#      is about 800 / throughput: it can only show a p50 under 10 ms above
#      80,000 ops/s, whatever the latency at a lower load; the fixed-rate
#      rows show that latency;
#   3. etcd's own put rate through the same v3 JSON gateway (sm_etcdput,
#      bench/etcdput.c: etcd's benchmark client is not packaged in
#      Debian): 1, 8 and 50 writers with 1 and 2 puts in flight each, one
#      value the size of the group's batch of one dict_set;
#   4. failover: the time a client is stalled when the statemgrd leader is
#      killed (SIGKILL), and when the etcd leader is, while it writes;
#   5. the issue's targets: at 50 clients with pipeline 16, 10,000
#      replicated mutations/s sustained with p50 under 10 ms (the
#      fixed-rate row), and the closed loop's throughput; a statemgrd
#      leader failover stalling clients for at most the lease TTL plus 1 s.
# With --check-perf it also runs `etcdctl check perf --load=s` (60 s: 150
# writes/s for a minute) on the etcd members and reports pass or fail.
# Every process it starts is stopped by PID when it exits.
#
# Usage: bench/cluster.sh [--build-dir DIR] [--quick] [--ttl SECONDS] [--check-perf] [--out FILE]
#   --build-dir DIR   use statemgrd, statemgr-bench, statemgr and sm_etcdput
#                     from DIR instead of building build-compare/
#   --quick           a fifth of the requests: a smoke run, not a
#                     measurement
#   --ttl SECONDS     the leader's lease (default 3, statemgrd's default)
#   --check-perf      also run `etcdctl check perf --load=s` (a minute)
#   --out FILE        also write the tables (Markdown) to FILE
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=""
QUICK=0
TTL=3
OUTFILE=""
CHECK_PERF=0
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
  --ttl)
    TTL=${2:?--ttl needs seconds}
    shift 2
    ;;
  --check-perf)
    CHECK_PERF=1
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
    echo "cluster.sh: unknown argument $1 (see --help)" >&2
    exit 2
    ;;
  esac
done

START=$SECONDS
NAME=cluster.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SCALE=1
[ "$QUICK" = 1 ] && SCALE=5
CLIENTS_LIST=(1 8 50)
PIPES=(1 16)
RATES=(10000 20000 30000)
RATE_SECS=$((5 / SCALE + 1)) # seconds of each fixed-rate run
WRITERS=(1 8 50)
INFLIGHTS=(1 2)
PUT_BYTES=168 # the group's batch of one dict_set (16-byte key, 64-byte value)
req_n() { # clients pipeline
  if [ "$2" -gt 1 ]; then echo $((100000 / SCALE)); elif [ "$1" = 1 ]; then echo $((5000 / SCALE)); else echo $((20000 / SCALE)); fi
}

command -v python3 >/dev/null || die "python3 is needed"
command -v etcd >/dev/null || die "etcd is needed (apt-get install etcd-server)"
command -v etcdctl >/dev/null || die "etcdctl is needed (apt-get install etcd-client)"

bench_setup cluster
ETCDPUT="$BUILD/sm_etcdput"
[ -x "$ETCDPUT" ] || cmake --build "$BUILD" --target sm_etcdput >/dev/null ||
  die "$ETCDPUT is missing and could not be built"
smcli() { timeout 10 "$CLI" --authkey-file "$TMP/authkey" --timeout 2000 "$@"; }

# ---- the etcd members ----------------------------------------------------

declare -a E_CLIENT E_PEER E_PID
INITIAL=""
ETCD_URLS=""
for i in 0 1 2; do
  E_CLIENT[i]=$(free_port)
  E_PEER[i]=$(free_port)
  INITIAL+="${INITIAL:+,}e$i=http://127.0.0.1:${E_PEER[i]}"
  ETCD_URLS+="${ETCD_URLS:+,}http://127.0.0.1:${E_CLIENT[i]}"
done
start_etcd() { # index
  local i=$1 state=new
  [ -d "$TMP/e$i.etcd" ] && state=existing
  etcd --name "e$i" --data-dir "$TMP/e$i.etcd" --log-level warn \
    --listen-client-urls "http://127.0.0.1:${E_CLIENT[i]}" \
    --advertise-client-urls "http://127.0.0.1:${E_CLIENT[i]}" \
    --listen-peer-urls "http://127.0.0.1:${E_PEER[i]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${E_PEER[i]}" \
    --initial-cluster "$INITIAL" --initial-cluster-state "$state" \
    --initial-cluster-token smbench >>"$TMP/etcd-$i.log" 2>&1 &
  E_PID[i]=$!
  PIDS+=("${E_PID[i]}")
}
for i in 0 1 2; do start_etcd "$i"; done
for _ in $(seq 1 200); do
  ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URLS" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URLS" endpoint health >/dev/null 2>&1 ||
  die "etcd did not start (see $TMP/etcd-*.log)"
# The index of the etcd member that leads etcd.
etcd_leader() {
  local i out
  for i in 0 1 2; do
    out=$(ETCDCTL_API=3 etcdctl --endpoints="http://127.0.0.1:${E_CLIENT[i]}" endpoint status -w json 2>/dev/null) || continue
    python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; sys.exit(0 if s["header"]["member_id"]==s["leader"] else 1)' <<<"$out" && {
      echo "$i"
      return
    }
  done
  echo -1
}

# ---- etcd's own put rate -------------------------------------------------

# Before the members start, so that nothing else writes meanwhile.
declare -A EP_OPS EP_P50 EP_P99
put_n() { # writers
  case "$1" in 1) echo $((3000 / SCALE)) ;; 8) echo $((8000 / SCALE)) ;; *) echo $((20000 / SCALE)) ;; esac
}
say "etcd's own put rate (sm_etcdput)"
for w in "${WRITERS[@]}"; do
  for d in "${INFLIGHTS[@]}"; do
    timeout 300 "$ETCDPUT" -e "$ETCD_URLS" -c "$w" -P "$d" -d "$PUT_BYTES" -n "$(put_n "$w")" --csv >"$TMP/put.csv" ||
      die "sm_etcdput failed ($w writers, $d in flight)"
    while IFS=, read -r wl _ _ _ ops p50 p99 _; do
      [ "$wl" = workload ] && continue
      EP_OPS["$w|$d"]=$ops
      EP_P50["$w|$d"]=$p50
      EP_P99["$w|$d"]=$p99
    done <"$TMP/put.csv"
  done
done
CHECK_PERF_RESULT="not run (--check-perf)"
if [ "$CHECK_PERF" = 1 ]; then
  say "etcdctl check perf --load=s (a minute)"
  if ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URLS" check perf --load=s >"$TMP/perf.txt" 2>&1; then
    CHECK_PERF_RESULT="PASS"
  else
    CHECK_PERF_RESULT="FAIL"
  fi
  CHECK_PERF_RESULT+=" ($(grep -E '^(PASS|FAIL|Slowest|Stddev)' "$TMP/perf.txt" | tr '\n' ';' | sed 's/;$//; s/;/; /g'))"
fi

# ---- the statemgrd members ----------------------------------------------

declare -a M_PORT M_PID
start_member() { # index
  local i=$1
  "$SMD" --cluster bench --etcd "$ETCD_URLS" --advertise "tcp://127.0.0.1:${M_PORT[i]}" \
    --listen "tcp://127.0.0.1:${M_PORT[i]}" --cluster-lease-ttl "$TTL" \
    --authkey-file "$TMP/authkey" --log-level warn >>"$TMP/member-$i.log" 2>&1 &
  M_PID[i]=$!
  PIDS+=("${M_PID[i]}")
}
for i in 0 1 2; do
  M_PORT[i]=$(free_port)
  start_member "$i"
done
# The index of the member that leads (waits up to 30 s), or -1.
leader() {
  local i
  for _ in $(seq 1 300); do
    for i in 0 1 2; do
      smcli -u "tcp://127.0.0.1:${M_PORT[i]}" info 2>/dev/null | grep -q '^role: leader$' && {
        echo "$i"
        return
      }
    done
    sleep 0.1
  done
  echo -1
}
L=$(leader)
[ "$L" -ge 0 ] || die "no member leads (see $TMP/member-*.log)"
say "member $L leads"

# ---- 1. throughput -------------------------------------------------------

declare -A P50 P99
run_bench() { # source url
  local c p
  for c in "${CLIENTS_LIST[@]}"; do
    for p in "${PIPES[@]}"; do
      smbench -u "$2" -c "$c" -P "$p" -n "$(req_n "$c" "$p")" -t dict_set,value_incr --csv \
        >"$TMP/run.csv" || die "statemgr-bench failed ($1 $c/$p)"
      while IFS=, read -r w _ cc pp ops p50 p99 _; do
        [ "$w" = workload ] && continue
        R["$1|$w|$cc|$pp"]=$ops
        P50["$1|$w|$cc|$pp"]=$p50
        P99["$1|$w|$cc|$pp"]=$p99
      done <"$TMP/run.csv"
    done
  done
}
# dict_set at 50 x 16 at each fixed rate; RATE_KEPT says whether
# statemgr-bench kept it.
declare -A RATE_KEPT
run_rates() { # source url
  local rate
  for rate in "${RATES[@]}"; do
    smbench -u "$2" -c 50 -P 16 --rate "$rate" -n $((rate * RATE_SECS)) -t dict_set --csv \
      >"$TMP/run.csv" 2>"$TMP/run.err" || die "statemgr-bench --rate failed ($1 $rate): $(cat "$TMP/run.err")"
    while IFS=, read -r w _ cc pp ops p50 p99 _; do
      [ "$w" = workload ] && continue
      R["$1|rate|$rate"]=$ops
      P50["$1|rate|$rate"]=$p50
      P99["$1|rate|$rate"]=$p99
    done <"$TMP/run.csv"
    if grep -q "could not keep the rate" "$TMP/run.err"; then RATE_KEPT["$1|$rate"]=no; else RATE_KEPT["$1|$rate"]=yes; fi
  done
}

say "throughput through the leader"
run_bench group "tcp://127.0.0.1:${M_PORT[L]}"
say "fixed rates through the leader"
run_rates group "tcp://127.0.0.1:${M_PORT[L]}"
APPENDS=$(smcli -u "tcp://127.0.0.1:${M_PORT[L]}" info 2>/dev/null | sed -n 's/^appends: //p')
APPENDS_BEHIND=$(smcli -u "tcp://127.0.0.1:${M_PORT[L]}" info 2>/dev/null | sed -n 's/^appends_behind: //p')

say "throughput of a single durable daemon (--fsync always)"
mkdir -m 700 "$TMP/single"
"$SMD" --listen tcp://127.0.0.1:0 --authkey-file "$TMP/authkey" --ready-file "$TMP/single.ready" \
  --data-dir "$TMP/single" --fsync always --log-level warn >>"$TMP/single.log" 2>&1 &
SINGLE=$!
PIDS+=("$SINGLE")
for _ in $(seq 1 500); do
  [ -s "$TMP/single.ready" ] && break
  sleep 0.01
done
run_bench single "$(grep '^tcp://' "$TMP/single.ready")"
run_rates single "$(grep '^tcp://' "$TMP/single.ready")"
stop_server "$SINGLE"

# ---- 2. failover ---------------------------------------------------------

# Writes one value_incr at a time through whichever member leads, for
# seconds; prints the longest time without an answer, in ms. The kill
# happens meanwhile (the caller's).
writer() { # seconds outfile
  python3 - "$1" "$CLI" "$TMP/authkey" "${M_PORT[@]}" >"$2" <<'PY'
import subprocess, sys, time
secs, cli, key, ports = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
end = time.time() + secs
last = time.time()
worst = 0.0
i = 0
while time.time() < end:
    for p in ports[i:] + ports[:i]:
        r = subprocess.run([cli, "-u", "tcp://127.0.0.1:" + p, "--authkey-file", key,
                            "--timeout", "1000", "value", "failover", "incr"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            now = time.time()
            worst = max(worst, now - last)
            last = now
            break
        i = (i + 1) % len(ports)
print(int(worst * 1000))
PY
}

FAIL_SECS=$((TTL * 3 + 4))
say "failover: SIGKILL of the statemgrd leader (member $L) while a client writes"
writer "$FAIL_SECS" "$TMP/stall-sm" &
W=$!
sleep 2
kill -KILL "${M_PID[L]}"
forget "${M_PID[L]}"
wait "$W"
STALL_SM=$(cat "$TMP/stall-sm")
start_member "$L"
L=$(leader)

EL=$(etcd_leader)
STALL_ETCD="-"
if [ "$EL" -ge 0 ]; then
  say "failover: SIGKILL of the etcd leader (e$EL) while a client writes"
  writer "$FAIL_SECS" "$TMP/stall-etcd" &
  W=$!
  sleep 2
  kill -KILL "${E_PID[EL]}"
  forget "${E_PID[EL]}"
  wait "$W"
  STALL_ETCD=$(cat "$TMP/stall-etcd")
  start_etcd "$EL"
fi

# ---- 3. tables -------------------------------------------------------------

ms() { [ -n "${1:-}" ] && awk -v u="$1" 'BEGIN{printf "%.2f", u/1000}'; }
out() { if [ -n "$OUTFILE" ]; then tee -a "$OUTFILE"; else cat; fi; }
[ -n "$OUTFILE" ] && : >"$OUTFILE"
{
  echo "### Replicated group (3 etcd + 3 statemgrd on loopback) vs single durable daemon: closed loop"
  echo
  echo "| workload | clients | pipeline | group ops/s | p50 ms | p99 ms | single ops/s | p50 ms | p99 ms | group/single |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for w in dict_set value_incr; do
    for c in "${CLIENTS_LIST[@]}"; do
      for p in "${PIPES[@]}"; do
        k="$w|$c|$p"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$w" "$c" "$p" \
          "${R["group|$k"]:-}" "$(awk -v u="${P50["group|$k"]:-0}" 'BEGIN{printf "%.2f", u/1000}')" \
          "$(awk -v u="${P99["group|$k"]:-0}" 'BEGIN{printf "%.2f", u/1000}')" \
          "${R["single|$k"]:-}" "$(awk -v u="${P50["single|$k"]:-0}" 'BEGIN{printf "%.2f", u/1000}')" \
          "$(awk -v u="${P99["single|$k"]:-0}" 'BEGIN{printf "%.2f", u/1000}')" \
          "$(ratio "${R["group|$k"]:-}" "${R["single|$k"]:-}")"
      done
    done
  done
  if [ -n "$APPENDS" ]; then
    echo
    echo "Each append to etcd carries every command pending when it goes: the leader sent $APPENDS appends for the group's rows above and the fixed rates below, $APPENDS_BEHIND of them refused for reaching etcd before the batch they follow (info's appends, appends_behind)."
  fi
  echo
  echo "#### Fixed rates: dict_set, 50 clients x pipeline 16, latency from each request's scheduled time (statemgr-bench --rate)"
  echo
  echo "| rate asked /s | group achieved /s | p50 ms | p99 ms | kept | single achieved /s | p50 ms | p99 ms | kept |"
  echo "|---:|---:|---:|---:|---|---:|---:|---:|---|"
  for rate in "${RATES[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$rate" \
      "${R["group|rate|$rate"]:-}" "$(ms "${P50["group|rate|$rate"]:-}")" "$(ms "${P99["group|rate|$rate"]:-}")" \
      "${RATE_KEPT["group|$rate"]:-?}" \
      "${R["single|rate|$rate"]:-}" "$(ms "${P50["single|rate|$rate"]:-}")" "$(ms "${P99["single|rate|$rate"]:-}")" \
      "${RATE_KEPT["single|$rate"]:-?}"
  done
  echo
  echo "#### etcd's own put rate (sm_etcdput: v3 JSON gateway, one ${PUT_BYTES}-byte value a put, writers spread over the 3 members)"
  echo
  echo "| writers | puts in flight each | puts/s | p50 ms | p99 ms |"
  echo "|---:|---:|---:|---:|---:|"
  for w in "${WRITERS[@]}"; do
    for d in "${INFLIGHTS[@]}"; do
      printf '| %s | %s | %s | %s | %s |\n' "$w" "$d" "${EP_OPS["$w|$d"]:-}" \
        "$(ms "${EP_P50["$w|$d"]:-}")" "$(ms "${EP_P99["$w|$d"]:-}")"
    done
  done
  echo
  echo "etcdctl check perf --load=s: $CHECK_PERF_RESULT"
  echo
  echo "| failover (lease TTL $TTL s) | longest stall of a writing client (ms) |"
  echo "|---|---:|"
  echo "| SIGKILL of the statemgrd leader | $STALL_SM |"
  echo "| SIGKILL of the etcd leader | $STALL_ETCD |"
  echo
  echo "| target | measured | met |"
  echo "|---|---|---|"
  k="rate|10000"
  p50ms=$(ms "${P50["group|$k"]:-}")
  printf '| 50 clients x pipeline 16: 10,000 mutations/s sustained (dict_set, --rate 10000) with p50 under 10 ms | %s/s, p50 %s ms | %s |\n' \
    "${R["group|$k"]:-?}" "$p50ms" \
    "$(awk -v v="$p50ms" -v kept="${RATE_KEPT["group|10000"]:-no}" 'BEGIN{print (kept == "yes" && v != "" && v + 0 < 10) ? "yes" : "no"}')"
  k="dict_set|50|16"
  check "closed loop, 50 clients x pipeline 16: replicated mutations/s (dict_set) >= 10000" "${R["group|$k"]:-}" 10000
  printf '| closed loop p50 at 50 x 16 (800 outstanding: by Little'"'"'s law the mean is 800 / throughput = %s ms) | %s ms | - |\n' \
    "$(awk -v r="${R["group|$k"]:-0}" 'BEGIN{if (r + 0 > 0) printf "%.2f", 800000 / r; else print "?"}')" "$(ms "${P50["group|$k"]:-}")"
  printf '| statemgrd leader failover stall <= TTL + 1 s (%s ms) | %s ms | %s |\n' \
    "$((TTL * 1000 + 1000))" "$STALL_SM" \
    "$(awk -v v="$STALL_SM" -v m="$((TTL * 1000 + 1000))" 'BEGIN{print (v + 0 <= m + 0) ? "yes" : "no"}')"
} | out
say "done"
