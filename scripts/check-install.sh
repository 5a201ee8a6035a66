#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-install.sh - proves an installed statemgr is usable: installs a built
# tree (default build/) into a temporary prefix, then builds and runs small
# consumers against it the ways a user would:
#   - pkg-config statemgr (cc with --cflags --libs),
#   - a CMake project with find_package(statemgr), shared and static targets,
#     also with the server's dependencies (libevent, xxHash) hidden,
#   - the server library by pkg-config (statemgr-server) and by
#     find_package(statemgr COMPONENTS server),
#   - examples/ built on its own against the prefix,
# and checks the systemd unit and the default statemgrd.conf it installs.
# Usage: ./scripts/check-install.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
src=$PWD

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/statemgrd bin/statemgr bin/statemgr-check include/statemgr.h share/man/man8/statemgrd.8 \
  share/man/man1/statemgr.1 share/man/man1/statemgr-check.1 share/man/man3/libstatemgr.3; do
  [ -e "$prefix/$f" ] || { echo "check-install: $f was not installed" >&2; exit 1; }
done
pcfile=$(find "$prefix" -name statemgr.pc -print -quit)
[ -n "$pcfile" ] || { echo "check-install: statemgr.pc was not installed" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pcfile")")

# The consumer calls into the library and checks the header it compiled
# against matches the library it loaded.
cat >"$tmp/consumer.c" <<'C'
#include <statemgr.h>
#include <stdio.h>
int main(void) {
  if (sm_version_hex() != SM_VERSION_HEX) return 1;
  printf("consumer: linked statemgr %s (%s)\n", sm_version(), sm_errname(SM_ENOTFOUND));
  return 0;
}
C

echo "check-install: the systemd unit and statemgrd.conf"
unit=$prefix/lib/systemd/system/statemgrd.service
conf=$prefix/etc/statemgr/statemgrd.conf
for f in "$unit" "$conf"; do
  [ -e "$f" ] || { echo "check-install: $f was not installed" >&2; exit 1; }
done
# The unit names this install's binary and config file, and that binary
# accepts that file (--version: read it, then stop).
grep -qx "ExecStart=$prefix/bin/statemgrd --config $conf" "$unit" ||
  { echo "check-install: $unit does not start $prefix/bin/statemgrd --config $conf" >&2; exit 1; }
"$prefix/bin/statemgrd" --config "$conf" --version >/dev/null
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify --man=no "$unit"
fi

echo "check-install: pkg-config"
# The .pc locates the prefix relative to itself, so a moved install works.
pc_flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" \
  pkg-config --cflags --libs statemgr)
# shellcheck disable=SC2086 # pkg-config output is a list of words
cc -std=c11 -Wall -Werror -o "$tmp/consumer_pc" "$tmp/consumer.c" $pc_flags
LD_LIBRARY_PATH="$libdir" "$tmp/consumer_pc"

echo "check-install: find_package(statemgr)"
mkdir "$tmp/cmake_consumer"
cp "$tmp/consumer.c" "$tmp/cmake_consumer/"
cat >"$tmp/cmake_consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(statemgr_consumer LANGUAGES C)
find_package(statemgr 0 REQUIRED)
add_executable(consumer_shared consumer.c)
target_link_libraries(consumer_shared PRIVATE statemgr::statemgr)
add_executable(consumer_static consumer.c)
target_link_libraries(consumer_static PRIVATE statemgr::statemgr_static)
CMAKE
cmake -S "$tmp/cmake_consumer" -B "$tmp/cmake_consumer/build" \
  -DCMAKE_PREFIX_PATH="$prefix" --log-level=WARNING >/dev/null
cmake --build "$tmp/cmake_consumer/build" >/dev/null
"$tmp/cmake_consumer/build/consumer_shared"
"$tmp/cmake_consumer/build/consumer_static"

