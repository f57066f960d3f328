// Connection state recovery across a mixed cluster on one Redis stream: three sio-serve
// (--redis-adapter streams --recovery-window) and one Node socket.io 4.8 server with
// @socket.io/redis-streams-adapter 0.3.1 and connectionStateRecovery, with real socket.io-client
// clients. A client dropped from one server reconnects to another and must come back recovered:
// its id, its rooms, and every broadcast it missed, once each and in order. Cases: sio-serve to
// sio-serve; sio-serve to Node and Node to sio-serve (the session records and offsets are the
// Node adapter's); the server that held the client killed with SIGKILL; and a client that had
// received nothing before it dropped (sio-serve only: the Node server refuses a client without
// an offset); a client of another namespace than /. With SIO_CLI in the environment, sio-cli
// too: its server is killed and another sio-serve of the cluster takes over its port, where
// sio-cli reconnects by itself.
// Usage: node redis_streams_recovery.js PATH/TO/sio-serve PATH/TO/redis-server
"use strict";
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient } = require("redis");
const { fail, startServer, until, deadline, startRedis, cliListener } = require("./lib");
const { serveRules, nodeServer, connect, has } = require("./cluster_peers");

const serve = process.argv[2] || fail("usage: node redis_streams_recovery.js SIO_SERVE REDIS_SERVER");
const redisServer = process.argv[3] || fail("usage: node redis_streams_recovery.js SIO_SERVE REDIS_SERVER");
deadline(110000);

const tags = (s, prefix) => s.got.filter((g) => g.event === "said" && String(g.args[0]).startsWith(prefix)).map((g) => g.args[0]);

// Drops `s`'s connection (as a network failure would) and waits for the client to notice.
async function drop(s) {
  const gone = new Promise((r) => s.once("disconnect", r));
  s.io.engine.close();
  await gone;
}

// Reconnects `s` (same pid and offset) to the server at `url`.
async function reconnectTo(s, url) {
  const back = new Promise((resolve, reject) => {
    s.once("connect", resolve);
    s.once("connect_error", reject);
  });
  s.io.uri = url;
  s.connect();
  await back;
}

// sio-cli on a server that is killed; another server of the cluster starts on the same port and
// sio-cli, reconnecting by itself, comes back there recovered, with what it missed.
async function cliRecovers(cli, flags, say, sender) {
  const label = "sio-cli";
  const first = await startServer(serve, flags);
  const { child, lines, connects, out, err } = cliListener(cli, first.url);
  const said = () => lines().filter((l) => l.type === "event" && l.event === "said" && String(l.args[0]).startsWith("cli-"))
    .map((l) => l.args[0]);
  await until(() => connects().length >= 1, `${label}: first connect (stderr: ${err()})`, 8000);
  await say(sender, "cli-before");
  await until(() => said().length === 1, `${label}: a live broadcast`);
  first.child.kill("SIGKILL");
  await say(sender, "cli-away-1");
  await say(sender, "cli-away-2");
  const second = await startServer(serve, flags.map((f, i) => (flags[i - 1] === "--port" ? String(first.port) : f)));
  await until(() => connects().length >= 2, `${label}: reconnect (output: ${out()})`, 10000);
  const again = connects()[1].args[0];
  if (again.recovered !== true) fail(`${label}: came back unrecovered: ${JSON.stringify(again)} ${second.output()}`);
  if (again.id !== connects()[0].args[0].id) fail(`${label}: came back as ${again.id}`);
  await until(() => said().length >= 3, `${label}: missed broadcasts (got ${JSON.stringify(said())})`);
  await say(sender, "cli-after");
  await until(() => said().length >= 4, `${label}: a live broadcast after the recovery`);
  if (JSON.stringify(said()) !== '["cli-before","cli-away-1","cli-away-2","cli-after"]')
    fail(`${label}: got ${JSON.stringify(said())}, want each once, in order`);
  child.kill("SIGKILL");
  second.child.kill("SIGKILL");
}

