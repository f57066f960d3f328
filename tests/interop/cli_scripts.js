// sio-cli as a script against the real Node socket.io 4.8 server, over each transport
// (websocket, polling, polling then upgrade): --emit with and without --ack (binary included),
// --wait-for with --count, --listen with --only/--ignore, --json lines checked key by key,
// NDJSON and commands on stdin (several namespaces), and every exit code provoked for real:
// 2 usage, 3 refused port, 5 bad auth and invalid namespace, 6 ack timeout (on the command line
// and from stdin), 7 wait timeout.
// Usage: node cli_scripts.js PATH/TO/sio-cli
"use strict";
const { Server } = require("socket.io");
const { fail, deadline, until } = require("./lib");
const { runCli, startCli, checkShape, eq, check, expectCode, nodeServer, freePort } = require("./cli_common");

const cli = process.argv[2] || fail("usage: node cli_scripts.js SIO_CLI");
deadline(50000);

const received = [];  // [nsp, event, args] the server got
function handlers(nsp) {
  nsp.on("connection", (socket) => {
    socket.emit("noise", 1);
    socket.emit("welcome", { id: socket.id, transport: socket.conn.transport.name });
    if (socket.conn.transport.name === "polling") {
      socket.conn.once("upgrade", (t) => socket.emit("upgraded", t.name));
    }
    socket.on("echo", (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      if (ack) ack(...args);
      else socket.emit("echo", ...args);
    });
    socket.on("never", () => {});
    socket.on("go", (n) => { for (let i = 0; i < n; ++i) socket.emit("tick", i); });
    socket.on("record", (...args) => { received.push([nsp.name, "record", args]); });
  });
}

