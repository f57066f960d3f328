// sio-inspect and the Socket.IO msgpack parser, and what decode makes of frames as browsers'
// developer tools show them:
// - decode --parser msgpack of a frame made by socket.io-msgpack-parser, as hex, as base64 and as
//   an Engine.IO "b" + base64 packet; a text message refused with that parser;
// - decode of a BINARY_EVENT's text frame alone: the packet, and how many attachments follow;
// - handshake, doctor, watch and proxy with --parser msgpack against the Node socket.io 4.8 server
//   created with socket.io-msgpack-parser: connected, healthy, events decoded, sessions ended;
// - --parser where it does not apply (replay) or cannot work (--eio 3) is a usage error.
// Usage: node inspect_msgpack.js PATH/TO/sio-inspect
"use strict";
const { spawn } = require("child_process");
const http = require("http");
const { Server } = require("socket.io");
const { io: connectClient } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");
const { fail, until, deadline, runTool } = require("./lib");

const inspect = process.argv[2] || fail("usage: node inspect_msgpack.js SIO_INSPECT");
deadline(60000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

const run = (args, opts) => runTool(inspect, args, opts);
// A long-running command (watch, proxy): its output as it comes.
function start(args) {
  const child = spawn(inspect, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { err += d; });
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  process.on("exit", () => child.kill("SIGKILL"));
  return { child, exited, out: () => out, err: () => err,
           lines: () => out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)) };
}

