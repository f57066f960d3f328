#!/usr/bin/env bash
# sio-serve refuses bad --mode, --on, --on-connect, --redis, --redis-adapter and
# --redis-subscription-mode values with a usage error (exit 2) that names the rule and what is
# wrong, before it listens.
source "$(dirname "$0")/lib.sh"
serve=$SIO_SERVE

# refused EXPECTED-SUBSTRING ARGS...: exit 2, the message names the problem.
refused() {
  local want=$1; shift
  expect_exit 2 "$serve" --port 0 "$@"
  contains "$err" "$want"
  [[ $err != *"listening on"* ]] || fail "'$*' started listening: $err"
}

refused "--mode 'loud'" --mode loud
refused "--on 'x=shout': unknown action 'shout'" --on x=shout
refused "--on '=echo': empty event" --on =echo
refused "--on 'x': expected EVENT=ACTION" --on x
refused "--on 'x=emit': expected emit:NAME" --on x=emit
refused "--on 'x=emit:': empty event name after 'emit:'" --on x=emit:
refused "--on 'x=ack:y': action 'ack' takes no ':NAME'" --on x=ack:y
refused "--on 'disconnect=echo': event 'disconnect' is reserved" --on disconnect=echo
refused "--on 'x=emit:connect'" --on x=emit:connect
refused "--on '/admin:x=echo': namespace '/admin' is not declared (add --namespace /admin)" --on /admin:x=echo
refused "--on '/admin': expected /NAMESPACE:EVENT=ACTION" --namespace /admin --on /admin
refused "--on-connect 'emit:hello:cookies': bad FIELD 'cookies' (use auth, query, headers or handshake)" \
  --on-connect emit:hello:cookies
refused "--on-connect 'send:hello': unknown action 'send'" --on-connect send:hello
refused "--on-connect 'emit:': empty event name" --on-connect emit:
refused "--on-connect '/x:emit:hi': namespace '/x' is not declared" --on-connect /x:emit:hi
# The first bad rule is named even after good ones.
refused "--on 'b=nope'" --on a=echo --on b=nope
# The parser: json or msgpack, and only where there is Socket.IO.
refused "--parser 'cbor': use json or msgpack" --parser cbor
refused "--parser needs Socket.IO: --mode engine-echo has no Socket.IO packets" --mode engine-echo --parser msgpack
# engine-echo has no Socket.IO events for rules to act on.
refused "--mode engine-echo has no events" --mode engine-echo --on x=echo
refused "--mode engine-echo has no events" --mode engine-echo --on-connect emit:hi

# A bad Redis URL is refused without echoing it (it may hold a password).
refused "--redis: use redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (rediss:// for TLS)" --redis 'redis://alice@h0st-7'
[[ $err != *h0st-7* ]] || fail "the Redis URL was echoed: $err"
refused "--redis: use redis://" --redis 'redis://:pw@'
refused "--redis: use redis://" --redis 'rediss://:pw@'
# The adapter is pubsub, sharded or streams, and needs --redis; a subscription mode is one of the
# sharded adapter's, and only for it.
refused "--redis-adapter: use pubsub (@socket.io/redis-adapter), sharded" --redis 'redis://127.0.0.1:6379' --redis-adapter shards
refused "--redis-adapter needs --redis" --redis-adapter streams
refused "--redis-adapter needs --redis" --redis-adapter sharded
refused "--redis-subscription-mode: use static, dynamic or dynamic-private" --redis 'redis://127.0.0.1:6379' \
  --redis-adapter sharded --redis-subscription-mode private
refused "--redis-subscription-mode needs --redis-adapter sharded" --redis 'redis://127.0.0.1:6379' \
  --redis-subscription-mode static
refused "--no-forward-requests needs --redis" --no-forward-requests
# The TLS settings of rediss:// need rediss://, and a client certificate needs its key.
refused "need --redis rediss://" --redis-tls-insecure
refused "need --redis rediss://" --redis 'redis://127.0.0.1:6379' --redis-tls-ca /etc/hostname
refused "--redis-tls-cert and --redis-tls-key go together" --redis 'rediss://127.0.0.1:6379' --redis-tls-cert /etc/hostname
# A file that cannot be used is named before anything listens (exit 1, like --tls-cert's).
expect_exit 1 "$serve" --port 0 --redis 'rediss://127.0.0.1:6379' --redis-tls-ca /nonexistent/ca.pem
contains "$err" "--redis: TLS: cannot load CA file '/nonexistent/ca.pem'"
[[ $err != *"listening on"* ]] || fail "started listening with an unusable CA file: $err"

# --help documents the flags.
expect_exit 0 "$serve" --help
for opt in --mode --on --on-connect --redis-tls-ca --redis-tls-cert --redis-tls-key --redis-tls-insecure --no-forward-requests; do
  contains "$out" "$opt"
done
echo ok
