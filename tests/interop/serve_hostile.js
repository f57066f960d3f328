// sio-serve under hostile input while a well-behaved client keeps working. In the sanitizer
// build the same script runs against sio-serve built with AddressSanitizer and
// UndefinedBehaviorSanitizer, so a memory error, undefined behaviour or a leak at exit fails it.
//
// For a bounded time, from many connections at once:
//   - random bytes and mutated HTTP requests (bit flips, truncation, huge and bad headers, bad
//     Content-Length, chunked garbage) on the HTTP port;
//   - malformed WebSocket frames after a valid upgrade: reserved opcodes, RSV bits, unmasked
//     client frames, 64-bit lengths far over the limit, invalid UTF-8 in text frames, fragmented
//     and oversized control frames, continuations without a start;
//   - malformed Engine.IO and Socket.IO packets over WebSocket and in polling bodies;
//   - slowloris (a header byte at a time) and half-open connections (a partial request, then
//     silence).
// Meanwhile a real socket.io-client sends numbered acked events: every one must come back, in
// order, with its payload. At the end the server still serves a new client, exits 0 on SIGTERM,
// and logged nothing unexplained (no sanitizer report, no exception, no internal error).
// Usage: node serve_hostile.js PATH/TO/sio-serve [SECONDS]
"use strict";
const net = require("net");
const crypto = require("crypto");
const http = require("http");
const { io } = require("socket.io-client");
const { fail, startServer, deadline, seededRandom } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_hostile.js SIO_SERVE [SECONDS]");
const seconds = Number(process.argv[3] || 12);
deadline((seconds + 60) * 1000);

