// The sharded adapter on a Redis Cluster: six redis-server (three primaries, each with a replica)
// joined by redis-cli --cluster create, two sio-serve (--redis-adapter sharded, each given a
// different node's URL) and one Node socket.io 4.8 server with @socket.io/redis-adapter 8.3.0's
// createShardedAdapter on a node-redis 4.7 createCluster client. In each subscription mode, on a
// key prefix chosen so that the namespace's channel and room1's channel live on different
// primaries: broadcasts from every instance reach the clients of the others, binary arguments
// included; room broadcasts reach only the room's members, both ways; Node's fetchSockets(),
// broadcast with acks and serverSideEmit with acks see and answer for the sio-serve sockets; each
// sio-serve shows the cluster's three primaries in its log and in /metrics; a node without room1
// members receives none of its messages in the dynamic modes (Redis's bytes per room message are
// printed). In dynamic mode, room1's slot then moves to another primary: the server with a member
// subscribes there after its old owner's sunsubscribe, the other follows MOVED. Then the primary
// serving the namespace's channel is killed: local delivery goes on, a broadcast sent
// while its shard has no owner is counted as dropped, and once its replica is promoted the
// sio-serve servers subscribe again there, say so in their log, and a broadcast from one reaches
// the clients of the other again.
// Usage: node redis_sharded_cluster.js PATH/TO/sio-serve PATH/TO/redis-server [PATH/TO/redis-cli]
"use strict";
const path = require("path");
const { createCluster } = require("redis");
const { createShardedAdapter } = require("@socket.io/redis-adapter");
const { metric, fail, startServer, until, deadline, startRedisCluster } = require("./lib");
const { serveRules, nodeServer, has, broadcastsReachOthers, fetchSocketsSeesAll, nodeAcksReachServe, fourClients,
        room1Reaches } = require("./cluster_peers");

const serve = process.argv[2] || fail("usage: node redis_sharded_cluster.js SIO_SERVE REDIS_SERVER [REDIS_CLI]");
const redisServer = process.argv[3] || fail("usage: node redis_sharded_cluster.js SIO_SERVE REDIS_SERVER [REDIS_CLI]");
const redisCli = process.argv[4] || path.join(path.dirname(redisServer), "redis-cli");
deadline(60000);

const ROOM_MESSAGES = 200;

// The address of the primary serving `channel`'s slot, as Redis computes the slot.
async function ownerOf(pub, channel) {
  const slot = await pub.sendCommand(channel, true, ["CLUSTER", "KEYSLOT", channel]);
  const shard = pub.slots[slot];
  return shard && shard.master ? shard.master.address : "";
}

// A prefix whose namespace channel and room1 channel are served by different primaries.
async function spreadPrefix(pub, mode) {
  for (let i = 0; i < 50; i++) {
    const prefix = `shc-${mode}-${i}`;
    if ((await ownerOf(pub, `${prefix}#/#`)) !== (await ownerOf(pub, `${prefix}#/#room1#`))) return prefix;
  }
  throw new Error("no prefix puts the namespace and room1 on different primaries");
}

async function startMode(cluster, pub, mode) {
  const prefix = await spreadPrefix(pub, mode);
  const sub = pub.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  const { nodeIo, url: nodeUrl } = await nodeServer(
    { adapter: createShardedAdapter(pub, sub, { channelPrefix: prefix, subscriptionMode: mode }) }, "roomsaid");
  const flags = (port) => ["--port", "0", "--redis", `redis://127.0.0.1:${port}`, "--redis-key", prefix, "--redis-adapter",
                           "sharded", "--redis-subscription-mode", mode, ...serveRules("roomsaid")];
  const s1 = await startServer(serve, flags(cluster.nodes[0].port));
  const s2 = await startServer(serve, flags(cluster.nodes[4].port));  // a replica's URL: the map names the primaries
  const shardsub = async (channel) => Number((await pub.sendCommand(channel, true, ["PUBSUB", "SHARDNUMSUB", channel]))[1]);
  const main = `${prefix}#/#`;
  await until(async () => (await shardsub(main)) === 3, `three shard subscribers of ${main}`, 10000);
  for (const s of [s1, s2]) {
    await until(async () => (await metric(s, "sio_redis_nodes_connected")) === 3, "sio_redis_nodes_connected 3");
    if (!/Redis Cluster of 3 primaries: /.test(s.output())) fail(`the log does not name the cluster: ${s.output()}`);
  }
  return { prefix, sub, nodeIo, nodeUrl, s1, s2, shardsub, main };
}

