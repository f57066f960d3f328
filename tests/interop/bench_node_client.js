#!/usr/bin/env node
// A load generator built on the Node socket.io-client 4.8, for comparing sio-bench's own cost
// with it: N clients each emit `echo` with a payload of P bytes and an ack, on a fixed schedule
// (R a second each, one in flight), as `sio-bench --scenario echo` does. Prints one JSON line:
// the acks in the measured window, and this process's CPU time over that window.
//
// usage: node bench_node_client.js URL [--clients N] [--rate R] [--duration S] [--ramp-up S]
//                                      [--payload P] [--transport websocket|polling]
"use strict";
const { io } = require("socket.io-client");

const { url, opt, num } = require("./bench_args").benchArgs("bench_node_client");
if (!url || !/^https?:\/\//.test(url)) {
  console.error("usage: node bench_node_client.js URL [--clients N] [--rate R] [--duration S] [--ramp-up S] [--payload P] [--transport websocket|polling]");
  process.exit(2);
}
const clients = num("--clients", 100, 1, 20000);
const rate = num("--rate", 10, 0.1, 100000);
const duration = num("--duration", 5, 0.1, 3600);
const rampUp = num("--ramp-up", 1, 0, 600);
const payload = "x".repeat(num("--payload", 64, 0, 1 << 20));
const transport = opt("--transport", "websocket");
if (transport !== "websocket" && transport !== "polling") {
  console.error("bench_node_client: --transport is websocket or polling");
  process.exit(2);
}

const intervalMs = 1000 / rate;
const latencies = [];
let acks = 0, errors = 0, connected = 0;
let measuring = false, over = false;
const sockets = [];

function client(index) {
  const s = io(url, { transports: [transport], reconnection: false, forceNew: true, timeout: 10000 });
  sockets.push(s);
  let next = 0, started = 0;
  const tick = () => {
    if (over || !s.connected) return;
    const due = started + next * intervalMs;
    const now = performance.now();
    if (due > now) return void setTimeout(tick, due - now);
    next++;
    s.timeout(10000).emit("echo", payload, (err) => {
      if (err) { if (!over) errors++; }
      else if (measuring) {
        acks++;
        latencies.push(performance.now() - due);
      }
      tick();
    });
  };
  s.on("connect", () => {
    connected++;
    // Spread the clients over one interval so that they do not all send at once.
    started = performance.now() + (index / clients) * intervalMs;
    tick();
  });
  s.on("connect_error", () => errors++);
}

for (let i = 0; i < clients; i++) setTimeout(() => client(i), (rampUp * 1000 * i) / clients);

let cpu0, t0;
setTimeout(() => {
  measuring = true;
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  setTimeout(() => {
    measuring = false;
    const cpu = process.cpuUsage(cpu0);
    const wall = (performance.now() - t0) / 1000;
    over = true;
    for (const s of sockets) s.close();
    latencies.sort((a, b) => a - b);
    const pct = (p) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 1000) : null);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    console.log(JSON.stringify({
      generator: "node socket.io-client",
      clients, connected, rate, transport,
      acks, acks_per_s: acks / wall, errors,
      latency_us: { p50: pct(0.5), p99: pct(0.99) },
      cpu_pct: (100 * cpuSeconds) / wall,
      cpu_user_pct: cpu.user / 1e4 / wall,
      cpu_system_pct: cpu.system / 1e4 / wall,
      cpu_ms_per_1000_acks: acks ? (1e6 * cpuSeconds) / acks : null,
    }));
    process.exit(0);
  }, duration * 1000);
}, rampUp * 1000 + 500);
