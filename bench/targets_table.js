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

line("WebSocket echo, most acks/s: ≥ 2.5× Node", [get("ws_echo_max", "sio-serve"), get("ws_echo_max", "node"), get("ws_echo_max", "sio-serve")],
  (s, o) => [`sio-serve ${n(rate(s))} (server CPU ${cpu(s)}), Node ${n(rate(o))} (${cpu(o)}); sio-bench CPU ${n(s.client_cpu_pct)} % and ${n(o.client_cpu_pct)} %`,
    `${n(ratio(rate(s), rate(o)), 2)}×`, ratio(rate(s), rate(o)) >= 2.5]);
line("WebSocket echo, most acks/s: ≥ 0.8× a minimal Beast echo server", [get("ws_echo_max", "sio-serve"), get("ws_echo_max", "beast")],
  (s, b) => [`sio-serve ${n(rate(s))} (server CPU ${cpu(s)}), beast-echo ${n(rate(b))} (${cpu(b)}; sio-bench --raw, CPU ${n(b.client_cpu_pct)} %)`,
    `${n(ratio(rate(s), rate(b)), 2)}×`, ratio(rate(s), rate(b)) >= 0.8]);
line("p99 at a fixed load both carry: ≤ 1/3 of Node's", [get("ws_echo_fixed", "sio-serve"), get("ws_echo_fixed", "node")],
  (s, o) => [`at ${n(rate(s))} and ${n(rate(o))} acks/s: sio-serve ${ms(p99(s))}, Node ${ms(p99(o))}`,
    p99(s) > 0 ? `1/${n(p99(o) / p99(s), 1)}` : "–", p99(s) * 3 <= p99(o)]);
// Server CPU per thousand messages at the same load: what each server would carry on a core of
// its own, whatever the generator can offer.
line("server CPU per 1,000 acks at the fixed WebSocket load (work per core)", [get("ws_echo_fixed", "sio-serve"), get("ws_echo_fixed", "node")],
  (s, o) => [`sio-serve ${n(cost(s), 1)} ms (${cpu(s)}), Node ${n(cost(o), 1)} ms (${cpu(o)})`,
    `${n(ratio(cost(o), cost(s)), 2)}× less`, undefined]);
line("server CPU per 1,000 acks at the most WebSocket acks/s", [get("ws_echo_max", "sio-serve"), get("ws_echo_max", "node"), get("ws_echo_max", "beast")],
  (s, o, b) => [`sio-serve ${n(cost(s), 1)} ms, Node ${n(cost(o), 1)} ms, beast-echo ${n(cost(b), 1)} ms`,
    `${n(ratio(cost(o), cost(s)), 2)}× less than Node, ${n(ratio(cost(s), cost(b)), 2)}× beast-echo's`, undefined]);
line("long-polling echo, most acks/s: ≥ 3× Node, no more requests per message", [get("polling_echo_max", "sio-serve"), get("polling_echo_max", "node")],
  (s, o) => [`sio-serve ${n(rate(s))} (${n(s.http_requests_per_msg, 2)} requests/message, server CPU ${cpu(s)}), Node ${n(rate(o))} (${n(o.http_requests_per_msg, 2)}, ${cpu(o)}); sio-bench CPU ${n(s.client_cpu_pct)} % and ${n(o.client_cpu_pct)} %`,
    `${n(ratio(rate(s), rate(o)), 2)}×`, ratio(rate(s), rate(o)) >= 3 && s.http_requests_per_msg <= o.http_requests_per_msg + 0.01]);
line("broadcast fan-out, most deliveries/s: ≥ 5× Node", [get("broadcast_max", "sio-serve"), get("broadcast_max", "node")],
  (s, o) => [`sio-serve ${n(rate(s))} (p99 ${ms(p99(s))}, server CPU ${cpu(s)}), Node ${n(rate(o))} (p99 ${ms(p99(o))}, ${cpu(o)}), ${n(s.clients)} clients; sio-bench CPU ${n(s.client_cpu_pct)} % and ${n(o.client_cpu_pct)} %`,
    `${n(ratio(rate(s), rate(o)), 2)}×`, ratio(rate(s), rate(o)) >= 5]);
line("broadcast at a load both carry: equal or better p99", [get("broadcast_fixed", "sio-serve"), get("broadcast_fixed", "node")],
  (s, o) => [`at ${n(rate(s))} and ${n(rate(o))} deliveries/s: sio-serve ${ms(p99(s))} (server CPU ${cpu(s)}, ${n(cost(s), 2)} ms per 1,000), Node ${ms(p99(o))} (${cpu(o)}, ${n(cost(o), 2)} ms)`,
    p99(s) > 0 ? `1/${n(p99(o) / p99(s), 1)}` : "–", p99(s) <= p99(o)]);
for (const [t, limit] of [["websocket", 5], ["polling", 10]]) {
  line(`idle ${t === "websocket" ? "WebSocket connection" : "polling session"}: ≤ ${limit} KiB server RSS each`,
    [get(`idle_${t}`, "sio-serve"), get(`idle_${t}`, "node")],
    (s, o) => [`sio-serve ${n(s.server_rss_kib_per_conn, 1)} KiB, Node ${n(o.server_rss_kib_per_conn, 1)} KiB, at ${n(s.connected)} and ${n(o.connected)} connected`,
      `${n(ratio(s.server_rss_kib_per_conn, o.server_rss_kib_per_conn), 2)}× Node's`, s.server_rss_kib_per_conn <= limit]);
}
line("`--threads 2` against `--threads 1` (server and generator share both cores)", [get("threads_1", "sio-serve"), get("threads_2", "sio-serve")],
  (a, b) => [`${n(rate(a))} and ${n(rate(b))} acks/s (sio-bench CPU ${n(a.client_cpu_pct)} % and ${n(b.client_cpu_pct)} %)`,
    `${n(ratio(rate(b), rate(a)), 2)}×`, undefined]);
for (const r of rows.filter((x) => x.name.startsWith("generator_") && x.server === "sio-bench")) {
  const node = get(r.name, "node-client");
  line(`sio-bench CPU per 1,000 acks: ≤ 1/3 of a socket.io-client generator (${r.name.slice(10)}/s per client)`, [r.result, node],
    (s, o) => {
      const mine = (10 * s.client_cpu_pct) / s.msgs_per_s * 1000;
      const theirs = o.cpu_ms_per_1000_acks;
      return [`sio-bench ${n(mine, 1)} ms at ${n(rate(s))} acks/s; socket.io-client ${n(theirs, 1)} ms at ${n(o.acks_per_s)} acks/s ` +
        `(its user ${n(o.cpu_user_pct)} %, system ${n(o.cpu_system_pct)} %)`, `${n(ratio(mine, theirs), 2)}×`, mine * 3 <= theirs];
    });
}
let md = "";
if (smoke === "1") md += "Smoke run (a few clients, one second each): the figures below mean nothing.\n\n";
md += "| target | measured | ratio | met? |\n|---|---|---|---|\n" + lines.join("\n") + "\n";
process.stdout.write(md);
process.exitCode = failed ? 1 : 0;
