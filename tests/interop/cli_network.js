// sio-cli's network behaviour against the real Node socket.io 4.8 server: through an HTTP
// CONNECT proxy started here (--proxy, http_proxy, no_proxy, a proxy that refuses: exit 3),
// -H headers and --query pairs seen by the server, reconnection while the server restarts on
// the same port (shown as reconnect lines), connection state recovery (recovered: true), and
// --listen against a server that never answers (exit 3 on --timeout, 130 on Ctrl-C).
// Usage: node cli_network.js PATH/TO/sio-cli
"use strict";
const http = require("http");
const net = require("net");
const { Server } = require("socket.io");
const { fail, until, deadline } = require("./lib");
const { runCli, startCli, eq, check, expectCode } = require("./cli_common");

const cli = process.argv[2] || fail("usage: node cli_network.js SIO_CLI");
deadline(40000);

function listen(server, port = 0) {
  return new Promise((res) => server.listen(port, "127.0.0.1", () => res(server.address().port)));
}

function socketServer(port, options = {}) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, options);
  io.on("connection", (socket) => {
    socket.emit("welcome", { recovered: socket.recovered, header: socket.handshake.headers["x-sio-test"] || null,
                             query: socket.handshake.query.flavour || null });
    socket.on("echo", (...a) => a.pop()(...a));
    socket.on("bump", (n) => io.emit("bumped", n));
  });
  return listen(httpServer, port).then((p) => ({ io, httpServer, port: p, url: `http://127.0.0.1:${p}` }));
}

