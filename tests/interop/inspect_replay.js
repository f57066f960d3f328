// sio-inspect proxy --record, then sio-inspect replay: a session of the real Node client with the
// real Node socket.io 4.8 server (namespaces, auth, an ack, binary, a server push, a server-side
// ack request answered by the client) is recorded through the proxy, then replayed against a
// fresh server: no differences (exit 0). Replayed against a server that answers differently, the
// difference is named (exit 8).
// Usage: node inspect_replay.js PATH/TO/sio-inspect
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const { Server } = require("socket.io");
const { io } = require("socket.io-client");
const { fail, until, deadline } = require("./lib");

const inspect = process.argv[2] || fail("usage: node inspect_replay.js SIO_INSPECT");
deadline(60000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-replay-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

// `variant` changes what the echo answers, for the replay that must find a difference.
async function nodeServer(variant = "same") {
  const httpServer = http.createServer();
  const server = new Server(httpServer);
  const handlers = (socket) => {
    socket.on("echo", (...args) => { const ack = args.pop(); variant === "same" ? ack(...args) : ack({ changed: true }); });
    socket.on("news please", () => socket.emit("news", { title: "t", id: Math.random() }, Buffer.from([1, 2])));
    socket.on("ask me", () => socket.timeout(3000).emit("question", "why?", (err, answer) => socket.emit("answered", err ? "no answer" : answer)));
  };
  server.on("connection", handlers);
  server.of("/admin").use((s, next) => (s.handshake.auth.token === "ok" ? next() : next(new Error("nope")))).on("connection", handlers);
  await new Promise((r) => httpServer.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${httpServer.address().port}` };
}

function run(args) {
  const child = spawn(inspect, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { err += d; });
  process.on("exit", () => child.kill("SIGKILL"));
  return { child, out: () => out, err: () => err, exited: new Promise((r) => child.on("exit", (code) => r(code))) };
}

(async () => {
  // Record.
  const original = await nodeServer();
  const record = path.join(dir, "session.ndjson");
  const proxy = run(["proxy", "--upstream", original.url, "--record", record, "--json"]);
  await until(() => /listening on (http:\S+),/.test(proxy.err()), "the proxy's address");
  const purl = proxy.err().match(/listening on (http:\S+),/)[1];

  const client = io(purl, { transports: ["websocket"], forceNew: true, reconnection: false });
  const admin = client.io.socket("/admin", { auth: { token: "ok" } });
  await new Promise((r) => admin.on("connect", r));
  if (!client.connected) await new Promise((r) => client.on("connect", r));
  client.on("question", (q, ack) => ack("because"));
  eq(await client.timeout(3000).emitWithAck("echo", "hi", { n: 1 }), "hi", "echo through the proxy");
  eq(await admin.timeout(3000).emitWithAck("echo", Buffer.from([9])), Buffer.from([9]), "binary echo on /admin");
  const news = new Promise((r) => client.once("news", (...a) => r(a)));
  client.emit("news please");
  await news;
  const answered = new Promise((r) => client.once("answered", r));
  client.emit("ask me");
  eq(await answered, "because", "server-side ack through the proxy");
  client.close();
  await until(() => fs.existsSync(record) && fs.readFileSync(record, "utf8").includes("answered"), "the recording");
  await new Promise((r) => setTimeout(r, 200));
  proxy.child.kill("SIGTERM");
  await proxy.exited;

  // Replay against a fresh server: same behaviour, no differences.
  const fresh = await nodeServer();
  const same = run(["replay", record, fresh.url, "--timeout", "3000"]);
  const sameCode = await same.exited;
  if (sameCode !== 0) fail(`replay against the same server: exit ${sameCode}\n${same.out()}${same.err()}`);
  if (!/no differences/.test(same.out())) fail("no 'no differences' line: " + same.out());

  // Replay against a server whose echo answers something else: named, exit 8.
  const changed = await nodeServer("changed");
  const diff = run(["replay", record, changed.url, "--timeout", "3000"]);
  eq(await diff.exited, 8, "replay against a changed server");
  if (!/differs: ACK/.test(diff.out())) fail("the changed ack is not named: " + diff.out());

  // A file that is not a recording.
  fs.writeFileSync(path.join(dir, "bad.ndjson"), "hello\n");
  const bad = run(["replay", path.join(dir, "bad.ndjson"), fresh.url]);
  eq(await bad.exited, 1, "replay of a file that is not a recording");

  console.log("ok: record and replay");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
