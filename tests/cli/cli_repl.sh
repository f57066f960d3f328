#!/usr/bin/env bash
# sio-cli's REPL on a real terminal (tmux): connects to sio-serve, an emit with an ack shows the
# ack, a broadcast from a second client (the Node socket.io-client) is printed while a half-typed
# line stays as it was, Tab completes an event name seen so far, and the history file (in
# XDG_STATE_HOME) brings a line back in a second run; then raw mode against a Node ws echo server.
source "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || fail "tmux is not installed (scripts/setup installs it)"
command -v node >/dev/null || fail "node is not installed (scripts/setup installs it)"
node_modules=$SIO_SOURCE_DIR/tests/interop/node_modules
[[ -d $node_modules/socket.io-client ]] || fail "socket.io-client is not installed in $node_modules"

tmp=$(mktemp -d)
sock=$tmp/tmux.sock
serve_pid=
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
t() { tmux -S "$sock" "$@"; }

# poll CONDITION-COMMAND WHAT [SECONDS]: retries every 0.1 s until the command succeeds.
poll() {
  local what=$2 tries=$(( ${3:-10} * 10 ))
  for ((i = 0; i < tries; i++)); do
    if eval "$1"; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for $what; the screen:
$(t capture-pane -p -t repl 2>/dev/null || true)"
}
screen() { t capture-pane -p -J -t repl; }
screen_has() { screen | grep -qF -- "$1"; }
# The line being typed: the last non-blank line of the screen.
input_line() { screen | sed -e 's/[[:space:]]*$//' -e '/^$/d' | tail -n 1; }

"$SIO_SERVE" --port 0 >"$tmp/serve.log" 2>&1 &
serve_pid=$!
poll 'grep -qE "listening on http://[^ ]+:[0-9]+" "$tmp/serve.log" 2>/dev/null' "sio-serve's port"
url=$(grep -oE 'http://[^ ]+:[0-9]+' "$tmp/serve.log" | head -n 1)

mkdir -p "$tmp/home"
start_repl() {
  t new-session -d -s repl -x 160 -y 40 \
    "env HOME='$tmp/home' XDG_STATE_HOME='$tmp/state' NO_COLOR=1 TERM=xterm '$SIO_CLI' '$url' --transport websocket; echo 'sio-cli exited' \$?; sleep 30"
}
start_repl
poll 'screen_has "/ connected as"' "the REPL to connect"
poll 'input_line | grep -qE "^/ > ?$"' "the prompt of a connected namespace"

# An emit with an ack: the event goes out, the ack comes back.
t send-keys -t repl 'emit --ack echo hi 42' Enter
poll 'screen_has "-> echo \"hi\" 42 #"' "the echo sent"
poll 'screen_has "<- ack \"hi\" 42 #"' "the ack of the echo"

# Half a line typed, then another client broadcasts: the message is printed above, the line stays.
t send-keys -t repl 'emit half typ'
poll 'input_line | grep -qF "/ > emit half typ"' "the half-typed line"
NODE_PATH=$node_modules node -e '
  const { io } = require("socket.io-client");
  const s = io(process.argv[1], { transports: ["websocket"], auth: { name: "nodeclient" } });
  const stop = setTimeout(() => { console.error("no ack for the chat message"); process.exit(1); }, 10000);
  s.on("connect", () => s.emit("chat message", "broadcast from node", () => { clearTimeout(stop); s.close(); }));
' "$url" || fail "the Node client could not send its chat message"
poll 'screen_has "broadcast from node"' "the broadcast printed in the REPL"
screen | grep -F "broadcast from node" | grep -qF "<- chat message" || fail "the broadcast line: $(screen)"
poll 'input_line | grep -qF "/ > emit half typ"' "the half-typed line kept after the broadcast"
input_line | grep -qF "broadcast" && fail "the broadcast landed on the input line: $(input_line)"

# Tab completes an event name seen so far (received, with a blank: quoted).
t send-keys -t repl C-u
poll 'input_line | grep -qE "^/ > ?$"' "an empty line after Ctrl-U"
t send-keys -t repl 'emit cha' Tab
poll 'input_line | grep -qF "/ > emit \"chat message\""' "Tab completing \"chat message\""
t send-keys -t repl C-u
t send-keys -t repl 'emit nothing-acks-this-one' Enter
poll 'screen_has "-> nothing-acks-this-one"' "the last line sent"
t send-keys -t repl 'quit' Enter
poll 'screen_has "sio-cli exited 0"' "sio-cli leaving with 0 on quit"
t kill-session -t repl

history_file=$tmp/state/sio/cli_history
[[ -s $history_file ]] || fail "no history file at $history_file"
# libedit's format writes blanks as \040.
sed 's/\\040/ /g' "$history_file" | grep -qxF "emit --ack echo hi 42" || fail "the history file lacks the emit: $(cat "$history_file")"

# A second run: Up brings back the last line of the first run, then the one before.
start_repl
poll 'screen_has "/ connected as"' "the second REPL to connect"
poll 'input_line | grep -qE "^/ > ?$"' "the second REPL's prompt"
t send-keys -t repl Up
poll 'input_line | grep -qF "/ > quit"' "Up recalling 'quit' from the first run"
t send-keys -t repl Up
poll 'input_line | grep -qF "/ > emit nothing-acks-this-one"' "Up recalling the line before"
t send-keys -t repl C-u 'history' Enter
poll 'screen_has "emit --ack echo hi 42"' "the history command listing the first run's lines"
t send-keys -t repl C-d
poll 'screen_has "sio-cli exited 0"' "sio-cli leaving with 0 on Ctrl-D"
t kill-session -t repl

# Raw WebSocket mode against a Node `ws` echo server: a line is a text frame, /binary a binary
# one, /close ends with the code and reason given.
NODE_PATH=$node_modules node -e '
  const { WebSocketServer } = require("ws");
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss.on("listening", () => console.log("listening on ws://127.0.0.1:" + wss.address().port));
  wss.on("connection", (ws) => ws.on("message", (d, binary) => ws.send(d, { binary })));
  setTimeout(() => process.exit(0), 60000);
' >"$tmp/ws.log" 2>&1 &
ws_pid=$!
trap 'kill $ws_pid 2>/dev/null || true; cleanup' EXIT
poll 'grep -qE "listening on ws://" "$tmp/ws.log" 2>/dev/null' "the ws server's port"
ws_url=$(grep -oE 'ws://[^ ]+:[0-9]+' "$tmp/ws.log" | head -n 1)/
t new-session -d -s repl -x 160 -y 40 \
  "env HOME='$tmp/home' XDG_STATE_HOME='$tmp/state' NO_COLOR=1 TERM=xterm '$SIO_CLI' '$ws_url'; echo 'sio-cli exited' \$?; sleep 30"
poll 'screen_has "-- connected to $ws_url"' "raw mode connecting"
t send-keys -t repl 'hello raw world' Enter
poll 'screen_has "<- message \"hello raw world\""' "the echoed text frame"
t send-keys -t repl '/binary 00ff10' Enter
poll 'screen_has "<- message <3 bytes: 00 ff 10>"' "the echoed binary frame"
t send-keys -t repl '/close 4001 done here' Enter
poll 'screen_has "closed: 4001 done here"' "the close with its code and reason"
poll 'screen_has "sio-cli exited 0"' "sio-cli leaving with 0 after /close"
echo ok
