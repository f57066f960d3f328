// sio-serve's chat demo driven by the real Node socket.io-client 4.8, every case over each
// transport (polling, websocket, polling then upgrade): names and the online list, chat to
// everyone and to rooms, join/leave acks with counts, typing to the others only, private
// messages, the call signaling relay, read receipts, echo (binary included), the validation
// errors (non-string, empty, too long, rate limit), the auth token refused both ways, several
// namespaces over one connection, and disconnects from either side.
// Usage: node serve_demo.js PATH/TO/sio-serve
//
// Deterministic: it waits for events, never for time, except for the rate-limit window. "Must
// not arrive" is checked with a barrier: a later event that must reach the same socket after
// the one that must not (a socket's events are handled, and its broadcasts queued, in order).
"use strict";
const { isDeepStrictEqual } = require("util");
const { io } = require("socket.io-client");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_demo.js SIO_SERVE");
deadline(100000);

const TRANSPORTS = [["polling"], ["websocket"], ["polling", "websocket"]];
const SIGNALING = ["offer", "answer", "ice-candidate", "call user", "call accepted", "call rejected", "call ended"];
const TOKEN = "s3cret";

// Deep equality, key order aside (the server sends object keys sorted).
const eq = (a, b, what) => {
  if (!isDeepStrictEqual(a, b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
};
const check = (cond, what) => { if (!cond) fail(what); };

// A client that records every event it receives, so a test can wait for one or check that one
// never came.
function client(url, opts) {
  const s = io(url, { reconnection: false, forceNew: true, ...opts });
  s.log = [];
  s.onAny((event, ...args) => s.log.push({ event, args }));
  s.connected_ = new Promise((resolve, reject) => {
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => reject(e));
  });
  return s;
}
// The first recorded `event` whose first argument satisfies `pred`; waits up to 5 s.
async function next(s, event, pred = () => true, what = event) {
  let hit;
  await until(() => (hit = s.log.find((e) => e.event === event && pred(e.args[0]))), `${s.label}: ${what}`);
  return hit.args[0];
}
const has = (s, event, pred = () => true) => s.log.some((e) => e.event === event && pred(e.args[0]));
const count = (s, event, pred = () => true) => s.log.filter((e) => e.event === event && pred(e.args[0])).length;

function refused(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, ...opts });
    s.on("connect", () => { s.close(); reject(new Error("connected but should have been refused")); });
    s.on("connect_error", (e) => { s.close(); resolve(e.message); });
  });
}

