// Turns bench/targets' results (one JSON line per run) into the markdown table of the targets.
// usage: node targets_table.js RESULTS.ndjson SMOKE(0|1)
"use strict";
const fs = require("fs");
const [file, smoke] = process.argv.slice(2);
const rows = fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
const get = (name, server) => {
  const r = rows.find((x) => x.name === name && x.server === server);
  return r ? r.result : undefined;
};
const n = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? "–" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }));
const ms = (us) => (us === undefined || us === null ? "–" : `${n(us / 1000, 2)} ms`);
const ratio = (a, b) => (a > 0 && b > 0 ? a / b : undefined);
const lines = [];
let failed = false;
// target, figures, ratio, met: one line; a missing run makes the line "run failed".
// Lines whose runs were not asked for (--only) are left out.
const line = (target, needed, build) => {
  if (needed.every((r) => r === undefined)) return;
  if (needed.some((r) => !r)) {
    failed = true;
    lines.push(`| ${target} | run failed | | |`);
    return;
  }
  const [figures, q, met] = build(...needed);
  lines.push(`| ${target} | ${figures} | ${q} | ${met === undefined ? "recorded" : met ? "yes" : "no"} |`);
};
const rate = (r) => r.msgs_per_s;
const p99 = (r) => (r.latency_us || {}).p99;
// The server's CPU over the measured window (100 = its core) and per thousand messages.
const cpu = (r) => (r.server_cpu_pct === undefined ? "–" : `${n(r.server_cpu_pct)} %`);
const cost = (r) => r.server_cpu_ms_per_1000;

const kib = (r) => r.server_rss_kib_per_conn;
for (const [t, limit] of [["websocket", 2], ["polling", 4]]) {
  line(`idle ${t === "websocket" ? "WebSocket connected to /" : "polling session"} at 10,000: ≤ ${limit} KiB server RSS each`,
    [get(`idle_${t}`, "sio-serve"), get(`idle_${t}`, "node")],
    (s, o) => [`sio-serve ${n(kib(s), 1)} KiB, Node ${n(kib(o), 1)} KiB, at ${n(s.connected)} and ${n(o.connected)} connected`,
      `${n(ratio(kib(s), limit), 2)}× the target, ${n(ratio(kib(s), kib(o)), 2)}× Node's`, kib(s) <= limit]);
}
// Broadcast: sio-bench's results (msgs_per_s, received, expected, latency_us) and the Node `ws`
// readers' (deliveries_per_s, received, expected, latency_us) read alike.
const delivered = (r) => (r.msgs_per_s !== undefined ? r.msgs_per_s : r.deliveries_per_s);
const share = (r) => (r.expected > 0 ? r.received / r.expected : undefined);
const pct = (x) => (x === undefined ? "–" : `${n(x * 100, 1)} %`);
const readers = [["sio-bench", "sio-serve"], ["Node `ws` readers", "node-ws"]];
for (const [who, key] of readers) {
  line(`broadcast to 1,000, 100,000 deliveries/s offered, read by ${who}: all delivered, p99 ≤ 50 ms`,
    [get("broadcast_low", key)],
    (s) => [`${n(delivered(s))}/s, ${pct(share(s))} delivered, p99 ${ms(p99(s))} (server CPU ${cpu(s)}, ${n(cost(s), 2)} ms per 1,000)`,
      pct(share(s)), s.received === s.expected && p99(s) <= 50000]);
  line(`broadcast to 1,000, 300,000 deliveries/s offered, read by ${who}: ≥ 95 % delivered`,
    [get("broadcast_high", key)],
    (s) => [`${n(delivered(s))}/s, ${pct(share(s))} delivered, p99 ${ms(p99(s))} (server CPU ${cpu(s)}, ${n(cost(s), 2)} ms per 1,000)`,
      pct(share(s)), share(s) >= 0.95]);
}
line("broadcast to 1,000, most deliveries/s: ≥ 4× Node", [get("broadcast_sat", "sio-serve"), get("broadcast_low", "node"), get("broadcast_high", "node")],
  (s, o1, o2) => {
    const o = rate(o1) >= rate(o2) ? o1 : o2;
    return [`sio-serve ${n(rate(s))} (${pct(share(s))} of what sio-bench sent, p99 ${ms(p99(s))}, server CPU ${cpu(s)}); ` +
      `Node's best ${n(rate(o))} (p99 ${ms(p99(o))}, ${cpu(o)})`, `${n(ratio(rate(s), rate(o)), 2)}×`, ratio(rate(s), rate(o)) >= 4];
  });
