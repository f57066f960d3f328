// sio-serve's WebSocket, frame by frame (RFC 6455), on Engine.IO v4 (--mode engine-echo): the real
// `ws` client for what a well-behaved peer sends, and a raw TCP socket that does the upgrade itself
// and writes hand-made frames for what it must refuse.
//   1. fragmented text and binary messages with pings between their fragments: each pong comes
//      back at once with its ping's payload, the message arrives whole and is echoed intact;
//   2. every payload length encoding at its boundaries (0, 125, 126, 65535, 65536 bytes, ~1 MB,
//      exactly --max-payload), in one frame and in fragments, text with multibyte UTF-8 split
//      across the fragments, and binary;
//   3. close handshakes: the client's code comes back (4000; none gives an empty close, 1005), and
//      a session the server ends (ping timeout) gets the Engine.IO close packet, then 1000;
//   4. each invalid frame is answered with a close frame carrying the parser's code (1002, 1007,
//      1009) and the end of the TCP connection, while a `ws` client connected all along keeps
//      its echoes;
//   5. a second WebSocket for a session already upgraded: its handshake succeeds and it is closed
//      at once (1000), the first keeps echoing;
//   6. upgrade requests refused: version 8 gets 426 with Sec-WebSocket-Version: 13; a missing or
//      malformed Sec-WebSocket-Key gets 400.
// Every wait is bounded and fails with what it waited for. Only loopback.
// Usage: node ws_frames.js PATH/TO/sio-serve
"use strict";
const net = require("net");
const http = require("http");
const crypto = require("crypto");
const WebSocket = require("ws");
const { fail, startServer } = require("./lib");

const serve = process.argv[2] || fail("usage: node ws_frames.js SIO_SERVE");
const startedAt = Date.now();
let serverOutput = () => "";

const MAX_PAYLOAD = 1200000;  // --max-payload of the main server
const MB = 1 << 20;
const MAX_FRAGMENTS = 4096;   // ws::parser_limits::max_fragments, not changed by the server
const WAIT = 5000;            // ms for any one wait (generous for the sanitizer builds)
const BIG_WAIT = 30000;       // ... for the echo of a ~1 MB message

// --- asserts -----------------------------------------------------------------------------------

let checks = 0;
const failures = [];
function check(ok, message) {
  ++checks;
  if (!ok) {
    failures.push(message);
    console.error("FAIL: " + message);
  }
  return ok;
}
// A section runs to its end or to its first wait that failed; the next one starts afresh.
async function section(name, body) {
  const before = failures.length;
  try {
    await body();
  } catch (e) {
    check(false, `${name}: ${e.message}`);
  }
  console.log(`${name}: ${failures.length === before ? "ok" : "FAILED"}`);
}

function within(promise, what, ms = WAIT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// "equal", or where and how two byte strings differ.
function diff(got, want) {
  if (Buffer.compare(got, want) === 0) return "equal";
  if (got.length !== want.length) return `${got.length} bytes instead of ${want.length}`;
  let i = 0;
  while (got[i] === want[i]) ++i;
  return `byte ${i} is 0x${got[i].toString(16)} instead of 0x${want[i].toString(16)}`;
}

// Items that arrive in order, taken one at a time by waits bounded in time; once ended (the
// connection closed), a wait on an empty queue fails at once with why.
class Inbox {
  constructor() { this.items = []; this.waiters = []; this.endReason = null; }
  push(item) {
    const w = this.waiters.shift();
    if (w) w.resolve(item); else this.items.push(item);
  }
  end(reason) {
    this.endReason = reason;
    for (const w of this.waiters.splice(0)) w.reject(new Error(reason));
  }
  take(what, ms = WAIT) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.endReason) return Promise.reject(new Error(`${what}: ${this.endReason}`));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(new Error(`${what}: ${e.message}`)); },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      this.waiters.push(w);
    });
  }
}

// --- payloads ----------------------------------------------------------------------------------

