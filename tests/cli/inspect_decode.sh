#!/usr/bin/env bash
# sio-inspect decode explains packets and payloads, reports invalid input with the reason and
# exit code 1, and prints one JSON object per packet with --json.
source "$(dirname "$0")/lib.sh"
I=$SIO_INSPECT

expect_exit 0 "$I" decode '42["chat","hi"]'
contains "$out" "engine.io message (4)"
contains "$out" "socket.io   EVENT (2)"
contains "$out" 'event       "chat"'
contains "$out" 'arg 1       "hi"'

# A namespace, an ack id, and two packets in one polling payload (typed as \x1e).
expect_exit 0 "$I" decode '42/admin,17["ping?"]\x1e3'
contains "$out" "namespace   /admin"
contains "$out" "ack id      17"
contains "$out" "#1 engine.io pong (3)"

# The open packet is explained field by field.
expect_exit 0 "$I" decode '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
contains "$out" "sid           lv_VI97HAXpY6yYWAAAC"
contains "$out" "pingInterval  25000 ms"
contains "$out" "maxPayload    1000000 bytes"

# Binary attachments are reassembled from the b+base64 packets that follow the header.
expect_exit 0 "$I" decode '451-["upload",{"_placeholder":true,"num":0}]\x1ebAQIDBA=='
contains "$out" "BINARY_EVENT"
contains "$out" "01 02 03 04"
# The value itself as every tool shows binary to people (sio-cli too): <N bytes: hex>.
contains "$out" "<4 bytes: 01 02 03 04>"

# Standard input, and Engine.IO v3 length-prefixed payloads.
out=$(printf '40/chat,{"token":"abc"}' | "$I" decode -) || fail "stdin decode failed"
contains "$out" "socket.io   CONNECT (0)"
contains "$out" '"token":"abc"'
expect_exit 0 "$I" decode --eio 3 '7:42["a"]1:2'
contains "$out" 'event       "a"'
contains "$out" "#1 engine.io ping (2)"

# --json: one object per packet, each parseable.
expect_exit 0 "$I" decode --json '42["chat","hi"]\x1e2'
[[ $(printf '%s\n' "$out" | wc -l) == 2 ]] || fail "--json printed: $out"
node -e '
  const lines = require("fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse);
  const want = {eio_type: "message", sio_type: "EVENT", nsp: "/", id: null, attachments: 0, event: "chat", args: ["hi"]};
  if (JSON.stringify(lines[0]) !== JSON.stringify(want)) process.exit(1);
  if (lines[1].eio_type !== "ping") process.exit(1);
' <<<"$out" || fail "--json output not as expected: $out"
# A binary packet is one object, once its attachments are in; errors are {"error": reason}.
expect_exit 0 "$I" decode --json '452-/up,7["f",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]\x1ebAQI=\x1ebAw=='
[[ $(printf '%s\n' "$out" | wc -l) == 1 ]] || fail "--json printed for one binary packet: $out"
node -e '
  const l = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const want = {eio_type: "message", sio_type: "BINARY_EVENT", nsp: "/up", id: 7, attachments: 2, event: "f",
                args: [{"$binary": "AQI="}, {"$binary": "Aw=="}]};
  if (JSON.stringify(l) !== JSON.stringify(want)) process.exit(1);
' <<<"$out" || fail "--json binary packet not as expected: $out"
expect_exit 1 "$I" decode --json '42["chat"'
node -e 'const l = JSON.parse(require("fs").readFileSync(0, "utf8")); if (typeof l.error !== "string") process.exit(1);' <<<"$out" \
  || fail "--json error not as expected: $out"

# Invalid input: a clear reason and exit code 1.
# What the input holds is shown escaped: a control sequence in a sid or a namespace cannot act
# on the terminal. (On stdin: the argument's own \u escapes would be unescaped first.)
no_control_bytes() { [[ $out != *$'\e'* && $out != *$'\a'* && $out != *$'\r'* ]] || fail "a control byte reached the output: $out"; }
open_packet='0{"sid":"A\u001b]0;X\u0007\r","upgrades":["websocket"],"pingInterval":1,"pingTimeout":1}'
expect_exit 0 bash -c 'printf %s "$1" | "$0" decode -' "$I" "$open_packet"
contains "$out" 'sid           A\u001b]0;X\u0007\r'
no_control_bytes
expect_exit 0 "$I" decode "$(printf '42/a\033[2J\a,["ev"]')"
contains "$out" 'namespace   /a\u001b[2J\u0007'
no_control_bytes

expect_exit 1 "$I" decode '9hello'
contains "$err" "unknown packet type"
expect_exit 1 "$I" decode '42["disconnect"]'
contains "$err" "disconnect"
expect_exit 1 "$I" decode '42["chat"'
contains "$err" "socket.io:"
expect_exit 0 "$I" decode '451-["upload",{"_placeholder":true,"num":0}]'
contains "$out" "1 attachment follows in the next frame"
expect_exit 1 "$I" decode --eio 3 '99:42["a"]'
contains "$err" "engine.io:"
expect_exit 2 "$I" decode --eio 5 '40'
expect_exit 2 "$I" decode '40' '41'
expect_exit 2 "$I" frobnicate
contains "$err" "unknown command"
echo ok
