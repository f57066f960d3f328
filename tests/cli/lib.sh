# Helpers sourced by the CLI test scripts. Not a test itself (CMake skips lib.sh by name below).
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_exit CODE CMD...: run CMD, capture stdout/stderr into $out/$err, check the exit code.
expect_exit() {
  local want=$1; shift
  local tmp_out tmp_err got=0
  tmp_out=$(mktemp); tmp_err=$(mktemp)
  "$@" >"$tmp_out" 2>"$tmp_err" || got=$?
  out=$(cat "$tmp_out"); err=$(cat "$tmp_err"); rm -f "$tmp_out" "$tmp_err"
  [[ $got == "$want" ]] || fail "'$*' exited $got, expected $want; stderr: $err"
}
contains() { [[ $1 == *"$2"* ]] || fail "expected to find '$2' in: $1"; }