// An Engine.IO message packet as a text frame of exactly `n` bytes: "4", then `unit` repeated,
// padded with '.'.
function textMessage(n, unit = "a€é😀") {
  const unitBytes = Buffer.byteLength(unit);
  const body = unit.repeat(Math.floor((n - 1) / unitBytes));
  return Buffer.from("4" + body + ".".repeat(n - 1 - Buffer.byteLength(body)));
}
function binaryMessage(n, seed = 7) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; ++i) b[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return b;
}
// Cuts `whole` into pieces of the given sizes (the last piece takes the rest if `rest`).
function cut(whole, sizes) {
  const pieces = [];
  let at = 0;
  for (const s of sizes) {
    pieces.push(whole.subarray(at, at + s));
    at += s;
  }
  if (at !== whole.length) throw new Error(`test setup: pieces of ${at} bytes for a message of ${whole.length}`);
  return pieces;
}
// True when `offset` falls inside a UTF-8 character of `buf` (on a continuation byte).
const insideChar = (buf, offset) => offset > 0 && offset < buf.length && (buf[offset] & 0xc0) === 0x80;

// --- an Engine.IO client on `ws` ---------------------------------------------------------------

class EioClient {
  // `sid`: join that session (an upgrade) instead of opening one. `answerPings`: answer the
  // server's Engine.IO pings ("2") with pongs ("3") instead of handing them up.
  constructor(port, { sid = null, answerPings = true } = {}) {
    const query = sid ? `&sid=${encodeURIComponent(sid)}` : "";
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket${query}`,
      { perMessageDeflate: false });
    this.messages = new Inbox();
    this.pongs = new Inbox();
    this.ws.on("message", (data, binary) => {
      if (answerPings && !binary && data.length === 1 && data[0] === 0x32) {
        this.ws.send("3");
        return;
      }
      this.messages.push({ data, binary });
    });
    this.ws.on("pong", (data) => this.pongs.push(data));
    this.ws.on("error", (e) => { this.error = e; });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
      this.ws.once("close", (code) => reject(new Error(`closed (code ${code}) before it opened`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => this.ws.once("close", (code, reason) => {
      const why = `the WebSocket closed (code ${code})`;
      this.messages.end(why);
      this.pongs.end(why);
      resolve({ code, reason: reason.toString() });
    }));
  }
  // Waits for the WebSocket, then for the Engine.IO open packet; returns the handshake's fields.
  async open(label) {
    await within(this.opened, `${label}: the WebSocket to open`);
    const m = await this.messages.take(`${label}: the Engine.IO open packet`);
    const text = m.data.toString();
    if (m.binary || !text.startsWith("0{")) throw new Error(`${label}: first message is ${JSON.stringify(text.slice(0, 80))}, not the open packet`);
    this.handshake = JSON.parse(text.slice(1));
    return this.handshake;
  }
  // Sends `data` (a Buffer: text or binary frame) and checks that the next message is the same.
  async echo(data, binary, label, ms = WAIT) {
    this.ws.send(data, { binary });
    return this.expect(data, binary, label, ms);
  }
  async expect(data, binary, label, ms = WAIT) {
    const m = await this.messages.take(`${label}: the echo`, ms);
    check(m.binary === binary, `${label}: echoed as ${m.binary ? "binary" : "text"}, sent as ${binary ? "binary" : "text"}`);
    const d = diff(m.data, data);
    check(d === "equal", `${label}: echo differs from what was sent: ${d}`);
  }
}

// --- a raw WebSocket client --------------------------------------------------------------------

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function upgradeRequest(path, headers) {
  const lines = [`GET ${path} HTTP/1.1`, "Host: 127.0.0.1"];
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) lines.push(`${k}: ${v}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

// One client frame: masked unless told otherwise. `lengthBytes` forces the length encoding (0:
// 7 bits, 2, 8); `declared` announces that length (a BigInt for any 64-bit value) and sends the
// header alone, without the payload.
function clientFrame(opcode, payload = "", { fin = true, rsv = 0, mask = true, lengthBytes, declared } = {}) {
  const data = Buffer.from(payload);
  const len = declared !== undefined ? BigInt(declared) : BigInt(data.length);
  const enc = lengthBytes !== undefined ? lengthBytes : len < 126n ? 0 : len <= 0xffffn ? 2 : 8;
  const head = Buffer.alloc(2 + enc);
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  if (enc === 0) head[1] = Number(len);
  else if (enc === 2) { head[1] = 126; head.writeUInt16BE(Number(len), 2); }
  else { head[1] = 127; head.writeBigUInt64BE(len, 2); }
  if (!mask) return declared !== undefined ? head : Buffer.concat([head, data]);
  head[1] |= 0x80;
  const key = crypto.randomBytes(4);
  if (declared !== undefined) return Buffer.concat([head, key]);
  const body = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; ++i) body[i] = data[i] ^ key[i & 3];
  return Buffer.concat([head, key, body]);
}
const closeBody = (code, reason = "") => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason)]);
};

