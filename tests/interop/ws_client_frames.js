// Our WebSocket client (sio-cli's raw mode: sio::ws_client on transport::ws_stream, role client)
// frame by frame, against the real `ws` server and against a raw TCP peer that writes its own
// frames:
//   1. the server sends fragmented messages with pings between their fragments (text with a
//      multibyte UTF-8 character split across fragments; binary of three 70,000-byte fragments,
//      each past the 16-bit length), an unsolicited pong, then closes with 4002 and a reason: the
//      messages arrive whole, each ping is shown and answered with its payload, the pong is shown,
//      and the close code and reason are reported;
//   2. the client sends text, binary and a ping, then closes with 4005 and a reason: the server
//      gets each, and its answer to the close (the same code and reason) is reported;
//   3. a peer whose 101 and first frame arrive in one TCP segment (the bytes read past the
//      answer), then a frame masked as only a client may: the first message arrives, the second
//      frame is refused with a close frame of code 1002 (masked, as a client's must be);
//   4. a 101 whose Sec-WebSocket-Accept does not match the key: the connection is refused (exit 3)
//      with a sentence that says so.
// Usage: node ws_client_frames.js PATH/TO/sio-cli
"use strict";
const crypto = require("crypto");
const net = require("net");
const { WebSocketServer } = require("ws");
const { fail, deadline, until } = require("./lib");
const { runCli, checkShape, eq, check, expectCode } = require("./cli_common");

const cli = process.argv[2] || fail("usage: node ws_client_frames.js SIO_CLI");
deadline(60000);

const accept = (key) => crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");

// A server-to-client frame (unmasked unless `mask`), FIN set unless `more`.
function frame(opcode, payload, { more = false, mask = false } = {}) {
  const body = Buffer.from(payload);
  const len = body.length;
  const head = [((more ? 0 : 0x80) | opcode)];
  if (len < 126) head.push((mask ? 0x80 : 0) | len);
  else throw new Error("short frames only");
  if (!mask) return Buffer.concat([Buffer.from(head), body]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(body.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([Buffer.from(head), key, masked]);
}

// Reads one client frame (always masked) from `buf`: { opcode, payload, rest } or null.
function readClientFrame(buf) {
  if (buf.length < 2) return null;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) { if (buf.length < 4) return null; len = buf.readUInt16BE(2); off = 4; }
  else if (len === 127) { if (buf.length < 10) return null; len = Number(buf.readBigUInt64BE(2)); off = 10; }
  if (!masked) throw new Error("the client sent an unmasked frame");
  if (buf.length < off + 4 + len) return null;
  const key = buf.subarray(off, off + 4);
  const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len).map((b, i) => b ^ key[i & 3]));
  return { opcode: buf[0] & 0x0f, payload, rest: buf.subarray(off + 4 + len) };
}

// A raw TCP peer: reads the upgrade request, then calls `onUpgrade(socket, key)`; collects the
// client's frames in `frames`.
function rawPeer(onUpgrade) {
  return new Promise((resolve) => {
    const peer = { frames: [], requests: [] };
    peer.server = net.createServer((socket) => {
      let buf = Buffer.alloc(0);
      let upgraded = false;
      socket.on("error", () => {});
      socket.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        if (!upgraded) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = buf.subarray(0, end).toString();
          buf = buf.subarray(end + 4);
          upgraded = true;
          peer.requests.push(head);
          const key = /^sec-websocket-key:\s*(\S+)/im.exec(head);
          onUpgrade(socket, key ? key[1] : "");
        }
        for (let f; (f = readClientFrame(buf));) {
          peer.frames.push(f);
          buf = f.rest;
        }
      });
    });
    peer.server.listen(0, "127.0.0.1", () => {
      peer.url = `ws://127.0.0.1:${peer.server.address().port}/`;
      resolve(peer);
    });
  });
}

const sections = [];
async function section(name, body) {
  await body();
  sections.push(name);
  console.log(`ok ${name}`);
}