(async () => {
  const srv = await socketServer(0);

  // A CONNECT proxy that records its tunnels; `refuse` makes it answer 403.
  const tunnels = [];
  let refuse = false;
  const proxy = http.createServer((req, res) => { res.writeHead(405); res.end(); });
  proxy.on("connect", (req, clientSocket, head) => {
    tunnels.push(req.url);
    if (refuse) {
      clientSocket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    const [host, port] = req.url.split(":");
    const upstream = net.connect(Number(port), host, () => {
      clientSocket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(clientSocket);
      clientSocket.pipe(upstream);
    });
    upstream.on("error", () => clientSocket.destroy());
    clientSocket.on("error", () => upstream.destroy());
  });
  const proxyUrl = `http://127.0.0.1:${await listen(proxy)}`;

  for (const transport of ["websocket", "polling", "upgrade"]) {
    const label = `[${transport}]`;
    const T = ["--transport", transport];
    tunnels.length = 0;
    let r = await runCli(cli, [srv.url, ...T, "--proxy", proxyUrl, "--emit", "echo", "proxied", "--ack", "--json"]);
    expectCode(r, 0, `${label} --proxy`);
    eq(r.lines.find((l) => l.type === "ack").args, ["proxied"], `${label} ack through the proxy`);
    check(tunnels.includes(`127.0.0.1:${srv.port}`), `${label} the proxy carried it: ${tunnels}`);

    tunnels.length = 0;
    r = await runCli(cli, [srv.url, ...T, "--emit", "echo", "env", "--ack"], { env: { http_proxy: proxyUrl, no_proxy: "" } });
    expectCode(r, 0, `${label} http_proxy`);
    check(tunnels.length > 0, `${label} http_proxy used`);

    tunnels.length = 0;
    r = await runCli(cli, [srv.url, ...T, "--emit", "echo", "direct", "--ack"], { env: { http_proxy: proxyUrl, no_proxy: "localhost,127.0.0.1" } });
    expectCode(r, 0, `${label} no_proxy`);
    eq(tunnels.length, 0, `${label} no_proxy bypasses the proxy`);

    refuse = true;
    r = await runCli(cli, [srv.url, ...T, "--proxy", proxyUrl, "--emit", "echo", "x", "--ack"]);
    refuse = false;
    expectCode(r, 3, `${label} proxy refuses`);
    check(r.stderr.includes("403"), `${label} the proxy's status: ${r.stderr}`);

    r = await runCli(cli, [srv.url, ...T, "-H", "X-Sio-Test: from-cli", "--query", "flavour=mint", "--wait-for", "welcome", "--json"]);
    expectCode(r, 0, `${label} header and query`);
    const w = r.lines.find((l) => l.event === "welcome").args[0];
    eq([w.header, w.query], ["from-cli", "mint"], `${label} what the server saw`);
  }

  // Reconnection: the server goes away and comes back on the same port.
  const port = srv.port;
  const listener = startCli(cli, [srv.url, "--transport", "websocket", "--listen", "--json",
                                  "--reconnect-delay", "100ms", "--reconnect-delay-max", "300ms"]);
  await until(() => listener.stdout.includes('"event":"welcome"'), "the first welcome", 10000);
  srv.io.close();
  srv.httpServer.closeAllConnections?.();
  await until(() => listener.stdout.includes('"type":"reconnect"'), "a reconnect attempt shown", 10000);
  const again = await socketServer(port);
  await until(() => listener.lines().filter((l) => l.event === "welcome").length >= 2, "the welcome after reconnecting", 15000);
  check(listener.lines().some((l) => l.type === "reconnect" && l.args[0] && l.args[0].reconnected === true),
        `reconnected line: ${listener.stdout}`);
  listener.child.kill("SIGINT");
  await until(() => listener.code !== undefined, "sio-cli exiting on SIGINT");
  eq(listener.code, 0, "--listen ends with 0 on Ctrl-C");
  again.io.close();

  // Connection state recovery: the transport drops, the session comes back recovered.
  const rec = await socketServer(0, { connectionStateRecovery: { maxDisconnectionDuration: 60000 } });
  const watcher = startCli(cli, [rec.url, "--transport", "websocket", "--listen", "--json",
                                 "--reconnect-delay", "100ms", "--reconnect-delay-max", "200ms"]);
  await until(() => watcher.stdout.includes('"event":"welcome"'), "welcome before the drop", 10000);
  for (const [, s] of rec.io.of("/").sockets) s.conn.close();
  await until(() => watcher.stdout.includes("session recovered"), `recovered shown: ${watcher.stdout}`, 15000);
  watcher.child.kill("SIGINT");
  await until(() => watcher.code !== undefined, "sio-cli exiting");
  rec.io.close();

  // A server that accepts and never answers: --listen that never got connected is no success.
  // Its --timeout exits 3, Ctrl-C 130, each with a line saying so, and --wait-for says it too.
  const held = [];
  const silent = net.createServer((c) => held.push(c));
  const silentUrl = `http://127.0.0.1:${await listen(silent)}`;
  let r = await runCli(cli, [silentUrl, "--listen", "--timeout", "500ms", "--no-reconnect"]);
  expectCode(r, 3, "--listen --timeout that never connected");
  check(/never connected within 500ms/.test(r.stdout + r.stderr), `never-connected line: ${r.stdout} ${r.stderr}`);
  r = await runCli(cli, [silentUrl, "--wait-for", "x", "--timeout", "500ms"]);
  expectCode(r, 7, "--wait-for that never connected");
  check(/got 0 of 1; never connected/.test(r.stdout + r.stderr), `wait-for line: ${r.stdout} ${r.stderr}`);
  const early = startCli(cli, [silentUrl, "--listen"]);
  await until(() => held.length >= 3, "sio-cli's connection to the silent server", 10000);
  early.child.kill("SIGINT");
  await until(() => early.code !== undefined, "sio-cli exiting on SIGINT before connecting", 10000);
  eq(early.code, 130, "--listen interrupted before connecting");
  check(/interrupted before the connection was made/.test(early.stdout + early.stderr), `interrupt line: ${early.stdout} ${early.stderr}`);
  for (const c of held) c.destroy();
  silent.close();
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
