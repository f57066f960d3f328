// The real Node engine.io-client against sio's Engine.IO server (tests/net/engine_echo_server):
// over polling, over WebSocket only, and polling upgraded to WebSocket, every message sent must
// come back exactly (text as text, binary as binary), and a close from the client must end the
// session cleanly on both sides.
//
//   node engine_client_interop.js <path-to-engine_echo_server>
"use strict";
const path = require("path");
const { Socket } = require(path.join(__dirname, "node_modules", "engine.io-client"));
const { fail, startServer, until, deadline } = require("./lib");

const MAX_PAYLOAD = 1000000;

function describe(value) {
  if (typeof value === "string") {
    return value.length > 60 ? `text(${value.length}) "${value.slice(0, 40)}..."` : JSON.stringify(value);
  }
  return `binary(${value.length}) ${value.subarray(0, 16).toString("hex")}${value.length > 16 ? "..." : ""}`;
}

function sameMessage(sent, got) {
  // engine.io-parser reads the packet "4" (an empty message) as a message without data.
  if (sent === "") return got === "" || got === undefined;
  if (typeof sent === "string") return typeof got === "string" && got === sent;
  if (typeof got === "string") return false;
  return Buffer.compare(Buffer.from(sent), Buffer.from(got)) === 0;
}

function messages() {
  const big = "x".repeat(MAX_PAYLOAD - 1000);              // near max payload ("4" + data)
  const bigBinary = Buffer.alloc(700000, 0);               // base64 over polling stays below it
  for (let i = 0; i < bigBinary.length; ++i) bigBinary[i] = (i * 31 + 7) & 0xff;
  return [
    "hello",
    "",
    "héllo wörld 🚀 中文 \u0000 end",
    '{"json":[1,2,3],"nested":{"a":"b"}}',
    Buffer.from([0, 1, 2, 3, 255, 254]),
    Buffer.alloc(0),
    Buffer.from("binary that looks like text 4hello", "utf8"),
    big,
    bigBinary,
  ];
}

// Opens a socket with `opts`, resolves once open (and upgraded when `expectUpgrade`).
function connect(url, opts, expectUpgrade) {
  return new Promise((resolve, reject) => {
    const socket = new Socket(url, Object.assign({ path: "/socket.io/" }, opts));
    const received = [];
    socket.on("message", (data) => received.push(data));
    let opened = false;
    let upgraded = !expectUpgrade;
    const timer = setTimeout(() => reject(new Error(`${JSON.stringify(opts)}: no ${opened ? "upgrade" : "open"} within 10 s`)), 10000);
    const maybeDone = () => {
      if (opened && upgraded) {
        clearTimeout(timer);
        resolve({ socket, received });
      }
    };
    socket.on("open", () => { opened = true; maybeDone(); });
    socket.on("upgrade", () => { upgraded = true; maybeDone(); });
    socket.on("error", (err) => { clearTimeout(timer); reject(new Error(`${JSON.stringify(opts)}: error ${err && err.message}`)); });
    socket.on("close", (reason) => { if (!opened) { clearTimeout(timer); reject(new Error(`closed before open: ${reason}`)); } });
  });
}

async function scenario(server, name, opts, expectTransport, expectUpgrade) {
  const { socket, received } = await connect(server.url, opts, expectUpgrade);
  if (socket.transport.name !== expectTransport) {
    fail(`${name}: transport is ${socket.transport.name}, expected ${expectTransport}`);
  }
  const sid = socket.id;
  if (!/^[A-Za-z0-9_-]{20}$/.test(sid)) fail(`${name}: sid ${JSON.stringify(sid)} is not 20 URL-safe characters`);
  const sent = messages();
  // The small ones at once (they travel batched over polling), then each big one on its own:
  // together they would exceed maxPayload in one POST.
  const small = sent.filter((m) => m.length < 1000);
  small.forEach((m) => socket.send(m));
  await until(() => received.length >= small.length, `${name}: ${small.length} echoes (got ${received.length})`, 10000);
  for (const m of sent.filter((x) => x.length >= 1000)) {
    const want = received.length + 1;
    socket.send(m);
    await until(() => received.length >= want, `${name}: echo of ${describe(m)}`, 10000);
  }
  const order = small.concat(sent.filter((m) => m.length >= 1000));
  sent.length = 0;
  sent.push(...order);
  if (received.length !== sent.length) fail(`${name}: ${received.length} echoes for ${sent.length} messages`);
  sent.forEach((m, i) => {
    if (!sameMessage(m, received[i])) {
      const got = received[i];
      fail(`${name}: echo ${i} differs: sent ${describe(m)}, got ${typeof got === "string" ? describe(got) : got === undefined ? "undefined" : describe(Buffer.from(got))}`);
    }
  });
  if (socket.transport.name !== expectTransport) {
    fail(`${name}: transport changed to ${socket.transport.name} during the exchange`);
  }

  const closed = new Promise((resolve) => socket.on("close", (reason) => resolve(reason)));
  socket.close();
  const reason = await closed;
  if (reason !== "forced close") fail(`${name}: client close reason ${JSON.stringify(reason)}`);
  await until(() => server.output().includes(`session ${sid} closed: transport close`),
    `${name}: server to report session ${sid} closed with "transport close"; server output:\n${server.output()}`);
  console.log(`ok ${name} (sid ${sid})`);
}

async function main() {
  const binary = process.argv[2];
  if (!binary) fail("usage: node engine_client_interop.js <engine_echo_server>");
  deadline(60000);
  const server = await startServer(binary, ["--ping-interval", "300", "--ping-timeout", "2000"]);

  await scenario(server, "polling", { transports: ["polling"] }, "polling", false);
  await scenario(server, "websocket", { transports: ["websocket"] }, "websocket", false);
  await scenario(server, "upgrade", { transports: ["polling", "websocket"] }, "websocket", true);

  // The heartbeat ran (300 ms interval) during the exchanges without ending any session early.
  if (/closed: ping timeout/.test(server.output())) fail(`a session timed out:\n${server.output()}`);

  // Closing stdin stops the server.
  const exited = new Promise((resolve) => server.child.on("exit", (code) => resolve(code)));
  server.child.stdin.end();
  const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 5000));
  const code = await Promise.race([exited, timeout]);
  if (code !== 0) fail(`server did not exit cleanly after stdin closed: ${code}`);
  console.log("ok server exits when stdin closes");
  process.exit(0);
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
