#!/usr/bin/env bash
# sio-bench refuses bad option values with a usage error (exit 2) that names the problem, before
# it connects anywhere.
source "$(dirname "$0")/lib.sh"
bench=$SIO_BENCH
url=http://127.0.0.1:9   # never reached: every case fails before connecting

refused() {
  local want=$1; shift
  expect_exit 2 "$bench" "$@"
  contains "$err" "$want"
  contains "$err" "Try 'sio-bench --help'"
  [[ -z $out ]] || fail "'$*' wrote to stdout: $out"
}

refused "missing argument URL" --clients 2
refused "URL 'localhost:3000': not an absolute URL (expected http://, https://, ws:// or wss://)" localhost:3000
refused "--transport 'carrier-pigeon': use websocket, polling, upgrade or all" $url --transport carrier-pigeon
refused "--scenario 'soak': use echo, broadcast, connect or idle" $url --scenario soak
refused "--parser 'cbor': use json or msgpack" $url --parser cbor
refused "--parser needs Socket.IO, not --raw" $url --raw --parser msgpack
refused "--clients must be from 1 to 50000" $url --clients 0
refused "--clients must be from 1 to 50000" $url --clients 50001
refused "--senders must be from 1 to 1000" $url --scenario broadcast --senders 0
refused "--threads must be from 1 to 256" $url --threads 0
refused "--in-flight must be from 1 to 10000" $url --in-flight 0
refused "--rate must be above 0" $url --rate 0
refused "--rate must be above 0" $url --rate -5
refused "--payload must be at most 1048576 bytes" $url --payload 1048577
refused "--duration 'soon': no number (use 500ms, 5s, 1m; a bare number is seconds)" $url --duration soon
refused "--duration '1.5ms': not a whole number of milliseconds" $url --duration 1.5ms
refused "--duration '0s': expected a duration" $url --duration 0s
refused "--duration '2h': expected a duration" $url --duration 2h
refused "--ramp-up 'x': no number" $url --ramp-up x
refused "--timeout '0': expected a duration from 1ms to 10m" $url --timeout 0
refused "--auth '[1]' is not a JSON object" $url --auth '[1]'
refused "--auth '{oops' is not a JSON object" $url --auth '{oops'
refused "-H 'NoColon': expected 'Name: value'" $url -H NoColon
refused "--namespace 'admin' must start with '/'" $url --namespace admin
refused "--raw runs over WebSocket only" ws://127.0.0.1:9 --raw --transport polling
refused "--raw runs the echo scenario only" ws://127.0.0.1:9 --raw --scenario idle
refused "need Socket.IO, not --raw" ws://127.0.0.1:9 --raw --auth '{}'
refused "--server-pid must be a process id" $url --server-pid 0
refused "--server-pid 2147483000: no such process" $url --server-pid 2147483000
refused "--json and --csv exclude each other" $url --json --csv
refused "--ensure 'p99<50': a latency needs a value with a unit" $url --ensure 'p99<50'
refused "--ensure 'latency<5ms': unknown metric 'latency'" $url --ensure 'latency<5ms'
refused "--ensure 'errors=many': expected a number" $url --ensure 'errors=0,errors=many'
refused "--html: cannot write to '/nonexistent-dir/r.html'" $url --html /nonexistent-dir/r.html
refused "unrecognised option '--colour'" $url --colour
refused "--clients" $url --clients many
refused "--path 'rt' must start with '/'" $url --path rt
refused "--query '=v': expected KEY=VALUE" $url --query =v
refused "-H 'Bad Name: x': expected 'Name: value'" $url -H 'Bad Name: x'
refused "expected 'Name: value'" $url -H $'X-A: 1\r\nX-Injected: 2'
refused "--ca, --cert, --key and --insecure go with an https:// or wss:// URL" $url -k
refused "--ca, --cert, --key and --insecure go with an https:// or wss:// URL" $url --ca /etc/hostname
refused "--cert and --key go together" https://127.0.0.1:9 --cert /etc/hostname
refused "--ca '/nonexistent/ca.pem': cannot read it" https://127.0.0.1:9 --ca /nonexistent/ca.pem
refused "need Socket.IO, not --raw" ws://127.0.0.1:9/ --raw --path /x/

# Every option of --help, with its default where it has one.
expect_exit 0 "$bench" --help
for opt in --scenario --transport --clients --senders --ramp-up --duration --rate --payload --in-flight \
           --threads --event --listen-event --namespace --auth --header --path --query --ca --cert --key --insecure --raw --server-pid --timeout --json --csv --ensure --html; do
  contains "$out" "$opt"
done
echo ok