// A TCP connection that upgrades by hand and reads the server's frames.
class RawWs {
  constructor(port) {
    this.frames = new Inbox();
    this.buf = Buffer.alloc(0);
    this.headDone = false;
    // Half-open allowed: after the server's FIN we may still send our close frame.
    this.socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
    this.connected.catch(() => {});
    this.head = new Promise((resolve) => { this.gotHead = resolve; });
    // How the connection ended: "fin" (the server ended it cleanly), or the error it ended with.
    this.ended = new Promise((resolve) => {
      let how = null;
      this.socket.on("end", () => { how = how || "fin"; resolve(how); });
      this.socket.on("error", (e) => { how = how || `${e.code || e.message}`; });
      this.socket.on("close", () => {
        this.frames.end("the server closed the connection");
        resolve(how || "closed without a FIN");
      });
    });
    this.socket.on("data", (d) => this.onData(d));
  }
  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.headDone) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.headDone = true;
      this.gotHead(this.buf.subarray(0, end).toString("latin1"));
      this.buf = this.buf.subarray(end + 4);
    }
    // Server frames: header, extended length, (a mask, which a server must not set), payload.
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let pos = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        pos = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        pos = 10;
      }
      const masked = (b[1] & 0x80) !== 0;
      if (masked) pos += 4;
      if (b.length < pos + len) return;
      const payload = Buffer.from(b.subarray(pos, pos + len));
      if (masked) for (let i = 0; i < len; ++i) payload[i] ^= b[pos - 4 + (i & 3)];
      this.frames.push({ fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, payload });
      this.buf = b.subarray(pos + len);
    }
  }
  write(bytes) { this.socket.write(bytes); }
  destroy() { this.socket.destroy(); }

  // Connects, upgrades (checking the 101 and its Sec-WebSocket-Accept) and reads the open packet.
  static async open(port, label) {
    const r = new RawWs(port);
    await within(r.connected, `${label}: TCP connect`);
    const key = crypto.randomBytes(16).toString("base64");
    r.write(upgradeRequest("/socket.io/?EIO=4&transport=websocket", {
      Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": key,
    }));
    const head = await within(r.head, `${label}: the answer to the upgrade`);
    const status = head.split("\r\n")[0];
    if (!/^HTTP\/1\.1 101 /.test(status)) throw new Error(`${label}: upgrade answered "${status}"`);
    const accept = crypto.createHash("sha1").update(key + GUID).digest("base64");
    const got = (head.match(/\r\nSec-WebSocket-Accept: *([^\r]*)/i) || [])[1];
    check(got === accept, `${label}: Sec-WebSocket-Accept is ${got}, expected ${accept}`);
    const open = await r.frames.take(`${label}: the Engine.IO open packet`);
    if (open.opcode !== 1 || !open.payload.toString().startsWith("0{"))
      throw new Error(`${label}: first frame (opcode ${open.opcode}) is not the open packet: ${open.payload.toString().slice(0, 60)}`);
    return r;
  }
  // The server's close frame, skipping whatever frames come before it.
  async closeFrame(label) {
    for (;;) {
      const f = await this.frames.take(`${label}: the server's close frame`);
      if (f.opcode === 8) return f;
    }
  }
}

// Sends `request` on a new TCP connection; resolves with the answer's status and headers.
function rawHttp(port, request, label) {
  return within(new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(request));
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const lines = buf.slice(0, end).split("\r\n");
      const headers = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      s.destroy();
      resolve({ status: Number(lines[0].split(" ")[1]), statusLine: lines[0], headers });
    });
    s.on("error", reject);
    s.on("close", () => reject(new Error("connection closed before a whole answer")));
  }), `${label}: the answer`);
}

function httpGet(port, path, label) {
  return within(new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode, body }));
      res.on("error", reject);
    }).on("error", reject);
  }), `${label}: GET ${path}`);
}

