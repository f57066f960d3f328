// sio-serve's modes and rules driven by the real Node socket.io-client 4.8 and engine.io-client
// 6.6: --mode echo (acked and not, JSON and binary), --mode engine-echo (text and binary), every
// --on action (namespace-limited rules, several rules for one event, to-room, broadcast), every
// --on-connect FIELD, and how rules stack on a mode. Each over polling and over websocket.
// Usage: node serve_modes.js PATH/TO/sio-serve
"use strict";
const { io } = require("socket.io-client");
const { Socket: EngineSocket } = require("engine.io-client");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_modes.js SIO_SERVE");
deadline(90000);

const transportSets = [["polling"], ["websocket"]];
const bin = Buffer.from([0, 1, 2, 250, 255]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const eq = (a, b, what) => {
  if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
};
const sameBytes = (x, what) => {
  const got = x instanceof ArrayBuffer ? Buffer.from(new Uint8Array(x)) : Buffer.from(x);
  if (!got.equals(bin)) fail(`${what}: got bytes ${got.toString("hex")}, want ${bin.toString("hex")}`);
};

// Connects; `setup(socket)` runs before the connection so no early event is missed.
function connect(url, opts, setup = () => {}) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, ...opts });
    setup(s);
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => reject(e));
  });
}
// Records every event a socket receives, in order.
function recorder(s) {
  const got = [];
  s.onAny((event, ...args) => got.push({ event, args }));
  return got;
}
// The client's callback form gives every ack argument: resolves with the array.
function ackAll(s, event, ...args) {
  return new Promise((resolve, reject) => {
    s.timeout(3000).emit(event, ...args, (err, ...reply) => (err ? reject(new Error(`${event}: ${err.message}`)) : resolve(reply)));
  });
}
// Resolves true if the ack came within `ms`, false if it timed out.
function acked(s, event, ms, ...args) {
  return new Promise((resolve) => s.timeout(ms).emit(event, ...args, (err) => resolve(!err)));
}

async function echoMode() {
  const server = await startServer(serve, ["--port", "0", "--quiet", "--mode", "echo", "--namespace", "/other"]);
  try {
    for (const transports of transportSets) {
      const label = `echo ${transports}`;
      const s = await connect(server.url, { transports });
      const got = recorder(s);
      // Acked: every argument comes back in the ack, JSON and binary alike.
      const reply = await ackAll(s, "anything at all", { a: [1, "two", null] }, bin, "three");
      eq(reply.length, 3, `${label}: ack argument count`);
      eq(reply[0], { a: [1, "two", null] }, `${label}: ack JSON`);
      sameBytes(reply[1], `${label}: ack binary`);
      eq(reply[2], "three", `${label}: ack string`);
      // Not acked: the event comes back to the sender under its own name.
      s.emit("no ack", { nested: { bin } }, 7);
      await until(() => got.some((e) => e.event === "no ack"), `${label}: event sent back`);
      const back = got.find((e) => e.event === "no ack");
      sameBytes(back.args[0].nested.bin, `${label}: binary sent back`);
      eq(back.args[1], 7, `${label}: number sent back`);
      // Once only.
      await sleep(150);
      eq(got.filter((e) => e.event === "no ack").length, 1, `${label}: answered once`);
      // Every namespace.
      const other = await connect(server.url + "/other", { transports });
      eq(await ackAll(other, "x", "in other"), ["in other"], `${label}: /other`);
      other.close();
      s.close();
      console.log(`${label}: ok`);
    }
  } finally {
    server.child.kill();
  }
}

async function engineEcho() {
  const server = await startServer(serve, ["--port", "0", "--quiet", "--mode", "engine-echo"]);
  try {
    for (const transports of transportSets) {
      const label = `engine-echo ${transports}`;
      // engine.io-client defaults to /engine.io/; sio-serve serves --path (/socket.io/).
      const s = new EngineSocket(server.url, { transports, path: "/socket.io/" });
      const got = [];
      s.on("message", (m) => got.push(m));
      await new Promise((resolve, reject) => { s.on("open", resolve); s.on("error", reject); });
      s.send("hello ✓");
      s.send(bin);
      s.send("40");  // looks like a Socket.IO CONNECT: an engine echo must not care
      await until(() => got.length === 3, `${label}: three messages back`);
      eq(got[0], "hello ✓", `${label}: text`);
      sameBytes(got[1], `${label}: binary`);
      eq(got[2], "40", `${label}: Socket.IO-looking text`);
      if (transports[0] === "websocket") {
        // A WebSocket frame carries the polling separator as any other character.
        s.send("a\x1eb");
        await until(() => got.length === 4, `${label}: separator text back`);
        eq(got[3], "a\x1eb", `${label}: separator text`);
      }
      s.close();
      console.log(`${label}: ok`);
    }
  } finally {
    server.child.kill();
  }
}

