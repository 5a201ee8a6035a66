#!/usr/bin/env bash
# check-install.sh - proves an installed statemgr is usable: installs a built
# tree (default build/) into a temporary prefix, then builds and runs small
# consumers against it the three ways a user would:
#   - pkg-config statemgr (cc with --cflags --libs),
#   - a CMake project with find_package(statemgr), shared and static targets,
#   - examples/ built on its own against the prefix.
# Usage: ./scripts/check-install.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
src=$PWD

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/statemgrd bin/statemgr include/statemgr.h; do
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

echo "check-install: examples/ against the prefix"
cmake -S "$src/examples" -B "$tmp/examples" -DCMAKE_PREFIX_PATH="$prefix" \
  --log-level=WARNING >/dev/null
cmake --build "$tmp/examples" >/dev/null

echo "check-install: ok"
