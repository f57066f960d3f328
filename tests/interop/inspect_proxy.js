// sio-inspect proxy between the real Node socket.io-client 4.8 and the real Node socket.io 4.8
// server, in polling, WebSocket and polling-then-upgrade modes: the clients' own exchange (emit,
// acks both ways, binary both ways, a broadcast to two clients) passes through unchanged, and the
// decoded --json log shows exactly what was sent, with every ACK matched to its request. Also:
// --record writes every packet as NDJSON; a server that refuses the WebSocket upgrade is
// answered to the client as the server answered; an unreachable upstream gives 502. With a plain
// `ws` server at the path: a close passes through with its code and reason, and the proxy logs
// both sides' close frames and the pings it answers; a server that drops its connection is
// logged as lost and the client's connection is cut.
// Usage: node inspect_proxy.js PATH/TO/sio-inspect
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const { Server } = require("socket.io");
const { io } = require("socket.io-client");
const WebSocket = require("ws");
const { fail, until, deadline } = require("./lib");

const inspect = process.argv[2] || fail("usage: node inspect_proxy.js SIO_INSPECT");
deadline(60000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-proxy-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

function nodeServer(opts = {}) {
  return new Promise((resolve) => {
    const httpServer = http.createServer();
    const server = new Server(httpServer, opts);
    server.on("connection", (socket) => {
      socket.on("echo", (...args) => { const ack = args.pop(); ack(...args); });
      socket.on("shout", (text) => server.emit("heard", text, socket.id));
      socket.on("ask me", () => {
        socket.timeout(3000).emit("question", "why?", Buffer.from([9, 8]), (err, ...reply) => socket.emit("answer was", err ? String(err) : reply));
      });
    });
    httpServer.listen(0, "127.0.0.1", () => resolve({ server, httpServer, url: `http://127.0.0.1:${httpServer.address().port}` }));
  });
}

// Starts the proxy; resolves with { url, lines() } where lines() are the parsed --json lines.
function startProxy(upstream, extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(inspect, ["proxy", "--upstream", upstream, "--listen", "127.0.0.1:0", "--json", ...extra],
                        { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => {
      err += d;
      const m = err.match(/proxy listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve({ child, url: m[1], lines: () => out.split("\n").filter(Boolean).map((l) => JSON.parse(l)), stderr: () => err });
    });
    child.on("exit", (code) => reject(new Error(`proxy exited with ${code}: ${err}`)));
    process.on("exit", () => child.kill("SIGKILL"));
  });
}

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => { s.close(); reject(e); });
  });
}
const ackAll = (s, ev, ...args) => new Promise((resolve, reject) =>
  s.timeout(5000).emit(ev, ...args, (err, ...reply) => (err ? reject(err) : resolve(reply))));

