#!/usr/bin/env bash
# sio-bench against a port where nothing listens: exit 3 (as sio-cli's "could not connect") and
# one line on standard error that names the cause, no table of zeros; with --transport all the
# other transports are not tried (they would fail alike), and the line says which run it was.
source "$(dirname "$0")/lib.sh"
port=$(closed_port)
url=http://127.0.0.1:$port

expect_exit 3 "$SIO_BENCH" "$url" --clients 3 --duration 1s --timeout 2s
[[ $err == "sio-bench: cannot connect to 127.0.0.1:$port: Connection refused" ]] ||
  fail "expected one line naming the cause, got: $err"
[[ -z $out ]] || fail "printed a table for a run where nothing connected: $out"

expect_exit 3 "$SIO_BENCH" "$url" --transport all --clients 2 --duration 1s --timeout 2s
[[ $err == "sio-bench: websocket: cannot connect to 127.0.0.1:$port: Connection refused" ]] ||
  fail "--transport all: expected one line naming the cause, got: $err"
[[ -z $out ]] || fail "--transport all: printed a table: $out"

# Plain WebSocket alike.
expect_exit 3 "$SIO_BENCH" "ws://127.0.0.1:$port/" --raw --clients 2 --duration 1s --timeout 2s
[[ $err == "sio-bench: cannot connect to 127.0.0.1:$port: Connection refused" ]] ||
  fail "--raw: expected one line naming the cause, got: $err"

# Machines still get their record, with the errors counted.
expect_exit 3 "$SIO_BENCH" "$url" --json --clients 2 --duration 1s --timeout 2s
contains "$out" '"connected":0'
contains "$out" '"connect_failed":2'
[[ $err == "sio-bench: cannot connect to 127.0.0.1:$port: Connection refused" ]] || fail "--json: $err"

# The man page says what exit status 3 means.
grep -q "could connect" "$SIO_SOURCE_DIR/man/sio-bench.1" || fail "man/sio-bench.1 does not document exit status 3"
echo ok
