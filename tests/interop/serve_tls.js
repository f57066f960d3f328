// sio-serve over TLS (--tls-cert/--tls-key), driven by the real Node socket.io-client 4.8 with a
// CA generated here by the openssl command: https + wss in polling, websocket and upgrade modes;
// a client without the CA refused by its own verification; plain HTTP on the TLS port answered
// with a 400 that says to use https; TLS 1.2 with an ECDHE AEAD suite and ALPN http/1.1; SIGHUP
// swaps in a renewed certificate for new connections while an open one keeps working; unusable
// certificate or key files stop the server with a message naming them; stalled handshakes (silent,
// or stopped inside the ClientHello) are closed at the request timeout, logged and counted, and
// past --max-tls-handshakes a TLS connection is closed at once.
// Usage: node serve_tls.js PATH/TO/sio-serve
"use strict";
const { io } = require("socket.io-client");
const { execFileSync, spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const tls = require("tls");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_tls.js SIO_SERVE");
deadline(90000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-tls-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name) => path.join(dir, name);
const openssl = (...args) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });

// A CA, and two server certificates for 127.0.0.1 signed by it (the second one for the reload).
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "2", "-subj", "/CN=sio test CA");
fs.writeFileSync(file("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
for (const name of ["one", "two"]) {
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", `/CN=server ${name}`);
  openssl("x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
          "-CAcreateserial", "-out", file(`${name}.pem`), "-days", "2", "-extfile", file("san.ext"));
}
fs.copyFileSync(file("one.pem"), file("server.pem"));
fs.copyFileSync(file("one.key"), file("server.key"));
const ca = fs.readFileSync(file("ca.pem"));

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => { s.close(); reject(e); });
  });
}
// Resolves with every argument of the ack (emitWithAck keeps only the first).
function echo(s, ...args) {
  return new Promise((resolve, reject) => {
    s.timeout(5000).emit("echo", ...args, (err, ...reply) => (err ? reject(err) : resolve(reply)));
  });
}
// /metrics over TLS, trusting the test CA.
function metricsText(url, caPem) {
  return new Promise((resolve, reject) => {
    require("https").get(url + "/metrics", { ca: caPem }, (res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}
// The certificate a fresh TLS connection is served, and what was negotiated.
function peek(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols: ["http/1.1"], ...opts }, () => {
      const info = { subject: sock.getPeerCertificate().subject.CN, protocol: sock.getProtocol(),
                     cipher: sock.getCipher().standardName || sock.getCipher().name, alpn: sock.alpnProtocol };
      sock.end();
      resolve(info);
    });
    sock.on("error", reject);
  });
}