(async () => {
  const upstream = await nodeServer();
  const record = path.join(dir, "session.ndjson");
  const proxy = await startProxy(upstream.url, ["--record", record]);

  for (const [mode, transports] of [["polling", ["polling"]], ["websocket", ["websocket"]], ["upgrade", ["polling", "websocket"]]]) {
    const a = await connect(proxy.url, { transports });
    const b = await connect(proxy.url, { transports });
    if (mode === "upgrade") {
      for (const s of [a, b]) await until(() => s.io.engine.transport.name === "websocket", `${mode}: upgrade through the proxy`);
    }
    const sid = a.io.engine.id;
    // Ack with text and binary, both ways through the proxy.
    eq(await ackAll(a, "echo", mode, { n: 1 }, Buffer.from([1, 2, 3])), [mode, { n: 1 }, Buffer.from([1, 2, 3])], `${mode}: echo`);
    // A broadcast reaches both clients.
    const heard = Promise.all([a, b].map((s) => new Promise((r) => s.once("heard", (text) => r(text)))));
    a.emit("shout", `hello ${mode}`);
    eq(await heard, [`hello ${mode}`, `hello ${mode}`], `${mode}: broadcast`);
    // The server asks the client for an ack.
    a.on("question", (q, bin, ack) => ack("because", Buffer.from([7])));
    const answer = new Promise((r) => a.once("answer was", r));
    a.emit("ask me");
    eq(await answer, ["because", Buffer.from([7])], `${mode}: server-side ack`);
    a.close();
    b.close();

    // What the proxy decoded for client a's session.
    await until(() => proxy.lines().some((l) => l.sid === sid && l.sio_type === "DISCONNECT"), `${mode}: the decoded DISCONNECT`);
    const mine = proxy.lines().filter((l) => l.sid === sid && l.sio_type);
    const echo = mine.find((l) => l.event === "echo");
    if (!echo) fail(`${mode}: echo not decoded: ${JSON.stringify(mine)}`);
    eq([echo.from, echo.sio_type, echo.attachments, echo.args], ["client", "BINARY_EVENT", 1, [mode, { n: 1 }, { $binary: "AQID" }]], `${mode}: decoded echo`);
    const echoAck = mine.find((l) => (l.sio_type === "BINARY_ACK" || l.sio_type === "ACK") && l.from === "server" && l.id === echo.id);
    if (!echoAck || typeof echoAck.rtt_ms !== "number") fail(`${mode}: the echo's ACK is not matched: ${JSON.stringify(echoAck)}`);
    eq(echoAck.args, [mode, { n: 1 }, { $binary: "AQID" }], `${mode}: decoded ack`);
    const heardLine = mine.find((l) => l.event === "heard");
    eq(heardLine && [heardLine.from, heardLine.args[0]], ["server", `hello ${mode}`], `${mode}: decoded broadcast`);
    const question = mine.find((l) => l.event === "question");
    const reply = question && mine.find((l) => l.from === "client" && l.sio_type.endsWith("ACK") && l.id === question.id);
    if (!reply || typeof reply.rtt_ms !== "number") fail(`${mode}: the client's ACK to the server is not matched`);
    eq(reply.args, ["because", { $binary: "Bw==" }], `${mode}: decoded client ack`);
    if (mode === "upgrade") {
      const kinds = proxy.lines().filter((l) => l.sid === sid && l.transport === "websocket").map((l) => l.eio_type).filter(Boolean);
      if (!(kinds.includes("ping") && kinds.includes("pong") && kinds.includes("upgrade"))) fail(`upgrade: probe and upgrade not decoded: ${kinds}`);
    }
  }

  // The record: one JSON object per packet, with what replay needs.
  const records = fs.readFileSync(record, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  if (records.length < 30) fail(`only ${records.length} records`);
  for (const r of records) {
    for (const k of ["ts", "sid", "transport", "from", "eio_type", "data"]) if (!(k in r)) fail(`record without ${k}: ${JSON.stringify(r)}`);
  }
  if (!records.some((r) => r.binary === true && Buffer.from(r.data, "base64").equals(Buffer.from([1, 2, 3])))) fail("binary attachment not recorded as base64");

  // WebSocket closes and control frames, with a plain `ws` server at the Engine.IO path: "close"
  // makes it close with 4001 "done", "drop" makes it cut its TCP connection.
  const wsHttp = http.createServer();
  new WebSocket.Server({ server: wsHttp }).on("connection", (ws) => ws.on("message", (m) => {
    if (String(m) === "close") ws.close(4001, "done");
    else if (String(m) === "drop") ws._socket.destroy();
  }));
  await new Promise((r) => wsHttp.listen(0, "127.0.0.1", r));
  const proxy4 = await startProxy(`http://127.0.0.1:${wsHttp.address().port}`);
  const wsThrough = async (sid, message) => {
    const ws = new WebSocket(`${proxy4.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
    const pong = new Promise((r) => ws.once("pong", (data) => r(String(data))));
    ws.ping("are you there");
    eq(await pong, "are you there", "a ping through the proxy is answered");
    const closed = new Promise((r) => ws.on("close", (code, reason) => r([code, String(reason)])));
    ws.send(message);
    return closed;
  };
  eq(await wsThrough("s1", "close"), [4001, "done"], "the server's close code and reason reach the client");
  const notes = () => proxy4.lines().filter((l) => l.sid === "s1" && l.note).map((l) => l.note);
  await until(() => notes().some((n) => /^client answered the close \(code 4001/.test(n)), "the client's answer to the close");
  for (const want of ["client sent a WebSocket ping are you there (answered by the proxy, not passed on)",
                      "server closed the WebSocket (code 4001, done)"]) {
    if (!notes().includes(want)) fail(`note '${want}' missing: ${JSON.stringify(notes())}`);
  }
  eq((await wsThrough("s2", "drop"))[0], 1006, "a server that drops its connection: the client's is cut");
  await until(() => proxy4.lines().some((l) => l.sid === "s2" && /^server connection lost/.test(l.note || "")), "the lost connection noted");

  // A server that refuses WebSocket: the client sees the server's own answer through the proxy.
  const pollingOnly = await nodeServer({ transports: ["polling"] });
  const proxy2 = await startProxy(pollingOnly.url);
  const refused = await new Promise((resolve) => {
    const req = http.get(proxy2.url + "/socket.io/?EIO=4&transport=websocket", {
      headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" },
    });
    req.on("response", (res) => { let body = ""; res.on("data", (d) => { body += d; }); res.on("end", () => resolve({ status: res.statusCode, body })); });
    req.on("upgrade", () => resolve({ status: 101 }));
    req.on("error", (e) => resolve({ status: null, body: String(e) }));
  });
  eq(refused.status, 400, "upgrade refused by a polling-only server");
  if (!/Transport unknown/.test(refused.body)) fail("the server's refusal body was not passed on: " + refused.body);
  await until(() => proxy2.lines().some((l) => /upgrade refused by the server: HTTP 400/.test(l.note || "")), "the refusal note");

  // An upstream that is not there: 502 with the reason.
  const closed = http.createServer();
  await new Promise((r) => closed.listen(0, "127.0.0.1", r));
  const deadPort = closed.address().port;
  await new Promise((r) => closed.close(r));
  const proxy3 = await startProxy(`http://127.0.0.1:${deadPort}`);
  const r3 = await fetch(proxy3.url + "/socket.io/?EIO=4&transport=polling");
  eq(r3.status, 502, "unreachable upstream");
  if (!/cannot connect/.test(await r3.text())) fail("502 without the reason");

  console.log("ok: sio-inspect proxy");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
