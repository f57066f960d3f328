// sio-cli --eio 3 against the real Node socket.io 2.x server (Engine.IO v3, Socket.IO protocol
// v4), over each transport: emit with an ack, a query token checked by a middleware (refused:
// exit 5 with the server's message), and an invalid namespace (exit 5).
// Usage: node cli_eio3.js PATH/TO/sio-cli
"use strict";
const http = require("http");
const ioV2 = require("socket.io-v2");
const { fail, deadline } = require("./lib");
const { runCli, checkShape, eq, check, expectCode, echoAndSecure } = require("./cli_common");

const cli = process.argv[2] || fail("usage: node cli_eio3.js SIO_CLI");
deadline(40000);

(async () => {
  const httpServer = http.createServer();
  const io = ioV2(httpServer);
  echoAndSecure(io, (socket) => [socket.conn.transport.name], (socket) => socket.handshake.query.token);
  await new Promise((res) => httpServer.listen(0, "127.0.0.1", res));
  const url = `http://127.0.0.1:${httpServer.address().port}`;

  for (const transport of ["websocket", "polling", "upgrade"]) {
    const label = `[eio3 ${transport}]`;
    const T = ["--eio", "3", "--transport", transport];
    let r = await runCli(cli, [url, ...T, "--emit", "echo", "old", '{"v":2}', "--ack", "--json"]);
    expectCode(r, 0, `${label} echo`);
    checkShape(r.lines, label);
    eq(r.lines.find((l) => l.type === "ack").args, ["old", { v: 2 }], `${label} ack`);
    r = await runCli(cli, [url, ...T, "--wait-for", "welcome", "--json"]);
    expectCode(r, 0, `${label} welcome`);
    if (transport !== "upgrade") eq(r.lines.find((l) => l.event === "welcome").args, [transport], `${label} transport`);
    r = await runCli(cli, [url + "/secure", ...T, "--query", "token=t0ken", "--emit", "echo", "s", "--ack", "--json"]);
    expectCode(r, 0, `${label} query token`);
    eq(r.lines.find((l) => l.type === "ack").nsp, "/secure", `${label} ack nsp`);
    r = await runCli(cli, [url + "/secure", ...T, "--query", "token=nope", "--listen"]);
    expectCode(r, 5, `${label} refused`);
    check(r.stderr.includes("bad token"), `${label} the server's message: ${r.stderr}`);
    r = await runCli(cli, [url + "/nope", ...T, "--listen"]);
    expectCode(r, 5, `${label} invalid namespace`);
    check(r.stderr.includes("Invalid namespace"), `${label} invalid namespace message: ${r.stderr}`);
  }
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
