#!/usr/bin/env bash
# scripts/demo says the URL sio-serve really serves, taken from sio-serve's own "listening on"
# line (here with --port N, not the default 3000), and to open it in two tabs; the chat answers
# there. Run without building (SIO_SETUP_NO_BUILD) and with this build's sio-serve.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); pid=
cleanup() {
  if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(closed_port)
mkfifo "$tmp/err"
{ SIO_SETUP_NO_BUILD=1 SIO_SERVE=$SIO_SERVE exec "$SIO_SOURCE_DIR/scripts/demo" --port "$port"; } 2>"$tmp/err" >/dev/null & pid=$!
exec 3<"$tmp/err"
said= seen=
while IFS= read -r -t 60 line <&3; do
  seen+=$line$'\n'
  if [[ $line == "demo: the chat is on "* ]]; then said=$line; break; fi
done
[[ -n $said ]] || fail "scripts/demo did not say where the chat is: $seen"
contains "$seen" "listening on http://127.0.0.1:$port"
[[ $said == "demo: the chat is on http://127.0.0.1:$port - open it in two browser tabs"* ]] || fail "said: $said"
[[ $seen != *":3000"* ]] || fail "scripts/demo still speaks of port 3000: $seen"
answer=$("$SIO_CLI" "http://127.0.0.1:$port" --emit echo hi --ack --timeout 5s 2>&1) || fail "no chat at http://127.0.0.1:$port: $answer"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
exec 3<&-
echo ok