echo "check-install: the server library, by pkg-config and find_package"
cat >"$tmp/server_consumer.c" <<'C'
#include <statemgr_server.h>
#include <stdio.h>
int main(void) {
  sm_server_options *o = sm_server_options_new();
  if (!o || sm_server_options_set_max_frame(o, 1 << 20) != SM_OK) return 1;
  sm_server_options_free(o);
  puts("server consumer: linked statemgr_server");
  return 0;
}
C
[ -e "$libdir/pkgconfig/statemgr-server.pc" ] ||
  { echo "check-install: statemgr-server.pc was not installed" >&2; exit 1; }
pc_flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs statemgr-server)
# shellcheck disable=SC2086 # pkg-config output is a list of words
cc -std=c11 -Wall -Werror -o "$tmp/server_consumer_pc" "$tmp/server_consumer.c" $pc_flags
"$tmp/server_consumer_pc"
mkdir "$tmp/server_consumer"
cp "$tmp/server_consumer.c" "$tmp/server_consumer/"
cat >"$tmp/server_consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(statemgr_server_consumer LANGUAGES C)
find_package(statemgr 0 REQUIRED COMPONENTS server)
add_executable(server_consumer server_consumer.c)
target_link_libraries(server_consumer PRIVATE statemgr::statemgr_server)
CMAKE
cmake -S "$tmp/server_consumer" -B "$tmp/server_consumer/build" \
  -DCMAKE_PREFIX_PATH="$prefix" --log-level=WARNING >/dev/null
cmake --build "$tmp/server_consumer/build" >/dev/null
"$tmp/server_consumer/build/server_consumer"

echo "check-install: find_package(statemgr) without the server's dependencies"
# A client-only program needs only what the client library links. Hide the
# server's dependencies (libevent, xxHash) as a machine without their
# development packages would: pkg-config sees every .pc file but theirs.
mkdir "$tmp/pc_client_only"
pc_path=$(pkg-config --variable pc_path pkg-config)
IFS=: read -ra pc_dirs <<<"$pc_path"
for d in "${pc_dirs[@]}"; do
  for f in "$d"/*.pc; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in
      libevent*.pc | libxxhash.pc) ;;
      *) ln -sf "$f" "$tmp/pc_client_only/" ;;
    esac
  done
done
if PKG_CONFIG_LIBDIR="$tmp/pc_client_only" pkg-config --exists libevent_core ||
  PKG_CONFIG_LIBDIR="$tmp/pc_client_only" pkg-config --exists libxxhash; then
  echo "check-install: could not hide libevent and libxxhash from pkg-config" >&2
  exit 1
fi
PKG_CONFIG_LIBDIR="$tmp/pc_client_only" cmake -S "$tmp/cmake_consumer" \
  -B "$tmp/cmake_consumer/build_client_only" -DCMAKE_PREFIX_PATH="$prefix" \
  --log-level=WARNING >/dev/null
cmake --build "$tmp/cmake_consumer/build_client_only" >/dev/null
"$tmp/cmake_consumer/build_client_only/consumer_static"
# The server component, asked for there, must fail to configure, and say why.
if PKG_CONFIG_LIBDIR="$tmp/pc_client_only" cmake -S "$tmp/server_consumer" \
  -B "$tmp/server_consumer/build_hidden" -DCMAKE_PREFIX_PATH="$prefix" \
  >"$tmp/server_hidden.log" 2>&1; then
  echo "check-install: COMPONENTS server configured without libevent and libxxhash" >&2
  exit 1
fi
grep -q "libevent" "$tmp/server_hidden.log" || {
  echo "check-install: COMPONENTS server failed without naming libevent:" >&2
  cat "$tmp/server_hidden.log" >&2
  exit 1
}

echo "check-install: examples/ against the prefix"
cmake -S "$src/examples" -B "$tmp/examples" -DCMAKE_PREFIX_PATH="$prefix" \
  --log-level=WARNING >/dev/null
cmake --build "$tmp/examples" >/dev/null

echo "check-install: ok"
