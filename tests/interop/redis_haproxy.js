// scripts/cluster-demo (Redis, three sio-serve --redis --no-forward-requests, HAProxy with a sticky
// cookie) driven by polling-only socket.io-client clients: with the cookie they spread over the
// instances, none loses its session and every chat message reaches every client; without the
// cookie (a client that does not keep cookies) the sessions break, as they must behind round
// robin when the servers do not forward requests to each other, and `sio-inspect doctor`
// (SIO_INSPECT in the environment) names it: the requests stick only with the load balancer's
// cookie. redis_round_robin.js covers the default, forwarding, without the cookie.
// Usage: node redis_haproxy.js PATH/TO/cluster-demo PATH/TO/sio-serve
"use strict";
const { fail, until, deadline } = require("./lib");
const { startDemo, metric, chatClients, doctorFindings } = require("./cluster_demo");

const demo = process.argv[2] || fail("usage: node redis_haproxy.js CLUSTER_DEMO SIO_SERVE");
const serve = process.argv[3] || fail("usage: node redis_haproxy.js CLUSTER_DEMO SIO_SERVE");
deadline(90000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const d = await startDemo(demo, serve, { args: ["--no-forward-requests"] });

  const n = 6;
  const good = chatClients(d.url, n, { keepCookies: true });
  await until(() => good.every((s) => s.connected), "every cookie-keeping client connected", 10000);
  const spread = await Promise.all(d.nodes.map((node) => metric(node, 'sio_connections{transport="polling"}')));
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
  const bad = chatClients(d.url, n);
  await until(() => bad.some((s) => s.problems.length > 0), "a session broken without the cookie", 10000);

  for (const s of bad) s.close();

  if (process.env.SIO_INSPECT) {
    const { text, findings } = await doctorFindings(process.env.SIO_INSPECT, d.url);
    const sticky = findings.find((f) => f.check === "sticky");
    if (!sticky || sticky.status !== "warn" || !/only with the cookie/.test(JSON.stringify(sticky)))
      fail(`doctor behind the cookie: want a sticky warning naming the cookie, got ${JSON.stringify(findings)}`);
    if (findings.some((f) => f.status === "fail")) fail(`doctor behind the cookie reports a failure: ${text}`);
  }
  console.log(`ok: ${n} polling clients over ${spread.filter((c) => c > 0).length} instances behind HAProxy`);
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