const seed = Number(process.env.SIO_HOSTILE_SEED || Date.now() % 1000000) >>> 0;
console.log(`serve_hostile: seed ${seed} (SIO_HOSTILE_SEED to repeat), ${seconds} s`);
const rnd = seededRandom(seed);
const int = (n) => Math.floor(rnd() * n);
const pick = (a) => a[int(a.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let port = 0;
let stopAt = 0;
const stats = { http: 0, ws: 0, packets: 0, polling: 0, slow: 0 };

// Opens a TCP connection, writes `chunks` (with optional pauses), reads whatever comes back, and
// resolves when the server closes or `ms` passes. Errors (resets) are expected and ignored.
function raw(chunks, { ms = 1500, pauseMs = 0 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let got = Buffer.alloc(0);
    const done = () => { clearTimeout(timer); s.destroy(); resolve(got); };
    const timer = setTimeout(done, ms);
    s.on("data", (d) => { got = Buffer.concat([got, d]).subarray(0, 65536); });
    s.on("error", done);
    s.on("close", done);
    s.on("connect", async () => {
      for (const c of chunks) {
        if (s.destroyed) return;
        s.write(c);
        if (pauseMs) await sleep(pauseMs);
      }
    });
  });
}

// --- HTTP ------------------------------------------------------------------------------------

const validRequests = () => [
  `GET /socket.io/?EIO=4&transport=polling&t=x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
  `POST /socket.io/?EIO=4&transport=polling&sid=${"A".repeat(20)} HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n40{}x`,
  `GET / HTTP/1.1\r\nHost: h\r\n\r\n`,
  `GET /socket.io/socket.io.js HTTP/1.1\r\nHost: h\r\n\r\n`,
  `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
];
function mutate(text) {
  const b = Buffer.from(text);
  switch (int(6)) {
    case 0: for (let i = 1 + int(8); i > 0; --i) b[int(b.length)] ^= 1 << int(8); return b;
    case 1: return b.subarray(0, int(b.length));
    case 2: return Buffer.concat([b.subarray(0, int(b.length)), crypto.randomBytes(int(200)), b.subarray(int(b.length))]);
    case 3: return Buffer.from(text.replace("\r\n\r\n", `\r\nX-Big: ${"a".repeat(20000 + int(50000))}\r\n\r\n`));
    case 4: return Buffer.from(text.replace("HTTP/1.1\r\n", `HTTP/1.1\r\nContent-Length: ${pick(["-1", "99999999999999999999", "abc", "10, 20", "4294967297"])}\r\n`));
    default: return Buffer.from(text.replace("HTTP/1.1\r\n", "HTTP/1.1\r\nTransfer-Encoding: chunked\r\n") + pick(["zz\r\n", "fffffffffffffffff\r\nabc", "5\r\nabc\r\n0\r\n\r\n", "-3\r\n"]));
  }
}
async function httpAttack() {
  while (Date.now() < stopAt) {
    const what = int(4);
    if (what === 0) await raw([crypto.randomBytes(1 + int(2000))], { ms: 300 });
    else await raw([mutate(pick(validRequests()))], { ms: 300 });
    ++stats.http;
  }
}

// --- WebSocket -------------------------------------------------------------------------------

function frame(opcode, payload, { fin = true, mask = true, rsv = 0, lengthOverride } = {}) {
  const p = Buffer.from(payload);
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const len = lengthOverride !== undefined ? lengthOverride : p.length;
  const maskBit = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (len < 126) head.push(maskBit | len);
  else if (len < 65536) { head.push(maskBit | 126); ext = Buffer.alloc(2); ext.writeUInt16BE(len); }
  else { head.push(maskBit | 127); ext = Buffer.alloc(8); ext.writeBigUInt64BE(BigInt(len)); }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, p]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(p.map((x, i) => x ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}
function upgradeRequest() {
  const key = crypto.randomBytes(16).toString("base64");
  return `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`;
}
const badSioPackets = [
  "4{", "42[\"a\"", "42", "42{}", "42[]", "42[1,2", "43999999999999999999999[]", "451-[\"x\",{\"_placeholder\":true,\"num\":9}]",
  "452-[\"x\",{\"_placeholder\":true,\"num\":0}]", "40/nope,", "40/,{", "41", "44{\"message\":1}", "4-1[\"a\"]", "49", "4x",
  "42/admin,[\"a\"]", "40{\"token\":" + "[".repeat(5000), "42[\"" + "\\u".repeat(100) + "\"]", "4\u0000\u0000", "42[\"\ud800\"]",
  "6", "5", "9", "", "2probe", "3", "1", "0{}", "40" + "x".repeat(20000),
];
const malformedFrames = () => [
  frame(3 + int(5), "x"), frame(0xb + int(5), "x"),  // reserved opcodes
  frame(1, "4", { rsv: 1 + int(7) }),                  // RSV bits without an extension
  frame(1, "40", { mask: false }),                     // a client must mask
  frame(2, "", { lengthOverride: 2 ** 40 }),           // far over --max-payload
  frame(1, Buffer.from([0x34, 0xff, 0xfe, 0xc0, 0x80])),  // invalid UTF-8
  frame(9, "ping", { fin: false }),                    // fragmented control frame
  frame(9, "p".repeat(200)),                           // control frame over 125 bytes
  frame(0, "orphan continuation"),
  frame(1, "42[\"a\",", { fin: false }), frame(8, Buffer.from([0x03])),  // close with a 1-byte body
  frame(8, Buffer.from([0x03, 0xe8, 0xff, 0xff])),     // close reason not UTF-8
  Buffer.from([0x81]),                                 // a header cut short
];
async function wsAttack() {
  while (Date.now() < stopAt) {
    const chunks = [upgradeRequest()];
    const kind = int(3);
    if (kind === 0) {
      const frames = malformedFrames();
      chunks.push(frames[int(frames.length)]);
    } else {
      // Engine.IO/Socket.IO garbage inside well-formed frames, mixed with valid packets.
      for (let i = 1 + int(6); i > 0; --i) {
        const p = rnd() < 0.2 ? "40" : pick(badSioPackets);
        chunks.push(rnd() < 0.15 ? frame(2, Buffer.from(p)) : frame(1, p));
        ++stats.packets;
      }
    }
    await raw(chunks, { ms: 400, pauseMs: 5 });
    ++stats.ws;
  }
}

// --- polling ---------------------------------------------------------------------------------

function request(method, path, body, headers = {}) {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false, timeout: 3000 }, (res) => {
      let data = "";
      res.on("data", (d) => { data += d; });
      res.on("end", () => resolve({ status: res.statusCode, body: data }));
      res.on("error", () => resolve({ status: 0, body: "" }));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve({ status: 0, body: "" }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}
async function pollingAttack() {
  while (Date.now() < stopAt) {
    const open = await request("GET", "/socket.io/?EIO=4&transport=polling");
    const m = open.body.match(/"sid":"([^"]+)"/);
    if (!m) { await sleep(10); continue; }
    const path = `/socket.io/?EIO=4&transport=polling&sid=${m[1]}`;
    const parts = [];
    for (let i = 1 + int(5); i > 0; --i) parts.push(rnd() < 0.3 ? "40" : pick(badSioPackets));
    const bodies = [parts.join("\x1e"), "b" + pick(["!!!!", "====", "QUJD", ""]), "\x1e\x1e", parts.join("\x1e") + "\x1e",
      crypto.randomBytes(int(300)).toString("latin1")];
    await request("POST", path, pick(bodies), { "Content-Type": "text/plain;charset=UTF-8" });
    if (rnd() < 0.3) {  // two GETs at once on one session: the second is a protocol error
      await Promise.all([request("GET", path), request("GET", path)]);
    }
    ++stats.polling;
  }
}

// --- slowloris and half-open -----------------------------------------------------------------

async function slowAttack() {
  const tasks = [];
  for (let i = 0; i < 40; ++i) {
    const req = validRequests()[i % 5];
    if (i % 2) tasks.push(raw(req.split(""), { ms: 4000, pauseMs: 150 }));  // a byte at a time
    else tasks.push(raw([req.slice(0, 10 + int(20))], { ms: 4000 }));      // then silence
    ++stats.slow;
  }
  await Promise.all(tasks);
}

// --- the well-behaved client -----------------------------------------------------------------

async function goodClient(url, transports, atLeast = 0) {
  const s = io(url, { forceNew: true, transports, reconnection: false });
  await new Promise((resolve, reject) => { s.once("connect", resolve); s.once("connect_error", reject); });
  let n = 0;
  while (Date.now() < stopAt || n < atLeast) {
    ++n;
    const payload = { n, text: `message ${n} ${"é".repeat(n % 7)}` };
    const reply = await new Promise((resolve) => s.timeout(5000).emit("echo", payload, (err, r) => resolve(err ? err : r)));
    if (reply instanceof Error) fail(`${transports}: message ${n} got no ack: ${reply.message}`);
    if (JSON.stringify(reply) !== JSON.stringify(payload)) fail(`${transports}: message ${n} came back as ${JSON.stringify(reply)}`);
    if (!s.connected) fail(`${transports}: the well-behaved client was disconnected`);
    await sleep(20);
  }
  s.disconnect();
  return n;
}

(async () => {
  const server = await startServer(serve, ["--port", "0", "--threads", "2", "--mode", "echo", "--request-timeout", "1000",
    "--max-payload", "100000", "--ping-interval", "1000", "--ping-timeout", "1000"], { timeoutMs: 30000 });
  port = server.port;
  const exited = new Promise((resolve) => server.child.on("exit", (code, signal) => resolve({ code, signal })));
  let crashed = null;
  exited.then((e) => { crashed = e; });
  stopAt = Date.now() + seconds * 1000;
  const [ws, polling] = await Promise.all([
    goodClient(server.url, ["websocket"]), goodClient(server.url, ["polling"]),
    httpAttack(), httpAttack(), wsAttack(), wsAttack(), pollingAttack(), slowAttack(),
  ]);
  if (crashed) fail(`sio-serve died during the attack: ${JSON.stringify(crashed)}\n${server.output()}`);
  console.log(`serve_hostile: ${ws} websocket and ${polling} polling round trips kept; ` +
    `${stats.http} HTTP, ${stats.ws} WebSocket, ${stats.polling} polling attacks, ${stats.packets} bad packets, ${stats.slow} slow connections`);
  if (ws < 10 || polling < 10) fail("the well-behaved clients made too few round trips");

  // Still serving: a new client connects and gets an ack.
  await goodClient(server.url, ["polling"], 3).catch((e) => fail(`no new client after the attack: ${e.message}`));

  server.child.kill("SIGTERM");
  const exit = await Promise.race([exited, sleep(15000).then(() => "timeout")]);
  const log = server.output();
  if (process.env.SIO_HOSTILE_LOG) require("fs").writeFileSync(process.env.SIO_HOSTILE_LOG, log);
  if (JSON.stringify(exit) !== JSON.stringify({ code: 0, signal: null }))
    fail(`sio-serve did not exit cleanly after SIGTERM: ${JSON.stringify(exit)}\n${log.slice(-4000)}`);
  const bad = log.split("\n").filter((l) => /AddressSanitizer|LeakSanitizer|runtime error:|terminate called|uncaught|internal error|assertion/i.test(l));
  if (bad.length) fail(`unexplained log lines:\n${bad.slice(0, 20).join("\n")}`);
  console.log("serve_hostile: ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
