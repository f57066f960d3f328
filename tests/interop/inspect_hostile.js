// sio-inspect against a hostile server: every string the server controls carries terminal
// control sequences (a title change ended by BEL, a screen clear, a carriage return): the open
// packet's sid and upgrades, the socket id of the CONNECT answer, a CONNECT_ERROR message, the
// reason of a WebSocket close. handshake (polling, upgrade and WebSocket), doctor and watch, in
// text and --json, must print them escaped: no ESC, BEL or CR byte may reach the output, and the
// escaped text must still be there to read.
// Usage: node inspect_hostile.js PATH/TO/sio-inspect
"use strict";
const { spawn } = require("child_process");
const http = require("http");
const WebSocket = require("ws");
const { fail, deadline } = require("./lib");

const inspect = process.argv[2] || fail("usage: node inspect_hostile.js SIO_INSPECT");
deadline(60000);

const evil = (tag) => `${tag}\u001b]0;PWNED\u0007\u001b[2J\r`;
// What a neutralised evil(tag) looks like on the terminal.
const shown = (tag) => String.raw`\u001b]0;PWNED\u0007\u001b[2J\r`.replace(/^/, tag);
const SID = evil("AAAA");
const SOCKET_ID = evil("BBBB");
const REFUSAL = evil("denied");
const BYE = evil("bye");
const UPGRADE = evil("up");

const openPacket = () =>
  "0" + JSON.stringify({ sid: SID, upgrades: ["websocket", UPGRADE], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 });
// The answer to one CONNECT packet: "40" or "40/nsp,...". The namespace /refuse is refused.
function connectAnswer(packet) {
  const nsp = packet.startsWith("40/") ? packet.slice(2, packet.indexOf(",") < 0 ? undefined : packet.indexOf(",")) : "/";
  const prefix = nsp === "/" ? "" : `${nsp},`;
  if (nsp === "/refuse") return `44${prefix}${JSON.stringify({ message: REFUSAL })}`;
  return `40${prefix}${JSON.stringify({ sid: SOCKET_ID })}`;
}

// Engine.IO v4 by hand: polling (open, CONNECT answered on the next GET, other GETs parked) and
// WebSocket (the open packet and the CONNECT answer on a direct one, then a close with a hostile
// reason; 2probe -> 3probe on an upgrade, then the same close after 5).
const answers = [];
const parked = [];
const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname !== "/socket.io/") {
    res.writeHead(404);
    res.end();
    return;
  }
  let body = "";
  req.on("data", (d) => { body += d; });
  req.on("end", () => {
    if (req.method === "POST") {
      for (const p of body.split("\x1e")) if (p.startsWith("40")) answers.push(connectAnswer(p));
      reply(res, "ok");
      // A long-poll may be waiting already (a client polls and posts at once).
      if (answers.length && parked.length) reply(parked.shift(), answers.splice(0).join("\x1e"));
    } else if (!url.searchParams.has("sid")) {
      reply(res, openPacket());
    } else if (answers.length) {
      reply(res, answers.splice(0).join("\x1e"));
    } else {
      parked.push(res);  // a long-poll with nothing to send yet, until its client goes
      res.on("close", () => { if (parked.includes(res)) parked.splice(parked.indexOf(res), 1); });
    }
  });
});
function reply(res, text) {
  res.writeHead(200, { "Content-Type": "text/plain; charset=UTF-8" });
  res.end(text);
}
const wss = new WebSocket.Server({ server });
wss.on("connection", (ws, req) => {
  const upgrade = new URL(req.url, "http://x").searchParams.has("sid");
  if (!upgrade) ws.send(openPacket());
  ws.on("message", (data) => {
    const text = data.toString();
    if (text === "2probe") ws.send("3probe");
    else if (text === "5") ws.close(4000, BYE);
    else if (text.startsWith("40")) {
      ws.send(connectAnswer(text));
      ws.close(4000, BYE);
    }
  });
});

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(inspect, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out = [], err = [];
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out: Buffer.concat(out), err: Buffer.concat(err) });
    });
  });
}

// Runs sio-inspect; checks its exit status, that no ESC, BEL or CR byte is in what it wrote, and
// that each of `expect` (neutralised text) is in its output.
async function check(what, args, code, expect) {
  for (const json of [false, true]) {
    const label = `${what}${json ? " --json" : ""}`;
    const r = await run(json ? [...args, "--json"] : args);
    const all = Buffer.concat([r.out, r.err]);
    const text = all.toString("utf8");
    for (const [byte, name] of [[0x1b, "ESC"], [0x07, "BEL"], [0x0d, "CR"]]) {
      const at = all.indexOf(byte);
      if (at >= 0) fail(`${label}: a raw ${name} byte reached the output: ${JSON.stringify(all.subarray(Math.max(0, at - 40), at + 20).toString("utf8"))}`);
    }
    if (r.code !== code) fail(`${label}: exit ${r.code}, want ${code}; output:\n${JSON.stringify(text)}`);
    for (const e of expect) if (!text.includes(e)) fail(`${label}: ${JSON.stringify(e)} not shown; output:\n${text}`);
  }
}

(async () => {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  const common = ["--timeout", "5000", "--no-color"];

  await check("handshake (polling, then the upgrade)", ["handshake", url, "--no-ping", ...common], 0,
              [shown("AAAA"), shown("up"), shown("BBBB")]);
  await check("handshake over WebSocket", ["handshake", url, "--transport", "websocket", ...common], 7,
              [shown("AAAA"), shown("BBBB"), shown("bye")]);
  await check("handshake of a refused namespace", ["handshake", url + "/refuse", "--transport", "polling", "--no-ping", ...common], 5,
              [shown("denied")]);
  await check("doctor", ["doctor", url, ...common], 0, [shown("AAAA"), shown("up")]);
  await check("doctor of a refused namespace", ["doctor", url + "/refuse", ...common], 5, [shown("denied")]);
  // watch names the session on every line by the first 8 bytes of its sid.
  await check("watch", ["watch", url, "--transport", "polling", "--duration", "1", "--no-reconnect", ...common], 0,
              [shown("AAAA").slice(0, 13), shown("BBBB")]);
  await check("watch of a refused namespace", ["watch", url + "/refuse", "--transport", "polling", "--duration", "5", "--no-reconnect", ...common], 5,
              [shown("denied")]);

  for (const res of parked) res.destroy();
  console.log("ok: sio-inspect neutralises what a server sends");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
