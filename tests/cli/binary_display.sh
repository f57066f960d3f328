#!/usr/bin/env bash
# One display of binary in every tool. An event with binary arguments (one top level, one inside an
# object), relayed by sio-serve, reaches sio-cli and sio-inspect watch, each listening as a client
# in --json and in text: both show it as {"$binary": "<base64>"} in JSON and as <N bytes: hex> in
# text. The JSON form is also an input form: it is what sends the nested value here.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  serve_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
serve_start "$tmp/serve.log"

# listen NAME REGEX CMD...: runs CMD in the background, its standard output into a pipe read on
# fd listen_NAME, and returns once a line matching REGEX (its connection) has come, 30 s at most.
declare -A fds
listen() {
  local name=$1 regex=$2 fifo line fd; shift 2
  fifo=$tmp/$name.fifo; mkfifo "$fifo"
  "$@" >"$fifo" 2>"$tmp/$name.err" & pids+=($!)
  exec {fd}<"$fifo"
  fds[$name]=$fd
  while IFS= read -r -t 30 line <&"$fd"; do
    printf '%s\n' "$line" >> "$tmp/$name.out"
    [[ $line =~ $regex ]] && return 0
  done
  fail "$name did not connect: $(cat "$tmp/$name.out" "$tmp/$name.err" 2>/dev/null)"
}
# line_of NAME REGEX: the next line of NAME's output matching REGEX (30 s at most per line).
line_of() {
  local name=$1 regex=$2 line
  while IFS= read -r -t 30 line <&"${fds[$name]}"; do
    printf '%s\n' "$line" >> "$tmp/$name.out"
    if [[ $line =~ $regex ]]; then printf '%s\n' "$line"; return 0; fi
  done
  fail "$name did not show '$regex': $(cat "$tmp/$name.out" "$tmp/$name.err" 2>/dev/null)"
}

listen cli_json '"type":"connect"' "$SIO_CLI" "$serve_url" --listen --json --timeout 30s
# In text, what is not a packet goes to standard error: the server's CONNECT answer is the sign.
listen cli_text '<- connect ' "$SIO_CLI" "$serve_url" --listen --no-color --timeout 30s
# watch prints its own CONNECT too: the server's answer is what says the socket is in.
listen inspect_json '"from":"server".*"sio_type":"CONNECT"' "$SIO_INSPECT" watch "$serve_url" --json --no-ping --duration 30s
listen inspect_text 'client CONNECT' "$SIO_INSPECT" watch "$serve_url" --no-color --no-ping --duration 30s

# 01 02 fe as a top-level argument (@hex:) and as {"$binary": "AQL+"} inside an object.
expect_exit 0 "$SIO_CLI" "$serve_url" --emit broadcast file @hex:0102fe '{"name":"a.bin","data":{"$binary":"AQL+"}}'

want_json='[{"$binary":"AQL+"},{"name":"a.bin","data":{"$binary":"AQL+"}}]'
# The two JSON lines: the same args, key order aside.
cli_line=$(line_of cli_json '"event":"file"')
inspect_line=$(line_of inspect_json '"event":"file"')
node -e '
  const [want, cli, inspect] = process.argv.slice(1).map(JSON.parse);
  const norm = (v) => JSON.stringify(v, (k, x) => x && typeof x === "object" && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x).sort()) : x);
  if (norm(cli.args) !== norm(want)) { console.error("sio-cli:", JSON.stringify(cli.args)); process.exit(1); }
  if (norm(inspect.args) !== norm(want)) { console.error("sio-inspect:", JSON.stringify(inspect.args)); process.exit(1); }
' "$want_json" "$cli_line" "$inspect_line" || fail "binary in --json differs: sio-cli $cli_line; sio-inspect $inspect_line"

# The two text lines: the same rendering of the arguments.
cli_text=$(line_of cli_text ' file ')
inspect_text=$(line_of inspect_text '"file"')
contains "$cli_text" '<3 bytes: 01 02 fe> {"name":"a.bin","data":<3 bytes: 01 02 fe>}'
contains "$inspect_text" '[<3 bytes: 01 02 fe>,{"name":"a.bin","data":<3 bytes: 01 02 fe>}]'

# sio-inspect decode: the same forms for a packet pasted from the wire.
expect_exit 0 "$SIO_INSPECT" decode '451-["file",{"_placeholder":true,"num":0}]\x1ebAQL+'
contains "$out" '<3 bytes: 01 02 fe>'
expect_exit 0 "$SIO_INSPECT" decode --json '451-["file",{"_placeholder":true,"num":0}]\x1ebAQL+'
contains "$out" '"args":[{"$binary":"AQL+"}]'

# Bad base64 in the JSON form is a usage error naming it, never a silent string.
expect_exit 2 "$SIO_CLI" "$serve_url" --emit x '{"$binary":"%%"}'
contains "$err" '{"$binary": "%%"}: not base64'