// --- the cases ---------------------------------------------------------------------------------

// 1. Fragments with pings between them.
async function fragments(port) {
  const c = new EioClient(port);
  await c.open("fragments");

  // Text, cut inside two multibyte characters; a ping after each fragment but the last. Each pong
  // must come while the message is still incomplete (and nothing is echoed before its end).
  const text = Buffer.from("4fragmented: héllo wörld ✓ and 😀, then the end");
  const at1 = text.indexOf(Buffer.from("✓")) + 1;
  const at2 = text.indexOf(Buffer.from("😀")) + 2;
  if (!insideChar(text, at1) || !insideChar(text, at2)) throw new Error("test setup: cuts not inside characters");
  const pings = [Buffer.from("ping between fragments"), Buffer.alloc(125, "p")];  // 125: the most a control frame holds
  const tparts = [text.subarray(0, at1), text.subarray(at1, at2), text.subarray(at2)];
  for (let i = 0; i < tparts.length; ++i) {
    const last = i === tparts.length - 1;
    c.ws.send(tparts[i], { binary: false, fin: last });
    if (last) break;
    c.ws.ping(pings[i]);
    const pong = await c.pongs.take(`text fragments: the pong to the ping after fragment ${i + 1}`);
    check(Buffer.compare(pong, pings[i]) === 0, `text fragments: pong after fragment ${i + 1} carries ${diff(pong, pings[i])} of the ping's payload`);
    check(c.messages.items.length === 0, `text fragments: a message arrived before the last fragment was sent`);
  }
  await c.expect(text, false, "text in 3 fragments with 2 pings between");

  // Binary the same way, with an empty ping and a binary one.
  const bin = binaryMessage(3000, 11);
  const bpings = [Buffer.alloc(0), Buffer.from([0, 0xff, 0x80, 0x7f]), Buffer.from("third")];
  const bparts = cut(bin, [1, 999, 1000, 1000]);
  for (let i = 0; i < bparts.length; ++i) {
    const last = i === bparts.length - 1;
    c.ws.send(bparts[i], { binary: true, fin: last });
    if (last) break;
    c.ws.ping(bpings[i]);
    const pong = await c.pongs.take(`binary fragments: the pong to the ping after fragment ${i + 1}`);
    check(Buffer.compare(pong, bpings[i]) === 0, `binary fragments: pong after fragment ${i + 1}: ${diff(pong, bpings[i])}`);
    check(c.messages.items.length === 0, `binary fragments: a message arrived before the last fragment was sent`);
  }
  await c.expect(bin, true, "binary in 4 fragments with 3 pings between");

  // Both once more, sent back to back without waiting: the pongs and the echo all come back.
  c.ws.send(tparts[0], { binary: false, fin: false });
  c.ws.ping("a");
  c.ws.send(tparts[1], { binary: false, fin: false });
  c.ws.ping("b");
  c.ws.send(tparts[2], { binary: false, fin: true });
  await c.expect(text, false, "text in fragments sent back to back");
  const p1 = await c.pongs.take("back to back: first pong");
  const p2 = await c.pongs.take("back to back: second pong");
  check(p1.toString() === "a" && p2.toString() === "b", `back to back: pongs "${p1}", "${p2}" instead of "a", "b"`);
  c.ws.close();
}

