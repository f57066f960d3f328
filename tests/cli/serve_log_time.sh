#!/usr/bin/env bash
# Every line of sio-serve's text log starts with the time, ISO 8601 in UTC with milliseconds
# (2026-12-06T21:40:01.123Z), then "sio-serve: "; the time is now. The JSON log keeps the time in
# its "time" field, each line a JSON object.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'serve_stop; rm -rf "$tmp"' EXIT
stamp='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'

before=$(date -u +%s)
serve_start "$tmp/text.log" -v
# A client connects, is acked and leaves: connect and disconnect lines.
said=$("$SIO_CLI" "$serve_url" --emit echo hi --ack --timeout 5s 2>&1) || fail "sio-cli against $serve_url: $said"
serve_stop
after=$(date -u +%s)
log=$(cat "$tmp/text.log")
contains "$log" "listening on $serve_url"
contains "$log" "disconnect"
lines=0
while IFS= read -r line; do
  lines=$((lines + 1))
  [[ $line =~ ^($stamp)\ sio-serve:\ [^\ ] ]] || fail "text log line without the time first: $line"
  t=$(date -u -d "${BASH_REMATCH[1]}" +%s) || fail "not a date: ${BASH_REMATCH[1]}"
  ((t >= before && t <= after)) || fail "time ${BASH_REMATCH[1]} not between the start and the end of the test: $line"
done <<< "$log"
((lines >= 4)) || fail "expected listening, connect, disconnect and shutdown lines: $log"

serve_start "$tmp/json.log" --log-format json
said=$("$SIO_CLI" "$serve_url" --emit echo hi --ack --timeout 5s 2>&1) || fail "sio-cli against $serve_url: $said"
serve_stop
while IFS= read -r line; do
  [[ $line =~ ^\{.*\"time\":\"$stamp\" ]] || fail "JSON log line without its time field, or not an object: $line"
done < "$tmp/json.log"
echo ok
