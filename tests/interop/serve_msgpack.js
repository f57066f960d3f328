// sio-serve --parser msgpack driven by the real Node socket.io-client 4.8 with
// socket.io-msgpack-parser 3.0.2, over polling and over websocket: an echo acked with binary,
// nested values and a Date (which comes back as JSON.stringify writes it), a broadcast with
// binary to another client, a namespace, and the built-in page's client served built with the
// msgpack parser. A client with the default parser is closed, and the log says why.
// Usage: node serve_msgpack.js PATH/TO/sio-serve
"use strict";
const { io } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_msgpack.js SIO_SERVE");
deadline(60000);

const bin = Buffer.from([0, 1, 2, 250, 255]);
const when = new Date(Date.UTC(2026, 11, 6, 2, 21, 0, 42));
const eq = (a, b, what) => {
  if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
};
const bytes = (x) => (x instanceof ArrayBuffer ? Buffer.from(new Uint8Array(x)) : Buffer.from(x));

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, parser: msgpackParser, ...opts });
    s.got = [];
    s.onAny((event, ...args) => s.got.push({ event, args }));
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => reject(e));
  });
}

(async () => {
  const server = await startServer(serve, ["--port", "0", "--parser", "msgpack", "--mode", "echo",
                                           "--namespace", "/room", "--on", "shout=broadcast"]);
  try {
    for (const transports of [["polling"], ["websocket"]]) {
      const label = `[${transports}]`;
      const a = await connect(server.url, { transports });
      const b = await connect(server.url, { transports });
      const back = await a.timeout(3000).emitWithAck("echo", "hi", bin, { n: [1, 2.5, null, true] }, when);
      if (!Array.isArray(back)) eq(back, "hi", `${label} ack`);
      const args = await new Promise((resolve, reject) =>
        a.timeout(3000).emit("echo", "hi", bin, { n: [1, 2.5, null, true] }, when, (err, ...r) => (err ? reject(err) : resolve(r))));
      eq(args[0], "hi", `${label} ack text`);
      if (!bytes(args[1]).equals(bin)) fail(`${label} ack binary: ${bytes(args[1]).toString("hex")}`);
      eq(args[2], { n: [1, 2.5, null, true] }, `${label} ack nested`);
      eq(args[3], when.toISOString(), `${label} ack Date`);

      a.emit("shout", "to-all", bin);
      await until(() => b.got.some((g) => g.event === "shout"), `${label} broadcast on b`);
      const shout = b.got.find((g) => g.event === "shout").args;
      eq(shout[0], "to-all", `${label} broadcast text`);
      if (!bytes(shout[1]).equals(bin)) fail(`${label} broadcast binary: ${bytes(shout[1]).toString("hex")}`);

      const r = await connect(server.url + "/room", { transports });
      const roomBack = await new Promise((resolve, reject) =>
        r.timeout(3000).emit("echo", "in /room", (err, ...x) => (err ? reject(err) : resolve(x))));
      eq(roomBack, ["in /room"], `${label} namespace ack`);
      for (const s of [a, b, r]) s.close();
    }

    // The page's client is the one built with the msgpack parser.
    const js = await (await fetch(`${server.url}/socket.io/socket.io.js`)).text();
    if (!js.includes("Could not encode")) fail("/socket.io/socket.io.js is not the msgpack build of the client");

    // A client with the default parser: closed, and sio-serve's log says why.
    const plain = io(server.url, { reconnection: false, forceNew: true, transports: ["websocket"] });
    await new Promise((resolve) => {
      plain.on("connect", () => fail("a default-parser client connected to --parser msgpack"));
      plain.on("connect_error", resolve);
      plain.io.on("close", resolve);
    });
    plain.close();
    await until(() => /the client seems to use the default parser/.test(server.output()),
                "the log line about the default parser");
  } finally {
    server.child.kill("SIGKILL");
  }
  console.log("ok: sio-serve --parser msgpack with socket.io-msgpack-parser clients");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