(async () => {
  // --- decode: msgpack frames ---------------------------------------------------------------------
  const [frame] = new msgpackParser.Encoder().encode({ type: 2, nsp: "/chat", id: 7, data: ["file", Buffer.from([1, 2, 3]), { n: 1 }] });
  const hex = Buffer.from(frame).toString("hex");
  const spaced = hex.match(/../g).join(" ");
  const b64 = Buffer.from(frame).toString("base64");
  const want = { sio_type: "EVENT", nsp: "/chat", id: 7, event: "file", args: [{ $binary: "AQID" }, { n: 1 }] };
  for (const [input, what] of [[hex, "hex"], [spaced, "spaced hex"], [b64, "base64"], ["b" + b64, "an Engine.IO b+base64 packet"]]) {
    const r = await run(["decode", "--parser", "msgpack", "--json", input]);
    eq(r.code, 0, `decode --parser msgpack of ${what}: exit (${r.err})`);
    const p = r.lines[0];
    eq([p.sio_type, p.nsp, p.id, p.event, p.args], [want.sio_type, want.nsp, want.id, want.event, want.args], `decode --parser msgpack of ${what}`);
  }
  let r = await run(["decode", "--parser", "msgpack", hex], { json: false });
  eq(r.code, 0, "decode --parser msgpack in text");
  if (!/socket\.io\s+EVENT \(2\)/.test(r.out) || !/event\s+"file"/.test(r.out) || !/namespace\s+\/chat/.test(r.out)) fail("decode --parser msgpack text: " + r.out);
  r = await run(["decode", "--parser", "msgpack", '42["chat","hi"]'], { json: false });
  eq(r.code, 1, "a text message with --parser msgpack");
  if (!/msgpack parser sends every packet as a binary message/.test(r.err)) fail("text message with --parser msgpack, the reason: " + r.err);
  r = await run(["decode", "--parser", "msgpack", "zz%%"], { json: false });
  eq(r.code, 1, "neither hex nor base64 with --parser msgpack");
  if (!/hex .* or base64/.test(r.err)) fail("bad --parser msgpack input, the reason: " + r.err);

  // --- decode: a BINARY_EVENT's text frame alone ----------------------------------------------------
  r = await run(["decode", '451-["file",{"_placeholder":true,"num":0}]'], { json: false });
  eq(r.code, 0, "decode of a binary header alone: exit (" + r.err + ")");
  if (!/BINARY_EVENT \(5\)/.test(r.out) || !/event\s+"file"/.test(r.out)) fail("binary header alone, the packet: " + r.out);
  if (!/1 attachment follows in the next frame$/m.test(r.out)) fail("binary header alone, the attachment: " + r.out);
  r = await run(["decode", "--json", '451-["file",{"_placeholder":true,"num":0}]']);
  eq([r.code, r.lines.length, r.lines[0].sio_type, r.lines[0].event, r.lines[0].attachments, r.lines[0].attachments_follow],
     [0, 1, "BINARY_EVENT", "file", 1, 1], "decode --json of a binary header alone");
  r = await run(["decode", '462-/up,3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'], { json: false });
  eq(r.code, 0, "decode of a BINARY_ACK header alone");
  if (!/BINARY_ACK \(6\)/.test(r.out) || !/ack id\s+3/.test(r.out) || !/2 attachments follow in the next frames$/m.test(r.out)) fail("two attachments: " + r.out);
  // With its attachment the packet is whole, as before; with one of two it is not.
  r = await run(["decode", "--json", '451-["file",{"_placeholder":true,"num":0}]\\x1ebAQID']);
  eq([r.code, r.lines[0].args, r.lines[0].attachments_follow], [0, [{ $binary: "AQID" }], undefined], "header and attachment");
  r = await run(["decode", '452-["f",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]\\x1ebAQID'], { json: false });
  eq(r.code, 1, "one attachment of two");
  if (!/missing attachments/.test(r.err)) fail("one attachment of two, the reason: " + r.err);

  // --- usage ----------------------------------------------------------------------------------------
  r = await run(["replay", "--parser", "msgpack", "x.ndjson", "http://127.0.0.1:1"], { json: false });
  eq(r.code, 2, "--parser with replay");
  r = await run(["handshake", "--parser", "msgpack", "--eio", "3", "http://127.0.0.1:1"], { json: false });
  eq(r.code, 2, "--parser msgpack with --eio 3");
  r = await run(["decode", "--parser", "yaml", "40"], { json: false });
  eq(r.code, 2, "--parser yaml");

  // --- a Node server with socket.io-msgpack-parser -------------------------------------------------
  const httpServer = http.createServer();
  const io = new Server(httpServer, { parser: msgpackParser, pingInterval: 500 });
  const events = [];
  io.on("connection", (socket) => {
    events.push(["connect", socket.id]);
    socket.on("disconnect", (reason) => events.push(["disconnect", socket.id, reason]));
    socket.on("echo", (...args) => { const ack = args.pop(); ack(...args); });
    socket.emit("hello", "world", Buffer.from([0xde, 0xad]));
  });
  await new Promise((res) => httpServer.listen(0, "127.0.0.1", res));
  const url = `http://127.0.0.1:${httpServer.address().port}`;
  const allLeft = async (from, what) => {
    await until(() => {
      const e = events.slice(from);
      const joined = e.filter((x) => x[0] === "connect");
      return joined.length > 0 && joined.every((c) => e.some((x) => x[0] === "disconnect" && x[1] === c[1]));
    }, `${what}: the server to see the client leave`, 3000).catch(() => fail(`${what}: session not ended: ${JSON.stringify(events.slice(from))}`));
    const reasons = events.slice(from).filter((x) => x[0] === "disconnect").map((x) => x[2]);
    if (!reasons.every((x) => x === "client namespace disconnect")) fail(`${what}: left with ${JSON.stringify(reasons)}`);
  };

  for (const transport of ["upgrade", "polling", "websocket"]) {
    const from = events.length;
    r = await run(["handshake", "--json", "--parser", "msgpack", "--transport", transport, url]);
    const connect = r.lines.find((l) => l.phase === "connect");
    eq([r.code, connect && connect.ok, connect && typeof connect.answer.sid], [0, true, "string"], `handshake --parser msgpack --transport ${transport}`);
    await allLeft(from, `handshake --parser msgpack --transport ${transport}`);
  }
  let from = events.length;
  r = await run(["doctor", "--json", "--parser", "msgpack", url]);
  eq([r.code, r.lines[r.lines.length - 1].summary], [0, "healthy"], "doctor --parser msgpack: " + JSON.stringify(r.lines));
  if (!r.lines.some((l) => l.check === "namespace" && l.status === "ok")) fail("doctor --parser msgpack: the namespace check");
  await allLeft(from, "doctor --parser msgpack");
  // The other way round: the msgpack parser against a default-parser server is named.
  const plainHttp = http.createServer();
  new Server(plainHttp);
  await new Promise((res) => plainHttp.listen(0, "127.0.0.1", res));
  r = await run(["doctor", "--json", "--parser", "msgpack", `http://127.0.0.1:${plainHttp.address().port}`]);
  eq(r.code, 6, "doctor --parser msgpack against the default parser");
  if (!r.lines.some((l) => l.check === "namespace" && /without --parser msgpack/.test(l.fix))) fail("the mismatch is not named: " + JSON.stringify(r.lines));

  // watch: the server's event with its binary argument, its own emit and the ack.
  const w = start(["watch", "--json", "--parser", "msgpack", url, "--emit", 'echo=["hi",{"n":1}]', "--ack", "--no-reconnect"]);
  await until(() => w.lines().some((l) => l.sio_type === "ACK" && l.from === "server"), "watch --parser msgpack: the ack", 10000)
    .catch(() => fail("watch --parser msgpack: " + w.out() + w.err()));
  const hello = w.lines().find((l) => l.event === "hello");
  eq(hello && [hello.from, hello.sio_type, hello.args], ["server", "EVENT", ["world", { $binary: "3q0=" }]], "watch --parser msgpack: the server's event");
  eq(w.lines().find((l) => l.sio_type === "ACK").args, ["hi", { n: 1 }], "watch --parser msgpack: the ack");
  w.child.kill("SIGTERM");
  eq(await w.exited, 0, "watch --parser msgpack: exit");

  // proxy: a msgpack client's traffic decoded both ways.
  const p = start(["proxy", "--json", "--parser", "msgpack", "--upstream", url]);
  await until(() => /proxy listening on http:\/\/[^\s,]+/.test(p.err()), "the proxy's address");
  const proxyUrl = p.err().match(/proxy listening on (http:\/\/[^\s,]+)/)[1];
  const client = connectClient(proxyUrl, { parser: msgpackParser, reconnection: false, forceNew: true });
  const answer = await new Promise((resolve, reject) => {
    client.on("connect_error", reject);
    client.on("connect", () => client.emit("echo", "via proxy", Buffer.from([7]), (...args) => resolve(args)));
  });
  eq([answer[0], Buffer.from(answer[1])], ["via proxy", Buffer.from([7])], "the echo through the proxy");
  await until(() => p.lines().some((l) => l.sio_type === "ACK" && l.from === "server"), "the proxy to show the ack");
  const echo = p.lines().find((l) => l.event === "echo");
  eq(echo && [echo.from, echo.args], ["client", ["via proxy", { $binary: "Bw==" }]], "proxy --parser msgpack: the client's event");
  if (p.lines().some((l) => l.error)) fail("proxy --parser msgpack: undecoded packets: " + JSON.stringify(p.lines().filter((l) => l.error)));
  client.close();
  p.child.kill("SIGTERM");
  eq(await p.exited, 0, "proxy exit");

  console.log("ok: sio-inspect --parser msgpack, and binary headers alone");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