(async () => {
  // The `ws` server: what each connection does depends on its path.
  const seen = { pongs: [], messages: [], pings: [], closes: [] };
  const pattern = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff));
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss.on("connection", (ws, req) => {
    ws.on("pong", (p) => seen.pongs.push(p.toString()));
    ws.on("ping", (p) => seen.pings.push(p.toString()));
    ws.on("message", (data, isBinary) => seen.messages.push(isBinary ? Buffer.from(data).toString("hex") : data.toString()));
    ws.on("close", (code, reason) => seen.closes.push({ code, reason: reason.toString() }));
    if (req.url !== "/fragments") return;
    // "frag" + "ment" + "é" split in the middle of its two bytes + "d ✓": text, in fragments.
    ws.send("frag", { fin: false });
    ws.ping("between");
    ws.send(Buffer.concat([Buffer.from("ment"), Buffer.from([0xc3])]), { binary: false, fin: false });
    ws.send(Buffer.concat([Buffer.from([0xa9]), Buffer.from("d ✓")]), { binary: false, fin: true });
    // Binary, three fragments past 65,535 bytes each, a ping before the last.
    ws.send(pattern(70000, 1), { binary: true, fin: false });
    ws.send(pattern(70000, 2), { binary: true, fin: false });
    ws.ping("between binary");
    ws.send(pattern(70000, 3), { binary: true, fin: true });
    ws.pong("unsolicited");
    ws.close(4002, "fragments done ✓");
  });
  await new Promise((r) => wss.on("listening", r));
  const base = `ws://127.0.0.1:${wss.address().port}`;

  await section("fragments with pings between them, a pong, the server's close", async () => {
    const r = await runCli(cli, [`${base}/fragments`, "--show-ping", "--listen", "--timeout", "10s", "--json"]);
    expectCode(r, 0, "fragments");
    checkShape(r.lines, "fragments");
    const inbound = r.lines.filter((l) => l.dir === "in");
    const kinds = inbound.map((l) => (l.type === "message" ? (typeof l.args[0] === "string" ? "text" : "binary") : `${l.type} ${l.args[0]}`));
    eq(kinds, ["ping between", "text", "ping between binary", "binary", "pong unsolicited"], "what arrived, in order");
    eq(inbound[1].args, ["fragmentéd ✓"], "the text message joined");
    const bin = Buffer.from(inbound[3].args[0].$binary, "base64");
    check(bin.equals(Buffer.concat([pattern(70000, 1), pattern(70000, 2), pattern(70000, 3)])),
          `the binary message joined: ${bin.length} bytes`);
    eq(r.lines.find((l) => l.type === "disconnect").args, [{ code: 4002, reason: "fragments done ✓" }], "the server's close");
    eq(seen.pongs, ["between", "between binary"], "each ping answered with its payload");
    // The server's side of this connection ends when the closing handshake has: wait for it, so
    // that it is not taken for the next section's close.
    await until(() => seen.closes.length === 1, "the server to see its close answered");
    eq(seen.closes, [{ code: 4002, reason: "" }], "the server's close, answered with its code");
  });

  await section("the client's messages, ping and close with a code and reason", async () => {
    seen.messages.length = 0;
    seen.pings.length = 0;
    seen.closes.length = 0;
    const r = await runCli(cli, [`${base}/echo`, "--show-ping", "--listen", "--timeout", "10s", "--json"],
                           { input: "hello\n/binary 00ff10\n/ping client-ping\n/close 4005 bye now\n" });
    expectCode(r, 0, "client close");
    checkShape(r.lines, "client close");
    eq(seen.messages, ["hello", "00ff10"], "the server got the text and binary messages");
    eq(seen.pings, ["client-ping"], "the server got the ping");
    eq(seen.closes, [{ code: 4005, reason: "bye now" }], "the server got the close code and reason");
    const bye = r.lines.find((l) => l.type === "disconnect");
    eq(bye.args, [{ code: 4005, reason: "bye now" }], "the server's answer to the close");
  });

  await section("the first frame in the 101's segment, then a masked frame refused with 1002", async () => {
    const peer = await rawPeer((socket, key) => {
      socket.write(Buffer.concat([
        Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(key)}\r\n\r\n`),
        frame(0x1, "early"),
      ]));
      setTimeout(() => socket.write(frame(0x1, "masked", { mask: true })), 200);
    });
    const r = await runCli(cli, [peer.url, "--listen", "--timeout", "10s", "--json"]);
    expectCode(r, 1, "a masked frame from the server");
    eq(r.lines.filter((l) => l.type === "message").map((l) => l.args[0]), ["early"], "the frame sent with the 101");
    const lost = r.lines.find((l) => l.type === "disconnect");
    check(lost && /masked/.test(JSON.stringify(lost)), `the reason names the masked frame: ${r.stdout}`);
    const close = peer.frames.find((f) => f.opcode === 0x8);
    check(close && close.payload.readUInt16BE(0) === 1002, `a close frame with 1002: ${JSON.stringify(peer.frames)}`);
    check(/^GET \/ HTTP\/1\.1\r\n/.test(peer.requests[0]) && /\r\nsec-websocket-version: 13(\r\n|$)/i.test(peer.requests[0]),
          `the upgrade request: ${peer.requests[0]}`);
    peer.server.close();
  });

  await section("a 101 with the wrong Sec-WebSocket-Accept is refused", async () => {
    const peer = await rawPeer((socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept("not the key")}\r\n\r\n`);
    });
    const r = await runCli(cli, [peer.url, "--listen", "--timeout", "10s"]);
    expectCode(r, 3, "a wrong accept key");
    check(/Sec-WebSocket-Accept .* does not match the key sent/.test(r.stderr + r.stdout), `says why: ${r.stderr}`);
    peer.server.close();
  });

  wss.close();
  console.log(`ws client frames: ${sections.length} sections passed`);
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
