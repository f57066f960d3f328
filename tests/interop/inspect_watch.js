// sio-inspect watch as a client of the real Node socket.io 4.8 server and of sio-serve: every
// packet both ways decoded in --json (its own --emit with the ack matched, the server's events
// with binary attachments in hex, a server-side ack request), pings with their cadence, and the
// overdue-ping warning when the server stops (SIGSTOP) before the ping timeout.
// Usage: node inspect_watch.js PATH/TO/sio-inspect PATH/TO/sio-serve
"use strict";
const { spawn } = require("child_process");
const http = require("http");
const { Server } = require("socket.io");
const { fail, startServer, until, deadline } = require("./lib");

const inspect = process.argv[2] || fail("usage: node inspect_watch.js SIO_INSPECT SIO_SERVE");
const serve = process.argv[3] || fail("usage: node inspect_watch.js SIO_INSPECT SIO_SERVE");
deadline(60000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

function watch(args) {
  const child = spawn(inspect, ["watch", "--json", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { err += d; });
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  process.on("exit", () => child.kill("SIGKILL"));
  return { child, exited, lines: () => out.split("\n").filter(Boolean).map((l) => JSON.parse(l)), stderr: () => err };
}

(async () => {
  // --- the Node server ----------------------------------------------------------------------------
  const httpServer = http.createServer();
  const io = new Server(httpServer, { pingInterval: 400 });
  let answered = null;
  io.on("connection", (socket) => {
    socket.on("echo", (...args) => { const ack = args.pop(); ack(...args); });
    socket.emit("hello", "world", Buffer.from([0xde, 0xad]));
    socket.timeout(3000).emit("question", 42, (err, reply) => { answered = err ? "timeout" : reply; });
  });
  await new Promise((r) => httpServer.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${httpServer.address().port}`;

  const w = watch([url, "--emit", 'echo=["hi",{"n":1}]', "--ack", "--duration", "2"]);
  eq(await w.exited, 0, "watch exit status");
  const lines = w.lines();
  const open = lines.find((l) => l.eio_type === "open");
  if (!open || !/"pingInterval":400/.test(open.detail)) fail("open packet not shown: " + JSON.stringify(lines.slice(0, 3)));
  const echo = lines.find((l) => l.event === "echo");
  eq(echo && [echo.from, echo.sio_type, echo.args], ["client", "EVENT", ["hi", { n: 1 }]], "its own emit");
  const echoAck = lines.find((l) => l.sio_type === "ACK" && l.from === "server" && l.id === echo.id);
  if (!echoAck || typeof echoAck.rtt_ms !== "number") fail("the ack of --emit is not matched: " + JSON.stringify(echoAck));
  eq(echoAck.args, ["hi", { n: 1 }], "ack arguments");
  const hello = lines.find((l) => l.event === "hello");
  eq(hello && [hello.from, hello.sio_type, hello.args, hello.attachments], ["server", "BINARY_EVENT", ["world", { $binary: "3q0=" }], 1], "server event with binary");
  const question = lines.find((l) => l.event === "question");
  const reply = lines.find((l) => l.from === "client" && l.sio_type === "ACK" && question && l.id === question.id);
  if (!reply || typeof reply.rtt_ms !== "number") fail("the answer to the server's ack request is not shown and matched");
  await until(() => answered !== null, "the server's ack callback");
  if (answered === "timeout") fail("watch did not answer the server's ack request");
  const pings = lines.filter((l) => l.eio_type === "ping");
  if (pings.length < 3) fail(`expected pings every 400 ms for 2 s, got ${pings.length}`);
  if (!pings.slice(1).every((p) => /after \d+ ms \(advertised pingInterval 400 ms/.test(p.detail))) fail("ping cadence not reported: " + JSON.stringify(pings));
  if (!lines.some((l) => l.eio_type === "pong" && l.from === "client")) fail("pongs not shown");

  // --- a server that stops: the overdue warning comes before the timeout ---------------------------
  const server = await startServer(serve, ["--port", "0", "--ping-interval", "300", "--ping-timeout", "5000"]);
  const w2 = watch([server.url, "--transport", "websocket", "--duration", "3", "--no-reconnect"]);
  await until(() => w2.lines().filter((l) => l.eio_type === "ping").length >= 2, "two pings from sio-serve");
  server.child.kill("SIGSTOP");
  await until(() => w2.lines().some((l) => /ping overdue/.test(l.note || "")), "the overdue warning", 3000);
  server.child.kill("SIGCONT");
  eq(await w2.exited, 0, "watch exit after --duration");
  const warning = w2.lines().find((l) => /ping overdue/.test(l.note || ""));
  if (!/the connection counts as dead in \d+ ms/.test(warning.note)) fail("the warning does not say when the timeout fires: " + warning.note);

  // --- refusal: exit status as handshake's ----------------------------------------------------------
  const w3 = watch([url + "/nowhere", "--no-reconnect", "--duration", "5"]);
  eq(await w3.exited, 5, "watch of an unknown namespace");

  console.log("ok: sio-inspect watch");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