// 2. Length encodings at their boundaries, in one frame and in fragments.
async function lengths(port) {
  const c = new EioClient(port);
  await c.open("lengths");
  const big = BIG_WAIT;
  for (const n of [1, 125, 126, 65535, 65536, MB, MAX_PAYLOAD]) {
    await c.echo(textMessage(n), false, `text frame of ${n} bytes`, n > 65536 ? big : WAIT);
  }
  for (const n of [0, 125, 126, 65535, 65536, MB, MAX_PAYLOAD]) {
    await c.echo(binaryMessage(n, n & 0xff), true, `binary frame of ${n} bytes`, n > 65536 ? big : WAIT);
  }

  // One message in frames of 0, 125, 126, 65535, 65536 bytes, the rest to 1 MiB, and an empty
  // final frame. The text is "4" and 3-byte characters: every cut but the first falls inside one.
  const sizes = [0, 125, 126, 65535, 65536];
  const head = sizes.reduce((a, b) => a + b, 0);
  const fragmentSizes = [...sizes, MB - head, 0];
  const text = textMessage(MB, "€");
  let offset = 0;
  for (const s of fragmentSizes.slice(0, -2)) {
    offset += s;
    if (offset > 0 && !insideChar(text, offset)) throw new Error(`test setup: cut at ${offset} is not inside a character`);
  }
  for (const [binary, whole] of [[false, text], [true, binaryMessage(MB, 3)]]) {
    const parts = cut(whole, fragmentSizes);
    parts.forEach((p, i) => c.ws.send(p, { binary, fin: i === parts.length - 1 }));
    await c.expect(whole, binary, `${binary ? "binary" : "text"} message in frames of ${fragmentSizes.join(", ")} bytes`, big);
  }
  // Fragments adding up to exactly --max-payload are taken.
  const exact = binaryMessage(MAX_PAYLOAD, 5);
  const parts = cut(exact, [MAX_PAYLOAD - 65536, 65535, 1]);
  parts.forEach((p, i) => c.ws.send(p, { binary: true, fin: i === parts.length - 1 }));
  await c.expect(exact, true, `binary message of exactly --max-payload (${MAX_PAYLOAD}) bytes in 3 frames`, big);
  c.ws.close();
}

// 3. Close handshakes.
async function closes(port, serveBinary) {
  {
    const c = new EioClient(port);
    await c.open("close 4000");
    await c.echo(Buffer.from("4before close"), false, "close 4000: a message first");
    c.ws.close(4000, "done here ✓");
    const { code } = await within(c.closed, "close 4000: the server's close frame and the end of the connection");
    check(code === 4000, `close 4000: the server answered with code ${code}, expected 4000 (the client's code echoed)`);
  }
  {
    const c = new EioClient(port);
    await c.open("close without a code");
    c.ws.close();
    const { code } = await within(c.closed, "close without a code: the server's close frame");
    check(code === 1005, `close without a code: the server's answer reads as ${code}, expected 1005 (an empty close frame)`);
  }
  {
    // The same over a raw socket, to see the bytes: a close 1001 with a reason is answered with
    // exactly a close 1001, and then the server ends the TCP connection.
    const r = await RawWs.open(port, "raw close 1001");
    r.write(clientFrame(8, closeBody(1001, "going")));
    const f = await r.closeFrame("raw close 1001");
    check(f.fin && !f.masked && f.rsv === 0, `raw close 1001: close frame has FIN ${f.fin}, mask ${f.masked}, RSV ${f.rsv}`);
    check(f.payload.length >= 2 && f.payload.readUInt16BE(0) === 1001,
      `raw close 1001: answered with body ${f.payload.toString("hex")}, expected code 1001 (03e9)`);
    const how = await within(r.ended, "raw close 1001: the end of the TCP connection");
    check(how === "fin", `raw close 1001: the connection ended with ${how}, expected a FIN`);
  }

  // The server ends the session: a ping timeout, on a server with a short heartbeat.
  const server = await startServer(serveBinary, ["--port", "0", "--threads", "1", "--mode", "engine-echo",
    "--ping-interval", "300", "--ping-timeout", "300"], { timeoutMs: 30000 });
  try {
    {
      const c = new EioClient(server.port, { answerPings: false });
      const hs = await c.open("ping timeout");
      check(hs.pingInterval === 300 && hs.pingTimeout === 300, `ping timeout: handshake says ${JSON.stringify(hs)}`);
      const ping = await c.messages.take("ping timeout: the server's ping");
      check(!ping.binary && ping.data.toString() === "2", `ping timeout: first packet is ${ping.data.toString()}, expected the ping "2"`);
      const { code } = await within(c.closed, "ping timeout: the server's close");
      const rest = c.messages.items.map((m) => m.data.toString());
      check(rest.length === 1 && rest[0] === "1", `ping timeout: before the close frame came ${JSON.stringify(rest)}, expected the close packet "1" alone`);
      check(code === 1000, `ping timeout: close code ${code}, expected 1000`);
    }
    {
      // At the byte level: the ping, the close packet, then a close frame of exactly code 1000,
      // and the server's end of the TCP connection; our close frame answers it.
      const r = await RawWs.open(server.port, "raw ping timeout");
      const got = [];
      let f;
      for (;;) {
        f = await r.frames.take("raw ping timeout: the server's frames");
        if (f.opcode === 8) break;
        got.push(f.payload.toString());
      }
      check(JSON.stringify(got) === JSON.stringify(["2", "1"]), `raw ping timeout: before the close frame came ${JSON.stringify(got)}, expected ["2","1"]`);
      check(f.payload.toString("hex") === "03e8", `raw ping timeout: close frame body ${f.payload.toString("hex")}, expected 03e8 (1000)`);
      r.write(clientFrame(8, closeBody(1000)));
      const how = await within(r.ended, "raw ping timeout: the end of the TCP connection");
      check(how === "fin", `raw ping timeout: the connection ended with ${how}, expected a FIN`);
    }
  } finally {
    server.child.kill("SIGKILL");
  }
}

