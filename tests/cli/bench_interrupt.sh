#!/usr/bin/env bash
# Ctrl-C (SIGINT) during the first run of --transport all: exit 130, the figures of that run so
# far, and one line that names the runs not started.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); bench=
cleanup() {
  [[ -z $bench ]] || { kill -KILL "$bench" 2>/dev/null || true; wait "$bench" 2>/dev/null || true; }
  [[ -z ${serve_fd:-} ]] || serve_drain
  serve_stop; rm -rf "$tmp"
}
trap cleanup EXIT
SERVE_HOLD=1 serve_start "$tmp/serve.log"
"$SIO_BENCH" "$serve_url" --transport all --clients 2 --duration 60s --timeout 5s >"$tmp/out" 2>"$tmp/err" & bench=$!
serve_wait 'sio-serve: connect .*transport=websocket' 2   # both clients of the websocket run are in
serve_drain
kill -INT "$bench"
code=0; wait "$bench" || code=$?; bench=
[[ $code == 130 ]] || fail "exit $code after SIGINT, expected 130: $(cat "$tmp/err")"
err=$(cat "$tmp/err"); out=$(cat "$tmp/out")
[[ $err == *"sio-bench: interrupted during the websocket run; not run: polling and upgrade"* ]] ||
  fail "the runs not started are not named: $err"
[[ $out == *websocket* && $out != *polling* ]] || fail "expected the websocket run's figures alone: $out"
echo ok