// The chat on namespace `nsp` of `base` over `transports`: every event and every refusal.
async function chatCases(base, nsp, transports, label) {
  const url = base + nsp;
  const auth = (name) => (name ? { token: TOKEN, name } : { token: TOKEN });
  const named = (s, label_) => { s.label = `${label} ${label_}`; return s; };

  // Connect: the newcomer and everyone else get "user connected" with the total; the newcomer
  // gets the online list.
  const alice = named(client(url, { transports, auth: auth("alice") }), "alice");
  await alice.connected_;
  eq(await next(alice, "user connected"), { id: alice.id, name: "alice", total: 1 }, `${label}: alice announced`);
  eq(await next(alice, "online users"), [{ id: alice.id, name: "alice" }], `${label}: alice's online list`);
  const bob = named(client(url, { transports, auth: auth("bob") }), "bob");
  await bob.connected_;
  eq(await next(alice, "user connected", (u) => u.id === bob.id), { id: bob.id, name: "bob", total: 2 }, `${label}: alice sees bob`);
  eq(await next(bob, "user connected"), { id: bob.id, name: "bob", total: 2 }, `${label}: bob announced to himself`);
  eq((await next(bob, "online users")).map((u) => u.name).sort(), ["alice", "bob"], `${label}: bob's online list`);

  // No name at connect: a guest name; "set name" renames and announces to everyone.
  const carol = named(client(url, { transports, auth: auth() }), "carol");
  await carol.connected_;
  const guest = await next(carol, "user connected");
  check(/^guest-/.test(guest.name) && guest.total === 3, `${label}: guest announced: ${JSON.stringify(guest)}`);
  const renamed = await carol.timeout(3000).emitWithAck("set name", "  carol ");
  eq(renamed, { id: carol.id, name: "carol" }, `${label}: set name ack`);
  for (const s of [alice, bob, carol]) {
    eq(await next(s, "user connected", (u) => u.id === carol.id && u.name === "carol"),
       { id: carol.id, name: "carol", total: 3 }, `${label}: carol renamed, seen by ${s.label}`);
  }
  await until(() => count(carol, "online users") === 2, `${label}: carol's second online list`);
  eq(carol.log.filter((e) => e.event === "online users")[1].args[0].map((u) => u.name).sort(), ["alice", "bob", "carol"],
     `${label}: online list after rename`);
  check(!has(alice, "online users", (l) => l.length === 3), `${label}: online list went to someone else than the renamed`);

  if (transports.length === 2) {
    for (const s of [alice, bob, carol]) await until(() => s.io.engine.transport.name === "websocket", `${label}: upgrade`);
  }

  // Chat to everyone, the sender included, acked with the message's id.
  const before = Date.now();
  const ack = await alice.timeout(3000).emitWithAck("chat message", "hi all ✓");
  check(typeof ack.id === "number" && Object.keys(ack).length === 1, `${label}: chat ack ${JSON.stringify(ack)}`);
  for (const s of [alice, bob, carol]) {
    const m = await next(s, "chat message", (m) => m.id === ack.id);
    eq({ ...m, ts: 0 }, { id: ack.id, from: alice.id, name: "alice", text: "hi all ✓", room: null, ts: 0 }, `${label}: chat at ${s.label}`);
    check(m.ts >= before - 1000 && m.ts <= Date.now() + 1000, `${label}: ts ${m.ts} is not ms since the epoch`);
  }
  // The object form and no ack.
  bob.emit("chat message", { text: "plain object" });
  for (const s of [alice, bob, carol]) await next(s, "chat message", (m) => m.text === "plain object" && m.from === bob.id && m.room === null);

  // Rooms: join acks the member count; the other members hear of it.
  eq(await bob.timeout(3000).emitWithAck("join", "ops"), 1, `${label}: bob joins ops`);
  eq(await carol.timeout(3000).emitWithAck("join", "ops"), 2, `${label}: carol joins ops`);
  eq(await next(bob, "user joined"), { id: carol.id, name: "carol", room: "ops", count: 2 }, `${label}: bob hears carol join`);
  eq(await carol.timeout(3000).emitWithAck("join", "ops"), 2, `${label}: joining again`);
  check(!has(carol, "user joined") && !has(alice, "user joined"), `${label}: user joined went beyond the other members`);
  check(count(bob, "user joined") === 1, `${label}: joining twice was announced twice`);

  // A room message reaches the room only (the sender included).
  const roomAck = await carol.timeout(3000).emitWithAck("chat message", { room: "ops", text: "ops only" });
  for (const s of [bob, carol]) {
    eq((await next(s, "chat message", (m) => m.id === roomAck.id)).room, "ops", `${label}: room message at ${s.label}`);
  }
  const barrier = await carol.timeout(3000).emitWithAck("chat message", "after ops");
  await next(alice, "chat message", (m) => m.id === barrier.id);
  check(!has(alice, "chat message", (m) => m.text === "ops only"), `${label}: room message leaked to alice`);
  // Writing to a room one is not in is refused.
  eq(await alice.timeout(3000).emitWithAck("chat message", { room: "ops", text: "let me in" }), { error: "not in room 'ops'; join it first" },
     `${label}: chat to a room not joined`);

  // Typing goes to the others (in the room), never back to the sender.
  await bob.timeout(3000).emitWithAck("typing", { room: "ops" });
  eq(await next(carol, "typing"), { id: bob.id, name: "bob", room: "ops" }, `${label}: carol sees bob typing`);
  check(!has(bob, "typing"), `${label}: typing came back to its sender`);
  await alice.timeout(3000).emitWithAck("typing");
  eq(await next(bob, "typing", (t) => t.id === alice.id), { id: alice.id, name: "alice", room: null }, `${label}: bob sees alice typing`);
  await next(carol, "typing", (t) => t.id === alice.id);
  check(!has(alice, "typing"), `${label}: typing came back to alice`);
  check(!has(alice, "typing", (t) => t.id === bob.id), `${label}: room typing leaked to alice`);
  await bob.timeout(3000).emitWithAck("stop typing", { room: "ops" });
  eq(await next(carol, "stop typing"), { id: bob.id, name: "bob", room: "ops" }, `${label}: stop typing`);
  check(!has(bob, "stop typing"), `${label}: stop typing came back to its sender`);

  // Read receipts go to the room.
  await carol.timeout(3000).emitWithAck("mark read", { room: "ops", id: roomAck.id });
  for (const s of [bob, carol]) {
    const r = await next(s, "message read");
    eq({ ...r, ts: 0 }, { id: roomAck.id, by: carol.id, room: "ops", ts: 0 }, `${label}: read receipt at ${s.label}`);
    check(Math.abs(r.ts - Date.now()) < 60000, `${label}: receipt ts`);
  }
  const barrier2 = await carol.timeout(3000).emitWithAck("chat message", "after receipt");
  await next(alice, "chat message", (m) => m.id === barrier2.id);
  check(!has(alice, "message read"), `${label}: read receipt leaked out of the room`);

  // Leaving acks the count left; the remaining members hear of it; leaving again is quiet.
  eq(await carol.timeout(3000).emitWithAck("leave", "ops"), 1, `${label}: carol leaves ops`);
  eq(await next(bob, "user left"), { id: carol.id, name: "carol", room: "ops", count: 1 }, `${label}: bob hears carol leave`);
  eq(await carol.timeout(3000).emitWithAck("leave", "ops"), 1, `${label}: leaving again`);
  check(!has(carol, "user left"), `${label}: user left went to the leaver`);

  // Private messages: to that socket only; an unknown target is an error to the sender.
  const pm = await alice.timeout(3000).emitWithAck("private message", { to: bob.id, text: "psst" });
  check(typeof pm.id === "number", `${label}: private message ack ${JSON.stringify(pm)}`);
  const got = await next(bob, "private message");
  eq({ ...got, ts: 0 }, { id: pm.id, from: alice.id, name: "alice", text: "psst", ts: 0 }, `${label}: private message`);
  const barrier3 = await alice.timeout(3000).emitWithAck("chat message", "after pm");
  for (const s of [alice, carol]) await next(s, "chat message", (m) => m.id === barrier3.id);
  check(!has(alice, "private message") && !has(carol, "private message"), `${label}: private message leaked`);
  alice.emit("private message", { to: "no-such-socket", text: "hello?" });
  eq(await next(alice, "error", (e) => e.message === "no such user"), { message: "no such user" }, `${label}: private message to nobody`);

  // Call signaling: forwarded to the target only, with "from" stamped by the server.
  const sdp = { type: "offer", sdp: "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\n" };
  for (const event of SIGNALING) {
    alice.emit(event, { to: bob.id, from: "forged", sdp, extra: [1, 2] });
    eq(await next(bob, event), { to: bob.id, from: alice.id, sdp, extra: [1, 2] }, `${label}: ${event} relayed`);
  }
  const barrier4 = await alice.timeout(3000).emitWithAck("chat message", "after calls");
  for (const s of [alice, carol]) await next(s, "chat message", (m) => m.id === barrier4.id);
  for (const event of SIGNALING) check(!has(alice, event) && !has(carol, event), `${label}: ${event} leaked`);
  const errorsBefore = count(alice, "error");
  alice.emit("offer", { to: "no-such-socket", sdp });
  await until(() => count(alice, "error") === errorsBefore + 1, `${label}: offer to nobody refused`);

  // Validation: each refusal is an "error" to the sender only, and the ack says why.
  const long = "x".repeat(501);
  for (const [arg, why] of [
    [long, "message is longer than 500 characters"],
    [{ text: long }, "message is longer than 500 characters"],
    ["", "message is empty"],
    ["   ", "message is empty"],
    [42, "message must be a string"],
    [{ text: null }, "message must be a string"],
    [{ room: "ops" }, "message must be a string"],
  ]) {
    const n = count(alice, "error");
    eq(await alice.timeout(3000).emitWithAck("chat message", arg), { error: why }, `${label}: refused ${JSON.stringify(arg).slice(0, 30)}`);
    eq(alice.log.filter((e) => e.event === "error")[n].args[0], { message: why }, `${label}: error event for ${JSON.stringify(arg).slice(0, 30)}`);
  }
  // Without an ack the error event still comes; the limit counts characters, not bytes.
  const n0 = count(alice, "error");
  alice.emit("chat message", "y".repeat(600));
  await until(() => count(alice, "error") === n0 + 1, `${label}: error event without an ack`);
  const wide = "✓".repeat(500);
  const wideAck = await alice.timeout(3000).emitWithAck("chat message", wide);
  await next(bob, "chat message", (m) => m.id === wideAck.id && m.text === wide);
  check(!has(bob, "error") && !has(carol, "error"), `${label}: an error reached someone else`);
  check(!has(bob, "chat message", (m) => typeof m.text !== "string" || m.text.length > 500 || m.text.trim() === ""),
        `${label}: a refused message was delivered`);
  check(alice.connected, `${label}: refusals disconnected the sender`);
  // Bad names and rooms are refused the same way.
  eq(await alice.timeout(3000).emitWithAck("set name", ""), { error: "name must be a non-empty string of at most 32 characters" }, `${label}: empty name`);
  eq(await alice.timeout(3000).emitWithAck("join", 7), { error: "room must be a non-empty string of at most 64 characters" }, `${label}: numeric room`);

  // Echo: JSON and binary come back unchanged; without an ack as an "echo" event.
  const bin = Buffer.from([0, 1, 2, 250, 255]);
  eq(await alice.timeout(3000).emitWithAck("echo", { a: [1, "two", null] }, bin), { a: [1, "two", null] }, `${label}: echo JSON`);
  const echoedBin = await alice.timeout(3000).emitWithAck("echo", bin);
  check(Buffer.isBuffer(echoedBin) && echoedBin.equals(bin), `${label}: echo binary ${echoedBin}`);
  const two = await new Promise((resolve) => alice.emit("echo", "a", bin, (x, y) => resolve([x, y])));
  check(two[0] === "a" && Buffer.isBuffer(two[1]) && two[1].equals(bin), `${label}: echo of several arguments`);
  alice.emit("echo", "no ack", bin);
  await until(() => alice.log.some((e) => e.event === "echo" && e.args[0] === "no ack" && Buffer.isBuffer(e.args[1]) && e.args[1].equals(bin)),
              `${label}: echo without ack`);

  // The broadcast helper reaches the others; the chat's own events cannot be forged with it.
  await alice.timeout(3000).emitWithAck("broadcast", "custom", 42);
  for (const s of [bob, carol]) eq(await next(s, "custom"), 42, `${label}: broadcast at ${s.label}`);
  check(!has(alice, "custom"), `${label}: broadcast came back to its sender`);
  check((await alice.timeout(3000).emitWithAck("broadcast", "chat message", { text: "forged" })).error, `${label}: forged chat message accepted`);

  // Several namespaces over one connection: /admin has its own users.
  const admin = alice.io.socket("/admin", { auth: auth("alice-admin") });
  admin.log = [];
  admin.onAny((event, ...args) => admin.log.push({ event, args }));
  await new Promise((resolve, reject) => { admin.on("connect", resolve); admin.on("connect_error", reject); admin.connect(); });
  check(admin.io === alice.io && alice.io.engine.id, `${label}: /admin is not on alice's connection`);
  eq(await admin.timeout(3000).emitWithAck("echo", "from admin"), "from admin", `${label}: /admin echo`);
  admin.label = `${label} admin`;
  check((await next(admin, "online users")).some((u) => u.id === admin.id && u.name === "alice-admin"), `${label}: /admin online list`);
  await admin.timeout(3000).emitWithAck("chat message", "admin only");
  const barrier5 = await alice.timeout(3000).emitWithAck("chat message", "after admin");
  await next(bob, "chat message", (m) => m.id === barrier5.id);
  check(!has(bob, "chat message", (m) => m.text === "admin only"), `${label}: /admin chat leaked into ${nsp}`);
  admin.disconnect();
  check(alice.connected, `${label}: leaving /admin closed /`);

  // Disconnect from the client: the rest hear it with the new total.
  // (A disconnected client forgets its id.)
  const [carolId, bobId] = [carol.id, bob.id];
  carol.disconnect();
  for (const s of [alice, bob]) {
    eq(await next(s, "user disconnected"), { id: carolId, name: "carol", total: 2 }, `${label}: carol's disconnect at ${s.label}`);
  }
  bob.disconnect();
  eq(await next(alice, "user disconnected", (u) => u.id === bobId), { id: bobId, name: "bob", total: 1 }, `${label}: bob's disconnect`);
  return alice;  // still connected: the server's shutdown disconnects it
}

