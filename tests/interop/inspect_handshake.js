// sio-inspect handshake against real servers: sio-serve and the Node socket.io 4.8 server in
// every transport mode (every phase reported, in order, with the open packet's fields), socket.io
// 2.x with --eio 3, the wait for the first ping announced on stderr while it lasts, refusals with
// their exit codes (CONNECT_ERROR 5, nothing listening 3, a plain
// WebSocket server 6, an untrusted certificate 4; trusted with --ca or -k).
// Usage: node inspect_handshake.js PATH/TO/sio-inspect PATH/TO/sio-serve
"use strict";
const { execFileSync, spawn } = require("child_process");
const fs = require("fs");
const http = require("http");
const net = require("net");
const os = require("os");
const path = require("path");
const { Server } = require("socket.io");
const ServerV2 = require("socket.io-v2");
const WebSocket = require("ws");
const { fail, startServer, deadline } = require("./lib");

const inspect = process.argv[2] || fail("usage: node inspect_handshake.js SIO_INSPECT SIO_SERVE");
const serve = process.argv[3] || fail("usage: node inspect_handshake.js SIO_INSPECT SIO_SERVE");
deadline(90000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

// Runs the handshake with --json; resolves with { code, phases }.
function handshake(args) {
  return new Promise((resolve) => {
    const child = spawn(inspect, ["handshake", "--json", "--timeout", "5000", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      let phases;
      try { phases = out.split("\n").filter(Boolean).map((l) => JSON.parse(l)); } catch (e) { fail(`not NDJSON: ${out}`); }
      resolve({ code, phases, err });
    });
  });
}
const names = (r) => r.phases.map((p) => `${p.phase}:${p.ok ? "ok" : "fail"}`);

function nodeServer(opts = {}, setup = () => {}) {
  return new Promise((resolve) => {
    const httpServer = http.createServer();
    const io = new Server(httpServer, opts);
    setup(io);
    httpServer.listen(0, "127.0.0.1", () => resolve({ io, httpServer, url: `http://127.0.0.1:${httpServer.address().port}` }));
  });
}

(async () => {
  // --- sio-serve, three modes --------------------------------------------------------------------
  const sioServe = await startServer(serve, ["--port", "0", "--ping-interval", "600", "-n", "/admin", "--auth-token", "t0k"]);
  const base = sioServe.url;
  const auth = ["--auth", '{"token":"t0k"}'];
  let r = await handshake([base, ...auth]);
  eq([r.code, names(r)], [0, ["dns:ok", "tcp:ok", "open:ok", "connect:ok", "websocket:ok", "probe:ok", "heartbeat:ok"]], "upgrade against sio-serve");
  const open = r.phases.find((p) => p.phase === "open");
  eq(Object.keys(open.handshake), ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"], "open packet fields");
  eq([open.handshake.pingInterval, open.handshake.upgrades], [600, ["websocket"]], "open packet values");
  if (!r.phases.find((p) => p.phase === "websocket").accept_matches) fail("Sec-WebSocket-Accept not checked");
  r = await handshake([base + "/admin", "--transport", "websocket", ...auth]);
  eq([r.code, names(r)], [0, ["dns:ok", "tcp:ok", "websocket:ok", "open:ok", "connect:ok", "heartbeat:ok"]], "websocket against sio-serve");
  r = await handshake([base, "--transport", "polling", "--no-ping", ...auth]);
  eq([r.code, names(r)], [0, ["dns:ok", "tcp:ok", "open:ok", "connect:ok"]], "polling against sio-serve");
  // Refusals.
  r = await handshake([base + "/admin", "--auth", '{"token":"wrong"}', "--no-ping"]);
  eq(r.code, 5, "exit code for a refused CONNECT");
  eq(r.phases[r.phases.length - 1].connect_error, { message: "Invalid token" }, "CONNECT_ERROR shown");
  r = await handshake([base + "/nowhere", ...auth, "--transport", "websocket"]);
  eq([r.code, r.phases[r.phases.length - 1].summary], [5, "CONNECT /nowhere refused: Invalid namespace"], "unknown namespace");
  r = await handshake([base, "--path", "/wrong/", "--no-ping"]);
  eq(r.code, 6, "exit code for a wrong path");

  // --- the Node server ----------------------------------------------------------------------------
  const node = await nodeServer({ pingInterval: 500 });
  r = await handshake([node.url]);
  eq([r.code, names(r)], [0, ["dns:ok", "tcp:ok", "open:ok", "connect:ok", "websocket:ok", "probe:ok", "heartbeat:ok"]], "upgrade against Node socket.io");

  // --- the wait for the first ping is announced before it starts ----------------------------------
  // pingInterval 20 s: the line must be there while the ping is still far away.
  const slow = await nodeServer({ pingInterval: 20000 });
  await new Promise((resolve) => {
    const child = spawn(inspect, ["handshake", "--no-color", "--timeout", "5000", slow.url], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.on("exit", (code) => { if (!err.includes("first ping")) fail(`handshake exited (${code}) without announcing the wait: ${out} ${err}`); });
    child.stderr.on("data", (d) => {
      err += d;
      const m = err.match(/waiting for the server's first ping, due in about (\d+) ms \(pingInterval 20000 ms; --no-ping skips this\)/);
      if (!m) return;
      if (!/✓ probe/.test(out) || /heartbeat/.test(out)) fail("the wait is not announced between the probe and the heartbeat: " + out);
      if (Number(m[1]) > 20000 || Number(m[1]) < 15000) fail("the wait announced is not what is left of pingInterval: " + err);
      child.kill("SIGTERM");
      resolve();
    });
  });
  r = await handshake([slow.url, "--no-ping"]);
  if (r.err.includes("first ping")) fail("--no-ping announces a wait: " + r.err);

  // --- socket.io 2.x with --eio 3 -----------------------------------------------------------------
  const v2http = http.createServer();
  ServerV2(v2http, { pingInterval: 500 });
  await new Promise((res) => v2http.listen(0, "127.0.0.1", res));
  const v2url = `http://127.0.0.1:${v2http.address().port}`;
  r = await handshake([v2url, "--eio", "3"]);
  eq([r.code, names(r)], [0, ["dns:ok", "tcp:ok", "open:ok", "connect:ok", "websocket:ok", "probe:ok", "heartbeat:ok"]], "--eio 3 against socket.io 2.x");
  r = await handshake([v2url, "--no-ping"]);
  if (r.code !== 6) fail(`v4 handshake against socket.io 2.x should say it is not v4 (exit 6), got ${r.code}: ${JSON.stringify(r.phases)}`);

  // --- not Socket.IO ------------------------------------------------------------------------------
  const plainHttp = http.createServer((req, res) => { res.writeHead(404); res.end("no"); });
  new WebSocket.Server({ server: plainHttp });
  await new Promise((res) => plainHttp.listen(0, "127.0.0.1", res));
  r = await handshake([`http://127.0.0.1:${plainHttp.address().port}`, "--transport", "websocket", "--no-ping"]);
  eq(r.code, 6, "a plain WebSocket server");
  if (!/plain WebSocket/.test(r.phases[r.phases.length - 1].summary)) fail("not named a plain WebSocket server: " + JSON.stringify(r.phases));
  const closedPort = await new Promise((res) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });
  r = await handshake([`http://127.0.0.1:${closedPort}`]);
  eq([r.code, names(r)], [3, ["dns:ok", "tcp:fail"]], "nothing listening");

  // --- TLS ----------------------------------------------------------------------------------------
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-hs-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path.join(dir, "key.pem"),
                           "-out", path.join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  const tlsServe = await startServer(serve, ["--port", "0", "--tls-cert", path.join(dir, "cert.pem"), "--tls-key", path.join(dir, "key.pem")]);
  r = await handshake([tlsServe.url, "--no-ping"]);
  eq([r.code, names(r)], [4, ["dns:ok", "tcp:ok", "tls:fail"]], "self-signed certificate without --ca");
  const tlsPhase = r.phases.find((p) => p.phase === "tls");
  eq([tlsPhase.tls.verified, tlsPhase.tls.chain.length, tlsPhase.tls.chain[0].self_signed], [false, 1, true], "TLS details of the refused chain");
  r = await handshake([tlsServe.url, "--no-ping", "--ca", path.join(dir, "cert.pem")]);
  eq([r.code, r.phases.find((p) => p.phase === "tls").tls.verified], [0, true], "trusted with --ca");
  r = await handshake([tlsServe.url, "--no-ping", "-k", "--transport", "websocket"]);
  eq(r.code, 0, "accepted with -k");

  console.log("ok: sio-inspect handshake");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
