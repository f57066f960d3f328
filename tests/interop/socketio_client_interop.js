#!/usr/bin/env node
// Drives sio_test_server with the real socket.io-client 4.8.x over WebSocket, HTTP long-polling
// and polling upgraded to WebSocket, plus engine.io-client for what lies below Socket.IO
// (connect timeout, undecodable packet). Exits 0 when every check passes, 1 with the first
// mismatch otherwise; the whole run is bounded by a timeout.
//
// usage: node socketio_client_interop.js <path to sio_test_server>
"use strict";

const { spawn } = require("child_process");
const readline = require("readline");
const assert = require("assert");
const { io, Manager } = require("socket.io-client");
const { Socket: EngineSocket } = require("engine.io-client");

const CONNECT_TIMEOUT_MS = 1500;
const ACK_TIMEOUT_MS = 500;
const QUIET_MS = 300;     // how long "nobody else receives it" is watched for
const STEP_MS = 5000;     // bound of any single wait
const OVERALL_MS = 90000;

const serverPath = process.argv[2];
if (!serverPath) {
  console.error("usage: node socketio_client_interop.js <sio_test_server>");
  process.exit(2);
}

let server;
let step = "start";
const open = new Set();

function fail(why) {
  console.error(`FAIL [${step}]: ${why instanceof Error ? why.stack || why.message : why}`);
  for (const s of open) s.close && s.close();
  if (server) server.kill("SIGKILL");
  process.exit(1);
}
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
setTimeout(() => fail(`timed out after ${OVERALL_MS} ms`), OVERALL_MS).unref();

function withTimeout(promise, what, ms = STEP_MS) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const once = (emitter, ev, what = ev) =>
  withTimeout(new Promise((resolve) => emitter.once(ev, (...args) => resolve(args))), what);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(serverPath, ["--connect-timeout-ms", String(CONNECT_TIMEOUT_MS),
                                "--ack-timeout-ms", String(ACK_TIMEOUT_MS)],
                   { stdio: ["pipe", "pipe", "inherit"] });
    server.on("error", reject);
    server.on("exit", (code, signal) => {
      if (step !== "shutdown") fail(`server exited early (code ${code}, signal ${signal})`);
    });
    const lines = readline.createInterface({ input: server.stdout });
    lines.once("line", (line) => {
      const m = /^port (\d+)$/.exec(line);
      if (!m) reject(new Error(`unexpected first line from server: ${line}`));
      else resolve(Number(m[1]));
    });
  });
}

// A Socket.IO client socket, connected (or refused: see expectConnectError).
function client(url, transports, nsp = "/", opts = {}) {
  const s = io(url + nsp, { transports, forceNew: true, reconnection: false, timeout: STEP_MS, ...opts });
  open.add(s);
  return s;
}

async function connected(s, what) {
  if (!s.connected) {
    const [r] = await Promise.race([once(s, "connect", `${what} connect`),
                                    once(s, "connect_error", `${what} connect`).then(([e]) => {
                                      throw new Error(`${what}: connect_error ${e.message}`);
                                    })]);
    void r;
  }
  assert.ok(s.id, `${what}: no socket id`);
  return s;
}

// emit with a callback, as a promise of every argument of the acknowledgement.
const ask = (s, ev, ...args) =>
  withTimeout(new Promise((resolve) => s.emit(ev, ...args, (...reply) => resolve(reply))), `ack of ${ev}`);

// Collects the events a socket receives, to check later who got what.
function recorder(s, events) {
  const got = [];
  for (const ev of events) s.on(ev, (...args) => got.push([ev, ...args]));
  return got;
}

