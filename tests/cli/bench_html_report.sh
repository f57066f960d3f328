#!/usr/bin/env bash
# sio-bench --html against sio-serve: the report says when it ran (ISO 8601 UTC), with which sio,
# the command line as typed (quoted where a shell needs it) and the machine (CPU model, cores);
# every axis is labelled at round steps, 1, 2 or 5 times a power of ten, from 0.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'serve_stop; rm -rf "$tmp"' EXIT
serve_start "$tmp/serve.log"

before=$(date -u +%s)
expect_exit 0 "$SIO_BENCH" "$serve_url" --clients 2 --rate 50 --duration 1s -H 'X-Test: a b' --html "$tmp/r.html"
after=$(date -u +%s)
html=$(cat "$tmp/r.html")

field() {  # field NAME: the text of the header table's row NAME
  grep -oE "<td class=\"$1\">[^<]*(<code>[^<]*</code>)?</td>" <<< "$html" | sed -E 's#<[^>]+>##g' || true
}
date_=$(field date)
[[ $date_ =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || fail "date: '$date_'"
t=$(date -u -d "$date_" +%s)
((t >= before && t <= after)) || fail "date $date_ is not when the run was"
[[ $(field version) == "sio $SIO_VERSION" ]] || fail "version: '$(field version)'"
[[ $(field command) == "sio-bench $serve_url --clients 2 --rate 50 --duration 1s -H 'X-Test: a b' --html $tmp/r.html" ]] ||
  fail "command: '$(field command)'"
machine=$(field machine)
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
[[ -z $cpu ]] || contains "$machine" "$cpu"
cores=$(getconf _NPROCESSORS_ONLN)
contains "$machine" "$cores core"
contains "$machine" "$(uname -m)"

# Axis ticks, per chart: 0, then steps of 1, 2 or 5 times a power of ten.
ticks=$(awk '
  /<svg/ { chart++ }
  match($0, /class="tick-[xy]"[^>]*>[^<]*</) {
    s = substr($0, RSTART, RLENGTH); axis = substr(s, 13, 1)
    sub(/^[^>]*>/, "", s); sub(/( ms)?<$/, "", s)
    print chart, axis, s
  }' "$tmp/r.html")
[[ -n $ticks ]] || fail "no axis ticks in the report"
awk '
  function fail(m) { print "FAIL: " m > "/dev/stderr"; bad = 1; exit 1 }
  { key = $1 " " $2; v[key, n[key]++] = $3 + 0; label[key, n[key] - 1] = $3 }
  END {
    if (bad) exit 1
    axes = 0
    for (k in n) axes++
    if (axes < 3) fail("expected y ticks on both charts and x ticks over time, got " axes " axes")
    for (k in n) {
      if (n[k] < 2) fail(k ": one tick only")
      if (v[k, 0] != 0) fail(k ": the first tick is " label[k, 0] ", not 0")
      step = v[k, 1]
      if (step <= 0) fail(k ": step " step)
      m = step
      while (m >= 10 - 1e-9) m /= 10
      while (m < 1 - 1e-9) m *= 10
      if (!(m > 0.999 && m < 1.001) && !(m > 1.999 && m < 2.001) && !(m > 4.999 && m < 5.001))
        fail(k ": step " step " is not 1, 2 or 5 times a power of ten")
      for (i = 1; i < n[k]; i++) {
        want = i * step
        if (v[k, i] - want > want * 1e-6 || want - v[k, i] > want * 1e-6)
          fail(k ": tick " i " is " label[k, i] ", expected " want)
      }
    }
  }' <<< "$ticks" || fail "axis ticks: $ticks"
echo ok
