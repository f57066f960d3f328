// A mixed cluster on a real Redis: two sio-serve (--redis) and one Node socket.io 4.8 server
// with @socket.io/redis-adapter 8.3.0, each with real socket.io-client clients. Checks that a
// broadcast from any instance reaches the clients of all three (never the sender), binary
// arguments included; that room broadcasts reach only the room's members, wherever they are;
// that Node's fetchSockets() and allRooms() see the sio-serve sockets and rooms; that a Node
// broadcast with acks collects the acks of clients on sio-serve; that a malformed message on
// the channel is dropped; that a sio-serve with --recovery-window replays what other servers
// broadcast to a client that comes back; and that after Redis is killed and restarted, local
// delivery went on meanwhile and cluster delivery resumes.
// Usage: node redis_cluster.js PATH/TO/sio-serve PATH/TO/redis-server
"use strict";
const { io } = require("socket.io-client");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");
const { fail, startServer, until, deadline, startRedis: startRedisWith } = require("./lib");
const { serveRules, nodeServer, connect, has, broadcastsReachOthers, fetchSocketsSeesAll, nodeAcksReachServe, fourClients, room1Reaches, nodeJoinReaches } = require("./cluster_peers");

const serve = process.argv[2] || fail("usage: node redis_cluster.js SIO_SERVE REDIS_SERVER");
const redisServer = process.argv[3] || fail("usage: node redis_cluster.js SIO_SERVE REDIS_SERVER");
deadline(110000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const startRedis = (port) => startRedisWith(redisServer, port);

async function main() {
  const redis = await startRedis();
  const url = `redis://127.0.0.1:${redis.port}`;

  // The Node member of the cluster, with the same behaviour as the sio-serve rules below.
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const { nodeIo, url: nodeUrl } = await nodeServer({ adapter: createAdapter(pub, sub, { requestsTimeout: 3000 }) },
                                                    "roomsaid");
  const rules = serveRules("roomsaid");
  // /extra exists on sio-serve 1 only: Node does not listen there, so it can take malformed
  // requests the Node adapter itself would choke on.
  const s1 = await startServer(serve, ["--port", "0", "--redis", url, "--namespace", "/extra", ...rules]);
  const s2 = await startServer(serve, ["--port", "0", "--redis", url, ...rules]);

  const numsub = async () => Number((await pub.sendCommand(["PUBSUB", "NUMSUB", "socket.io-request#/#"]))[1]);
  await until(async () => (await numsub()) === 3, "three subscribers of the request channel", 10000);

  const clients = await fourClients(s1, s2, nodeUrl);
  const { a, a2, b, n, all } = clients;

  // Broadcasts from every instance reach all others, with binary, never the sender.
  await broadcastsReachOthers([a, b, n], all, fail);
  await sleep(150);
  for (const from of [a, b, n]) if (has(from, "said", `from-${from.label}`)) fail(`${from.label} got its own broadcast`);

  // Rooms: b (sio-serve 2) and n (Node) join room1; a broadcast to room1 from a reaches them only.
  await room1Reaches(clients);
  await sleep(200);
  for (const s of [a, a2]) {
    if (has(s, "roomsaid", "r-from-a") || has(s, "roomsaid", "r-from-n")) fail(`${s.label} is not in room1 but got its message`);
  }
  if (has(n, "roomsaid", "r-from-n")) fail("the Node sender got its own room message");

  // Node asks the cluster: every socket with its rooms, and every room.
  await fetchSocketsSeesAll(nodeIo, all, b, "room1", fail);
  const rooms = await nodeIo.of("/").adapter.allRooms();
  for (const r of ["room1", a.id, a2.id, b.id]) if (!rooms.has(r)) fail(`allRooms lacks ${r}: ${[...rooms]}`);

  // Node's broadcast with acks and its serverSideEmit with an ack reach the sio-serve servers.
  await nodeAcksReachServe(nodeIo, all, fail);

  // Node's socketsJoin reaches the sockets on sio-serve: then a room broadcast from Node finds them.
  await nodeJoinReaches(nodeIo, a, [a2, b], fail);

  // Garbage on a broadcast channel is dropped; delivery goes on. (On the channel of a room Node
  // does not have: the Node adapter skips those before decoding, and throws on bad msgpack.)
  await pub.publish("socket.io#/#nosuchroom#", "\x93\xa3not");
  await pub.publish("socket.io-request#/#", "{\"type\":5,");
  const junk = ['{"type":7}', '{"type":7,"opts":5,"packet":{}}', '{"type":4,"opts":{"rooms":"x"}}',
                '{"type":2,"opts":{"rooms":[1]},"rooms":7}', '{"type":6,"data":[]}', '{"type":5}', '{"type":"1"}',
                '{"type":0,"rooms":{}}', "\x85\xa3uid", "\x81\xa4type\x07", "[]", "{}", ""];
  for (const j of junk) await pub.publish("socket.io-request#/extra#", j);
  for (const j of junk) await pub.publish("socket.io-response#/extra#", j);
  await pub.publish("socket.io#/extra#", "\xc1");
  a.emit("say", "after-garbage");
  await until(() => [a2, b, n].every((s) => has(s, "said", "after-garbage")), "delivery after malformed messages");

  // A sio-serve with --recovery-window keeps what the other servers broadcast for its clients: a
  // client whose connection dropped comes back recovered and gets the broadcasts of sio-serve 1
  // and of Node sent while it was away, once each. It stays away (no automatic reconnection)
  // until a client that stayed on the same server has them, so they cannot arrive live.
  const s3 = await startServer(serve, ["--port", "0", "--redis", url, "--recovery-window", "10000", ...rules]);
  await until(async () => (await numsub()) === 4, "four subscribers of the request channel", 10000);
  const joinS3 = (reconnection) => new Promise((resolve, reject) => {
    const s = io(s3.url, { forceNew: true, transports: ["websocket"], reconnection });
    s.got = [];
    s.onAny((event, ...args) => s.got.push({ event, args }));
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
  const r = await joinS3(false);
  const stay = await joinS3(false);
  a.emit("say", "before-drop");
  await until(() => has(r, "said", "before-drop") && has(stay, "said", "before-drop"), "a live remote broadcast on sio-serve 3");
  const gone = new Promise((res) => r.once("disconnect", res));
  r.io.engine.close();
  await gone;
  a.emit("say", "while-away-a");
  n.emit("say", "while-away-n");
  await until(() => has(stay, "said", "while-away-a") && has(stay, "said", "while-away-n"), "the broadcasts on sio-serve 3");
  const back = new Promise((res) => r.once("connect", res));
  r.connect();
  await back;
  if (!r.recovered) fail(`a client of sio-serve 3 (--recovery-window) was not recovered: ${s3.output()}`);
  await until(() => has(r, "said", "while-away-a") && has(r, "said", "while-away-n"),
              "the remote broadcasts sent while the client was away, after its recovery");
  b.emit("say", "after-recovery");
  await until(() => has(r, "said", "after-recovery"), "a live remote broadcast after the recovery");
  const saidWhileAway = r.got.filter((g) => g.event === "said" && String(g.args[0]).startsWith("while-away"));
  if (saidWhileAway.length !== 2) fail(`the recovered client got ${JSON.stringify(saidWhileAway)}, want each once`);
  for (const s of [r, stay]) s.close();
  s3.child.kill("SIGKILL");
  await until(async () => (await numsub()) === 3, "sio-serve 3 gone from the request channel", 10000);

  // Redis dies: local delivery on one sio-serve goes on.
  redis.child.removeAllListeners("exit");
  const exited = new Promise((r) => redis.child.on("exit", r));
  redis.child.kill("SIGKILL");
  await exited;
  await sleep(300);
  a2.emit("say", "during-outage");
  await until(() => has(a, "said", "during-outage"), "local delivery while Redis is down");
  const metrics = async () => (await (await fetch(`${s1.url}/metrics`)).text());
  await until(async () => /^sio_redis_connected 0$/m.test(await metrics()), "sio_redis_connected 0 during the outage");
  if (!/^sio_redis_outages_total [1-9]/m.test(await metrics())) fail(`no outage counted: ${await metrics()}`);

  // Redis back on the same port: sio-serve reconnects and re-subscribes; cluster delivery resumes.
  const again = await startRedis(redis.port);
  await until(async () => { try { return (await numsub()) === 3; } catch { return false; } },
              "three subscribers again after the restart", 20000);
  a.emit("say", "after-restart");
  await until(() => [a2, b, n].every((s) => has(s, "said", "after-restart")), "cluster delivery after the restart", 10000);
  b.emit("say", "after-restart-b");
  await until(() => [a, a2, n].every((s) => has(s, "said", "after-restart-b")), "delivery from sio-serve 2 after the restart");
  if (!/malformed message on socket\.io#\/#nosuchroom#/.test(s1.output())) fail(`no malformed message logged: ${s1.output()}`);
  await until(async () => /^sio_redis_connected 1$/m.test(await metrics()), "sio_redis_connected 1 after the restart");
  for (const s of [s1, s2]) {
    if (!/redis .*lost|cannot connect/.test(s.output())) fail(`sio-serve logged no outage: ${s.output()}`);
    if (s.child.exitCode !== null) fail("a sio-serve exited");
  }

  for (const s of all) s.close();
  for (const s of [s1, s2]) s.child.kill("SIGKILL");
  again.child.kill("SIGKILL");
  console.log("ok: mixed sio-serve/Node cluster over Redis");
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
