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
# serve_start LOG ARGS...: starts $SIO_SERVE --port 0 ARGS... in the background with its standard
# error copied to LOG, and returns once its "listening on URL" line has come: sets $serve_pid and
# $serve_url. It waits on the output itself (each read returns with a line), 30 s at most. With
# SERVE_HOLD=1 the rest of the log is left for serve_wait, until serve_drain.
# serve_wait REGEX N: reads the log on until N more lines match REGEX (30 s at most per line).
# serve_drain: copies the rest of the log to LOG in the background, as it comes.
# serve_stop: SIGTERM, then waits for it to end and for LOG to be complete.
serve_start() {
  local fifo line; serve_log=$1; shift
  fifo=$(mktemp -u); mkfifo "$fifo"
  # The redirection comes first, so that the reader below never waits for a writer that failed.
  { exec "$SIO_SERVE" --port 0 "$@"; } 2>"$fifo" & serve_pid=$!
  exec {serve_fd}<"$fifo"
  rm -f "$fifo"
  serve_url= serve_drain_pid=
  : > "$serve_log"
  while IFS= read -r -t 30 line <&"$serve_fd"; do
    printf '%s\n' "$line" >> "$serve_log"
    if [[ $line =~ listening\ on\ (https?://[^ ]+) ]]; then serve_url=${BASH_REMATCH[1]}; break; fi
  done
  [[ -n $serve_url ]] || fail "sio-serve did not say where it listens: $(cat "$serve_log")"
  [[ ${SERVE_HOLD:-} == 1 ]] || serve_drain
}
serve_wait() {
  local regex=$1 left=$2 line
  while ((left > 0)) && IFS= read -r -t 30 line <&"$serve_fd"; do
    printf '%s\n' "$line" >> "$serve_log"
    [[ $line =~ $regex ]] && left=$((left - 1))
  done
  ((left == 0)) || fail "sio-serve's log did not show '$regex': $(cat "$serve_log")"
}
serve_drain() {
  cat <&"$serve_fd" >> "$serve_log" & serve_drain_pid=$!
  exec {serve_fd}<&-
  unset serve_fd
}
serve_stop() {
  [[ -n ${serve_pid:-} ]] || return 0
  kill -TERM "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  [[ -z ${serve_drain_pid:-} ]] || wait "$serve_drain_pid" 2>/dev/null || true
  serve_pid=
}
# closed_port: a loopback port where nothing listens (the kernel's pick, bound and let go).
closed_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