async function checkMode(url, mode) {
  const transports = mode === "websocket" ? ["websocket"] : ["polling", "websocket"];
  const extra = mode === "polling" ? { upgrade: false, transports: ["polling"] } : {};
  const make = (nsp = "/", opts = {}) => client(url, extra.transports || transports, nsp, { ...extra, ...opts });

  // --- connect, namespaces, middleware --------------------------------------------------------
  step = `${mode}: connect with auth`;
  const a = await connected(make("/", { auth: { token: "anything" } }), "a");
  assert.notStrictEqual(a.id, a.io.engine.id, "socket id must differ from the Engine.IO sid");
  if (mode === "upgrade") {
    if (a.io.engine.transport.name !== "websocket") await once(a.io.engine, "upgrade", "upgrade to websocket");
    assert.strictEqual(a.io.engine.transport.name, "websocket");
  } else {
    assert.strictEqual(a.io.engine.transport.name, mode);
  }

  step = `${mode}: /admin refused without the token`;
  {
    const r = make("/admin", { auth: { token: "wrong" } });
    const [err] = await once(r, "connect_error", "connect_error for /admin");
    assert.strictEqual(err.message, "not authorized");
    assert.deepStrictEqual(err.data, { hint: "token" });
    assert.strictEqual(r.connected, false);
    r.close();
  }

  step = `${mode}: unknown namespace`;
  {
    const r = make("/nope");
    const [err] = await once(r, "connect_error", "connect_error for /nope");
    assert.strictEqual(err.message, "Invalid namespace");
    r.close();
  }

  step = `${mode}: two namespaces on one connection`;
  {
    const manager = new Manager(url, { transports: extra.transports || transports, ...extra, reconnection: false });
    const root = manager.socket("/");
    const admin = manager.socket("/admin", { auth: { token: "secret" } });
    open.add(root); open.add(admin);
    await connected(root, "root");
    await connected(admin, "admin");
    assert.strictEqual(root.io.engine.id, admin.io.engine.id, "both namespaces must share one session");
    assert.notStrictEqual(root.id, admin.id);
    assert.deepStrictEqual(await ask(admin, "echo", "from admin"), ["from admin"]);
    assert.deepStrictEqual(await ask(root, "echo", "from root"), ["from root"]);
    admin.close();
    // The other namespace keeps working after one leaves.
    assert.deepStrictEqual(await ask(root, "echo", 1), [1]);
    root.close();
    manager._close && manager._close();
  }

  // --- acks and binary ------------------------------------------------------------------------
  step = `${mode}: echo ack with JSON`;
  assert.deepStrictEqual(await ask(a, "echo", 1, "two", { three: [3, null, true] }, null, 4.5),
                         [1, "two", { three: [3, null, true] }, null, 4.5]);
  assert.deepStrictEqual(await ask(a, "echo"), []);
  assert.deepStrictEqual(await ask(a, "echo", "ünïcødé ✓ 😀"), ["ünïcødé ✓ 😀"]);

  step = `${mode}: echo ack with binary`;
  {
    const big = Buffer.alloc(70000, 7);
    const reply = await ask(a, "echo", Buffer.from([1, 2, 3]), { nested: [Buffer.from([4, 5])], n: 1 }, "x", big);
    assert.strictEqual(reply.length, 4);
    assert.ok(Buffer.isBuffer(reply[0]), "binary argument must come back as binary");
    assert.deepStrictEqual([...reply[0]], [1, 2, 3]);
    assert.deepStrictEqual([...reply[1].nested[0]], [4, 5]);
    assert.strictEqual(reply[1].n, 1);
    assert.strictEqual(reply[2], "x");
    assert.ok(Buffer.isBuffer(reply[3]) && reply[3].equals(big), "70 kB buffer must come back intact");
  }

  step = `${mode}: server refuses reserved event names`;
  assert.deepStrictEqual(await ask(a, "try-reserved"), ["reserved event name"]);

  // --- rooms and broadcast --------------------------------------------------------------------
  step = `${mode}: rooms`;
  const b = await connected(make(), "b");
  const c = await connected(make(), "c");
  const got = { a: recorder(a, ["message", "broadcast"]), b: recorder(b, ["message", "broadcast"]),
                c: recorder(c, ["message", "broadcast"]) };
  const [roomsA] = await ask(a, "join", "r1");
  assert.deepStrictEqual(roomsA, [a.id, "r1"].sort());
  await ask(b, "join", "r1");
  await ask(b, "join", "r2");

  // a sends to r1: b (in r1) gets it, a (the sender, in r1) and c (not in r1) do not.
  const bGot = once(b, "message", "message in r1 for b");
  assert.deepStrictEqual(await ask(a, "to-room", "r1", "hello r1", Buffer.from([9])), [1]);
  const [text, bin] = await bGot;
  assert.strictEqual(text, "hello r1");
  assert.deepStrictEqual([...bin], [9]);
  await sleep(QUIET_MS);
  assert.deepStrictEqual(got.a, [], "the sender must not receive its own room message");
  assert.deepStrictEqual(got.c, [], "a socket outside the room must not receive the message");
  assert.strictEqual(got.b.length, 1, "one copy only");

  // c sends to its own id room's neighbour: to b's id reaches b only.
  got.b.length = 0;
  assert.deepStrictEqual(await ask(c, "to-room", b.id, "direct"), [1]);
  await withTimeout((async () => { while (got.b.length === 0) await sleep(10); })(), "direct message");
  assert.deepStrictEqual(got.b, [["message", "direct"]]);

  step = `${mode}: broadcast to everyone but the sender`;
  got.a.length = got.b.length = got.c.length = 0;
  const aB = once(a, "broadcast", "broadcast for a");
  const bB = once(b, "broadcast", "broadcast for b");
  const [reached] = await ask(c, "broadcast", { from: "c" });
  assert.ok(reached >= 2, `broadcast reached ${reached} sockets, expected at least a and b`);
  assert.deepStrictEqual((await aB)[0], { from: "c" });
  assert.deepStrictEqual((await bB)[0], { from: "c" });
  await sleep(QUIET_MS);
  assert.deepStrictEqual(got.c, [], "the sender must not receive its broadcast");

  step = `${mode}: leave`;
  const [roomsB] = await ask(b, "leave", "r1");
  assert.deepStrictEqual(roomsB, [b.id, "r2"].sort());
  got.a.length = got.b.length = got.c.length = 0;
  assert.deepStrictEqual(await ask(a, "to-room", "r1", "after leave"), [0]);
  await sleep(QUIET_MS);
  assert.deepStrictEqual(got.b, [], "a socket that left the room must not receive it");

  // --- server-to-client acks ------------------------------------------------------------------
  step = `${mode}: server asks the client for an ack`;
  a.on("question", (...args) => {
    const cb = args.pop();
    if (args[0] !== "ignore") cb("answer", ...args);
  });
  {
    const answer = once(a, "answer-received", "answer-received");
    a.emit("server-ack", 1, "q", Buffer.from([5, 6]));
    const reply = await answer;
    assert.strictEqual(reply[0], "answer");
    assert.strictEqual(reply[1], 1);
    assert.strictEqual(reply[2], "q");
    assert.deepStrictEqual([...reply[3]], [5, 6]);
  }
  step = `${mode}: server ack times out`;
  {
    const t0 = Date.now();
    const answer = once(a, "answer-received", "answer-received after timeout");
    a.emit("server-ack", "ignore");
    const [reply] = await answer;
    assert.deepStrictEqual(reply, { error: "operation has timed out" });
    assert.ok(Date.now() - t0 >= ACK_TIMEOUT_MS - 50, "ack timed out too early");
  }

  // --- disconnects, both ways, and the reasons each side sees ----------------------------------
  step = `${mode}: disconnects`;
  const o = await connected(make(), "observer");
  await ask(o, "join", "observers");
  const left = [];
  o.on("left", (info) => left.push(info));
  const waitLeft = (id) => withTimeout((async () => {
    for (;;) {
      const hit = left.find((l) => l.id === id);
      if (hit) return hit.reason;
      await sleep(10);
    }
  })(), `server-side disconnect of ${id}`);

  {  // the client leaves
    const id = a.id;
    const reason = once(a, "disconnect", "a disconnect");
    a.disconnect();
    assert.strictEqual((await reason)[0], "io client disconnect");
    assert.strictEqual(await waitLeft(id), "client namespace disconnect");
  }
  {  // the server disconnects the socket
    const id = b.id;
    const reason = once(b, "disconnect", "b disconnect");
    b.emit("disconnect-me");
    assert.strictEqual((await reason)[0], "io server disconnect");
    assert.strictEqual(await waitLeft(id), "server namespace disconnect");
  }
  {  // the client closes the Engine.IO connection under the socket: the client calls that
     // "forced close", the server sees the transport go away
    const id = c.id;
    const reason = once(c, "disconnect", "c disconnect");
    c.io.engine.close();
    assert.strictEqual((await reason)[0], "forced close");
    assert.strictEqual(await waitLeft(id), "transport close");
  }
  assert.deepStrictEqual(await ask(o, "echo", "still here"), ["still here"]);
  o.close();
}

