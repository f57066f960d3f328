#!/usr/bin/env bash
# sio-bench against sio-serve over TLS (a self-signed certificate made here by openssl) on a
# custom Engine.IO path, on every transport: verified with --ca, or not verified with -k; without
# either no client connects (exit 4, as sio-cli's TLS failure, one line on the certificate), and
# with the wrong --path none connects (exit 3).
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
  -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null

"$SIO_SERVE" --port 0 --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" --path /rt/ --mode echo 2>"$tmp/log" & pid=$!
for _ in $(seq 100); do
  port=$(grep -oE 'listening on https://127\.0\.0\.1:[0-9]+' "$tmp/log" | grep -oE '[0-9]+$' || true)
  [[ -n $port ]] && break
  sleep 0.05
done
[[ -n $port ]] || fail "sio-serve did not start: $(cat "$tmp/log")"
url=https://127.0.0.1:$port
run=(--clients 2 --rate 20 --duration 500ms --timeout 5s --json)

# every_transport_answered JSON-LINES: one line per transport, each with both clients connected
# and every message answered.
every_transport_answered() {
  node -e '
    const runs = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const seen = runs.map((r) => r.transport).sort().join(",");
    if (seen !== "polling,upgrade,websocket") throw new Error("transports: " + seen);
    for (const r of runs) {
      if (r.connected !== 2 || r.errors !== 0 || r.sent === 0 || r.received !== r.sent)
        throw new Error(r.transport + ": " + JSON.stringify({connected: r.connected, errors: r.errors, sent: r.sent, received: r.received}));
    }' <<<"$1" || fail "sio-bench over TLS: $1"
}

expect_exit 0 "$SIO_BENCH" "$url" --path /rt/ --ca "$tmp/cert.pem" --transport all "${run[@]}"
every_transport_answered "$out"
expect_exit 0 "$SIO_BENCH" "$url" --path /rt/ -k --transport all "${run[@]}"
every_transport_answered "$out"

# The system store does not know the certificate: every client fails, and one line says why.
# Exit status 4, as sio-cli's for a TLS failure.
expect_exit 4 "$SIO_BENCH" "$url" --path /rt/ --transport websocket "${run[@]}"
[[ $err == "sio-bench: TLS certificate verification failed: "* && $err != *$'\n'* ]] ||
  fail "expected one line on the certificate: $err"
# The default path is not served: no client connects.
expect_exit 3 "$SIO_BENCH" "$url" -k --transport polling "${run[@]}"
echo ok
