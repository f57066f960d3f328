#!/usr/bin/env bash
# sio-serve serves the built-in socket.io-client bundle at /socket.io/socket.io.js, or the file
# given with --client-js; an unreadable --client-js stops it at start with exit code 1.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

expect_exit 1 "$SIO_SERVE" --port 0 --client-js "$tmp/missing.js"
contains "$err" "--client-js"
contains "$err" "missing.js"

# start SIO_SERVE ARGS...: runs it in the background and sets $port from its "listening on" line.
start() {
  "$SIO_SERVE" --port 0 "$@" 2>"$tmp/log" & pid=$!
  for _ in $(seq 100); do
    port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$tmp/log" | grep -oE '[0-9]+$' || true)
    [[ -n $port ]] && return 0
    sleep 0.05
  done
  fail "sio-serve did not start: $(cat "$tmp/log")"
}
get() { node -e 'fetch(process.argv[1]).then(async r => { process.stdout.write(r.status + "\n" + await r.text()); })' "$1"; }

start
body=$(get "http://127.0.0.1:$port/socket.io/socket.io.js")
[[ ${body%%$'\n'*} == 200 ]] || fail "built-in bundle: status ${body%%$'\n'*}"
contains "$body" "Socket.IO"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

printf 'window.customClient = "custom bundle";\n' > "$tmp/client.js"
start --client-js "$tmp/client.js"
body=$(get "http://127.0.0.1:$port/socket.io/socket.io.js")
[[ ${body%%$'\n'*} == 200 ]] || fail "--client-js bundle: status ${body%%$'\n'*}"
contains "$body" 'window.customClient = "custom bundle";'
echo ok