// Below Socket.IO: an Engine.IO session that never sends CONNECT, and one that sends garbage.
async function checkEngineLevel(url) {
  step = "engine: connect timeout closes a session without CONNECT";
  {
    const t0 = Date.now();
    const e = new EngineSocket(url, { transports: ["websocket"], path: "/socket.io/" });
    open.add(e);
    await once(e, "open", "engine open");
    const [reason] = await withTimeout(new Promise((r) => e.once("close", (...x) => r(x))),
                                       "close after the connect timeout", CONNECT_TIMEOUT_MS + STEP_MS);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= CONNECT_TIMEOUT_MS - 100, `closed after ${elapsed} ms, before the timeout`);
    assert.strictEqual(reason, "transport close");
  }

  step = "engine: an undecodable packet closes that session only";
  {
    const bystander = await connected(client(url, ["websocket"]), "bystander");
    const e = new EngineSocket(url, { transports: ["websocket"], path: "/socket.io/" });
    open.add(e);
    await once(e, "open", "engine open");
    e.send("0");  // CONNECT "/" so that the connect timeout is not what closes it
    await once(e, "message", "CONNECT answer");
    const closed = new Promise((r) => e.once("close", (...x) => r(x)));
    e.send("2[\"unterminated\"");
    await withTimeout(closed, "close after a bad packet");
    assert.deepStrictEqual(await ask(bystander, "echo", "unaffected"), ["unaffected"]);
    bystander.close();
  }
}

(async () => {
  const port = await withTimeout(startServer(), "port line from the server");
  const url = `http://127.0.0.1:${port}`;
  for (const mode of ["websocket", "polling", "upgrade"]) {
    await checkMode(url, mode);
    console.log(`ok ${mode}`);
  }
  await checkEngineLevel(url);
  console.log("ok engine level");

  step = "shutdown";
  const exited = new Promise((r) => server.once("exit", (code) => r(code)));
  server.stdin.end();
  const code = await withTimeout(exited, "server exit after stdin closed");
  if (code !== 0) fail(`server exited with ${code}`);
  console.log("all socket.io client interop checks passed");
  process.exit(0);
})().catch(fail);
