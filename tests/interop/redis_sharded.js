// A mixed cluster on Redis 7 sharded pub/sub: two sio-serve (--redis-adapter sharded) and one Node
// socket.io 4.8 server with @socket.io/redis-adapter 8.3.0's createShardedAdapter, in each
// subscription mode (static, dynamic, dynamic-private; each on a key prefix of its own). Checks
// that broadcasts from every instance reach the clients of the others (never the sender), binary
// arguments included; that room broadcasts reach only the room's members, both ways; that Node's
// fetchSockets(), broadcast with acks and serverSideEmit with acks see and answer for the sio-serve
// sockets; that Node's socketsJoin, socketsLeave and disconnectSockets reach them; that sio-serve's
// own fetchSockets (its chat demo's online list) gets every server's sockets; that the nodes are
// counted with PUBSUB SHARDNUMSUB; and, in the dynamic modes, that a node SSUBSCRIBEs a room's
// channel while the room has members there and SUNSUBSCRIBEs when the last leaves, so that a node
// without a member receives none of the room's messages (its received count does not move, and
// Redis sends fewer bytes per room message than in static mode: the figures are printed); and, in
// dynamic mode, that when Redis is killed and restarted local delivery goes on meanwhile and the
// servers subscribe again to their channels, room channels included.
// Usage: node redis_sharded.js PATH/TO/sio-serve PATH/TO/redis-server
"use strict";
const { createShardedAdapter } = require("@socket.io/redis-adapter");
const { metric, fail, startServer, until, deadline, startRedis } = require("./lib");
const { serveRules, nodeServer, connect, has, broadcastsReachOthers, redisWithClient, fetchSocketsSeesAll, nodeAcksReachServe, fourClients, room1Reaches,
        onlineListSpansCluster } = require("./cluster_peers");

const serve = process.argv[2] || fail("usage: node redis_sharded.js SIO_SERVE REDIS_SERVER");
const redisServer = process.argv[3] || fail("usage: node redis_sharded.js SIO_SERVE REDIS_SERVER");
deadline(110000);

const ROOM_MESSAGES = 200;

// Redis's total_net_output_bytes after `send()` has sent ROOM_MESSAGES room messages and the
// members got them all (`arrived()`), less before.
async function bytesOut(pub, send, arrived) {
  const out = async () => Number(/total_net_output_bytes:(\d+)/.exec(await pub.sendCommand(["INFO", "stats"]))[1]);
  const before = await out();
  send();
  await until(arrived, "every room message", 20000);
  return (await out()) - before;
}

// Redis is killed and started again on its port: local delivery goes on meanwhile, and afterwards
// every server subscribes again to the namespace's channel and to its room channels, so that room
// messages cross the cluster again. Resolves with the new Redis.
async function outage(redis, redisServer, s1, s2, a, a2, b, n, shardsub, main, room1) {
  redis.child.removeAllListeners("exit");
  const exited = new Promise((r) => redis.child.on("exit", r));
  redis.child.kill("SIGKILL");
  await exited;
  await until(async () => (await metric(s2, "sio_redis_connected")) === 0, "sio_redis_connected 0 during the outage");
  a.emit("say", "during-outage");
  await until(() => has(a2, "said", "during-outage"), "local delivery while Redis is down");
  const again = await startRedis(redisServer, redis.port);
  const count = async (channel) => { try { return await shardsub(channel); } catch { return -1; } };
  await until(async () => (await count(main)) === 3, "three shard subscribers again after the restart", 20000);
  await until(async () => (await count(room1)) === 2, "the room1 channel subscribed again by s2 and Node", 20000);
  for (const s of [s1, s2]) {
    await until(async () => (await metric(s, "sio_redis_connected")) === 1, "sio_redis_connected 1 after the restart", 10000);
  }
  if (!/subscribed to 1 namespace\(s\) and 1 room channel\(s\)/.test(s2.output())) fail(`s2 log: ${s2.output()}`);
  a.emit("room", "room1", "r-after-restart");
  await until(() => has(b, "roomsaid", "r-after-restart") && has(n, "roomsaid", "r-after-restart"),
              "room1 message after the restart", 10000);
  return again;
}

