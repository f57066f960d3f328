// sio-serve's operations side, driven by the real Node socket.io-client 4.8 and fetch: /healthz,
// /metrics after some traffic (parsed, values checked), --log-format json (every line parses,
// connect and disconnect events name the sessions), and SIGTERM: the process exits 0 within
// --shutdown-timeout, and its clients, told nothing but that their transport closed (as the
// reference's io.close() does), reconnect by themselves to the server started again on the port.
// Usage: node serve_ops.js PATH/TO/sio-serve
"use strict";
const { io } = require("socket.io-client");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_ops.js SIO_SERVE");
deadline(60000);

const shutdownTimeoutMs = 3000;

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, ...opts });
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => reject(e));
  });
}
const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

// Prometheus text exposition: "name{labels} value" lines; returns a map "name{labels}" -> number.
function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/);
    if (!m) fail("metrics line does not parse: " + JSON.stringify(line));
    out.set(m[1], Number(m[2]));
  }
  return out;
}
function metric(map, key) {
  if (!map.has(key)) fail(`metric ${key} missing; have ${[...map.keys()].join(", ")}`);
  return map.get(key);
}

(async () => {
  const server = await startServer(serve, ["--port", "0", "--log-format", "json",
                                           "--shutdown-timeout", String(shutdownTimeoutMs)]);
  const base = server.url;
  const exited = new Promise((resolve) => server.child.on("exit", (code, signal) => resolve({ code, signal })));

  // Health: the new name and the old alias.
  for (const path of ["/healthz", "/health"]) {
    const r = await fetch(base + path);
    eq(r.status, 200, path + " status");
    eq((await r.text()).trim(), "ok", path + " body");
  }

  // Traffic: one client that upgrades, one that stays on polling, one that leaves by itself.
  // These two stay to the end and reconnect after the restart.
  const again = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300, randomizationFactor: 0 };
  const upgrading = await connect(base, again);
  await until(() => upgrading.io.engine.transport.name === "websocket", "the upgrade", 5000);
  const polling = await connect(base, { transports: ["polling"], ...again });
  const leaver = await connect(base, { transports: ["websocket"] });
  const leaverSid = leaver.io.engine.id;
  leaver.close();

  let echoed = 0;
  for (const s of [upgrading, polling]) {
    for (let i = 0; i < 5; i++) {
      const reply = await s.timeout(5000).emitWithAck("echo", "x".repeat(100), i);
      eq(reply, "x".repeat(100), "echo ack");
      echoed++;
    }
  }
  // Handshake errors by code: an unknown sid (1) twice, an old protocol (5) once.
  for (const q of ["EIO=4&transport=polling&sid=nope", "EIO=4&transport=polling&sid=gone", "EIO=3&transport=polling"]) {
    const r = await fetch(`${base}/socket.io/?${q}`);
    eq(r.status, 400, "handshake error status for " + q);
  }

  let m;
  await until(async () => {
    m = parseMetrics(await (await fetch(base + "/metrics")).text());
    return m.get('sio_connections{transport="websocket"}') === 1 && m.get('sio_connections{transport="polling"}') === 1;
  }, "connections gauge: 1 websocket, 1 polling (the leaver gone)", 5000);
  eq(metric(m, "sio_upgrades_total"), 1, "upgrades");
  eq(metric(m, "sio_connections_opened_total"), 3, "sessions opened");
  eq(metric(m, "sio_namespaces"), 1, "namespaces");
  if (!(metric(m, "sio_rooms") >= 0)) fail("sio_rooms is not a number");
  eq(metric(m, 'sio_handshake_errors_total{code="1"}'), 2, "unknown sid errors");
  eq(metric(m, 'sio_handshake_errors_total{code="5"}'), 1, "protocol version errors");
  eq(metric(m, 'sio_handshake_errors_total{code="0"}'), 0, "unknown transport errors");
  // Each echo is one message in (the event) and one out (the ack), plus the CONNECT packets
  // both ways; each carries at least the 100-byte argument.
  const pin = metric(m, 'sio_packets_total{direction="in"}');
  const pout = metric(m, 'sio_packets_total{direction="out"}');
  if (pin < echoed + 3 || pout < echoed + 3) fail(`packets in/out ${pin}/${pout}, want at least ${echoed + 3}`);
  const bin = metric(m, 'sio_bytes_total{direction="in"}');
  const bout = metric(m, 'sio_bytes_total{direction="out"}');
  if (bin < echoed * 100 || bout < echoed * 100) fail(`bytes in/out ${bin}/${bout}, want at least ${echoed * 100}`);

  // SIGTERM: every connected client hears its transport close, not "io server disconnect"
  // (after which a client never reconnects); the process exits 0 in time.
  const reasons = [upgrading, polling].map((s) => new Promise((resolve) => s.once("disconnect", (r) => resolve(r))));
  const sids = [upgrading.io.engine.id, polling.io.engine.id];
  const t0 = Date.now();
  server.child.kill("SIGTERM");
  const got = await Promise.race([Promise.all(reasons), new Promise((r) => setTimeout(() => r("timeout"), shutdownTimeoutMs + 2000))]);
  eq(got, ["transport close", "transport close"], "disconnect reasons after SIGTERM");
  const exit = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), shutdownTimeoutMs + 3000))]);
  eq(exit, { code: 0, signal: null }, "exit after SIGTERM");
  if (Date.now() - t0 > shutdownTimeoutMs + 2000) fail(`exit took ${Date.now() - t0} ms`);

  // The log: one JSON object per line, with connect and disconnect events for the sessions.
  const lines = server.output().split("\n").filter((l) => l !== "");
  const events = lines.map((l) => {
    try { return JSON.parse(l); } catch (e) { fail("log line is not JSON: " + JSON.stringify(l)); }
  });
  for (const e of events) {
    if (typeof e.time !== "string" || typeof e.level !== "string" || typeof e.event !== "string")
      fail("log line lacks time/level/event: " + JSON.stringify(e));
  }
  const find = (event, sid) => events.find((e) => e.event === event && e.sid === sid);
  for (const sid of [...sids, leaverSid]) {
    if (!find("connect", sid)) fail("no connect event for " + sid + " in " + lines.join("\n"));
    if (!find("disconnect", sid)) fail("no disconnect event for " + sid + " in " + lines.join("\n"));
  }
  eq(find("disconnect", leaverSid).reason, "transport close", "the leaver's disconnect reason");
  for (const sid of sids) eq(find("disconnect", sid).reason, "forced server close", "shutdown disconnect reason");
  const refused = events.find((e) => e.event === "refused" && e.sid === "nope");
  if (!refused || refused.code !== "1" || !/load balancer/.test(refused.message))
    fail("no refusal line for the unknown sid: " + JSON.stringify(refused));
  if (!events.some((e) => e.event === "shutdown")) fail("no shutdown line");

  // The restart: a new sio-serve on the same port, and both clients are back on their own.
  const back = [upgrading, polling].map((s) => new Promise((resolve) => s.once("connect", resolve)));
  const again2 = await startServer(serve, ["--port", new URL(base).port, "--log-format", "json"]);
  try {
    await Promise.race([Promise.all(back), new Promise((_, reject) => setTimeout(() => reject(new Error("the clients did not reconnect after the restart")), 10000))]);
    for (const s of [upgrading, polling]) {
      if (sids.includes(s.io.engine.id)) fail("a reconnected client kept its old session id");
      eq(await s.timeout(5000).emitWithAck("echo", "back"), "back", "echo after the restart");
      s.close();
    }
  } finally {
    again2.child.kill("SIGKILL");
  }

  console.log("serve_ops: ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