// 4. Invalid frames, each on its own raw connection, with a well-behaved client watching.
async function invalidFrames(port, watcher) {
  const firstOverMax = Buffer.concat([clientFrame(2, binaryMessage(1000000, 9), { fin: false }),
    clientFrame(0, "", { fin: false, declared: MAX_PAYLOAD - 1000000 + 1 })]);
  // A text message in `count` frames: "4", then "x" in each continuation but the last, `last`.
  // A refused frame is sent as its header alone (`declared`), so that nothing the server does not
  // read is left on the connection (closing it would then reset it rather than end it).
  const fragments = (count, last, { headerOnly = false } = {}) => {
    const frames = [clientFrame(1, "4", { fin: false })];
    for (let i = 1; i < count - 1; ++i) frames.push(clientFrame(0, "x", { fin: false }));
    frames.push(clientFrame(0, last, headerOnly ? { declared: Buffer.byteLength(last) } : {}));
    return Buffer.concat(frames);
  };
  const cases = [
    ["unmasked text frame from the client", 1002, clientFrame(1, "4hi", { mask: false })],
    ["RSV1 set", 1002, clientFrame(1, "4hi", { rsv: 4 })],
    ["RSV2 set", 1002, clientFrame(2, "x", { rsv: 2 })],
    ["RSV3 set", 1002, clientFrame(1, "4hi", { rsv: 1 })],
    ["reserved data opcode 0x3", 1002, clientFrame(3, "4hi")],
    ["reserved control opcode 0xB", 1002, clientFrame(0xb, "x")],
    ["fragmented ping", 1002, clientFrame(9, "ping", { fin: false })],
    ["ping of 126 bytes", 1002, clientFrame(9, Buffer.alloc(126, "p"))],
    ["close frame of 126 bytes", 1002, clientFrame(8, closeBody(1000, "r".repeat(124)))],
    ["continuation frame without a message", 1002, clientFrame(0, "4orphan")],
    ["text frame inside a fragmented message", 1002, Buffer.concat([clientFrame(1, "4first", { fin: false }), clientFrame(1, "4second")])],
    ["binary frame inside a fragmented text message", 1002, Buffer.concat([clientFrame(1, "4first", { fin: false }), clientFrame(2, "x")])],
    ["64-bit length with its top bit set", 1002, clientFrame(2, "", { lengthBytes: 8, declared: (1n << 63n) + 5n })],
    ["length 5 in the 16-bit field (not the shortest encoding)", 1002, clientFrame(1, "4abcd", { lengthBytes: 2 })],
    ["length 200 in the 64-bit field (not the shortest encoding)", 1002, clientFrame(1, textMessage(200), { lengthBytes: 8 })],
    ["text that is not UTF-8 (0xC3 0x28)", 1007, clientFrame(1, Buffer.from([0x34, 0xc3, 0x28]))],
    ["text holding a UTF-16 surrogate (ED A0 80)", 1007, clientFrame(1, Buffer.from([0x34, 0xed, 0xa0, 0x80]))],
    ["fragmented text ending inside a character", 1007,
      Buffer.concat([clientFrame(1, Buffer.from("4é").subarray(0, 2), { fin: false }), clientFrame(0, Buffer.from([0xa9, 0xe2, 0x82]))])],
    ["close frame with a 1-byte body", 1002, clientFrame(8, Buffer.from([0x03]))],
    ["close code 5000", 1002, clientFrame(8, closeBody(5000))],
    ["close code 1005", 1002, clientFrame(8, closeBody(1005))],
    ["close code 1006", 1002, clientFrame(8, closeBody(1006))],
    ["close code 999", 1002, clientFrame(8, closeBody(999))],
    ["close reason that is not UTF-8", 1007, clientFrame(8, Buffer.concat([closeBody(1000), Buffer.from([0xff, 0xfe])]))],
    [`message of --max-payload + 1 (${MAX_PAYLOAD + 1}) bytes, refused from its header`, 1009, clientFrame(2, "", { declared: MAX_PAYLOAD + 1 })],
    [`text message of ${MAX_PAYLOAD + 1} bytes, refused from its header`, 1009, clientFrame(1, "", { declared: MAX_PAYLOAD + 1 })],
    ["fragmented message growing past --max-payload", 1009, firstOverMax],
    [`message of ${MAX_FRAGMENTS + 1} frames (the parser's fragment limit)`, 1009, fragments(MAX_FRAGMENTS + 1, "z", { headerOnly: true })],
  ];
  let n = 0;
  for (const [what, code, bytes] of cases) {
    ++n;
    const label = `invalid frame: ${what}`;
    try {
      const r = await RawWs.open(port, label);
      r.write(bytes);
      const f = await r.closeFrame(label);
      const got = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : `none (body ${f.payload.toString("hex")})`;
      check(got === code, `${label}: close code ${got}, expected ${code}`);
      check(f.fin && !f.masked && f.rsv === 0, `${label}: the close frame has FIN ${f.fin}, mask ${f.masked}, RSV ${f.rsv}`);
      const how = await within(r.ended, `${label}: the server to end the TCP connection after its close frame`);
      check(how === "fin", `${label}: the connection ended with ${how}, expected a FIN from the server`);
      r.destroy();
    } catch (e) {
      check(false, e.message);
    }
    await watcher.echo(Buffer.from(`4still serving after case ${n} ✓`), false, `watcher after "${what}"`);
  }

  // The fragment limit's other side: a message of exactly max_fragments frames is taken.
  {
    const label = `message of exactly ${MAX_FRAGMENTS} frames`;
    const r = await RawWs.open(port, label);
    r.write(fragments(MAX_FRAGMENTS, "y"));
    const f = await r.frames.take(`${label}: the echo`);
    const want = Buffer.from("4" + "x".repeat(MAX_FRAGMENTS - 2) + "y");
    check(f.opcode === 1 && diff(f.payload, want) === "equal", `${label}: echo is opcode ${f.opcode}, ${diff(f.payload, want)}`);
    r.write(clientFrame(8, closeBody(1000)));
    const c = await r.closeFrame(label);
    check(c.payload.toString("hex") === "03e8", `${label}: close answered with ${c.payload.toString("hex")}, expected 03e8`);
    r.destroy();
  }
  await watcher.echo(binaryMessage(70000, 1), true, "watcher at the end of the invalid frames");
}

