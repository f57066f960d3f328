// scripts/cluster-demo (Redis, three sio-serve --redis, HAProxy with a sticky cookie) driven by
// polling-only socket.io-client clients: with the cookie they spread over the instances, none
// loses its session and every chat message reaches every client; without the cookie (a client
// that does not keep cookies) the sessions break, as they must behind round robin, and
// `sio-inspect doctor` (SIO_INSPECT in the environment) names it: the requests stick only with
// the load balancer's cookie.
// Usage: node redis_haproxy.js PATH/TO/cluster-demo PATH/TO/sio-serve
"use strict";
const { spawn } = require("child_process");
const { io } = require("socket.io-client");
const { fail, until, deadline } = require("./lib");

const demo = process.argv[2] || fail("usage: node redis_haproxy.js CLUSTER_DEMO SIO_SERVE");
const serve = process.argv[3] || fail("usage: node redis_haproxy.js CLUSTER_DEMO SIO_SERVE");
deadline(90000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startDemo() {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [demo], { env: { ...process.env, SIO_SERVE: serve }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`cluster-demo did not print its URL: ${out}`)), 30000);
    const onData = (c) => {
      out += c;
      const url = out.match(/open (http:\/\/127\.0\.0\.1:\d+)/);
      const nodes = out.match(/sio-serve on ((?:127\.0\.0\.1:\d+ ?){3})/);
      if (url && nodes) {
        clearTimeout(timer);
        resolve({ child, url: url[1], nodes: nodes[1].trim().split(" ") });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`cluster-demo exited with ${code}: ${out}`)); });
    // The demo's trap stops its processes on SIGTERM.
    process.on("exit", () => { try { process.kill(-child.pid, "SIGTERM"); } catch {} });
  });
}

async function connections(node) {
  const text = await (await fetch(`http://${node}/metrics`)).text();
  const m = text.match(/^sio_connections\{transport="polling"\} (\d+)$/m);
  return m ? Number(m[1]) : 0;
}

// `count` polling clients; with keepCookies they store and send the HAProxy cookie.
async function run(url, count, keepCookies) {
  const clients = [];
  for (let i = 0; i < count; i++) {
    const s = io(url, { transports: ["polling"], forceNew: true, reconnection: false, withCredentials: keepCookies,
                        auth: { name: `user${i}` } });
    s.got = new Set();
    s.problems = [];
    s.on("chat message", (m) => s.got.add(m.text));
    s.on("user connected", (u) => (s.lastTotal = u.total));
    s.on("online users", (list) => (s.online = list));
    s.on("connect_error", (e) => s.problems.push(`connect_error ${e.message}`));
    s.on("disconnect", (r) => s.problems.push(`disconnect ${r}`));
    clients.push(s);
  }
  return clients;
}

async function main() {
  const d = await startDemo();

  const n = 6;
  const good = await run(d.url, n, true);
  await until(() => good.every((s) => s.connected), "every cookie-keeping client connected", 10000);
  const spread = await Promise.all(d.nodes.map(connections));
  if (spread.filter((c) => c > 0).length < 2) fail(`clients did not spread over the instances: ${spread}`);
  good.forEach((s, i) => s.emit("chat message", `m${i}`));
  const want = good.map((_, i) => `m${i}`);
  await until(() => good.every((s) => want.every((m) => s.got.has(m))), "every message on every client", 10000);
  await sleep(300);
  for (const s of good) {
    if (s.problems.length) fail(`a client behind the cookie had problems: ${s.problems}`);
    if (!s.connected) fail("a client behind the cookie lost its session");
  }
  // The chat's totals and online list span the cluster: a rename announces the user again.
  const renamed = await good[0].timeout(5000).emitWithAck("set name", "renamed0");
  if (!renamed || renamed.name !== "renamed0") fail(`set name ack: ${JSON.stringify(renamed)}`);
  await until(() => good.every((s) => s.lastTotal === n), `'user connected' with total ${n} on every client`, 10000);
  // The list that answers the rename (an earlier one, from connecting, may still be around).
  await until(() => Array.isArray(good[0].online) && good[0].online.some((u) => u.name === "renamed0"),
              "the online list after the rename", 10000);
  const names = good[0].online.map((u) => u.name).sort();
  const wantNames = ["renamed0", ...good.slice(1).map((_, i) => `user${i + 1}`)].sort();
  if (JSON.stringify(names) !== JSON.stringify(wantNames)) fail(`online users: ${names}, want ${wantNames}`);
  for (const s of good) s.close();

  // Without the cookie, round robin sends a session's requests to instances that do not know it.
  const bad = await run(d.url, n, false);
  await until(() => bad.some((s) => s.problems.length > 0), "a session broken without the cookie", 10000);

  for (const s of bad) s.close();

  if (process.env.SIO_INSPECT) {
    const out = await new Promise((resolve) => {
      const child = spawn(process.env.SIO_INSPECT, ["doctor", "--json", "--timeout", "3000", d.url], { stdio: ["ignore", "pipe", "pipe"] });
      let text = "";
      child.stdout.on("data", (c) => { text += c; });
      const timer = setTimeout(() => child.kill("SIGKILL"), 30000);
      child.on("exit", (code) => { clearTimeout(timer); resolve({ code, text }); });
    });
    const findings = out.text.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.check);
    const sticky = findings.find((f) => f.check === "sticky");
    if (!sticky || sticky.status !== "warn" || !/only with the cookie/.test(JSON.stringify(sticky)))
      fail(`doctor behind the cookie: want a sticky warning naming the cookie, got ${JSON.stringify(findings)}`);
    if (findings.some((f) => f.status === "fail")) fail(`doctor behind the cookie reports a failure: ${out.text}`);
  }
  console.log(`ok: ${n} polling clients over ${spread.filter((c) => c > 0).length} instances behind HAProxy`);
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