// Redis's traffic to its clients (total_net_output_bytes less the replication's, summed over every
// node) while Node's client sends ROOM_MESSAGES messages to room1 (members on s2 and Node), and
// what s1 (no member) received of them: all in static mode, none in dynamic.
async function roomTraffic(cluster, run, { b, n }, mode) {
  const out = async () => {
    let total = 0;
    for (const x of cluster.nodes) {
      const stats = await (await cluster.client(x.port)).sendCommand(["INFO", "stats"]);
      total += Number(/total_net_output_bytes:(\d+)/.exec(stats)[1]) - Number(/total_net_repl_output_bytes:(\d+)/.exec(stats)[1]);
    }
    return total;
  };
  const received = 'sio_redis_broadcasts_total{kind="received"}';
  const before = await out();
  const s1Before = await metric(run.s1, received);
  for (let k = 0; k < ROOM_MESSAGES; k++) n.emit("room", "room1", `load-${k}`);
  let i = 0;
  await until(() => {
    while (i < ROOM_MESSAGES && has(b, "roomsaid", `load-${i}`)) i++;
    return i === ROOM_MESSAGES;
  }, "every room message on b", 20000);
  const bytes = (await out()) - before;
  const s1Got = (await metric(run.s1, received)) - s1Before;
  console.log(`${mode}: the Redis Cluster sent ${(bytes / ROOM_MESSAGES).toFixed(1)} bytes per room message ` +
              `(room members on 2 of 3 nodes); the node without members received ${s1Got} of ${ROOM_MESSAGES}`);
  if (mode !== "static" && s1Got !== 0) fail(`${mode}: the node without room1 members received ${s1Got} of its messages`);
  if (mode === "static" && s1Got < ROOM_MESSAGES) fail(`static: s1 received ${s1Got} of ${ROOM_MESSAGES}`);
}

async function clusterWorks(run, mode) {
  const { prefix, nodeIo, s1, s2, shardsub, main } = run;
  const clients = await fourClients(s1, s2, run.nodeUrl);
  const { a, a2, b, n, all } = clients;
  await broadcastsReachOthers([a, b, n, a2], all, fail);
  const room1 = `${prefix}#/#room1#`;
  await room1Reaches(clients, async () => {
    if (mode !== "static") await until(async () => (await shardsub(room1)) === 2, "the room1 channel subscribed by s2 and Node");
  });
  b.emit("room", "room1", "r-from-b");
  await until(() => has(n, "roomsaid", "r-from-b"), "room1 message from sio-serve 2 on Node");
  for (const s of [a, a2]) {
    if (["r-from-a", "r-from-n", "r-from-b"].some((t) => has(s, "roomsaid", t))) fail(`${s.label} is not in room1 but got its message`);
  }
  if ((await ownerOf(run.pub, main)) === (await ownerOf(run.pub, room1))) fail("the namespace and room1 share a primary");
  await fetchSocketsSeesAll(nodeIo, all, b, "room1", fail);
  await nodeAcksReachServe(nodeIo, all, fail);
  await roomTraffic(run.cluster, run, clients, mode);
  return clients;
}

// The slot of room1's channel moves to another primary (it holds no key: CLUSTER SETSLOT NODE on
// each primary, the new owner first). Its old owner ends the room's subscriptions (sunsubscribe):
// s2, which has a member, subscribes on the new owner; s1, which has none and a stale slot map,
// is answered MOVED and follows it. Room messages from s1 reach b again.
async function slotMoves(cluster, run, { a, b }) {
  const channel = `${run.prefix}#/#room1#`;
  const slot = await run.pub.sendCommand(channel, true, ["CLUSTER", "KEYSLOT", channel]);
  const from = await ownerOf(run.pub, channel);
  const lines = (await (await cluster.client(cluster.nodes[0].port)).sendCommand(["CLUSTER", "NODES"])).trim().split("\n");
  const primaries = lines.map((l) => l.split(" ")).filter((f) => f[2].includes("master") && !f[2].includes("fail"))
    .map((f) => ({ id: f[0], address: f[1].split("@")[0] }));
  // The third primary: the namespace's channel stays where it was (the failover's victim).
  const main = await ownerOf(run.pub, run.main);
  const to = primaries.find((p) => p.address !== from && p.address !== main) || fail(`no third primary: ${lines.join("; ")}`);
  const order = [to, ...primaries.filter((p) => p !== to)];
  const port = (address) => Number(address.split(":")[1]);
  for (const p of order) {
    const c = await cluster.client(port(p.address));
    await c.sendCommand(["CLUSTER", "SETSLOT", String(slot), "NODE", to.id]);
    // The new owner's claim must carry the greatest config epoch, or the replicas keep the old one.
    if (p === to) await c.sendCommand(["CLUSTER", "BUMPEPOCH"]);
  }
  // Every node, replicas included, knows the new owner (a replica promoted later claims what it knows).
  await until(async () => {
    for (const x of cluster.nodes) {
      const owners = (await (await cluster.client(x.port)).sendCommand(["CLUSTER", "SLOTS"]))
        .filter((r) => r[0] <= slot && slot <= r[1]).map((r) => `127.0.0.1:${r[2][1]}`);
      if (owners.length !== 1 || owners[0] !== to.address) return false;
    }
    return true;
  }, `every node seeing slot ${slot} on ${to.address}`, 10000);
  let k = 0;
  await until(async () => {
    a.emit("room", "room1", `after-move-${k++}`);
    await new Promise((r) => setTimeout(r, 100));
    return b.got.some((g) => g.event === "roomsaid" && String(g.args[0]).startsWith("after-move-"));
  }, "a room1 message from s1 reaching b after the slot moved", 10000);
  const log = run.s2.output();
  if (!new RegExp(`ended the subscription to ${channel} \\(its slot moved\\)`).test(log)) fail(`s2 log: ${log}`);
  if (!new RegExp(`channel\\(s\\) subscribed again on ${to.address.replace(/\./g, "\\.")}`).test(log)) fail(`s2 log: ${log}`);
  if (!new RegExp(`slot ${slot} moved to ${to.address.replace(/\./g, "\\.")}`).test(run.s1.output())) fail(`s1 log: ${run.s1.output()}`);
  console.log(`slot ${slot} of room1 moved from ${from} to ${to.address}: followed after ${k} message(s)`);
}