// The auth token, refused both ways, and an unknown namespace.
async function authCases(base, transports, label) {
  eq(await refused(base, { transports, auth: { name: "x" } }), "Authentication required", `${label}: no token`);
  eq(await refused(base, { transports, auth: { token: "" } }), "Authentication required", `${label}: empty token`);
  eq(await refused(base, { transports, auth: { token: "nope" } }), "Invalid token", `${label}: wrong token`);
  eq(await refused(base, { transports, auth: { token: 42 } }), "Invalid token", `${label}: non-string token`);
  eq(await refused(base + "/admin", { transports, auth: { token: "s3cre" } }), "Invalid token", `${label}: wrong token on /admin`);
  eq(await refused(base + "/nowhere", { transports, auth: { token: TOKEN } }), "Invalid namespace", `${label}: unknown namespace`);
}

// --max-message-len 10 --rate-limit 3: limits from the command line.
async function limitCases(base, transports, label) {
  const s = client(base, { transports, auth: { name: "fast" } });
  s.label = `${label} fast`;
  await s.connected_;
  await next(s, "online users");
  eq(await s.timeout(3000).emitWithAck("chat message", "0123456789").then((a) => typeof a.id), "number", `${label}: 10 characters are fine`);
  // That was one message of this second's three.
  eq(await s.timeout(3000).emitWithAck("chat message", "0123456789a"), { error: "message is longer than 10 characters" }, `${label}: --max-message-len`);
  // Echo is not rate-limited: benchmarks use it.
  for (let i = 0; i < 10; i++) eq(await s.timeout(3000).emitWithAck("echo", i), i, `${label}: echo ${i}`);
  s.emit("chat message", "two");
  s.emit("chat message", "three");
  s.emit("chat message", "four");
  eq(await next(s, "error", (e) => /^rate/.test(e.message)), { message: "rate limit: at most 3 messages per second" }, `${label}: rate limit error`);
  await next(s, "chat message", (m) => m.text === "three");
  const barrier = await s.timeout(3000).emitWithAck("echo", "barrier");
  eq(barrier, "barrier", `${label}: still connected after the rate limit`);
  check(!has(s, "chat message", (m) => m.text === "four"), `${label}: the message over the limit was delivered`);
  check(s.connected, `${label}: the rate limit disconnected the client`);
  // The window passes (the only timed wait: the limit is per second).
  await new Promise((r) => setTimeout(r, 1100));
  const again = await s.timeout(3000).emitWithAck("chat message", "five");
  check(typeof again.id === "number", `${label}: no message accepted after the window: ${JSON.stringify(again)}`);
  s.disconnect();
}