async function rules() {
  const server = await startServer(serve, [
    "--port", "0", "--quiet", "--mode", "none", "--namespace", "/room",
    "--on", "ping=emit:pong",
    "--on", "/room:hello=ack",
    "--on", "shout=broadcast",
    "--on", "tell=broadcast:told",
    "--on", "pass=relay",
    "--on", "enter=join",
    "--on", "exit=leave",
    "--on", "enter=ack",
    "--on", "exit=ack",
    "--on", "say=to-room",
    "--on", "say=ack",
    "--on", "whisper=to-room:heard",
    "--on", "echo me=echo",
    "--on", "multi=emit:first",
    "--on", "multi=emit:second",
    "--on-connect", "emit:welcome",
    "--on-connect", "emit:auth back:auth",
    "--on-connect", "emit:query back:query",
    "--on-connect", "emit:headers back:headers",
    "--on-connect", "emit:handshake back:handshake",
    "--on-connect", "/room:emit:room hello:auth",
  ]);
  try {
    for (const transports of transportSets) {
      const label = `rules ${transports}`;
      const opts = (name) => ({ transports, auth: { name, n: 1 }, query: { who: name }, extraHeaders: { "x-test": name } });
      const got = {};
      const alice = await connect(server.url, opts("alice"), (s) => { got.alice = recorder(s); });
      const bob = await connect(server.url, opts("bob"), (s) => { got.bob = recorder(s); });
      const carol = await connect(server.url, opts("carol"), (s) => { got.carol = recorder(s); });
      const first = (who, event) => got[who].find((e) => e.event === event);
      const count = (who, event) => got[who].filter((e) => e.event === event).length;

      // --on-connect: each FIELD carries what the server saw.
      await until(() => first("alice", "handshake back"), `${label}: on-connect events`);
      const hs = first("alice", "welcome").args[0];
      eq(hs.auth, { name: "alice", n: 1 }, `${label}: welcome (handshake) auth`);
      eq(hs.query.who, "alice", `${label}: welcome (handshake) query`);
      eq(hs.headers["x-test"], "alice", `${label}: welcome (handshake) headers`);
      eq(hs.transport, transports[0], `${label}: welcome (handshake) transport`);
      if (typeof hs.address !== "string" || typeof hs.issued !== "number") fail(`${label}: handshake ${JSON.stringify(hs)}`);
      eq(first("alice", "handshake back").args, [hs], `${label}: handshake FIELD`);
      eq(first("alice", "auth back").args, [{ name: "alice", n: 1 }], `${label}: auth FIELD`);
      eq(first("alice", "query back").args[0].who, "alice", `${label}: query FIELD`);
      eq(first("alice", "headers back").args[0]["x-test"], "alice", `${label}: headers FIELD`);
      if (first("alice", "room hello")) fail(`${label}: a /room on-connect rule fired in /`);

      // emit:NAME, and no answer from the mode (none).
      alice.emit("ping", 1, bin);
      await until(() => first("alice", "pong"), `${label}: pong`);
      eq(first("alice", "pong").args[0], 1, `${label}: pong argument`);
      sameBytes(first("alice", "pong").args[1], `${label}: pong binary`);
      if (first("alice", "ping")) fail(`${label}: --mode none echoed`);

      // echo, acked and not.
      eq(await ackAll(alice, "echo me", "a", 2), ["a", 2], `${label}: echo rule acked`);
      alice.emit("echo me", "b");
      await until(() => first("alice", "echo me"), `${label}: echo rule sent back`);
      eq(first("alice", "echo me").args, ["b"], `${label}: echo rule arguments`);

      // Several rules for one event run in order.
      alice.emit("multi", "m");
      await until(() => first("alice", "second"), `${label}: both multi rules`);
      const order = got.alice.filter((e) => e.event === "first" || e.event === "second").map((e) => e.event);
      eq(order, ["first", "second"], `${label}: rule order`);

      // broadcast and broadcast:NAME reach everyone else, never the sender.
      alice.emit("shout", "hey");
      alice.emit("tell", "news");
      await until(() => first("bob", "shout") && first("carol", "shout") && first("bob", "told") && first("carol", "told"),
        `${label}: broadcasts`);
      eq(first("carol", "shout").args, ["hey"], `${label}: broadcast arguments`);
      eq(first("bob", "told").args, ["news"], `${label}: broadcast:NAME arguments`);
      // relay: the first argument names the event; a first argument that is no name is dropped.
      alice.emit("pass", 42, "dropped");
      alice.emit("pass", "relayed", { n: 1 }, [2]);
      await until(() => first("bob", "relayed") && first("carol", "relayed"), `${label}: relay`);
      eq(first("carol", "relayed").args, [{ n: 1 }, [2]], `${label}: relay arguments`);
      if (count("bob", "pass") || count("carol", "pass")) fail(`${label}: relay sent its own event name on`);

      // join, to-room (sender excluded, first argument is the room) and to-room:NAME; several
      // rules for "say": to-room, then ack with every argument.
      // The ack rule runs after join/leave, so its answer means the room is set.
      await ackAll(bob, "enter", "r1");
      await ackAll(alice, "enter", "r1");
      eq(await ackAll(alice, "say", "r1", "to r1", 3), ["r1", "to r1", 3], `${label}: say acked after to-room`);
      alice.emit("whisper", "r1", "psst");
      await until(() => first("bob", "say") && first("bob", "heard"), `${label}: room delivery`);
      eq(first("bob", "say").args, ["to r1", 3], `${label}: to-room arguments`);
      eq(first("bob", "heard").args, ["psst"], `${label}: to-room:NAME arguments`);
      await ackAll(bob, "exit", "r1");
      alice.emit("whisper", "r1", "after leave");
      await sleep(200);
      eq(count("bob", "heard"), 1, `${label}: leave`);
      for (const e of ["shout", "tell", "relayed", "say", "heard"]) if (count("alice", e)) fail(`${label}: ${e} came back to the sender`);
      if (first("carol", "say") || first("carol", "heard")) fail(`${label}: room message leaked to carol`);

      // Namespace-limited rule: /room:hello acks in /room only; global rules and on-connect
      // rules apply in /room too.
      if (await acked(alice, "hello", 300, "x")) fail(`${label}: /room rule answered in /`);
      const roomGot = [];
      const room = await connect(server.url + "/room", opts("dave"), (s) => s.onAny((event, ...args) => roomGot.push({ event, args })));
      eq(await ackAll(room, "hello", "in room"), ["in room"], `${label}: /room:hello`);
      room.emit("ping", "r");
      await until(() => roomGot.some((e) => e.event === "pong"), `${label}: global rule in /room`);
      const roomHello = roomGot.find((e) => e.event === "room hello");
      if (!roomHello) fail(`${label}: /room on-connect rule did not fire`);
      eq(roomHello.args, [{ name: "dave", n: 1 }], `${label}: /room on-connect auth`);

      for (const s of [alice, bob, carol, room]) s.close();
      console.log(`${label}: ok`);
    }
  } finally {
    server.child.kill();
  }
}