(async () => {
  // Unusable files: a clear message naming the file, exit 1, no listening.
  const missing = spawnSync(serve, ["--port", "0", "--tls-cert", file("nope.pem"), "--tls-key", file("one.key")], { timeout: 10000 });
  eq(missing.status, 1, "exit code with a missing certificate");
  if (!missing.stderr.toString().includes("nope.pem")) fail("missing certificate not named: " + missing.stderr);
  const mismatch = spawnSync(serve, ["--port", "0", "--tls-cert", file("one.pem"), "--tls-key", file("two.key")], { timeout: 10000 });
  eq(mismatch.status, 1, "exit code with a key of another certificate");
  if (!/does not match/.test(mismatch.stderr.toString())) fail("mismatched key not explained: " + mismatch.stderr);
  const alone = spawnSync(serve, ["--port", "0", "--tls-cert", file("one.pem")], { timeout: 10000 });
  eq(alone.status, 2, "exit code with --tls-cert alone");

  const server = await startServer(serve, ["--port", "0", "--tls-cert", file("server.pem"), "--tls-key", file("server.key"), "-v"]);
  if (!server.url.startsWith("https://")) fail("the first line should announce an https URL: " + server.url);
  const url = server.url;
  globalThis.serverOutput = server.output;

  // Every transport mode over TLS, verified against the test CA.
  for (const [mode, transports] of [["polling", ["polling"]], ["websocket", ["websocket"]], ["upgrade", ["polling", "websocket"]]]) {
    const s = await connect(url, { transports, ca });
    if (mode === "upgrade") await until(() => s.io.engine.transport.name === "websocket", "the upgrade to wss", 5000);
    eq(s.io.engine.transport.name, transports[transports.length - 1], `${mode}: transport`);
    eq(await echo(s, "über", { n: 1 }, Buffer.from([1, 2, 3])), ["über", { n: 1 }, Buffer.from([1, 2, 3])], `${mode}: echo ack`);
    s.close();
  }

  // Without the CA the client's own verification refuses the self-made chain.
  for (const transports of [["polling"], ["websocket"]]) {
    let refused = null;
    try {
      (await connect(url, { transports })).close();
    } catch (e) {
      refused = e;
    }
    if (!refused) fail(`${transports}: a client without the CA connected`);
  }

  // Plain HTTP on the TLS port: a readable refusal, logged.
  const plain = await fetch(url.replace("https://", "http://") + "/healthz").catch((e) => fail("plain request: " + e));
  eq(plain.status, 400, "plain HTTP status");
  if (!/https/.test(await plain.text())) fail("plain HTTP answer does not say to use https");
  await until(() => /plain HTTP request on the TLS port/.test(server.output()), "the log line of the plain request", 5000);

  // Protocols: TLS 1.3 by default, TLS 1.2 with an ECDHE AEAD suite, ALPN http/1.1.
  const v13 = await peek(server.port);
  eq([v13.protocol, v13.alpn, v13.subject], ["TLSv1.3", "http/1.1", "server one"], "TLS 1.3 session");
  const v12 = await peek(server.port, { maxVersion: "TLSv1.2" });
  eq(v12.protocol, "TLSv1.2", "TLS 1.2 protocol");
  if (!/ECDHE_(ECDSA|RSA)_WITH_(AES_\d+_GCM|CHACHA20_POLY1305)/.test(v12.cipher)) fail("TLS 1.2 cipher is not ECDHE+AEAD: " + v12.cipher);

  // SIGHUP: the renewed certificate serves new connections; an open connection keeps working.
  const kept = await connect(url, { transports: ["websocket"], ca });
  fs.copyFileSync(file("two.pem"), file("server.pem"));
  fs.copyFileSync(file("two.key"), file("server.key"));
  server.child.kill("SIGHUP");
  await until(() => /certificate and key reloaded/.test(server.output()), "the reload log line", 5000);
  eq((await peek(server.port)).subject, "server two", "certificate after SIGHUP");
  eq(await echo(kept, "still here"), ["still here"], "echo on a connection opened before the reload");
  const fresh = await connect(url, { transports: ["websocket"], ca });
  eq(await echo(fresh, "new"), ["new"], "echo on a connection opened after the reload");
  // A broken file at reload keeps the current certificate.
  fs.writeFileSync(file("server.pem"), "not a certificate\n");
  server.child.kill("SIGHUP");
  await until(() => /keeping the current certificate/.test(server.output()), "the failed reload log line", 5000);
  eq((await peek(server.port)).subject, "server two", "certificate after a failed reload");
  kept.close();
  fresh.close();
  server.child.kill("SIGKILL");

  // Stalled handshakes: a connection that sends nothing and one that stops inside its ClientHello
  // are both closed at the request timeout, logged and counted; past --max-tls-handshakes a new
  // TLS connection is closed at once (its TLS state never made); a real client still gets in.
  {
    const limited = await startServer(serve, ["--port", "0", "--tls-cert", file("two.pem"), "--tls-key", file("two.key"),
                                              "--request-timeout", "400", "--max-tls-handshakes", "2", "-v",
                                              "--metrics-listen", "127.0.0.1:0"]);
    globalThis.serverOutput = limited.output;
    // /metrics on a listener of its own, whose handshakes take no place under the main port's limit.
    await until(() => /metrics on (https:\/\/\S+)/.test(limited.output()), "the metrics URL");
    const metricsUrl = limited.output().match(/metrics on (https:\/\/\S+)\/metrics/)[1];
    const net = require("net");
    // Resolves with how long the server took to close a connection that sent `bytes`.
    const stall = (bytes) => new Promise((resolve, reject) => {
      const start = Date.now();
      const s = net.connect({ host: "127.0.0.1", port: limited.port }, () => { if (bytes) s.write(bytes); });
      s.on("close", () => resolve(Date.now() - start));
      s.on("error", () => {});
      setTimeout(() => { s.destroy(); reject(new Error("a stalled TLS connection was kept for 5 s")); }, 5000);
    });
    // A TLS record header and the start of a ClientHello: enough to tell TLS, never the rest.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    const silent = stall(null);
    const first = stall(hello);
    const second = stall(hello);
    // Both places are taken once the server has read the two ClientHello starts.
    await until(async () => /sio_tls_handshakes_pending 2/.test(await metricsText(metricsUrl, ca)),
                "two handshakes under way");
    const third = await stall(hello);
    if (third >= 300) fail(`a TLS connection over --max-tls-handshakes was kept ${third} ms`);
    await until(() => /2 TLS handshakes under way, the limit is 2 \(--max-tls-handshakes\)/.test(limited.output()),
                "the log line of the refused handshake");
    for (const [what, p] of [["silent", silent], ["stalled ClientHello", first], ["second stalled ClientHello", second]]) {
      const after = await p;
      if (after < 350) fail(`${what} connection closed after ${after} ms, before the request timeout`);
    }
    await until(() => /TLS connection sent nothing within 400 ms/.test(limited.output()), "the log line of the silent connection");
    await until(() => /TLS handshake failed/.test(limited.output()), "the log line of the stalled handshake");
    const m = await metricsText(metricsUrl, ca);
    const hits = (limit) => Number((m.match(new RegExp(`sio_limit_hits_total\\{limit="${limit}"\\} (\\d+)`)) || [0, -1])[1]);
    if (hits("request_timeout") < 1) fail("the silent TLS connection is not counted as a request timeout:\n" + m);
    if (hits("tls_handshake") < 2) fail("the stalled handshakes are not counted:\n" + m);
    if (hits("max_tls_handshakes") < 1) fail("the refused handshake is not counted:\n" + m);
    const after = await connect(limited.url, { transports: ["websocket"], ca });
    eq(await echo(after, "after the stalls"), ["after the stalls"], "echo after the stalled handshakes");
    after.close();
    limited.child.kill("SIGKILL");
  }

  console.log("ok: sio-serve over TLS");
  process.exit(0);
})().catch((e) => fail((e.stack || String(e)) + (globalThis.serverOutput ? "\nserver output:\n" + globalThis.serverOutput() : "")));