// --rate-limit 0: no limit.
async function unlimitedCases(base, transports, label) {
  const s = client(base, { transports });
  s.label = `${label} unlimited`;
  await s.connected_;
  for (let i = 0; i < 40; i++) s.emit("chat message", "m" + i);
  await until(() => count(s, "chat message") === 40, `${label}: 40 messages with --rate-limit 0`);
  check(!has(s, "error"), `${label}: error with --rate-limit 0`);
  s.disconnect();
}

(async () => {
  const labelOf = (t) => t.join("+");
  const nspOf = (t) => "/" + (t.length === 2 ? "upgrade" : t[0]);
  const main = await startServer(serve, ["--port", "0", "--quiet", "--auth-token", TOKEN, "--namespace", "/admin",
    ...TRANSPORTS.flatMap((t) => ["--namespace", nspOf(t)])]);
  const limited = await startServer(serve, ["--port", "0", "--quiet", "--max-message-len", "10", "--rate-limit", "3"]);
  const unlimited = await startServer(serve, ["--port", "0", "--quiet", "--rate-limit", "0"]);
  try {
    // The browser client is served where the reference serves it.
    const js = await fetch(main.url + "/socket.io/socket.io.js");
    check(js.status === 200 && (await js.text()).includes("Socket.IO"), "socket.io.js not served: " + js.status);

    // Each transport in its own namespace, so that the totals do not depend on when the
    // previous round's disconnects arrive.
    const survivors = [];
    for (const transports of TRANSPORTS) {
      const label = labelOf(transports);
      await authCases(main.url, transports, label);
      survivors.push(await chatCases(main.url, nspOf(transports), transports, label));
      await limitCases(limited.url, transports, label);
      await unlimitedCases(unlimited.url, transports, label);
      console.log(`${label}: ok`);
    }

    // Disconnect from the server's side: on SIGTERM every client is disconnected.
    const gone = survivors.map((s) => new Promise((resolve) => s.on("disconnect", resolve)));
    main.child.kill("SIGTERM");
    await Promise.race([Promise.all(gone), new Promise((_, reject) => setTimeout(() => reject(new Error("clients not disconnected by the server's shutdown")), 10000))]);
    console.log("server-side disconnect: ok");
  } finally {
    for (const s of [main, limited, unlimited]) s.child.kill("SIGKILL");
  }
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
