#!/usr/bin/env bash
# sio-cli refuses bad option values with a usage error (exit 2) that names the problem, before
# it connects anywhere.
source "$(dirname "$0")/lib.sh"
cli=$SIO_CLI
url=http://127.0.0.1:9   # never reached: every case fails before connecting

refused() {
  local want=$1; shift
  expect_exit 2 "$cli" "$@"
  contains "$err" "$want"
  contains "$err" "Try 'sio-cli --help'"
  [[ -z $out ]] || fail "'$*' wrote to stdout: $out"
}

refused "missing argument URL" --listen
refused "URL 'localhost:3000': not an absolute URL (expected http://, https://, ws:// or wss://)" localhost:3000
refused "URL 'ftp://h': unsupported URL scheme 'ftp'" ftp://h
refused "--transport 'carrier-pigeon': use websocket, polling or upgrade" $url --transport carrier-pigeon
refused "--eio 5: use 4, or 3" $url --eio 5
refused "--timeout 'soon': no number (use 500ms, 5s, 1m; a bare number is milliseconds)" $url --listen --timeout soon
refused "--timeout '5parsecs': unknown unit 'parsecs'" $url --listen --timeout 5parsecs
refused "--timeout must be more than 0" $url --listen --timeout 0
refused "--reconnect-delay '-1s': negative" $url --reconnect-delay=-1s
refused "--reconnect-delay is longer than --reconnect-delay-max" $url --reconnect-delay 10s --reconnect-delay-max 1s
refused "--connect-timeout 'x': no number" $url --connect-timeout x
refused "-H 'NoColon': expected 'Name: value'" $url -H NoColon
refused "--query '=v': expected KEY=VALUE" $url --query =v
refused "--auth '[1]' is not a JSON object" $url --auth '[1]'
refused "--auth '{oops' is not a JSON object" $url --auth '{oops'
refused "--path 'socket' must start with '/'" $url --path socket
refused "--ack goes with --emit" $url --ack
refused "--count goes with --wait-for" $url --listen --count 2
refused "--count must be at least 1" $url --wait-for x --count 0
refused "--wait-for and --listen exclude each other" $url --wait-for x --listen
refused "--cert and --key go together" $url --cert c.pem
refused "--emit: 'connect' is a reserved event name" $url --emit connect
refused "--emit: argument 1: @hex:abc: odd number of hex digits" $url --emit x @hex:abc
refused "--emit: argument 2: invalid JSON at column 6" $url --emit x ok '{"a":'

refused "--subprotocol is for raw WebSocket" $url --subprotocol chat
refused "need Socket.IO; not with --raw or a ws:// URL" ws://127.0.0.1:9/ --auth '{}'
refused "--ack needs Socket.IO" ws://127.0.0.1:9/ --emit hi --ack
refused "--reconnect-attempts and --no-reconnect exclude each other" $url --no-reconnect --reconnect-attempts 2
refused "--proxy 'socks5://p:1': a proxy is an http://[USER:PASSWORD@]HOST:PORT URL" $url --proxy socks5://p:1
refused "unrecognised option '--colour'" $url --colour
refused "--count" $url --wait-for x --count many

# An https_proxy from the environment is checked the same way as --proxy.
expect_exit 2 env https_proxy=bogus "$cli" https://127.0.0.1:9 --listen
contains "$err" "proxy 'bogus'"
# ... and skipped for hosts no_proxy names.
expect_exit 2 env https_proxy=bogus no_proxy=127.0.0.1 "$cli" https://127.0.0.1:9 --listen --timeout x
contains "$err" "--timeout 'x'"
echo ok
