#!/usr/bin/env node
// A broadcast load generator in Node, to measure a server's fan-out with readers other than
// sio-bench: N listeners and S senders connect to a server that relays `broadcast` [EVENT, ...]
// to every other socket (sio-serve --on broadcast=relay, bench_node_server.js); each sender emits
// R messages a second carrying its send time; the listeners time each delivery. Prints one JSON
// line: deliveries expected and received in the window, deliveries/s, latency percentiles, this
// process's CPU, and (with --server-pid) the server's CPU over the window.
//
//   --client ws         listeners speak Engine.IO/Socket.IO by hand over the `ws` package: the
//                       cheapest reader Node has, so that the generator itself is not the limit
//   --client socket.io  listeners are socket.io-client sockets: the readers users have, slower
//
//   --send-to URL2      the senders connect to another server of the same cluster: the
//                       deliveries then cross the cluster's adapter (Redis) on their way
//
// usage: node bench_node_broadcast.js URL [--clients N] [--senders S] [--rate R] [--duration S]
//                                         [--ramp-up S] [--client ws|socket.io] [--server-pid PID]
//                                         [--send-to URL2]
"use strict";
const fs = require("fs");
const { execSync } = require("child_process");
const { performance } = require("perf_hooks");
const WebSocket = require("ws");
const { io } = require("socket.io-client");

const { url, opt, num } = require("./bench_args").benchArgs("bench_node_broadcast");
if (!url || !/^https?:\/\//.test(url)) {
  console.error(usage);
  process.exit(2);
}
const clients = num("--clients", 1000, 1, 20000);
const senders = num("--senders", 2, 1, 100);
const rate = num("--rate", 50, 0.1, 100000);
const durationS = num("--duration", 5, 0.1, 600);
const rampS = num("--ramp-up", 1, 0, 60);
const kind = opt("--client", "ws");
if (kind !== "ws" && kind !== "socket.io") {
  console.error("bench_node_broadcast: --client must be ws or socket.io");
  process.exit(2);
}
const serverPid = opt("--server-pid", null);
const sendTo = opt("--send-to", url);
if (!/^https?:\/\//.test(sendTo)) {
  console.error(usage);
  process.exit(2);
}
// The whole run is bounded: connecting, the window, and a second for the last deliveries.
const bound = setTimeout(() => {
  console.error("bench_node_broadcast: did not finish in time");
  process.exit(1);
}, (60 + rampS + durationS + 5) * 1000);

const ticks = Number(execSync("getconf CLK_TCK").toString());
const cpuOf = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / ticks;  // utime + stime, seconds
};

// Latencies in microseconds, kept in a histogram of 10 µs buckets up to 10 s.
const buckets = new Uint32Array(1000001);
let received = 0;
let measuring = false;
function delivered(sentAt) {
  if (!measuring) return;
  received++;
  const us = Math.min(Math.round((performance.now() - sentAt) * 100), buckets.length - 1);
  buckets[us]++;
}
function percentile(p) {
  const want = Math.ceil(received * p);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i];
    if (seen >= want && want > 0) return i * 10;
  }
  return null;
}

// A listener over `ws`: the Engine.IO open, the namespace connect, pings answered; each
// `42["bench",{"t":...}]` timed by reading the number after "t": (no full JSON parse).
function wsListener() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket");
    ws.on("error", reject);
    ws.on("message", (data) => {
      const s = data.toString();
      if (s === "2") return ws.send("3");
      if (s.startsWith("0")) return ws.send("40");
      if (s.startsWith("40")) return resolve(ws);
      if (s.startsWith("42")) {
        const at = s.indexOf('"t":');
        if (at >= 0) delivered(parseFloat(s.slice(at + 4)));
        return;
      }
      if (s.startsWith("44")) reject(new Error(`refused: ${s}`));
    });
  });
}

function sioSocket(to = url) {
  return new Promise((resolve, reject) => {
    const socket = io(to, { transports: ["websocket"], reconnection: false, forceNew: true });
    socket.on("connect", () => resolve(socket));
    socket.on("connect_error", reject);
  });
}

async function sioListener() {
  const socket = await sioSocket();
  socket.on("bench", (m) => delivered(m.t));
  return socket;
}

async function main() {
  const listeners = [];
  const rampGap = (rampS * 1000) / clients;
  for (let i = 0; i < clients; i++) {
    listeners.push(kind === "ws" ? wsListener() : sioListener());
    if (rampGap >= 1 && i % 10 === 9) await new Promise((r) => setTimeout(r, rampGap * 10));
  }
  const open = await Promise.all(listeners);
  const sending = await Promise.all(Array.from({ length: senders }, () => sioSocket(sendTo)));

  const cpu0 = process.cpuUsage();
  const server0 = serverPid ? cpuOf(serverPid) : null;
  const t0 = performance.now();
  measuring = true;
  let sent = 0;
  const gap = 1000 / rate;
  const timers = sending.map((s, k) => {
    let next = t0 + (gap * k) / senders;
    const tick = () => {
      const now = performance.now();
      while (next <= now && now - t0 < durationS * 1000) {
        s.emit("broadcast", "bench", { t: performance.now() });
        sent++;
        next += gap;
      }
      if (now - t0 < durationS * 1000) timer = setTimeout(tick, Math.max(0, next - performance.now()));
    };
    let timer = setTimeout(tick, 0);
    return () => clearTimeout(timer);
  });
  await new Promise((r) => setTimeout(r, durationS * 1000));
  timers.forEach((stop) => stop());
  const window = (performance.now() - t0) / 1000;
  const server1 = serverPid ? cpuOf(serverPid) : null;
  // The last messages' deliveries, counted but outside the window's rate.
  const expected = sent * clients;
  const until = performance.now() + 1000;
  while (received < expected && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const out = {
    client: kind, clients, senders, rate, duration_s: window, sent, expected, received,
    deliveries_per_s: received / window,
    latency_us: { p50: percentile(0.5), p90: percentile(0.9), p99: percentile(0.99), max: percentile(1) },
    generator_cpu_pct: ((cpu.user + cpu.system) / 1e6 / window) * 100,
    server_cpu_pct: server0 === null ? null : ((server1 - server0) / window) * 100,
    server_cpu_ms_per_1000: server0 === null || received === 0 ? null : ((server1 - server0) * 1e6) / received,
  };
  console.log(JSON.stringify(out));
  for (const l of open) kind === "ws" ? l.terminate() : l.close();
  for (const s of sending) s.close();
  clearTimeout(bound);
}

main().catch((e) => {
  console.error(`bench_node_broadcast: ${e.message}`);
  process.exit(1);
});