(async () => {
  const srv = await nodeServer(Server, {}, (io) => {
    handlers(io.of("/"));
    handlers(io.of("/admin"));
    io.of("/secure").use((socket, next) => next(socket.handshake.auth.token === "t0ken" ? undefined : new Error("bad token")));
    handlers(io.of("/secure"));
  });
  const url = srv.url;

  for (const transport of ["websocket", "polling", "upgrade"]) {
    const label = `[${transport}]`;
    const T = ["--transport", transport];
    const packetTransport = transport === "upgrade" ? null : transport;
    const checkTransport = (lines, what) => {
      for (const l of lines.filter((x) => x.dir !== "info")) {
        check(packetTransport === null ? ["polling", "websocket"].includes(l.transport) : l.transport === packetTransport,
              `${what}: transport ${l.transport} in ${JSON.stringify(l)}`);
      }
    };

    // --emit --ack: the ack's arguments come back, with the id of the event sent.
    let r = await runCli(cli, [url, ...T, "--emit", "echo", "hi", "42", '{"a":[1,"x y"]}', "null", "--ack", "--json"]);
    expectCode(r, 0, `${label} emit --ack`);
    checkShape(r.lines, `${label} emit --ack`);
    checkTransport(r.lines, `${label} emit --ack`);
    const sent = r.lines.find((l) => l.dir === "out" && l.type === "event" && l.event === "echo");
    check(sent, `${label} no outgoing echo line: ${r.stdout}`);
    eq(sent.args, ["hi", 42, { a: [1, "x y"] }, null], `${label} echo args sent`);
    eq(sent.nsp, "/", `${label} nsp`);
    check(Number.isInteger(sent.id), `${label} the event sent has an ack id`);
    const acked = r.lines.find((l) => l.dir === "in" && l.type === "ack");
    check(acked, `${label} no ack line: ${r.stdout}`);
    eq(acked.id, sent.id, `${label} ack id`);
    eq(acked.args, ["hi", 42, { a: [1, "x y"] }, null], `${label} ack args`);
    check(r.lines.some((l) => l.dir === "in" && l.type === "connect" && l.nsp === "/"), `${label} CONNECT answer shown`);

    // Binary arguments travel as attachments and come back as {"$binary": base64}.
    r = await runCli(cli, [url, ...T, "--emit", "echo", "@hex:00ff10", "@base64:AQID", "--ack", "--json"]);
    expectCode(r, 0, `${label} binary`);
    eq(r.lines.find((l) => l.type === "ack").args, [{ $binary: "AP8Q" }, { $binary: "AQID" }], `${label} binary ack`);

    // --emit without --ack: the event reaches the server before sio-cli exits.
    const before = received.length;
    r = await runCli(cli, [url + "/admin", ...T, "--emit", "record", "fire and forget"]);
    expectCode(r, 0, `${label} emit without ack`);
    await until(() => received.length > before, `${label} the server receiving 'record'`);
    eq(received[received.length - 1], ["/admin", "record", ["fire and forget"]], `${label} record on /admin`);

    // --wait-for with --count: exactly the events asked for, then exit 0.
    r = await runCli(cli, [url, ...T, "--emit", "go", "3", "--wait-for", "t?ck", "--count", "3", "--json"]);
    expectCode(r, 0, `${label} wait-for`);
    checkShape(r.lines, `${label} wait-for`);
    eq(r.lines.filter((l) => l.dir === "in" && l.event === "tick").map((l) => l.args), [[0], [1], [2]], `${label} ticks`);

    // Upgrade mode really moves to WebSocket.
    if (transport === "upgrade") {
      r = await runCli(cli, [url, ...T, "--wait-for", "upgraded", "--json"]);
      expectCode(r, 0, `${label} upgrade`);
      eq(r.lines.find((l) => l.event === "upgraded").args, ["websocket"], `${label} upgraded`);
      eq(r.lines.find((l) => l.event === "welcome").args[0].transport, "polling", `${label} opened over polling`);
    } else {
      r = await runCli(cli, [url, ...T, "--wait-for", "welcome", "--json"]);
      expectCode(r, 0, `${label} welcome`);
      eq(r.lines.find((l) => l.event === "welcome").args[0].transport, transport, `${label} server saw the transport`);
    }

    // --listen until --timeout, filtered: welcome shown, noise hidden; exit 0.
    r = await runCli(cli, [url, ...T, "--listen", "--timeout", "1500ms", "--json", "--ignore", "no*"]);
    expectCode(r, 0, `${label} listen`);
    check(r.lines.some((l) => l.event === "welcome"), `${label} listen shows welcome: ${r.stdout}`);
    check(!r.lines.some((l) => l.event === "noise"), `${label} --ignore hides noise`);
    r = await runCli(cli, [url, ...T, "--listen", "--timeout", "1500ms", "--json", "--only", "noise"]);
    expectCode(r, 0, `${label} listen --only`);
    check(r.lines.some((l) => l.event === "noise") && !r.lines.some((l) => l.event === "welcome"), `${label} --only noise: ${r.stdout}`);

    // Commands and NDJSON on stdin, in order, several namespaces; exit 0 once the acks are in.
    const n0 = received.length;
    r = await runCli(cli, [url, ...T, "--json"], {
      input: [
        '{"event":"echo","args":[1,{"k":"v"}],"ack":true}',
        "# a comment",
        "",
        'emit --ack echo two "2"',
        '{"event":"record","args":["on admin"],"nsp":"/admin"}',
        "emit record plain",
        "", // trailing blank line
      ].join("\n"),
    });
    expectCode(r, 0, `${label} stdin`);
    checkShape(r.lines, `${label} stdin`);
    const acks = r.lines.filter((l) => l.type === "ack").map((l) => l.args);
    eq(acks, [[1, { k: "v" }], ["two", "2"]], `${label} stdin acks`);
    await until(() => received.length >= n0 + 2, `${label} the two records from stdin`);
    const got = received.slice(n0).map((x) => JSON.stringify(x)).sort();
    eq(got, [JSON.stringify(["/", "record", ["plain"]]), JSON.stringify(["/admin", "record", ["on admin"]])].sort(), `${label} stdin records`);

    // Exit 6 from stdin: an ack that never comes.
    r = await runCli(cli, [url, ...T], { input: '{"event":"never","ack":"300ms"}\n' });
    expectCode(r, 6, `${label} stdin ack timeout`);
    check(r.stderr.includes("no ack for 'never'"), `${label} says which ack: ${r.stderr}`);
    // Exit 2 from stdin: a line that is neither a command nor NDJSON.
    r = await runCli(cli, [url, ...T], { input: "emit echo ok\nshout loudly\n" });
    expectCode(r, 2, `${label} stdin bad line`);
    check(r.stderr.includes("unknown command 'shout'"), `${label} names the bad command: ${r.stderr}`);

    // Exit 6: --ack on an event the server never acknowledges.
    r = await runCli(cli, [url, ...T, "--emit", "never", "--ack", "--timeout", "300ms", "--json"]);
    expectCode(r, 6, `${label} ack timeout`);
    check(r.lines.some((l) => l.dir === "info" && l.type === "error"), `${label} ack timeout reported as an error line`);
    // Exit 7: --wait-for an event that never comes.
    r = await runCli(cli, [url, ...T, "--wait-for", "nothing", "--timeout", "300ms"]);
    expectCode(r, 7, `${label} wait timeout`);
    check(r.stderr.includes("no event 'nothing' within 300ms"), `${label} wait timeout message: ${r.stderr}`);
    // Exit 5: auth refused by a middleware, and a namespace the server does not have.
    r = await runCli(cli, [url + "/secure", ...T, "--auth", '{"token":"wrong"}', "--listen", "--json"]);
    expectCode(r, 5, `${label} bad auth`);
    check(r.stderr.includes("bad token"), `${label} the server's message: ${r.stderr}`);
    eq(r.lines.find((l) => l.type === "connect_error").args, [{ message: "bad token" }], `${label} connect_error line`);
    r = await runCli(cli, [url, "-n", "/secure", ...T, "--auth", '{"token":"t0ken"}', "--emit", "echo", "in", "--ack", "--json"]);
    expectCode(r, 0, `${label} good auth`);
    eq(r.lines.find((l) => l.type === "ack").nsp, "/secure", `${label} ack on /secure`);
    r = await runCli(cli, [url, ...T, "-n", "/nope", "--wait-for", "x"]);
    expectCode(r, 5, `${label} invalid namespace`);
    check(r.stderr.includes("Invalid namespace"), `${label} invalid namespace message: ${r.stderr}`);
  }

  // The REPL's commands read from stdin: a raw packet, a filter, switching namespace (the events
  // filtered there too), an emit acked on the namespace switched to, status, help, ns alone.
  {
    const n1 = received.length;
    const r = await runCli(cli, [url, "--transport", "websocket"], {
      input: ['raw 2["record","raw packet"]', "off no*", "ns /admin", "emit --ack echo on-admin", "status", "help", "ns", ""].join("\n"),
    });
    expectCode(r, 0, "commands from stdin");
    await until(() => received.length > n1, "the raw packet reaching the server");
    eq(received[received.length - 1], ["/", "record", ["raw packet"]], "the raw packet");
    check(/\/admin <- ack "on-admin" #\d+/.test(r.stdout), `the ack on /admin: ${r.stdout}`);
    check(/\/admin <- welcome /.test(r.stdout), `/admin's welcome shown: ${r.stdout}`);
    check(!/\/admin <- noise/.test(r.stdout), `off no* hides /admin's noise: ${r.stdout}`);
    check(/^sid: +\S+/m.test(r.stdout) && /^transport: +websocket/m.test(r.stdout), `status: ${r.stdout}`);
    // ns runs before /admin's CONNECT answer may have come: either state, /admin marked current.
    check(/^\* \/admin (connected as \S+|not connected)$/m.test(r.stdout) && /^  \/ connected as \S+$/m.test(r.stdout),
          `ns lists both: ${r.stdout}`);
    check(r.stdout.includes("emit [--ack[=TIMEOUT]] EVENT"), `help: ${r.stdout}`);
  }

  // Exit 3: nothing listens on the port.
  const port = await freePort();
  let r = await runCli(cli, [`http://127.0.0.1:${port}`, "--emit", "echo", "--ack"]);
  expectCode(r, 3, "refused port");
  check(r.stderr.includes("could not connect"), `refused port message: ${r.stderr}`);
  r = await runCli(cli, [`http://127.0.0.1:${port}`, "--transport", "websocket", "--listen", "--json"]);
  expectCode(r, 3, "refused port, websocket");
  check(r.lines.some((l) => l.type === "error"), "refused port: an error line");
  // --reconnect-attempts retries the first connection that many times (each shown), then exit 3.
  const attempts = 2;
  r = await runCli(cli, [`http://127.0.0.1:${port}`, "--reconnect-attempts", String(attempts), "--reconnect-delay", "50ms",
                         "--reconnect-delay-max", "100ms", "--emit", "echo", "--json"]);
  expectCode(r, 3, "refused port, with retries");
  eq(r.lines.filter((l) => l.type === "reconnect").map((l) => l.args[0].attempt), Array.from({ length: attempts }, (_, i) => i + 1), "the attempts shown");
  // Exit 130: interrupted while waiting (SIGINT).
  const waiter = startCli(cli, [url, "--wait-for", "nothing", "--json"]);
  await until(() => waiter.stdout.includes('"dir":"in","nsp":"/","type":"connect"'), "the waiter connected", 10000);
  waiter.child.kill("SIGINT");
  await until(() => waiter.code !== undefined, "the waiter exiting on SIGINT");
  eq(waiter.code, 130, "interrupted --wait-for");
  // Exit 3 too when the server answers but is not Socket.IO at that path.
  r = await runCli(cli, [url, "--path", "/not-socket-io/", "--listen"]);
  expectCode(r, 3, "wrong path");
  // Exit 2: usage.
  r = await runCli(cli, [url, "--transport", "smoke-signals"]);
  expectCode(r, 2, "usage");

  srv.io.close();
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
