#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-python-install.sh - installs the Python package with pip, as a user
# would (`python3 -m pip install ./python`, no network), into a temporary
# directory, then uses it from there with the build tree out of sight: no
# $STATEMGRD, no statemgrd in $PATH, so the package must find the statemgrd
# it carries. Usage: scripts/check-python-install.sh [BUILD_DIR] (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(cd "${1:-build}" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --break-system-packages: Debian's python3 refuses pip otherwise, even for
# --target; nothing outside $TMP is touched.
STATEMGR_BUILD_DIR=$BUILD PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --no-deps --disable-pip-version-check \
  --break-system-packages --target "$TMP/site" ./python
cd "$TMP"
cat >check.py <<'PY'
import multiprocessing, statemgr

def work(d, n):
    n.add(1)
    d["child"] = "ok"

if __name__ == "__main__":
    with statemgr.Manager() as m:
        d, n = m.dict(), m.Value("i", 0)
        p = multiprocessing.get_context("spawn").Process(target=work, args=(d, n))
        p.start()
        p.join()
        assert p.exitcode == 0 and d["child"] == "ok" and n.value == 1, (p.exitcode, d.copy())
        print("check-python-install: the installed package works:", statemgr._daemon.find_daemon())
PY
env -u STATEMGRD PATH=/usr/bin:/bin PYTHONPATH="$TMP/site" "$(command -v python3)" check.py