// The primary serving the namespace's channel is killed; its replica takes over.
async function failover(cluster, run, clients) {
  const { s1, s2, main } = run;
  const { a, a2, b } = clients;
  const owner = await ownerOf(run.pub, main);
  const victim = cluster.nodes.find((x) => `127.0.0.1:${x.port}` === owner) || fail(`no node is ${owner}`);
  const droppedBefore = await metric(s1, 'sio_redis_broadcasts_total{kind="dropped"}');
  victim.child.removeAllListeners("exit");
  const exited = new Promise((r) => victim.child.on("exit", r));
  victim.child.kill("SIGKILL");
  await exited;
  await until(async () => (await metric(s1, "sio_redis_nodes_connected")) === 2, "s1 sees a primary gone");
  a.emit("say", "while-down");
  await until(() => has(a2, "said", "while-down"), "local delivery while a shard is down");
  await until(async () => (await metric(s1, 'sio_redis_broadcasts_total{kind="dropped"}')) > droppedBefore,
              "the broadcast to the shard without owner counted as dropped");
  const alive = cluster.nodes.filter((x) => x !== victim);
  await until(async () => {
    for (const x of alive) if ((await cluster.info(x.port)).cluster_state !== "ok") return false;
    const slots = await (await cluster.client(alive[0].port)).sendCommand(["CLUSTER", "SLOTS"]);
    return slots.every((r) => Number(r[2][1]) !== victim.port);
  }, "the replica promoted and cluster_state:ok again", 20000);
  // Broadcasts until one crosses from s1 to s2 again (those before the subscription are lost).
  let k = 0;
  await until(async () => {
    a.emit("say", `after-failover-${k++}`);
    await new Promise((r) => setTimeout(r, 100));
    return b.got.some((g) => g.event === "said" && String(g.args[0]).startsWith("after-failover-"));
  }, "a broadcast from s1 reaching s2's client after the failover", 15000);
  b.emit("say", "back-from-b");
  await until(() => has(a, "said", "back-from-b") && has(a2, "said", "back-from-b"), "a broadcast from s2 reaching s1's clients");
  for (const s of [s1, s2]) {
    const log = s.output();
    if (!new RegExp(`cluster node ${owner.replace(/\./g, "\\.")} is down`).test(log)) fail(`no node down in the log: ${log}`);
    if (!/slot map refreshed: 3 primaries/.test(log)) fail(`no slot map refresh in the log: ${log}`);
    if (!/channel\(s\) subscribed again on 127\.0\.0\.1:\d+/.test(log)) fail(`no resubscription in the log: ${log}`);
    await until(async () => (await metric(s, "sio_redis_nodes_connected")) === 3, "three primaries connected again");
  }
  console.log(`failover of ${owner}: sio-serve subscribed again on the promoted replica after ${k} broadcast(s)`);
}

async function stopMode(run, clients) {
  for (const s of clients.all) s.close();
  for (const s of [run.s1, run.s2]) {
    if (s.child.exitCode !== null) fail("a sio-serve exited");
    s.child.kill("SIGKILL");
  }
  run.nodeIo.close();
  run.sub.disconnect().catch(() => {});  // not awaited: it may still be reconnecting to a killed node
}

async function main() {
  const cluster = await startRedisCluster(redisServer, redisCli);
  const pub = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${cluster.nodes[1].port}` }] });
  pub.on("error", () => {});
  await pub.connect();
  for (const mode of ["static", "dynamic-private", "dynamic"]) {  // dynamic last: its failover ends the cluster's use
    const run = { ...(await startMode(cluster, pub, mode)), pub, cluster };
    const clients = await clusterWorks(run, mode);
    if (mode === "dynamic") {
      await slotMoves(cluster, run, clients);
      await failover(cluster, run, clients);
    }
    await stopMode(run, clients);
  }
  pub.disconnect().catch(() => {});
  cluster.stop();
  console.log("ok: mixed sio-serve/Node cluster on a Redis Cluster's sharded pub/sub, with a primary's failover");
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
