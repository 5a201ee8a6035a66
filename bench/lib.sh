# SPDX-License-Identifier: MIT
# lib.sh - what the bench/ scripts share: servers kept
# in PIDS and stopped by PID, free ports, the results table R and its
# ratios, the target check, Redis bulk loads. Sourced, never run: the
# caller sets START and NAME (for say), TMP and PIDS.

say() { echo "$NAME [$((SECONDS - START))s]: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# Stops a process (TERM, or the signal given), waits up to 30 s, then
# KILLs it.
stop_pid() { # pid [signal]
  local pid=$1
  kill "-${2:-TERM}" "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Drops a PID from the list once it has been stopped.
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

stop_server() { # pid [signal]
  stop_pid "$@"
  forget "$1"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

declare -A R # R[source|workload|...] = ops/s

ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# Keeps the better of what R holds for key and value: each figure is the
# best of several runs, and the runs of the servers alternate.
keep_max() { # key value
  local old=${R["$1"]:-}
  if [ -z "$old" ] || awk -v a="$2" -v b="$old" 'BEGIN { exit !(a + 0 > b + 0) }'; then
    R["$1"]=$2
  fi
}

# One row of a targets table: the label, the measured ratio, and whether
# it reaches the minimum ("?" when it was not measured).
check() { # label value minimum
  local ok
  ok=$(awk -v v="$2" -v m="$3" 'BEGIN { if (v == "-" || v == "") print "?"; else if (v + 0 >= m + 0) print "yes"; else print "no" }')
  printf '| %s | %s | %s |\n' "$1" "$2" "$ok"
}

# Writes HSET commands for n 16-byte fields with 64-byte values into one
# hash, in Redis's protocol, 1,000 pairs a command.
redis_hash_load() { # hash n
  python3 - "$1" "$2" <<'PY'
import sys
name, n = sys.argv[1].encode(), int(sys.argv[2])
out = sys.stdout.buffer
def bulk(b): return b"$%d\r\n%s\r\n" % (len(b), b)
for start in range(0, n, 1000):
    end = min(n, start + 1000)
    parts = [b"HSET", name]
    for i in range(start, end):
        parts.append(b"key:%012d" % i)
        parts.append((b"%016x" % i) * 4)
    out.write(b"*%d\r\n" % len(parts) + b"".join(bulk(p) for p in parts))
PY
}

# The setup durable.sh and cluster.sh share: builds statemgrd,
# statemgr-bench and the CLI into build-compare/ unless BUILD names a
# build, sets SMD, BENCH and CLI, makes TMP (/tmp/sm-<tag>.XXXXXX, removed
# at exit with every server in PIDS stopped by PID), a random authkey in
# it, and smbench (statemgr-bench with that key, at most RUN_LIMIT s).
bench_setup() { # tag
  if [ -z "$BUILD" ]; then
    BUILD="$ROOT/build-compare"
    say "building optimised binaries in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSM_BUILD_TESTS=OFF >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" --target statemgrd statemgr_bench statemgr_cli >/dev/null
  fi
  SMD="$BUILD/statemgrd"
  BENCH="$BUILD/statemgr-bench"
  CLI="$BUILD/statemgr"
  local b
  for b in "$SMD" "$BENCH" "$CLI"; do
    [ -x "$b" ] || die "$b is missing: build it, or give --build-dir"
  done
  TMP=$(mktemp -d "/tmp/sm-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$TMP/authkey"
  chmod 600 "$TMP/authkey"
  RUN_LIMIT=600
}
bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$TMP"
}
now_ms() { date +%s%3N; }
smbench() { timeout "$RUN_LIMIT" "$BENCH" --authkey-file "$TMP/authkey" -q "$@"; }
