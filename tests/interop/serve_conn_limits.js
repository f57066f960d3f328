// sio-serve's connection limits, provoked for real: --max-connections and --max-connections-per-ip
// answer polling and WebSocket upgrade requests with 503 and the reason (logged, counted in
// /metrics) and free their place when a connection closes; --request-timeout closes a client
// that sends half a request (slowloris); an oversized header block is answered 431.
// The real Node socket.io-client and ws are the well-behaved clients; raw sockets the others.
// Usage: node serve_conn_limits.js PATH/TO/sio-serve
"use strict";
const net = require("net");
const { io } = require("socket.io-client");
const WebSocket = require("ws");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_conn_limits.js SIO_SERVE");
deadline(60000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

// An idle TCP connection from `localAddress`, resolved once connected.
function idle(port, localAddress = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress }, () => resolve(s));
    s.on("error", reject);
  });
}
// One raw HTTP exchange: resolves with the status code and the body (the server closes after).
function rawRequest(port, text, localAddress = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress }, () => s.write(text));
    let got = "";
    s.on("data", (d) => { got += d.toString("latin1"); });
    s.on("close", () => {
      const m = got.match(/^HTTP\/1\.1 (\d+)/);
      resolve({ status: m ? Number(m[1]) : null, body: got.slice(got.indexOf("\r\n\r\n") + 4), raw: got });
    });
    s.on("error", reject);
    s.setTimeout(5000, () => { s.destroy(); reject(new Error("no answer within 5 s")); });
  });
}
const handshakeRequest = (port) => `GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`;
function wsStatus(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket");
    ws.on("open", () => { ws.close(); resolve(101); });
    ws.on("unexpected-response", (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.on("error", () => resolve(null));
  });
}
function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => { s.close(); reject(e); });
  });
}
async function limitHits(url, limit) {
  const text = await (await fetch(url + "/metrics")).text();
  const m = text.match(new RegExp(`^sio_limit_hits_total\\{limit="${limit}"\\} (\\d+)$`, "m"));
  if (!m) fail(`no sio_limit_hits_total for ${limit} in /metrics`);
  return Number(m[1]);
}

(async () => {
  // --- total -----------------------------------------------------------------------------------
  {
    const server = await startServer(serve, ["--port", "0", "--max-connections", "3"]);
    const held = [await idle(server.port), await idle(server.port), await idle(server.port)];
    const r = await rawRequest(server.port, handshakeRequest(server.port));
    eq(r.status, 503, "polling handshake over --max-connections");
    if (!/--max-connections/.test(r.body)) fail("503 body does not name the limit: " + r.body);
    eq(await wsStatus(server.url), 503, "WebSocket upgrade over --max-connections");
    let refused = null;
    try { (await connect(server.url, { transports: ["polling"] })).close(); } catch (e) { refused = e; }
    if (!refused) fail("a socket.io client connected over --max-connections");
    await until(() => /server busy: \d+ connections open, the limit is 3/.test(server.output()), "the refusal log line");
    // Places are given back: with the idle connections gone, clients connect again.
    for (const s of held) s.destroy();
    await until(async () => (await rawRequest(server.port, handshakeRequest(server.port))).status === 200,
                "a free place after closing the idle connections");
    const ok = await connect(server.url, { transports: ["websocket"] });
    ok.close();
    if (await limitHits(server.url, "max_connections") < 3) fail("max_connections hits not counted in /metrics");
    server.child.kill("SIGKILL");
  }

  // --- per address ---------------------------------------------------------------------------
  {
    const server = await startServer(serve, ["--port", "0", "--max-connections-per-ip", "2"]);
    const held = [await idle(server.port), await idle(server.port)];
    const r = await rawRequest(server.port, handshakeRequest(server.port));
    eq(r.status, 503, "third connection from 127.0.0.1");
    if (!/too many connections from 127\.0\.0\.1/.test(r.body)) fail("503 body does not name the address: " + r.body);
    // Another loopback address has its own allowance.
    const other = await rawRequest(server.port, handshakeRequest(server.port), "127.0.0.2");
    eq(other.status, 200, "first connection from 127.0.0.2");
    await until(() => /too many connections from 127\.0\.0\.1/.test(server.output()), "the per-address log line");
    for (const s of held) s.destroy();
    await until(async () => (await rawRequest(server.port, handshakeRequest(server.port))).status === 200,
                "a free place for 127.0.0.1");
    if (await limitHits(server.url, "max_connections_per_ip") < 1) fail("per-address hits not counted");
    server.child.kill("SIGKILL");
  }

  // --- slow and oversized requests -------------------------------------------------------------
  {
    const server = await startServer(serve, ["--port", "0", "--request-timeout", "300", "-v"]);
    // Slowloris: half a request, then nothing. The server must hang up.
    const closedAfter = await new Promise((resolve, reject) => {
      const start = Date.now();
      const s = net.connect({ host: "127.0.0.1", port: server.port }, () => s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
      s.on("close", () => resolve(Date.now() - start));
      s.on("error", () => {});
      setTimeout(() => { s.destroy(); reject(new Error("half a request kept the connection open for 5 s")); }, 5000);
    });
    if (closedAfter < 250) fail(`closed after ${closedAfter} ms, before the request timeout`);
    // Counted when the timed-out read completes, which may be just after the client saw the
    // close: wait for it rather than read /metrics once.
    await until(async () => (await limitHits(server.url, "request_timeout")) >= 1, "the request timeout in /metrics")
      .catch(() => fail("request timeout not counted"));
    // A header block larger than the limit: 431.
    const big = await rawRequest(server.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20000)}\r\n\r\n`);
    eq(big.status, 431, "oversized headers");
    if (await limitHits(server.url, "header_size") < 1) fail("431 not counted");
    // A well-behaved client is unaffected.
    const ok = await connect(server.url, {});
    ok.close();
    server.child.kill("SIGKILL");
  }

  console.log("ok: connection limits");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