// Rules add to the mode: the mode answers first, then the rules run.
async function precedence() {
  const server = await startServer(serve, ["--port", "0", "--quiet", "--mode", "echo", "--on", "ping=emit:pong", "--on", "ask=ack"]);
  try {
    const s = await connect(server.url, { transports: ["websocket"] });
    const got = recorder(s);
    s.emit("ping", 1);
    await until(() => got.length === 2, "echo mode + rule: two answers");
    eq(got.map((e) => e.event), ["ping", "pong"], "echo mode answers before the rule");
    eq(await ackAll(s, "ask", "q"), ["q"], "one ack when mode and rule both ack");
    s.close();
  } finally {
    server.child.kill();
  }
  const chat = await startServer(serve, ["--port", "0", "--quiet", "--on", "chat message=emit:seen"]);
  try {
    const s = await connect(chat.url, { transports: ["websocket"] });
    const got = recorder(s);
    // The chat still acks its own event (its answer's shape is the chat's business).
    await ackAll(s, "chat message", "hi");
    await until(() => got.some((e) => e.event === "seen"), "chat mode + rule: rule ran");
    eq(got.find((e) => e.event === "seen").args, ["hi"], "chat mode + rule: arguments");
    s.close();
    console.log("precedence: ok");
  } finally {
    chat.child.kill();
  }
}

(async () => {
  await echoMode();
  await engineEcho();
  await rules();
  await precedence();
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