// 5. A second WebSocket for a session already on WebSocket.
async function secondWebSocket(port) {
  const hs = await httpGet(port, "/socket.io/?EIO=4&transport=polling", "polling handshake");
  check(hs.status === 200 && hs.body.startsWith("0{"), `polling handshake: ${hs.status} ${hs.body.slice(0, 80)}`);
  const { sid, upgrades } = JSON.parse(hs.body.slice(1));
  check(Array.isArray(upgrades) && upgrades.includes("websocket"), `polling handshake: upgrades ${JSON.stringify(upgrades)}`);

  const first = new EioClient(port, { sid });
  await within(first.opened, "upgrade: the WebSocket to open");
  first.ws.send("2probe");
  const probe = await first.messages.take("upgrade: the answer to 2probe");
  check(!probe.binary && probe.data.toString() === "3probe", `upgrade: 2probe answered with ${probe.data.toString()}`);
  first.ws.send("5");
  await first.echo(Buffer.from("4on websocket now"), false, "upgraded session");

  const second = new EioClient(port, { sid });
  await within(second.opened, "second WebSocket: its handshake (the open event)");
  const { code } = await within(second.closed, "second WebSocket: the server to close it");
  check(code === 1000, `second WebSocket: closed with code ${code}, expected 1000`);
  check(second.messages.items.length === 0,
    `second WebSocket: got ${JSON.stringify(second.messages.items.map((m) => m.data.toString()))} before its close`);
  await first.echo(Buffer.from("4first still here ✓"), false, "first WebSocket after the second was closed");
  await first.echo(binaryMessage(200, 2), true, "first WebSocket after the second was closed (binary)");
  first.ws.close(1000);
  const end = await within(first.closed, "first WebSocket: close");
  check(end.code === 1000, `first WebSocket: close answered with ${end.code}, expected 1000`);
}

