// sio-cli in raw WebSocket mode against a `ws` server (text and binary frames, subprotocol,
// pings shown, the peer's close code and reason, lines from stdin), and TLS against servers
// whose certificate comes from a CA made here by openssl: refused without --ca (exit 4),
// accepted with --ca and with -k, for Socket.IO over https and for raw wss.
// Usage: node cli_raw_tls.js PATH/TO/sio-cli
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const https = require("https");
const os = require("os");
const path = require("path");
const { WebSocketServer } = require("ws");
const { Server } = require("socket.io");
const { fail, until, deadline } = require("./lib");
const { runCli, checkShape, eq, check, expectCode, freePort } = require("./cli_common");

const cli = process.argv[2] || fail("usage: node cli_raw_tls.js SIO_CLI");
deadline(40000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-cli-tls-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const file = (n) => path.join(dir, n);
const openssl = (...args) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "2", "-subj", "/CN=sio-cli test CA");
fs.writeFileSync(file("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", file("server.key"), "-out", file("server.csr"), "-subj", "/CN=127.0.0.1");
openssl("x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
        "-CAcreateserial", "-out", file("server.pem"), "-days", "2", "-extfile", file("san.ext"));
const tlsOptions = { key: fs.readFileSync(file("server.key")), cert: fs.readFileSync(file("server.pem")) };
// A client certificate from the same CA, for a server that asks for one.
openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", file("client.key"), "-out", file("client.csr"), "-subj", "/CN=sio-cli test client");
openssl("x509", "-req", "-in", file("client.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
        "-CAcreateserial", "-out", file("client.pem"), "-days", "2");

// An echo server: text echoed, "bye" closes with 4000 "done"; on connect it sends a binary frame
// and a ping.
function echoServer(wss, received) {
  wss.on("connection", (ws) => {
    ws.send(Buffer.from([1, 2, 3]));
    ws.ping("hb");
    ws.on("message", (data, isBinary) => {
      received.push(isBinary ? Buffer.from(data).toString("hex") : data.toString());
      if (!isBinary && data.toString() === "bye") ws.close(4000, "done");
      else ws.send(data, { binary: isBinary });
    });
  });
}

(async () => {
  // Raw WebSocket over ws://.
  const received = [];
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (p) => (p.has("chat") ? "chat" : false) });
  echoServer(wss, received);
  await new Promise((r) => wss.on("listening", r));
  const wsUrl = `ws://127.0.0.1:${wss.address().port}/`;

  let r = await runCli(cli, [wsUrl, "--emit", "hello", "there", "--wait-for", "hello*", "--json"]);
  expectCode(r, 0, "raw emit + wait-for");
  checkShape(r.lines, "raw");
  const echoed = r.lines.find((l) => l.dir === "in" && l.type === "message" && l.args[0] === "hello there");
  check(echoed, `raw: the echo: ${r.stdout}`);
  eq(echoed.nsp, null, "raw lines have no namespace");
  eq(r.lines.find((l) => l.dir === "out").args, ["hello there"], "raw: the frame sent");
  check(r.lines.some((l) => l.dir === "in" && JSON.stringify(l.args) === '[{"$binary":"AQID"}]'), `raw: binary frame: ${r.stdout}`);

  r = await runCli(cli, [wsUrl, "--subprotocol", "chat", "--subprotocol", "other", "--show-ping", "--listen", "--timeout", "1s", "--json"]);
  expectCode(r, 0, "raw listen");
  eq(r.lines.find((l) => l.type === "connect").args, [{ subprotocol: "chat" }], "raw: the subprotocol chosen");
  eq(r.lines.find((l) => l.type === "ping").args, ["hb"], "raw: the ping shown");

  r = await runCli(cli, [wsUrl, "--emit", "bye", "--listen", "--json"]);
  expectCode(r, 0, "raw close by the peer");
  eq(r.lines.find((l) => l.type === "disconnect").args, [{ code: 4000, reason: "done" }], "raw: close code and reason");

  received.length = 0;
  r = await runCli(cli, ["--raw", wsUrl.replace("ws:", "http:")], { input: "one\n{\"not\":\"parsed\"}\nemit x\n" });
  expectCode(r, 0, "raw stdin");
  await until(() => received.length >= 3, "the three lines from stdin");
  eq(received, ["one", '{"not":"parsed"}', "emit x"], "raw stdin lines sent as they are");

  const dead = await freePort();
  r = await runCli(cli, [`ws://127.0.0.1:${dead}/`, "--listen"]);
  expectCode(r, 3, "raw refused port");

  // Socket.IO over https.
  const httpsServer = https.createServer(tlsOptions);
  const io = new Server(httpsServer);
  io.on("connection", (s) => s.on("echo", (...a) => a.pop()(...a)));
  await new Promise((res) => httpsServer.listen(0, "127.0.0.1", res));
  const httpsUrl = `https://127.0.0.1:${httpsServer.address().port}`;
  for (const transport of ["websocket", "polling", "upgrade"]) {
    r = await runCli(cli, [httpsUrl, "--transport", transport, "--emit", "echo", "secure", "--ack"]);
    expectCode(r, 4, `[${transport}] untrusted certificate`);
    check(/certificate|verify|TLS/i.test(r.stderr), `[${transport}] says why: ${r.stderr}`);
    r = await runCli(cli, [httpsUrl, "--transport", transport, "--ca", file("ca.pem"), "--emit", "echo", "secure", "--ack", "--json"]);
    expectCode(r, 0, `[${transport}] --ca`);
    eq(r.lines.find((l) => l.type === "ack").args, ["secure"], `[${transport}] ack over TLS`);
    r = await runCli(cli, [httpsUrl, "--transport", transport, "-k", "--emit", "echo", "insecure", "--ack", "--json"]);
    expectCode(r, 0, `[${transport}] -k`);
  }

  // A server that requires a client certificate: refused without one, accepted with --cert/--key.
  const mtlsServer = https.createServer({ ...tlsOptions, ca: fs.readFileSync(file("ca.pem")), requestCert: true, rejectUnauthorized: true });
  const mtlsIo = new Server(mtlsServer);
  mtlsIo.on("connection", (s) => s.on("who", (ack) => ack(s.request.socket.getPeerCertificate().subject.CN)));
  await new Promise((res) => mtlsServer.listen(0, "127.0.0.1", res));
  const mtlsUrl = `https://127.0.0.1:${mtlsServer.address().port}`;
  for (const transport of ["websocket", "polling"]) {
    r = await runCli(cli, [mtlsUrl, "--transport", transport, "--ca", file("ca.pem"), "--emit", "who", "--ack"]);
    // TLS 1.3 refuses a missing client certificate with an alert after the handshake: still exit 4.
    expectCode(r, 4, `[${transport}] no client certificate`);
    check(/certificate/i.test(r.stderr), `[${transport}] says why: ${r.stderr}`);
    r = await runCli(cli, [mtlsUrl, "--transport", transport, "--ca", file("ca.pem"), "--cert", file("client.pem"),
                           "--key", file("client.key"), "--emit", "who", "--ack", "--json"]);
    expectCode(r, 0, `[${transport}] --cert/--key`);
    eq(r.lines.find((l) => l.type === "ack").args, ["sio-cli test client"], `[${transport}] the server saw the client certificate`);
  }

  // Raw wss.
  const wssHttps = https.createServer(tlsOptions);
  const secureWss = new WebSocketServer({ server: wssHttps });
  echoServer(secureWss, []);
  await new Promise((res) => wssHttps.listen(0, "127.0.0.1", res));
  const wssUrl = `wss://127.0.0.1:${wssHttps.address().port}/`;
  r = await runCli(cli, [wssUrl, "--emit", "tls", "--wait-for", "tls"]);
  expectCode(r, 4, "wss untrusted");
  r = await runCli(cli, [wssUrl, "--ca", file("ca.pem"), "--emit", "tls", "--wait-for", "tls", "--json"]);
  expectCode(r, 0, "wss --ca");

  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
