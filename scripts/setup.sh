#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# setup.sh - prepares a Debian 12 machine for statemgr and builds it.
#
#   ./scripts/setup.sh                 install build deps, build into build/
#   ./scripts/setup.sh --test          also install what the tests use, then build
#   ./scripts/setup.sh --bench         also install Redis and Python for
#                                      bench/compare.sh, then build
#   ./scripts/setup.sh --deps-only     install build deps only
#   ./scripts/setup.sh --runtime-deps  install only the shared libraries that
#                                      statemgrd and statemgr need to run (for
#                                      the Dockerfile's runtime stage)
#
# Packages already installed are not asked for again, so a rerun goes
# straight to the (incremental) build. Needs root, or sudo.
set -euo pipefail

# libedit-dev: line editing and history in the CLI's interactive mode
# (BSD-licensed; the CLI builds without it, reading plain lines).
# libjson-c-dev: the daemon speaks etcd's JSON gateway (a replicated group).
BUILD_DEPS=(build-essential cmake pkg-config libevent-dev libprotobuf-c-dev
  protobuf-c-compiler libssl-dev libxxhash-dev libjson-c-dev check libedit-dev)
# The Python package (python/) is built for the python3 on PATH: Debian's
# needs its headers. Another python3 (pyenv's, say) brings its own.
PYTHON_DEPS=(python3 python3-dev)
# What scripts/test.sh uses beyond the build: valgrind for the memcheck pass;
# clang, its sanitizer and libFuzzer runtimes (libclang-rt-14-dev) and
# llvm-14 (llvm-symbolizer, for readable reports) for scripts/fuzz.sh;
# groff-base for the man pages' check (scripts/check-man.sh); etcd-server
# (and etcd-client's etcdctl) for the replicated group's suite (check_cluster).
TEST_DEPS=(valgrind curl clang libclang-rt-14-dev llvm-14 openssl groff-base etcd-server
  etcd-client)
# What bench/compare.sh runs statemgr against.
BENCH_DEPS=(redis-server redis-tools libhiredis-dev python3)
RUNTIME_DEPS=(libevent-core-2.1-7 libevent-extra-2.1-7 libevent-openssl-2.1-7
  libprotobuf-c1 libssl3 libxxhash0 libjson-c5 libedit2)

usage() {
  sed -n '5,12s/^# \{0,1\}//p' "$0"
}

mode=build
with_tests=0
with_bench=0
while [ $# -gt 0 ]; do
  case "$1" in
    --deps-only) mode=deps ;;
    --test) with_tests=1 ;;
    --bench) with_bench=1 ;;
    --runtime-deps) mode=runtime ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# Prints the packages among "$@" that dpkg does not report as installed.
missing_packages() {
  local p
  for p in "$@"; do
    # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not ours
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      echo "$p"
    fi
  done
}

# Installs whichever of "$@" are missing, as root or through sudo.
install_packages() {
  local missing=() as_root=()
  mapfile -t missing < <(missing_packages "$@")
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all $# packages already installed"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    fi
    as_root=(sudo)
  fi
  echo "setup: installing ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ "$mode" = runtime ]; then
  install_packages "${RUNTIME_DEPS[@]}"
  exit 0
fi
wanted=("${BUILD_DEPS[@]}")
# Only when python3 is missing or cannot build extensions (no Python.h).
if ! command -v python3 >/dev/null 2>&1 ||
  ! python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
  wanted+=("${PYTHON_DEPS[@]}")
fi
[ "$with_tests" = 1 ] && wanted+=("${TEST_DEPS[@]}")
# CPython's own manager tests (python/tests/cpython_manager_tests.py) need the
# test package, which Debian ships apart.
if [ "$with_tests" = 1 ] && ! python3 -c 'import test._test_multiprocessing' 2>/dev/null; then
  wanted+=("libpython3.$(python3 -c 'import sys; print(sys.version_info[1])' 2>/dev/null || echo 11)-testsuite")
fi
[ "$with_bench" = 1 ] && wanted+=("${BENCH_DEPS[@]}")
install_packages "${wanted[@]}"
[ "$mode" = deps ] && exit 0

cd "$(dirname "$0")/.."
echo "setup: building into build/"
# A developer's build: warnings are errors (SM_WERROR), as in CI.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSM_WERROR=ON --log-level=WARNING
cmake --build build -j "$(nproc)"
echo "setup: done: ./build/statemgrd runs the daemon, ./build/statemgr is the CLI"