async function runMode(redisUrl, pub, mode, redis) {
  const prefix = `sh-${mode}`;
  const sub = pub.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  const { nodeIo, url: nodeUrl } = await nodeServer(
    { adapter: createShardedAdapter(pub, sub, { channelPrefix: prefix, subscriptionMode: mode }) }, "roomsaid");
  const flags = ["--port", "0", "--redis", redisUrl, "--redis-key", prefix, "--redis-adapter", "sharded",
                 "--redis-subscription-mode", mode, ...serveRules("roomsaid")];
  const s1 = await startServer(serve, flags);
  const s2 = await startServer(serve, flags);
  const shardsub = async (channel) => Number((await pub.sendCommand(["PUBSUB", "SHARDNUMSUB", channel]))[1]);
  const main = `${prefix}#/#`;
  await until(async () => (await shardsub(main)) === 3, `three shard subscribers of ${main}`, 10000);
  const shown = await (await fetch(`${s1.url}/metrics`)).text();
  if (!/^sio_redis_adapter\{adapter="sharded"\} 1$/m.test(shown)) fail(`/metrics does not show the adapter: ${shown}`);
  await until(async () => (await metric(s1, "sio_redis_connected")) === 1, "sio_redis_connected 1");
  if (!new RegExp(`sharded adapter, subscription mode ${mode}`).test(s1.output())) fail(`log: ${s1.output()}`);

  const clients = await fourClients(s1, s2, nodeUrl);
  const { a, a2, b, n, all } = clients;

  await broadcastsReachOthers([a, b, n, a2], all, fail);
  b.emit("say", "marker");
  await until(() => has(a, "said", "marker"), "the marker broadcast");
  for (const s of all) if (has(s, "said", `from-${s.label}`)) fail(`${s.label} got its own broadcast`);

  // Rooms: b (sio-serve 2) and n (Node) join room1; a broadcast to room1 reaches them only.
  const room1 = `${prefix}#/#room1#`;
  const dynamic = mode !== "static";
  await room1Reaches(clients, async () => {
    if (dynamic) await until(async () => (await shardsub(room1)) === 2, "the room1 channel subscribed by s2 and Node");
  });
  b.emit("room", "room1", "r-from-b");
  await until(() => has(n, "roomsaid", "r-from-b"), "room1 message from sio-serve 2 on Node");
  a.emit("say", "after-rooms");
  await until(() => [a2, b, n].every((s) => has(s, "said", "after-rooms")), "the broadcast after the room ones");
  for (const s of [a, a2]) {
    if (["r-from-a", "r-from-n", "r-from-b"].some((t) => has(s, "roomsaid", t))) fail(`${s.label} is not in room1 but got its message`);
  }
  // A socket's own room: its channel only in dynamic-private.
  const own = Number(await shardsub(`${prefix}#/#${a.id}#`));
  if (own !== (mode === "dynamic-private" ? 1 : 0)) fail(`${mode}: ${own} subscriber(s) of a's own room channel`);
  nodeIo.to(a.id).emit("direct", "to-a");
  await until(() => has(a, "direct", "to-a"), "Node's message to a's own room");

  // Node asks the cluster for every socket, with its rooms.
  await fetchSocketsSeesAll(nodeIo, all, b, "room1", fail);

  // Node's broadcast with acks (to all, and to a room) and its serverSideEmit with an ack reach
  // the sio-serve servers.
  await nodeAcksReachServe(nodeIo, all, fail);
  const roomAcks = await nodeIo.to("room1").timeout(3000).emitWithAck("ackme", 8);
  if (JSON.stringify([...roomAcks].sort()) !== JSON.stringify(["ack-b-8", "ack-n-8"])) fail(`room acks: ${roomAcks}`);

  // sio-serve asks the cluster too: its chat demo's online list spans every server.
  if (mode === "dynamic") {
    await onlineListSpansCluster(serve, ["--redis", redisUrl, "--redis-key", prefix, "--redis-adapter", "sharded"], all,
                                 () => shardsub(main), 4, fail);
  }

  // socketsJoin and socketsLeave from Node reach a socket on sio-serve, and its server follows
  // with its room channel subscription in the dynamic modes.
  nodeIo.in(a.id).socketsJoin("room2");
  await until(async () => (await nodeIo.in("room2").fetchSockets()).some((s) => s.id === a.id), "a in room2");
  if (dynamic) await until(async () => (await shardsub(`${prefix}#/#room2#`)) === 1, "the room2 channel subscribed by s1");
  nodeIo.to("room2").emit("r2", "to-room2");
  await until(() => has(a, "r2", "to-room2"), "room2 message on a");
  if (has(a2, "r2", "to-room2") || has(b, "r2", "to-room2")) fail("room2 message reached a socket outside room2");
  nodeIo.in(a.id).socketsLeave("room2");
  await until(async () => (await nodeIo.in("room2").fetchSockets()).length === 0, "a out of room2");
  if (dynamic) await until(async () => (await shardsub(`${prefix}#/#room2#`)) === 0, "the room2 channel unsubscribed");

  // Room traffic: room1 has members on s2 and Node, none on s1. In the dynamic modes s1 receives
  // none of its messages.
  const before = await metric(s1, 'sio_redis_broadcasts_total{kind="received"}');
  let i = 0;
  const bytes = await bytesOut(pub, () => {
    for (let k = 0; k < ROOM_MESSAGES; k++) n.emit("room", "room1", `load-${k}`);
  }, () => {
    while (i < ROOM_MESSAGES && has(b, "roomsaid", `load-${i}`)) i++;
    return i === ROOM_MESSAGES;
  });
  const s1Got = (await metric(s1, 'sio_redis_broadcasts_total{kind="received"}')) - before;
  console.log(`${mode}: Redis sent ${(bytes / ROOM_MESSAGES).toFixed(1)} bytes per room message ` +
              `(room members on 2 of 3 nodes); the node without members received ${s1Got} of ${ROOM_MESSAGES}`);
  if (dynamic && s1Got !== 0) fail(`${mode}: the node without room1 members received ${s1Got} of its messages`);
  if (!dynamic && s1Got < ROOM_MESSAGES) fail(`static: s1 received ${s1Got} of ${ROOM_MESSAGES}`);

  if (mode === "dynamic") redis = await outage(redis, redisServer, s1, s2, a, a2, b, n, shardsub, main, room1);

  // disconnectSockets from Node closes a2 on sio-serve 1, and only it.
  const gone = new Promise((r) => a2.once("disconnect", r));
  nodeIo.in(a2.id).disconnectSockets(true);
  await gone;
  await until(async () => (await nodeIo.fetchSockets()).length === 3, "three sockets left in the cluster");

  // A malformed message is dropped and logged; delivery goes on.
  await pub.sendCommand(["SPUBLISH", main, "{not json"]);
  await pub.sendCommand(["SPUBLISH", main, "\xc1"]);
  b.emit("say", "after-garbage");
  await until(() => [a, n].every((s) => has(s, "said", "after-garbage")), "delivery after malformed messages");
  await until(() => /malformed message on sh-/.test(s1.output()), "the malformed message in the log");

  for (const s of [s1, s2]) if (s.child.exitCode !== null) fail("a sio-serve exited");
  for (const s of all) s.close();
  for (const s of [s1, s2]) s.child.kill("SIGKILL");
  nodeIo.close();
  await sub.quit();
  await until(async () => (await shardsub(main)) === 0, `no subscriber of ${main} left`, 10000);
  return redis;
}

async function main() {
  const { redis, url, pub } = await redisWithClient(redisServer);
  let current = redis;
  for (const mode of ["static", "dynamic", "dynamic-private"]) current = await runMode(url, pub, mode, current);
  current.child.kill("SIGKILL");
  console.log("ok: mixed sio-serve/Node cluster on sharded pub/sub, in every subscription mode");
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
