#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-man.sh - checks the hand-written man pages in man/: groff renders
# each without a warning (-ww), and each program's page names every long
# option its --help prints, so a new option cannot miss its page.
# Usage: ./scripts/check-man.sh STATEMGRD STATEMGR [PROGRAM]...
# (the built binaries; CTest's "manpages" test passes them). Each program's
# page is man/<its name>.<section>.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 STATEMGRD STATEMGR [PROGRAM]..." >&2; exit 2; }

failed=0
for page in man/*.[0-9]; do
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  if [ -n "$warnings" ]; then
    echo "check-man: $page: groff warns:" >&2
    echo "$warnings" >&2
    failed=1
  fi
done

# check_options BINARY PAGE: every --option of BINARY --help is in PAGE,
# where roff writes it with escaped hyphens (\-\-name).
check_options() {
  local bin=$1 page=$2 opt escaped
  for opt in $("$bin" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    escaped=${opt//-/\\-}
    if ! grep -qF -- "$escaped" "$page"; then
      echo "check-man: $page does not name $opt (from $(basename "$bin") --help)" >&2
      failed=1
    fi
  done
}
for bin in "$@"; do
  page=$(ls man/"$(basename "$bin")".[0-9] 2>/dev/null | head -n 1)
  if [ -z "$page" ]; then
    echo "check-man: no page man/$(basename "$bin").N for $bin" >&2
    failed=1
    continue
  fi
  check_options "$bin" "$page"
done

[ "$failed" = 0 ] && echo "check-man: ok"
exit "$failed"
