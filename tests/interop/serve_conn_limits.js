// sio-serve's connection limits, provoked for real: --max-connections and --max-connections-per-ip
// answer polling and WebSocket upgrade requests with 503 and the reason (logged, counted in
// /metrics) and free their place when a connection closes; --request-timeout closes a client
// that sends half a request (slowloris); an oversized header block is answered 431; both logged.
// --max-sessions and --max-sessions-per-ip bound Engine.IO sessions against a handshake flood
// (503, logged, counted, memory bounded, a chatting client unaffected). Requests framed against
// RFC 9112 (Transfer-Encoding smuggling, Host, obsolete folding) get 400 and the connection ends.
// The real Node socket.io-client and ws are the well-behaved clients; raw sockets the others.
// Usage: node serve_conn_limits.js PATH/TO/sio-serve
"use strict";
const fs = require("fs");
const net = require("net");
const { io } = require("socket.io-client");
const WebSocket = require("ws");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_conn_limits.js SIO_SERVE");
deadline(110000);

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
    // Both refusals are said in the log (-v).
    await until(() => /request headers over 16384 bytes/.test(server.output()), "the 431 log line");
    await until(() => /no complete request within 300 ms \(--request-timeout\)/.test(server.output()), "the request timeout log line");
    // A well-behaved client is unaffected.
    const ok = await connect(server.url, {});
    ok.close();
    server.child.kill("SIGKILL");
  }

  // --- sessions ------------------------------------------------------------------------------
  // A handshake flood over a few keep-alive connections: past --max-sessions the handshakes get
  // 503 naming the limit (logged, counted), memory stays bounded, a chatting client keeps its
  // round trips; sessions that never send a second request end after the ping timeout, which
  // gives their places back.
  {
    const server = await startServer(serve, ["--port", "0", "--max-sessions", "40", "--ping-timeout", "1500",
                                             "--on", "ping=ack"]);
    const chat = await connect(server.url, { transports: ["websocket"] });
    const rss = () => Number(fs.readFileSync(`/proc/${server.child.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]);
    const before = rss();
    const sanitized = !!process.env.SIO_SANITIZED;
    const total = sanitized ? 3000 : 20000;
    const statuses = {};
    let busyBody = "";
    let acks = 0;
    let flooding = true;
    const chatter = (async () => {
      for (let i = 0; flooding && i < 100000; ++i) {
        eq(await chat.timeout(5000).emitWithAck("ping", i), i, "ack during the handshake flood");
        ++acks;
      }
    })();
    const started = Date.now();
    let sent = 0;
    // One keep-alive connection sending handshakes 100 at a time (pipelined), as an attacker would.
    const worker = () => new Promise((resolve, reject) => {
      const sock = net.connect({ host: "127.0.0.1", port: server.port });
      let got = "";
      let expected = 0;
      const batch = () => {
        if (sent >= total || Date.now() - started > 40000) { sock.destroy(); resolve(); return; }
        const n = Math.min(100, total - sent);
        sent += n;
        expected = n;
        got = "";
        sock.write(handshakeRequest(server.port).replace("Connection: close", "Connection: keep-alive").repeat(n));
      };
      sock.on("connect", batch);
      sock.on("data", (d) => {
        got += d.toString("latin1");
        const heads = got.match(/HTTP\/1\.1 \d{3}/g) || [];
        // The batch is in once its last answer's body is (every answer has a Content-Length).
        const last = got.lastIndexOf("HTTP/1.1 ");
        const m = got.slice(last).match(/Content-Length: (\d+)\r\n[^]*?\r\n\r\n/i);
        if (heads.length < expected || !m || got.length - (last + m.index + m[0].length) < Number(m[1])) return;
        for (const h of heads) { const st = Number(h.slice(9)); statuses[st] = (statuses[st] || 0) + 1; }
        const busy = got.match(/server busy: [^\r\n]*/);
        if (busy) busyBody = busy[0];
        batch();
      });
      sock.on("error", reject);
    });
    await Promise.all([worker(), worker(), worker(), worker()]);
    flooding = false;
    await chatter;
    if (sent !== total) fail(`only ${sent} of ${total} handshakes sent in 40 s`);
    const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
    if (answered !== total) fail(`${answered} of ${total} handshakes answered: ${JSON.stringify(statuses)}`);
    // At most 40 at once; the flood's sessions end 5 s after their handshake, giving places back.
    const elapsed = Date.now() - started;
    const allowed = 40 * (1 + Math.ceil(elapsed / 5000));
    if ((statuses[200] || 0) > allowed) fail(`${statuses[200]} handshakes accepted in ${elapsed} ms with --max-sessions 40: ${JSON.stringify(statuses)}`);
    if ((statuses[503] || 0) < total - allowed) fail(`handshakes not refused with 503: ${JSON.stringify(statuses)}`);
    if (!/server busy: \d+ sessions open, the limit is 40 \(--max-sessions\)/.test(busyBody)) fail("503 body does not name the limit: " + busyBody);
    if (acks < 1) fail("the chatting client made no round trip during the flood");
    await until(() => /server busy: \d+ sessions open, the limit is 40/.test(server.output()), "the refusal log line");
    if (await limitHits(server.url, "max_sessions") !== statuses[503]) fail("refused handshakes not counted in /metrics");
    const grown = rss() - before;
    if (!sanitized && grown > 40 * 1024) fail(`RSS grew by ${grown} KiB under ${total} handshakes with at most 40 sessions`);
    console.log(`handshake flood: ${total} handshakes, ${JSON.stringify(statuses)}, ${acks} acks meanwhile, RSS +${grown} KiB`);
    // The flood's sessions never polled again: gone after 5 s (the ping timeout, at least 5 s),
    // not 25 + 1.5 s.
    await until(async () => (await fetch(server.url + "/socket.io/?EIO=4&transport=polling")).status === 200,
                "a place after the flood's sessions ended", 12000);
    eq(await chat.timeout(5000).emitWithAck("ping", "after"), "after", "ack after the flood");
    // The log says each kind of refusal without becoming a flood itself: at most 20 lines a second,
    // then one line with how many were left out.
    await until(() => /\d+ more refusals not shown \(at most 20 a second/.test(server.output()), "the hidden refusals line");
    const lines = (server.output().match(/refused: server busy/g) || []).length;
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
    if (lines > 20 * seconds) fail(`${lines} refusal lines in about ${seconds} s`);
    const hidden = [...server.output().matchAll(/(\d+) more refusals not shown/g)].reduce((a, m) => a + Number(m[1]), 0);
    // Said or counted as hidden, never more than were refused (the last second's count may still
    // be waiting for its line).
    if (lines + hidden > (await limitHits(server.url, "max_sessions")))
      fail(`${lines} refusal lines and ${hidden} hidden for ${statuses[503]} refusals`);
    chat.close();
    server.child.kill("SIGKILL");
  }
  {
    const server = await startServer(serve, ["--port", "0", "--max-sessions-per-ip", "2"]);
    for (let i = 0; i < 2; ++i) eq((await rawRequest(server.port, handshakeRequest(server.port))).status, 200, `session ${i + 1} from 127.0.0.1`);
    const r = await rawRequest(server.port, handshakeRequest(server.port));
    eq(r.status, 503, "third session from 127.0.0.1");
    if (!/too many sessions from 127\.0\.0\.1: 2 open, the limit is 2 \(--max-sessions-per-ip\)/.test(r.body)) fail("503 body: " + r.body);
    eq((await rawRequest(server.port, handshakeRequest(server.port), "127.0.0.2")).status, 200, "a session from 127.0.0.2");
    eq(await wsStatus(server.url), 503, "a WebSocket session from 127.0.0.1 over the limit");
    // Every answer names the server, the WebSocket's 101 and an Engine.IO handshake's 200 included.
    const upgraded = await new Promise((resolve, reject) => {
      const ws = new WebSocket(server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
                               { localAddress: "127.0.0.3" });
      ws.on("upgrade", (res) => { resolve(res.headers.server); ws.close(); });
      ws.on("error", reject);
    });
    eq(upgraded, "sio-serve", "the Server header of the 101");
    const hs = await rawRequest(server.port, handshakeRequest(server.port), "127.0.0.4");
    if (!/\r\nServer: sio-serve\r\n/.test(hs.raw)) fail("the handshake's answer does not say Server: sio-serve:\n" + hs.raw);
    if (await limitHits(server.url, "max_sessions_per_ip") < 2) fail("per-address session refusals not counted");
    server.child.kill("SIGKILL");
  }

  // --- request framing (RFC 9112) --------------------------------------------------------------
  // A request whose framing a proxy could read differently is answered 400 (501 for a coding the
  // server does not know) and its connection closed: what follows it is never served as a request.
  {
    const server = await startServer(serve, ["--port", "0", "-v"]);
    const smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const post = (headers, body = smuggled) =>
      `POST /socket.io/?EIO=4&transport=polling&sid=none HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`;
    const cases = [
      ["Transfer-Encoding: identity", post("Transfer-Encoding: identity\r\n"), 400],
      ["Transfer-Encoding: gzip", post("Transfer-Encoding: gzip\r\n"), 400],
      ["Transfer-Encoding: chunked, identity", post("Transfer-Encoding: chunked, identity\r\n"), 400],
      ["Transfer-Encoding: xchunked", post("Transfer-Encoding: xchunked\r\n"), 400],
      ["identity with Content-Length", post(`Transfer-Encoding: identity\r\nContent-Length: ${smuggled.length}\r\n`), 400],
      ["Content-Length then chunked", post(`Content-Length: ${smuggled.length}\r\nTransfer-Encoding: chunked\r\n`), 400],
      ["chunked in HTTP/1.0", post("Transfer-Encoding: chunked\r\n").replace("HTTP/1.1", "HTTP/1.0"), 400],
      ["gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n" + smuggled), 501],
      ["no Host", "GET /healthz HTTP/1.1\r\n\r\n" + smuggled, 400],
      ["two Host headers", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + smuggled, 400],
      ["obsolete line folding", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" + smuggled, 400],
    ];
    for (const [what, text, status] of cases) {
      const r = await rawRequest(server.port, text);
      eq(r.status, status, what);
      const answers = (r.raw.match(/HTTP\/1\.[01] \d{3}/g) || []).length;
      if (answers !== 1) fail(`${what}: ${answers} answers on the connection (the smuggled request was served):\n${r.raw}`);
      if (!/\r\nServer: sio-serve\r\n/.test(r.raw)) fail(`${what}: the answer does not say Server: sio-serve:\n${r.raw}`);
    }
    // Sound framing still works, keep-alive included: a chunked POST, then a request after it.
    const ok = await rawRequest(server.port, "POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
                                             "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const seen = ok.raw.match(/HTTP\/1\.1 (\d{3})/g) || [];
    eq(seen.length, 2, "answers to a chunked POST and the request after it");
    if (!/200/.test(seen[1])) fail("the request after a chunked POST: " + ok.raw);
    if (await limitHits(server.url, "bad_request") < cases.length) fail("bad framing not counted in /metrics");
    await until(() => /Transfer-Encoding "identity" whose last coding is not chunked/.test(server.output()), "the framing log line");
    await until(() => /obsolete line folding/.test(server.output()), "the folding log line");
    await until(() => /HTTP\/1\.1 request without a Host header/.test(server.output()), "the Host log line");
    server.child.kill("SIGKILL");
  }

  console.log("ok: connection limits");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
