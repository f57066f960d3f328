#!/usr/bin/env bash
# One URL grammar and one header grammar for the tools: the same bad URL or -H value is refused
# alike by sio-cli, sio-bench and each URL command of sio-inspect, before any connection, with a
# usage error (exit 2) that names what was given and why.
source "$(dirname "$0")/lib.sh"

# refused_by_all TEXT ARGS...: every client tool, given ARGS where a URL goes, exits 2 with TEXT.
refused_by_all() {
  local want=$1; shift
  local -a cmd
  for cmd in "$SIO_CLI" "$SIO_BENCH" "$SIO_INSPECT handshake" "$SIO_INSPECT watch" "$SIO_INSPECT doctor"; do
    # shellcheck disable=SC2086
    expect_exit 2 $cmd "$@"
    contains "$err" "$want"
    [[ -z $out ]] || fail "'$cmd $*' wrote to stdout: $out"
  done
}

refused_by_all "URL 'localhost:3000': not an absolute URL (expected http://, https://, ws:// or wss://)" localhost:3000
refused_by_all "URL 'gopher://h': unsupported URL scheme 'gopher' (expected http, https, ws or wss)" gopher://h
refused_by_all "URL 'http://:3000': no host" http://:3000
refused_by_all "URL 'http://h:0': invalid port '0' (expected 1 to 65535)" http://h:0
refused_by_all "URL 'http://h:65536': invalid port '65536' (expected 1 to 65535)" http://h:65536
refused_by_all "URL 'http://::1:3000': an IPv6 address goes in brackets: [::1]:3000" http://::1:3000
refused_by_all "URL 'http://a:b@h:1': user information (USER:PASSWORD@) is not sent to a server" http://a:b@h:1
# A header without a colon, with a blank in its name, or with a line break in its value.
port=$(closed_port)
for bad in NoColon 'Bad Name: v' $'X: a\r\nInjected: 1'; do
  refused_by_all "-H '$bad': expected 'Name: value'" "http://127.0.0.1:$port" -H "$bad"
done
# A bracketed IPv6 URL is read: the tools get as far as connecting (nothing listens: exit 3).
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
  v6port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1]); s.close()')
  expect_exit 3 "$SIO_CLI" "http://[::1]:$v6port" --emit x --no-reconnect
  expect_exit 3 "$SIO_INSPECT" handshake "http://[::1]:$v6port" --no-ping
fi
# sio-inspect proxy reads --upstream the same way.
expect_exit 2 "$SIO_INSPECT" proxy --upstream http://h:0 --listen 127.0.0.1:0
contains "$err" "--upstream 'http://h:0': invalid port '0' (expected 1 to 65535)"