line("sio-bench on one core receives ≥ 300,000 deliveries/s", [get("broadcast_sat", "sio-serve")],
  (s) => [`${n(rate(s))}/s at ${n(s.client_cpu_pct)} % of its core`, "", rate(s) >= 300000]);
line("WebSocket echo: server CPU per ack ≤ a bare Beast echo server's (at the most acks/s)", [get("ws_echo_max", "sio-serve"), get("ws_echo_max", "beast"), get("ws_echo_max", "node")],
  (s, b, o) => [`sio-serve ${n(cost(s), 1)} ms per 1,000 acks (${n(rate(s))} acks/s, ${cpu(s)}), beast-echo ${n(cost(b), 1)} ms (${n(rate(b))}/s, ${cpu(b)}; sio-bench --raw), ` +
    `Node ${n(cost(o), 1)} ms (${n(rate(o))}/s)`, `${n(ratio(cost(s), cost(b)), 2)}× beast-echo's`, cost(s) <= cost(b)]);
line("long-polling echo, most acks/s: ≥ 3× Node, no more requests per message", [get("polling_echo_max", "sio-serve"), get("polling_echo_max", "node")],
  (s, o) => [`sio-serve ${n(rate(s))} (${n(s.http_requests_per_msg, 2)} requests/message, server CPU ${cpu(s)}), Node ${n(rate(o))} (${n(o.http_requests_per_msg, 2)}, ${cpu(o)}); sio-bench CPU ${n(s.client_cpu_pct)} % and ${n(o.client_cpu_pct)} %`,
    `${n(ratio(rate(s), rate(o)), 2)}×`, ratio(rate(s), rate(o)) >= 3 && s.http_requests_per_msg <= o.http_requests_per_msg + 0.01]);
line("`--threads 2` against `--threads 1` (server and generator share both cores)", [get("threads_1", "sio-serve"), get("threads_2", "sio-serve")],
  (a, b) => [`${n(rate(a))} and ${n(rate(b))} acks/s (sio-bench CPU ${n(a.client_cpu_pct)} % and ${n(b.client_cpu_pct)} %)`,
    `${n(ratio(rate(b), rate(a)), 2)}×`, undefined]);
line("WebSocket echo p99 at a fixed load both carry", [get("ws_echo_fixed", "sio-serve"), get("ws_echo_fixed", "node")],
  (s, o) => [`at ${n(rate(s))} and ${n(rate(o))} acks/s: sio-serve ${ms(p99(s))} (${n(cost(s), 1)} ms CPU per 1,000), Node ${ms(p99(o))} (${n(cost(o), 1)} ms)`,
    p99(s) > 0 ? `1/${n(p99(o) / p99(s), 1)}` : "–", undefined]);
for (const r of rows.filter((x) => x.name.startsWith("generator_") && x.server === "sio-bench")) {
  const node = get(r.name, "node-client");
  line(`generator CPU per 1,000 acks, sio-bench and socket.io-client (${r.name.slice(10)}/s per client)`, [r.result, node],
    (s, o) => {
      const mine = (10 * s.client_cpu_pct) / s.msgs_per_s * 1000;
      const theirs = o.cpu_ms_per_1000_acks;
      return [`sio-bench ${n(mine, 1)} ms at ${n(rate(s))} acks/s; socket.io-client ${n(theirs, 1)} ms at ${n(o.acks_per_s)} acks/s ` +
        `(its user ${n(o.cpu_user_pct)} %, system ${n(o.cpu_system_pct)} %)`, `${n(ratio(mine, theirs), 2)}×`, undefined];
    });
}
let md = "";
if (smoke === "1") md += "Smoke run (a few clients, one second each): the figures below mean nothing.\n\n";
md += "| target | measured | ratio | met? |\n|---|---|---|---|\n" + lines.join("\n") + "\n";
process.stdout.write(md);
process.exitCode = failed ? 1 : 0;
