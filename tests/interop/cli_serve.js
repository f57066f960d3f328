// sio-cli against sio-serve's chat demo, over each transport: echo acked, a broadcast seen by a
// second sio-cli waiting for it, a room join acked with its member count, and the auth token
// refused both ways (exit 5 with the server's message) and accepted.
// Usage: node cli_serve.js PATH/TO/sio-cli  (SIO_SERVE in the environment)
"use strict";
const { fail, startServer, until, deadline } = require("./lib");
const { runCli, startCli, checkShape, eq, check, expectCode } = require("./cli_common");

const cli = process.argv[2] || fail("usage: node cli_serve.js SIO_CLI");
const serve = process.env.SIO_SERVE || fail("SIO_SERVE is not set");
deadline(40000);

(async () => {
  const open = await startServer(serve, ["--port", "0"]);
  const locked = await startServer(serve, ["--port", "0", "--auth-token", "s3cret"]);

  for (const transport of ["websocket", "polling", "upgrade"]) {
    const label = `[${transport}]`;
    const T = ["--transport", transport];

    let r = await runCli(cli, [open.url, ...T, "--emit", "echo", "hi", '{"n":[1,2]}', "--ack", "--json"]);
    expectCode(r, 0, `${label} echo`);
    checkShape(r.lines, `${label} echo`);
    eq(r.lines.find((l) => l.type === "ack").args, ["hi", { n: [1, 2] }], `${label} echo ack`);

    // A listener waits for one chat message; another client sends it with an ack.
    const alice = startCli(cli, [open.url, ...T, "--auth", '{"name":"alice"}', "--wait-for", "chat message", "--json"]);
    await until(() => alice.lines().some((l) => l.dir === "in" && l.type === "connect"), `${label} alice's namespace connected`, 10000);
    r = await runCli(cli, [open.url, ...T, "--auth", '{"name":"bob"}', "--emit", "chat message", "hello from bob", "--ack", "--json"]);
    expectCode(r, 0, `${label} bob's chat message`);
    check(Number.isInteger(r.lines.find((l) => l.type === "ack").args[0].id), `${label} chat ack has an id`);
    await until(() => alice.code !== undefined, `${label} alice's sio-cli exiting`, 10000);
    eq(alice.code, 0, `${label} alice's exit code (stderr: ${alice.stderr})`);
    const msg = alice.lines().find((l) => l.event === "chat message");
    check(msg, `${label} alice got the chat message: ${alice.stdout}`);
    eq([msg.args[0].name, msg.args[0].text], ["bob", "hello from bob"], `${label} the message`);

    r = await runCli(cli, [open.url, ...T, "--emit", "join", "room-1", "--ack", "--json"]);
    expectCode(r, 0, `${label} join`);
    eq(r.lines.find((l) => l.type === "ack").args, [1], `${label} join ack count`);

    r = await runCli(cli, [locked.url, ...T, "--listen"]);
    expectCode(r, 5, `${label} no token`);
    check(r.stderr.includes("Authentication required"), `${label} no token message: ${r.stderr}`);
    r = await runCli(cli, [locked.url, ...T, "--auth", '{"token":"nope"}', "--listen"]);
    expectCode(r, 5, `${label} wrong token`);
    check(r.stderr.includes("Invalid token"), `${label} wrong token message: ${r.stderr}`);
    r = await runCli(cli, [locked.url, ...T, "--auth", '{"token":"s3cret"}', "--emit", "echo", "in", "--ack"]);
    expectCode(r, 0, `${label} right token`);
    check(r.stdout.includes('<- ack "in"'), `${label} human ack line: ${r.stdout}`);
  }
  // A server that stops answering (SIGSTOP): the client notices when pingInterval + pingTimeout
  // have passed ("ping timeout"); without reconnection that ends the run with exit 1.
  const quick = await startServer(serve, ["--port", "0", "--ping-interval", "300", "--ping-timeout", "300"]);
  for (const transport of ["websocket", "polling"]) {
    const label = `[${transport} stopped server]`;
    const watcher = startCli(cli, [quick.url, "--transport", transport, "--listen", "--no-reconnect", "--json"]);
    await until(() => watcher.stdout.includes('"type":"connect"') && watcher.stdout.includes('"dir":"in"'), `${label} connected`, 10000);
    quick.child.kill("SIGSTOP");
    try {
      await until(() => watcher.code !== undefined, `${label} sio-cli giving up`, 10000);
    } finally {
      quick.child.kill("SIGCONT");
    }
    eq(watcher.code, 1, `${label} exit code (stderr: ${watcher.stderr})`);
    check(watcher.stderr.includes("ping timeout"), `${label} says ping timeout: ${watcher.stderr}`);
  }
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
