// sio-serve's zero-code demo driven by the real Node socket.io-client 4.8: every transport
// (polling, websocket, polling then upgrade), namespaces, the auth token, chat with acks,
// rooms, echo with binary, broadcast, the online list and the client library served on
// /socket.io/socket.io.js. Usage: node serve_demo.js PATH/TO/sio-serve
"use strict";
const { io } = require("socket.io-client");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_demo.js SIO_SERVE");
deadline(60000);

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, ...opts });
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => reject(e));
  });
}
function refused(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, ...opts });
    s.on("connect", () => { s.close(); reject(new Error("connected but should have been refused")); });
    s.on("connect_error", (e) => { s.close(); resolve(e.message); });
  });
}
const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

(async () => {
  const server = await startServer(serve, ["--port", "0", "--namespace", "/admin", "--auth-token", "s3cret"]);
  const base = server.url;
  const auth = (name) => ({ token: "s3cret", name });
  try {
    // The browser client is served where the reference serves it.
    const js = await fetch(base + "/socket.io/socket.io.js");
    if (js.status !== 200 || !(await js.text()).includes("Socket.IO")) fail("socket.io.js not served: " + js.status);

    // Refusals: no token, wrong token, unknown namespace.
    eq(await refused(base, { auth: { name: "x" } }), "not authorized", "no token");
    eq(await refused(base, { auth: { token: "nope" } }), "not authorized", "wrong token");
    eq(await refused(base + "/nowhere", { auth: auth("x") }), "Invalid namespace", "unknown namespace");

    for (const transports of [["polling"], ["websocket"], ["polling", "websocket"]]) {
      const label = transports.join("+");
      const alice = await connect(base, { transports, auth: auth("alice") });
      const bob = await connect(base, { transports, auth: auth("bob") });
      const carol = await connect(base, { transports, auth: auth("carol") });
      if (transports.length === 2) {
        await until(() => alice.io.engine.transport.name === "websocket", `${label}: upgrade to websocket`);
      }
      const got = { alice: [], bob: [], carol: [] };
      for (const [n, s] of Object.entries({ alice, bob, carol })) s.on("chat message", (m) => got[n].push(m.text));

      // Online list reaches 3 names.
      await new Promise((resolve) => {
        const check = (o) => { if (o.count === 3) { alice.off("online", check); resolve(); } };
        alice.on("online", check);
        alice.emit("set name", "alice");  // triggers a fresh online list
      });

      // Chat to everyone: acked to the sender, delivered to the two others, not echoed back.
      const ack = await alice.timeout(3000).emitWithAck("chat message", { text: "hi all ✓" });
      if (!ack.ok || typeof ack.id !== "number") fail(`${label}: chat ack ${JSON.stringify(ack)}`);
      await until(() => got.bob.length === 1 && got.carol.length === 1, `${label}: chat delivered`);
      eq(got.bob, ["hi all ✓"], `${label}: bob's messages`);

      // Rooms: bob joins "ops"; carol's message to ops reaches bob only.
      const joined = await bob.timeout(3000).emitWithAck("join", "ops");
      if (!joined.ok || !joined.rooms.includes("ops")) fail(`${label}: join ack ${JSON.stringify(joined)}`);
      await carol.timeout(3000).emitWithAck("chat message", { text: "ops only", room: "ops" });
      await until(() => got.bob.includes("ops only"), `${label}: room message to bob`);
      await new Promise((r) => setTimeout(r, 200));
      if (got.alice.includes("ops only")) fail(`${label}: room message leaked to alice`);

      // Refused chat: empty text gets ok:false with a reason.
      const bad = await alice.timeout(3000).emitWithAck("chat message", { text: "" });
      if (bad.ok !== false || !bad.error) fail(`${label}: empty chat ack ${JSON.stringify(bad)}`);

      // Echo: JSON and binary come back unchanged.
      const bin = Buffer.from([0, 1, 2, 250, 255]);
      const echoed = await alice.timeout(3000).emitWithAck("echo", { a: [1, "two", null] }, bin);
      eq(echoed, { a: [1, "two", null] }, `${label}: echo JSON`);
      const echoedBin = await alice.timeout(3000).emitWithAck("echo", bin);
      if (!Buffer.isBuffer(echoedBin) || !echoedBin.equals(bin)) fail(`${label}: echo binary ${echoedBin}`);

      // Broadcast of a custom event to everyone else.
      const seen = [];
      bob.on("custom", (x) => seen.push(x));
      carol.on("custom", (x) => seen.push(x));
      alice.on("custom", () => fail(`${label}: broadcast came back to the sender`));
      await alice.timeout(3000).emitWithAck("broadcast", "custom", 42);
      await until(() => seen.length === 2, `${label}: broadcast delivered`);

      // A second namespace over the same connection.
      const admin = alice.io.socket("/admin", { auth: auth("alice-admin") });
      await new Promise((resolve, reject) => { admin.on("connect", resolve); admin.on("connect_error", reject); admin.connect(); });
      eq(await admin.timeout(3000).emitWithAck("echo", "from admin"), "from admin", `${label}: /admin echo`);
      admin.disconnect();

      // Leaving: the others see the online count drop.
      const dropped = new Promise((resolve) => bob.on("online", (o) => { if (o.count === 2) resolve(); }));
      carol.disconnect();
      await Promise.race([dropped, new Promise((_, rej) => setTimeout(() => rej(new Error(`${label}: online count did not drop`)), 3000))]);
      alice.disconnect(); bob.disconnect();
      console.log(`${label}: ok`);
    }
  } finally {
    server.child.kill();
  }
})().catch((e) => fail(e.stack || String(e)));