async function main() {
  const redis = await startRedis(redisServer);
  const url = `redis://127.0.0.1:${redis.port}`;

  const pub = createClient({ url });
  pub.on("error", () => {});
  await pub.connect();
  const { url: nodeUrl } = await nodeServer({
    adapter: createAdapter(pub),
    connectionStateRecovery: { maxDisconnectionDuration: 30000 },
  }, "said");
  const flags = ["--port", "0", "--redis", url, "--redis-adapter", "streams", "--recovery-window", "30s",
                 "--namespace", "/extra", ...serveRules("said")];
  const s1 = await startServer(serve, flags);
  const s2 = await startServer(serve, flags);
  const s3 = await startServer(serve, flags);
  const numsub = async () => Number((await pub.sendCommand(["PUBSUB", "NUMSUB", "socket.io#/#"]))[1]);
  await until(async () => (await numsub()) === 4, "four subscribers of the public channel", 10000);

  // Senders and witnesses that stay connected: one on Node, one on sio-serve 2.
  const n = await connect(nodeUrl, "n");
  const b = await connect(s2.url, "b");
  // Every broadcast is sent once the previous one reached both witnesses: one order everywhere.
  const say = async (from, tag) => {
    from.emit("say", tag);
    const witnesses = [n, b].filter((w) => w !== from);
    await until(() => witnesses.every((w) => has(w, "said", tag)), `'${tag}' on the witnesses`);
  };
  const toRoom = async (from, room, tag, member) => {
    from.emit("room", room, tag);
    await until(() => has(member, "said", tag), `'${tag}' on ${member.label}`);
  };
  // A member of every test room on Node, which sees each room broadcast arrive.
  const roomWitness = await connect(nodeUrl, "rw");
  for (const room of ["r1", "r2", "r4"]) await roomWitness.timeout(3000).emitWithAck("enter", room);

  const check = async (s, prefix, want, idBefore, how) => {
    if (!s.recovered) fail(`${how}: not recovered`);
    if (s.id !== idBefore) fail(`${how}: id ${s.id}, was ${idBefore}`);
    await until(() => tags(s, prefix).length >= want.length, `${how}: ${want.length} missed broadcasts`);
    if (JSON.stringify(tags(s, prefix)) !== JSON.stringify(want))
      fail(`${how}: got ${JSON.stringify(tags(s, prefix))}, want ${JSON.stringify(want)} once each, in order`);
  };

  // 1. sio-serve 1 -> sio-serve 2, with a room.
  const c1 = await connect(s1.url, "c1");
  await c1.timeout(3000).emitWithAck("enter", "r1");
  await say(n, "one-before");
  await until(() => has(c1, "said", "one-before"), "c1 gets a broadcast before it drops");
  if (!/^\d+-\d+$/.test(c1._lastOffset)) fail(`the offset is not a stream id: ${c1._lastOffset}`);
  const id1 = c1.id;
  await drop(c1);
  await say(n, "one-away-a");
  await toRoom(b, "r1", "one-away-room", roomWitness);
  await say(b, "one-away-b");
  await reconnectTo(c1, s2.url);
  await check(c1, "one-", ["one-before", "one-away-a", "one-away-room", "one-away-b"], id1, "sio-serve to sio-serve");
  await toRoom(n, "r1", "one-after-room", roomWitness);
  await until(() => has(c1, "said", "one-after-room"), "the recovered client is still in its room");

  // 2. sio-serve 1 -> Node, over long-polling.
  const c2 = await connect(s1.url, "c2", ["polling"]);
  await c2.timeout(3000).emitWithAck("enter", "r2");
  await say(b, "two-before");
  await until(() => has(c2, "said", "two-before"), "c2 gets a broadcast before it drops");
  const id2 = c2.id;
  await drop(c2);
  await say(n, "two-away-a");
  await toRoom(b, "r2", "two-away-room", roomWitness);
  await reconnectTo(c2, nodeUrl);
  await check(c2, "two-", ["two-before", "two-away-a", "two-away-room"], id2, "sio-serve to Node");

  // 3. Node -> sio-serve 1.
  const c3 = await connect(nodeUrl, "c3");
  await say(b, "three-before");
  await until(() => has(c3, "said", "three-before"), "c3 gets a broadcast before it drops");
  const id3 = c3.id;
  await drop(c3);
  await say(b, "three-away-b");
  await say(n, "three-away-n");
  await reconnectTo(c3, s1.url);
  await check(c3, "three-", ["three-before", "three-away-b", "three-away-n"], id3, "Node to sio-serve");

  // 4. The server that held the client is killed: sio-serve 3 -> sio-serve 1.
  const c4 = await connect(s3.url, "c4");
  await c4.timeout(3000).emitWithAck("enter", "r4");
  await say(n, "four-before");
  await until(() => has(c4, "said", "four-before"), "c4 gets a broadcast before its server dies");
  const id4 = c4.id;
  const gone = new Promise((r) => c4.once("disconnect", r));
  s3.child.kill("SIGKILL");
  await gone;
  await say(b, "four-away-b");
  await toRoom(n, "r4", "four-away-room", roomWitness);
  await reconnectTo(c4, s1.url);
  await check(c4, "four-", ["four-before", "four-away-b", "four-away-room"], id4, "after SIGKILL of its server");

  // 5. A client that had received nothing: sio-serve 2 -> sio-serve 1, over long-polling.
  const c5 = await connect(s2.url, "c5", ["polling"]);
  const id5 = c5.id;
  await drop(c5);
  if (c5.got.length !== 0) fail(`c5 received ${JSON.stringify(c5.got)} before it dropped`);
  await say(n, "five-away-n");
  await say(b, "five-away-b");
  await reconnectTo(c5, s1.url);
  await check(c5, "five-", ["five-away-n", "five-away-b"], id5, "a client that had received nothing");

  // 6. Another namespace (sio-serve only): sio-serve 1 -> sio-serve 2 on /extra, where what is
  // broadcast on / meanwhile is not replayed.
  const x = await connect(`${s2.url}/extra`, "x");
  const xWitness = await connect(`${s1.url}/extra`, "xw");
  const c6 = await connect(`${s1.url}/extra`, "c6");
  const sayExtra = async (tag) => {
    x.emit("say", tag);
    await until(() => has(xWitness, "said", tag), `'${tag}' on /extra`);
  };
  await sayExtra("six-before");
  await until(() => has(c6, "said", "six-before"), "c6 gets a broadcast on /extra");
  const id6 = c6.id;
  await drop(c6);
  await sayExtra("six-away-1");
  await say(n, "six-root");
  await sayExtra("six-away-2");
  await reconnectTo(c6, s2.url);
  await check(c6, "six-", ["six-before", "six-away-1", "six-away-2"], id6, "another namespace");

  if (process.env.SIO_CLI) await cliRecovers(process.env.SIO_CLI, flags, say, n);

  // Live delivery after all of it, once.
  await say(n, "final");
  await until(() => [c1, c2, c3, c4, c5].every((s) => has(s, "said", "final")), "a live broadcast after the recoveries");
  for (const s of [c1, c2, c3, c4, c5]) {
    if (tags(s, "final").length !== 1) fail(`${s.label} got 'final' ${tags(s, "final").length} times`);
  }

  for (const s of [s1, s2]) if (s.child.exitCode !== null) fail("a sio-serve exited");
  for (const s of [n, b, roomWitness, c1, c2, c3, c4, c5, x, xWitness, c6]) s.close();
  for (const s of [s1, s2]) s.child.kill("SIGKILL");
  redis.child.kill("SIGKILL");
  console.log("ok: connection state recovery across a sio-serve/Node cluster on a Redis stream");
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
