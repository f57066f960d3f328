#!/usr/bin/env bash
# One grammar for the four tools. Every duration flag takes 500ms, 5s, 1m (a bare number keeps the
# flag's old unit: milliseconds, seconds for sio-bench and sio-inspect --duration) and refuses
# anything else with a usage error (exit 2) naming the flag and the accepted forms. An event
# argument that starts like JSON must be JSON (the error names the column); other text is a string.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'serve_stop; rm -rf "$tmp"' EXIT
port=$(closed_port)
closed=http://127.0.0.1:$port

# refused TOOL TEXT ARGS...: exit 2, TEXT on standard error, nothing on standard output.
refused() {
  local tool=$1 want=$2; shift 2
  expect_exit 2 "$tool" "$@"
  contains "$err" "$want"
  contains "$err" "Try '$(basename "$tool") --help'"
  [[ -z $out ]] || fail "'$*' wrote to stdout: $out"
}

# sio-serve: the handshake advertises what --ping-interval and --ping-timeout say.
handshake() { curl -sS --max-time 10 "$serve_url/socket.io/?EIO=4&transport=polling"; }
for form in 2s:2000 1500ms:1500 1m:60000 2500:2500 1.5s:1500; do
  serve_start "$tmp/serve.log" --ping-interval "${form%%:*}" --ping-timeout 3s --recovery-window 30s \
    --shutdown-timeout 1s --request-timeout 1m --connect-timeout 45000
  open=$(handshake)
  contains "$open" "\"pingInterval\":${form#*:},"
  contains "$open" '"pingTimeout":3000'
  serve_stop
done
serve=$SIO_SERVE
refused "$serve" "--ping-interval 'soon': no number (use 500ms, 5s, 1m; a bare number is milliseconds)" --ping-interval soon
refused "$serve" "--ping-timeout '-5s': negative" --ping-timeout -5s
refused "$serve" "--recovery-window '30 s': unknown unit ' s'" --recovery-window '30 s'
refused "$serve" "--request-timeout '2d': unknown unit 'd'" --request-timeout 2d
refused "$serve" "--shutdown-timeout '1.5ms': not a whole number of milliseconds" --shutdown-timeout 1.5ms
refused "$serve" "--connect-timeout '99999999999999999999': too long" --connect-timeout 99999999999999999999
refused "$serve" "--ping-interval '1200h': too long" --ping-interval 1200h
refused "$serve" "--ping-interval and --ping-timeout must be positive" --ping-interval 0

# sio-inspect --timeout: every form gets as far as connecting (exit 3 on a closed port), not a
# usage error; a bare number is milliseconds as before.
inspect=$SIO_INSPECT
for t in 2s 1500ms 1m 2000 0.5s; do
  expect_exit 3 "$inspect" handshake "$closed" --timeout "$t" --no-ping
done
refused "$inspect" "--timeout '2x': unknown unit 'x' (use 500ms, 5s, 1m; a bare number is milliseconds)" \
  handshake "$closed" --timeout 2x
refused "$inspect" "--timeout must be positive" handshake "$closed" --timeout 0s
refused "$inspect" "--duration 'later': no number (use 500ms, 5s, 1m; a bare number is seconds)" \
  proxy --upstream "$closed" --duration later
# proxy --duration in milliseconds now: it stops by itself, exit 0.
expect_exit 0 "$inspect" proxy --upstream "$closed" --listen 127.0.0.1:0 --duration 200ms
contains "$err" "127.0.0.1:"
# watch --emit EVENT=JSON follows the argument rule.
expect_exit 2 "$inspect" watch "$closed" --emit 'x={"a":'
contains "$err" "--emit 'x={\"a\":': invalid JSON at column 6"

# sio-bench: each form is accepted (the run fails on connecting: exit 3), a bare number is seconds.
bench=$SIO_BENCH
for d in 1500ms 2s 1m 2 0.5; do
  expect_exit 3 "$bench" "$closed" --clients 1 --duration "$d" --ramp-up 0 --timeout 1s
done
expect_exit 3 "$bench" "$closed" --clients 1 --duration 1s --ramp-up 1500ms --timeout 2
refused "$bench" "--duration 'fast': no number (use 500ms, 5s, 1m; a bare number is seconds)" "$closed" --duration fast
refused "$bench" "--timeout '-1': negative" "$closed" --timeout -1
refused "$bench" "--ramp-up '1.5ms': not a whole number of milliseconds" "$closed" --ramp-up 1.5ms

# sio-cli: durations in every form, a bare number in milliseconds; arguments JSON or string.
cli=$SIO_CLI
serve_start "$tmp/serve.log"
expect_exit 0 "$cli" "$serve_url" --emit echo hello --ack --timeout 5000 --json --connect-timeout 1m \
  --reconnect-delay 1500ms --reconnect-delay-max 2s
contains "$out" '"hello"'
expect_exit 0 "$cli" "$serve_url" --emit echo '{"a":1}' 42 nullable --ack --timeout 5s --json
contains "$out" '{"a":1}'
contains "$out" '"nullable"'
serve_stop
refused "$cli" "--emit: argument 1: invalid JSON at column 6" "$closed" --emit echo '{"a":'
refused "$cli" "--emit: argument 2: invalid JSON at column 2" "$closed" --emit echo ok 3rd
refused "$cli" "--timeout '2x': unknown unit 'x' (use 500ms, 5s, 1m; a bare number is milliseconds)" "$closed" --listen --timeout 2x
refused "$cli" "--connect-timeout '-1': negative" "$closed" --connect-timeout -1
refused "$cli" "--reconnect-delay-max 'ms': no number" "$closed" --reconnect-delay-max ms

# --help says the bare-number unit of each duration flag (its lines wrapped: blanks folded).
help_of() { expect_exit 0 "$1" --help; out=$(tr -s '[:space:]' ' ' <<<"$out"); }
help_of "$cli"
contains "$out" "--timeout arg limit for --ack (default 10s), --wait-for and --listen (default none) (500ms, 5s, 1m; a bare number is milliseconds)"
help_of "$inspect"
contains "$out" "--timeout DURATION (=10s) time allowed per step (500ms, 5s, 1m; a bare number is milliseconds)"
contains "$out" "--duration DURATION (=0ms) proxy, watch: stop after this long, 0: on SIGINT/SIGTERM (500ms, 5s, 1m; a bare number is seconds)"
help_of "$bench"
contains "$out" "a bare number is seconds"
help_of "$serve"
contains "$out" "--ping-interval DURATION (=25s) time between the server's pings (500ms, 5s, 1m; a bare number is milliseconds)"
echo ok
