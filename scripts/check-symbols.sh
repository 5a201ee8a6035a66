#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-symbols.sh - proves the published libraries export their public API
# and nothing else:
#   - every function the public headers declare carries SM_EXTERN;
#   - each library's global defined symbols (nm) are exactly the functions
#     its header declares: libstatemgr.so and libstatemgr.a those of
#     statemgr.h, libstatemgr_server.a those of statemgr_server.h; an
#     internal name (log_msg, conn_new...) fails, and so does a missing one;
#   - given both static libraries, no symbol is defined in both, and their
#     objects link together (ld -r), as a program linking both does.
# Run by ctest (symbols) on the build tree and by check-install.sh on an
# installed prefix.
# Usage: ./scripts/check-symbols.sh INCLUDE_DIR LIBRARY...
#   (a LIBRARY is libstatemgr.so*, libstatemgr.a or libstatemgr_server.a)
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 INCLUDE_DIR LIBRARY..." >&2
  exit 2
fi
include=$1
shift
NM=${NM:-nm}
LD=${LD:-ld}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'echo "check-symbols: failed at line $LINENO" >&2' ERR
failed=0
fail() {
  echo "check-symbols: $*" >&2
  failed=1
}

# A header as one line, without its comments and preprocessor lines.
header_code() {
  grep -v '^[[:space:]]*#' "$1" | sed -E -z 's:/\*([^*]|\*+[^*/])*\*+/: :g; s://[^\n]*::g' | tr '\n' ' '
}
# The functions a header declares: every sm_name( that is not a function
# pointer type's (*sm_name)(.
declared() {
  header_code "$1" | grep -oE '(\(\*)?\bsm_[a-z0-9_]+ *\(' | grep -v '^(\*' |
    grep -oE 'sm_[a-z0-9_]+' | sort -u
}
# Those of them declared SM_EXTERN (the name follows it in the declaration).
declared_extern() {
  header_code "$1" | grep -oE 'SM_EXTERN[^;{(]*\(' | grep -oE 'sm_[a-z0-9_]+ *\($' |
    grep -oE 'sm_[a-z0-9_]+' | sort -u
}

for h in statemgr statemgr_server; do
  [ -e "$include/$h.h" ] || {
    fail "$include/$h.h not found"
    continue
  }
  declared "$include/$h.h" >"$tmp/$h.api"
  declared_extern "$include/$h.h" >"$tmp/$h.extern"
  [ -s "$tmp/$h.api" ] || fail "$h.h: no declaration found"
  missing=$(comm -23 "$tmp/$h.api" "$tmp/$h.extern")
  [ -z "$missing" ] || fail "$h.h declares without SM_EXTERN:" "$(tr '\n' ' ' <<<"$missing")"
done
[ "$failed" = 0 ] || exit 1

client_static=""
server_static=""
for lib in "$@"; do
  [ -e "$lib" ] || {
    fail "$lib not found"
    continue
  }
  case "$(basename "$lib")" in
    libstatemgr.so*) api=statemgr nm_flags=(-D) ;;
    libstatemgr.a) api=statemgr nm_flags=() client_static=$lib ;;
    libstatemgr_server.a) api=statemgr_server nm_flags=() server_static=$lib ;;
    *)
      fail "$lib: not a statemgr library"
      continue
      ;;
  esac
  name=$(basename "$lib")
  # posix format: "name type value size"; --defined-only drops undefined
  # references (U, and weak w/v), which name other libraries' symbols.
  "$NM" "${nm_flags[@]}" -g --defined-only --format=posix "$lib" 2>/dev/null |
    awk 'NF >= 2 && $1 !~ /:$/ {print $1}' | sort -u >"$tmp/$name.syms"
  extra=$(comm -23 "$tmp/$name.syms" "$tmp/$api.api")
  absent=$(comm -13 "$tmp/$name.syms" "$tmp/$api.api")
  if [ -n "$extra" ]; then
    fail "$lib exports $(wc -w <<<"$extra") names that $api.h does not declare:" \
      "$(head -n 20 <<<"$extra" | tr '\n' ' ')"
  fi
  [ -z "$absent" ] || fail "$lib lacks what $api.h declares:" "$(tr '\n' ' ' <<<"$absent")"
  if [ -z "$extra$absent" ]; then
    echo "check-symbols: $name: $(wc -l <"$tmp/$name.syms") global symbols, exactly $api.h's API"
  fi
done

if [ -n "$client_static" ] && [ -n "$server_static" ]; then
  both=$(comm -12 "$tmp/$(basename "$client_static").syms" "$tmp/$(basename "$server_static").syms")
  [ -z "$both" ] || fail "defined in both $client_static and $server_static:" "$(tr '\n' ' ' <<<"$both")"
  # Every member of both archives in one link: a name defined twice, even
  # one left out of the lists above, fails it.
  if ! "$LD" -r -o "$tmp/both.o" --whole-archive "$client_static" "$server_static" \
    2>"$tmp/ld.log"; then
    fail "$client_static and $server_static do not link together:"
    head -n 20 "$tmp/ld.log" >&2
  else
    echo "check-symbols: libstatemgr.a and libstatemgr_server.a link together"
  fi
fi

[ "$failed" = 0 ] || exit 1
echo "check-symbols: ok"
