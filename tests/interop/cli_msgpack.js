// sio-cli --parser msgpack against the real Node socket.io 4.8 server with
// socket.io-msgpack-parser, over each transport: emit with an ack (binary and nested arguments
// round trip), an event from the server with binary and a Date (shown as JSON.stringify writes a
// Date), auth refused by a middleware (exit 5 with its message). And the mismatches, each named:
// the default parser against that server, and --parser msgpack against a default-parser server.
// Usage: node cli_msgpack.js PATH/TO/sio-cli
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const msgpackParser = require("socket.io-msgpack-parser");
const { fail, deadline } = require("./lib");
const { runCli, checkShape, eq, check, expectCode, echoAndSecure } = require("./cli_common");

const cli = process.argv[2] || fail("usage: node cli_msgpack.js SIO_CLI");
deadline(50000);

const when = new Date(Date.UTC(2026, 11, 6, 1, 56, 27, 123));

async function listen(opts) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, opts);
  echoAndSecure(io, (socket) => [socket.conn.transport.name, Buffer.from([1, 2, 250]), when],
                (socket) => socket.handshake.auth.token);
  await new Promise((res) => httpServer.listen(0, "127.0.0.1", res));
  return `http://127.0.0.1:${httpServer.address().port}`;
}

(async () => {
  const url = await listen({ parser: msgpackParser });
  const plainUrl = await listen({});

  for (const transport of ["websocket", "polling", "upgrade"]) {
    const label = `[msgpack ${transport}]`;
    const T = ["--parser", "msgpack", "--transport", transport];
    let r = await runCli(cli, [url, ...T, "--emit", "echo", "hi", '{"v":[1,2.5,null]}', "--ack", "--json"]);
    expectCode(r, 0, `${label} echo`);
    checkShape(r.lines, label);
    eq(r.lines.find((l) => l.type === "ack").args, ["hi", { v: [1, 2.5, null] }], `${label} ack`);

    r = await runCli(cli, [url, ...T, "--wait-for", "welcome", "--json"]);
    expectCode(r, 0, `${label} welcome`);
    const welcome = r.lines.find((l) => l.event === "welcome").args;
    if (transport !== "upgrade") eq(welcome[0], transport, `${label} transport`);
    eq(welcome[1], { $binary: Buffer.from([1, 2, 250]).toString("base64") }, `${label} binary from the server`);
    eq(welcome[2], when.toISOString(), `${label} a Date from the server`);

    r = await runCli(cli, [url + "/secure", ...T, "--auth", '{"token":"t0ken"}', "--emit", "echo", "s", "--ack", "--json"]);
    expectCode(r, 0, `${label} auth`);
    eq(r.lines.find((l) => l.type === "ack").nsp, "/secure", `${label} ack nsp`);
    r = await runCli(cli, [url + "/secure", ...T, "--auth", '{"token":"nope"}', "--listen"]);
    expectCode(r, 5, `${label} refused`);
    check(r.stderr.includes("bad token"), `${label} the server's message: ${r.stderr}`);
  }

  // The parsers mismatched: the server closes the connection on packets it cannot read, and
  // sio-cli says which parser the server seems to use.
  let r = await runCli(cli, [url, "--transport", "websocket", "--no-reconnect", "--listen"]);
  check(r.code !== 0, `default parser against msgpack: exit ${r.code}`);
  check(r.stderr.includes("socket.io-msgpack-parser") && r.stderr.includes("use the msgpack parser"),
        `default parser against msgpack, the hint: ${r.stderr}`);
  r = await runCli(cli, [plainUrl, "--parser", "msgpack", "--transport", "websocket", "--no-reconnect", "--listen"]);
  check(r.code !== 0, `msgpack against the default parser: exit ${r.code}`);
  check(r.stderr.includes("use the json parser"), `msgpack against the default parser, the hint: ${r.stderr}`);

  r = await runCli(cli, [url, "--parser", "cbor"]);
  expectCode(r, 2, "an unknown parser");
  check(r.stderr.includes("--parser 'cbor': use json or msgpack"), `unknown parser message: ${r.stderr}`);
  r = await runCli(cli, [url, "--parser", "msgpack", "--eio", "3"]);
  expectCode(r, 2, "msgpack with --eio 3");
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
