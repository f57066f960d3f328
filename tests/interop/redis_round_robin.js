// scripts/cluster-demo with HAPROXY_CFG=docs/haproxy-roundrobin.cfg: HAProxy sends each request to
// the next of three sio-serve --redis in turn, with no sticky cookie at all. A request for a
// session another instance holds is forwarded to it through Redis, so polling-only
// socket.io-client clients chat as behind one server: none loses its session, every chat message
// reaches every client exactly once, the instances count requests forwarded, answered and served,
// and `sio-inspect doctor` (SIO_INSPECT) finds that the requests stick to the session. Clients
// that may upgrade work too: an upgrade landing on another instance is refused and the client
// stays on polling.
// Usage: node redis_round_robin.js PATH/TO/cluster-demo PATH/TO/sio-serve
"use strict";
const path = require("path");
const { fail, until, deadline } = require("./lib");
const { startDemo, metric, chatClients, doctorFindings } = require("./cluster_demo");

const demo = process.argv[2] || fail("usage: node redis_round_robin.js CLUSTER_DEMO SIO_SERVE");
const serve = process.argv[3] || fail("usage: node redis_round_robin.js CLUSTER_DEMO SIO_SERVE");
deadline(60000);

const sum = async (nodes, name) => (await Promise.all(nodes.map((n) => metric(n, name)))).reduce((a, b) => a + b, 0);

// Every client sends one message; each must reach every client once, with no client in trouble.
async function chatOnce(clients, tag) {
  await until(() => clients.every((s) => s.connected || s.problems.length), `${tag}: every client connected`, 10000);
  clients.forEach((s, i) => s.emit("chat message", `${tag}${i}`));
  const want = clients.map((_, i) => `${tag}${i}`);
  await until(() => clients.every((s) => s.problems.length || want.every((m) => s.got.has(m))),
              `${tag}: every message on every client`, 15000);
  // One more round trip per client: a message delivered twice would have arrived by then.
  await Promise.all(clients.map((s) => s.timeout(5000).emitWithAck("set name", `${tag}-again`).catch(() => {})));
  for (const s of clients) {
    if (s.problems.length) fail(`${tag}: a client had problems behind round robin: ${s.problems}`);
    if (!s.connected) fail(`${tag}: a client lost its session`);
    for (const m of want) {
      if (s.got.get(m) !== 1) fail(`${tag}: ${m} reached a client ${s.got.get(m) || 0} times`);
    }
  }
}

async function main() {
  const cfg = path.join(path.dirname(demo), "..", "docs", "haproxy-roundrobin.cfg");
  const d = await startDemo(demo, serve, { env: { HAPROXY_CFG: cfg } });

  const n = 6;
  const polling = chatClients(d.url, n);
  await chatOnce(polling, "p");
  const spread = await Promise.all(d.nodes.map((node) => metric(node, 'sio_connections{transport="polling"}')));
  if (spread.filter((c) => c > 0).length < 2) fail(`sessions did not spread over the instances: ${spread}`);
  const sent = await sum(d.nodes, 'sio_forwarded_requests_total{kind="sent"}');
  const answered = await sum(d.nodes, 'sio_forwarded_requests_total{kind="answered"}');
  const served = await sum(d.nodes, 'sio_forwarded_requests_total{kind="served"}');
  if (sent === 0 || served === 0 || answered === 0) fail(`forwarding counters: sent ${sent}, answered ${answered}, served ${served}`);
  for (const reason of ["owner_gone", "timeout", "unreachable", "malformed"]) {
    const failed = await sum(d.nodes, `sio_forward_failures_total{reason="${reason}"}`);
    if (failed !== 0) fail(`${failed} forwarded requests failed (${reason})`);
  }
  for (const s of polling) s.close();

  // Clients that may upgrade: an upgrade that reaches another instance than the session's fails
  // and the client goes on polling; one that reaches it upgrades.
  const upgrading = chatClients(d.url, n, { transports: ["polling", "websocket"], name: "ws" });
  await chatOnce(upgrading, "w");
  for (const s of upgrading) s.close();

  if (process.env.SIO_INSPECT) {
    const { text, findings } = await doctorFindings(process.env.SIO_INSPECT, d.url);
    const sticky = findings.find((f) => f.check === "sticky");
    if (!sticky || sticky.status !== "ok") fail(`doctor behind round robin: want the sticky check ok, got ${JSON.stringify(findings)}`);
    if (findings.some((f) => f.status === "fail")) fail(`doctor behind round robin reports a failure: ${text}`);
  }
  console.log(`ok: ${n} polling clients over ${spread.filter((c) => c > 0).length} instances behind round robin ` +
              `(${sent} requests forwarded), ${n} upgrading clients`);
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
