// sio-inspect doctor against real misconfigurations, each reproduced here rather than simulated:
// a healthy sio-serve; nothing listening; two Node socket.io servers behind a round-robin proxy
// without stickiness; a proxy that strips the Upgrade header; a server without CORS for the
// origin; a plain `ws` server at the path; a socket.io 2.x server; a namespace whose middleware
// refuses; a self-signed and an expired certificate. Each must be named, with its exit status.
// Usage: node inspect_doctor.js PATH/TO/sio-inspect PATH/TO/sio-serve
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

const inspect = process.argv[2] || fail("usage: node inspect_doctor.js SIO_INSPECT SIO_SERVE");
const serve = process.argv[3] || fail("usage: node inspect_doctor.js SIO_INSPECT SIO_SERVE");
deadline(90000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

function doctor(args) {
  return new Promise((resolve) => {
    const child = spawn(inspect, ["doctor", "--json", "--timeout", "3000", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      const lines = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      resolve({ code, findings: lines.filter((l) => l.check), failed: lines.filter((l) => l.status === "fail").map((l) => l.check) });
    });
  });
}
function expectFinding(r, check, pattern, what) {
  const f = r.findings.find((x) => x.check === check && x.status === "fail");
  if (!f) fail(`${what}: no failed '${check}' check: ${JSON.stringify(r.findings)}`);
  const text = `${f.seen} | ${f.meaning} | ${f.fix}`;
  if (!pattern.test(text)) fail(`${what}: '${check}' does not say ${pattern}: ${text}`);
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`)));
}
async function nodeServer(opts = {}, setup = () => {}) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, opts);
  setup(io);
  return { io, httpServer, url: await listen(httpServer) };
}

// An HTTP reverse proxy written for the test: each request goes to the next upstream in turn
// (no stickiness); WebSocket upgrades are piped through, or, with stripUpgrade, forwarded as a
// plain GET without the Upgrade and Connection headers, as a misconfigured proxy does.
async function roundRobinProxy(upstreams, { stripUpgrade = false } = {}) {
  let next = 0;
  const pick = () => new URL(upstreams[next++ % upstreams.length]);
  const server = http.createServer((req, res) => {
    const u = pick();
    const fwd = http.request({ host: u.hostname, port: u.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    fwd.on("error", () => { res.writeHead(502); res.end(); });
    req.pipe(fwd);
  });
  server.on("upgrade", (req, socket, head) => {
    const u = pick();
    if (stripUpgrade) {
      const headers = { ...req.headers };
      delete headers.upgrade;
      delete headers.connection;
      const fwd = http.request({ host: u.hostname, port: u.port, path: req.url, method: "GET", headers }, (up) => {
        let body = "";
        up.on("data", (d) => { body += d; });
        up.on("end", () => socket.end(`HTTP/1.1 ${up.statusCode} ${up.statusMessage}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`));
      });
      fwd.on("error", () => socket.destroy());
      fwd.end();
      return;
    }
    const upstream = net.connect(Number(u.port), u.hostname, () => {
      let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) head0 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      upstream.write(head0 + "\r\n");
      if (head && head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });
  return { server, url: await listen(server) };
}

(async () => {
  // Healthy.
  const healthy = await startServer(serve, ["--port", "0", "--cors-origin", "https://app.example"]);
  let r = await doctor([healthy.url, "--origin", "https://app.example"]);
  eq([r.code, r.failed], [0, []], "healthy sio-serve");
  for (const check of ["reachable", "socket.io", "sticky", "namespace", "cors", "websocket"]) {
    if (!r.findings.some((f) => f.check === check && f.status === "ok")) fail(`healthy: no passing '${check}' check`);
  }

  // Nothing listening.
  const closedPort = await new Promise((res) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });
  r = await doctor([`http://127.0.0.1:${closedPort}`]);
  eq(r.code, 3, "nothing listening: exit");
  expectFinding(r, "reachable", /nothing is listening/, "nothing listening");

  // Two Node servers behind round robin, no stickiness.
  const a = await nodeServer();
  const b = await nodeServer();
  const rr = await roundRobinProxy([a.url, b.url]);
  r = await doctor([rr.url]);
  eq(r.code, 7, "no sticky sessions: exit");
  expectFinding(r, "sticky", /Session ID unknown.*sticky sessions/s, "no sticky sessions");

  // A proxy that strips Upgrade.
  const c = await nodeServer();
  const stripping = await roundRobinProxy([c.url], { stripUpgrade: true });
  r = await doctor([stripping.url]);
  eq([r.code, r.failed], [7, ["websocket"]], "Upgrade stripped: exit and the only failure");
  expectFinding(r, "websocket", /long-polling works.*Upgrade and Connection headers/s, "Upgrade stripped");

  // No CORS for the browser's origin.
  r = await doctor([c.url, "--origin", "https://elsewhere.example"]);
  eq([r.code, r.failed], [7, ["cors"]], "no CORS: exit");
  expectFinding(r, "cors", /no Access-Control-Allow-Origin.*cors: \{ origin/s, "no CORS");

  // A plain WebSocket server at the path.
  const plain = http.createServer((req, res) => { res.writeHead(404); res.end("not here"); });
  new WebSocket.Server({ server: plain });
  r = await doctor([await listen(plain)]);
  eq(r.code, 6, "plain WebSocket server: exit");
  expectFinding(r, "socket.io", /plain WebSocket server/, "plain WebSocket server");

  // socket.io 2.x.
  const v2http = http.createServer();
  ServerV2(v2http);
  r = await doctor([await listen(v2http)]);
  eq(r.code, 6, "socket.io 2.x: exit");
  expectFinding(r, "socket.io", /socket\.io 2\.x/, "socket.io 2.x");

  // A namespace whose middleware refuses.
  const guarded = await nodeServer({}, (io) => io.of("/admin").use((socket, next) => next(new Error("not authorized"))));
  r = await doctor([guarded.url + "/admin"]);
  eq(r.code, 5, "refusing middleware: exit");
  expectFinding(r, "namespace", /not authorized.*auth/s, "refusing middleware");

  // A server with socket.io-msgpack-parser: it drops the session on the default parser's
  // CONNECT; the doctor names the parser, and does not blame a proxy for the upgrade.
  const packed = await nodeServer({ parser: require("socket.io-msgpack-parser") });
  r = await doctor([packed.url]);
  eq(r.code, 6, "msgpack parser: exit");
  expectFinding(r, "namespace", /closed the session on CONNECT.*socket\.io-msgpack-parser.*--parser msgpack/s, "msgpack parser");
  if (r.failed.includes("websocket")) fail(`msgpack parser: the upgrade blamed: ${JSON.stringify(r.findings)}`);

  // Certificates: self-signed, then expired (issued by a CA, dated in the past).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-doctor-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  const f = (n) => path.join(dir, n);
  const openssl = (...args) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f("self.key"), "-out", f("self.pem"),
          "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1");
  const selfSigned = await startServer(serve, ["--port", "0", "--tls-cert", f("self.pem"), "--tls-key", f("self.key")]);
  r = await doctor([selfSigned.url]);
  eq(r.code, 4, "self-signed: exit");
  expectFinding(r, "tls", /self-signed/, "self-signed");

  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"),
          "-days", "3650", "-subj", "/CN=test CA");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f("old.key"), "-out", f("old.csr"), "-subj", "/CN=localhost");
  fs.writeFileSync(f("index.txt"), "");
  fs.writeFileSync(f("serial"), "01\n");
  fs.writeFileSync(f("ca.cnf"), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${f("index.txt")}\nnew_certs_dir = ${dir}\nserial = ${f("serial")}\n` +
                               `default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n[ext]\nsubjectAltName = IP:127.0.0.1\n`);
  openssl("ca", "-batch", "-config", f("ca.cnf"), "-cert", f("ca.pem"), "-keyfile", f("ca.key"), "-in", f("old.csr"), "-out", f("old.pem"),
          "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-extensions", "ext");
  const expired = await startServer(serve, ["--port", "0", "--tls-cert", f("old.pem"), "--tls-key", f("old.key")]);
  r = await doctor([expired.url, "--ca", f("ca.pem")]);
  eq(r.code, 4, "expired: exit");
  expectFinding(r, "tls", /expired/, "expired certificate");

  console.log("ok: sio-inspect doctor");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