// 6. Refused upgrade requests.
async function refusals(port) {
  const path = "/socket.io/?EIO=4&transport=websocket";
  const base = { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": crypto.randomBytes(16).toString("base64") };
  const v8 = await rawHttp(port, upgradeRequest(path, { ...base, "Sec-WebSocket-Version": "8" }), "version 8");
  check(v8.status === 426, `version 8: answered "${v8.statusLine}", expected 426`);
  check(v8.headers["sec-websocket-version"] === "13",
    `version 8: Sec-WebSocket-Version in the answer is ${JSON.stringify(v8.headers["sec-websocket-version"])}, expected "13"`);
  const keys = [
    ["missing", undefined],
    ["empty", ""],
    ["not base64", "!!!!not*base64*at*all!!!"],
    ["24 characters decoding to 17 bytes", crypto.randomBytes(17).toString("base64")],
    ["12 bytes", crypto.randomBytes(12).toString("base64")],
    ["20 bytes", crypto.randomBytes(20).toString("base64")],
  ];
  for (const [what, key] of keys) {
    const a = await rawHttp(port, upgradeRequest(path, { ...base, "Sec-WebSocket-Key": key }), `key ${what}`);
    check(a.status === 400, `Sec-WebSocket-Key ${what} (${JSON.stringify(key)}): answered "${a.statusLine}", expected 400`);
  }
  // And the control: the same request with a good key is switched.
  const ok = await rawHttp(port, upgradeRequest(path, base), "good key");
  check(ok.status === 101, `a good upgrade request: answered "${ok.statusLine}", expected 101`);
}

(async () => {
  const server = await startServer(serve, ["--port", "0", "--threads", "2", "--mode", "engine-echo",
    "--max-payload", String(MAX_PAYLOAD)], { timeoutMs: 30000 });
  serverOutput = server.output;
  let exited = null;
  server.child.on("exit", (code, signal) => { exited = { code, signal }; });

  // A well-behaved client connected from the start to the end.
  const watcher = new EioClient(server.port);
  const hs = await watcher.open("watcher");
  check(hs.maxPayload === MAX_PAYLOAD, `handshake: maxPayload ${hs.maxPayload}, expected ${MAX_PAYLOAD}`);

  await section("1 fragments and pings", () => fragments(server.port));
  await section("2 length encodings", () => lengths(server.port));
  await section("3 close handshakes", () => closes(server.port, serve));
  await section("4 invalid frames", () => invalidFrames(server.port, watcher));
  await section("5 second WebSocket", () => secondWebSocket(server.port));
  await section("6 refused upgrades", () => refusals(server.port));
  await section("watcher at the end", async () => {
    await watcher.echo(Buffer.from("4the end ✓"), false, "watcher at the end");
    check(watcher.ws.readyState === WebSocket.OPEN, "watcher: no longer open");
    watcher.ws.close(1000);
    const { code } = await within(watcher.closed, "watcher: close");
    check(code === 1000, `watcher: close answered with ${code}`);
  });
  check(exited === null, `sio-serve exited during the test: ${JSON.stringify(exited)}`);
  finish();
})().catch((e) => {
  check(false, e.stack || String(e));
  finish();
});

// The one-line summary, and the exit status: 1 when any check failed.
function finish() {
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  if (failures.length) {
    console.error(`sio-serve output (last 3000 characters):\n${serverOutput().slice(-3000)}`);
    console.log(`ws_frames: FAILED ${failures.length} of ${checks} checks in ${seconds} s`);
    process.exit(1);
  }
  console.log(`ws_frames: ok, ${checks} checks in ${seconds} s`);
  process.exit(0);
}
// Everything bounded as a whole too (CTest gives 120 s): what failed so far is reported.
setTimeout(() => {
  check(false, "the test did not finish within 110 s");
  finish();
}, 110000).unref();
