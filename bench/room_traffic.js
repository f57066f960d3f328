// Redis traffic per room message, for each Redis adapter: a redis-server of its own per adapter,
// two sio-serve and one Node socket.io 4.8 server on the same adapter; room `room1` has members
// on the second sio-serve and on Node, none on the first. Node's client sends MESSAGES messages to
// room1; the figure is the growth of Redis's total_net_output_bytes (INFO stats) over them, per
// message, and what the sio-serve without members received of them (its /metrics). Byte counts:
// they do not depend on the machine's load. Every wait is bounded; every process started is
// stopped.
// Usage: node bench/room_traffic.js [--serve build/tools/sio-serve] [--redis-server PATH]
//                                   [--messages 200] [--adapters "pubsub streams static dynamic"]
"use strict";
const path = require("path");
const interop = path.join(__dirname, "..", "tests", "interop");
const { createAdapter: pubsubAdapter, createShardedAdapter } = require(path.join(interop, "node_modules", "@socket.io/redis-adapter"));
const { createAdapter: streamsAdapter } = require(path.join(interop, "node_modules", "@socket.io/redis-streams-adapter"));
const { fail, metric, startServer, until, deadline } = require(path.join(interop, "lib"));
const { serveRules, nodeServer, fourClients, has, redisWithClient } = require(path.join(interop, "cluster_peers"));

const arg = (name, def) => {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : def;
};
const serve = arg("serve", path.join(__dirname, "..", "build", "tools", "sio-serve"));
const redisServer = arg("redis-server", "redis-server");
const messages = Number(arg("messages", "200"));
const adapters = arg("adapters", "pubsub streams static dynamic").split(/\s+/).filter(Boolean);
if (!(messages >= 1 && messages <= 100000)) fail("--messages 1..100000");
deadline(60000 * adapters.length);
process.setMaxListeners(50);  // each process started adds an exit listener (lib.js)

// What each adapter needs on each side.
function setup(kind, pub, sub) {
  switch (kind) {
    case "pubsub": return { node: pubsubAdapter(pub, sub), flags: [] };
    case "streams": return { node: streamsAdapter(pub), flags: ["--redis-adapter", "streams"] };
    case "static":
    case "dynamic":
      return { node: createShardedAdapter(pub, sub, { subscriptionMode: kind }),
               flags: ["--redis-adapter", "sharded", "--redis-subscription-mode", kind] };
    default: return fail(`unknown adapter ${kind}: use pubsub, streams, static or dynamic`);
  }
}

const received = (server) => metric(server, 'sio_redis_broadcasts_total{kind="received"}');

async function measure(kind) {
  const { redis, url, pub } = await redisWithClient(redisServer);
  const sub = pub.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  const { node, flags } = setup(kind, pub, sub);
  const { nodeIo, url: nodeUrl } = await nodeServer({ adapter: node }, "roomsaid");
  const serveFlags = ["--port", "0", "--redis", url, ...flags, ...serveRules("roomsaid")];
  const s1 = await startServer(serve, serveFlags);
  const s2 = await startServer(serve, serveFlags);
  const clients = await fourClients(s1, s2, nodeUrl);
  const { b, n, all } = clients;
  await b.timeout(3000).emitWithAck("enter", "room1");
  await n.timeout(3000).emitWithAck("enter", "room1");
  // Until a probe reaches b: the joins (and, dynamic, the room's subscriptions) are in place.
  let probe = 0;
  await until(() => {
    if (has(b, "roomsaid", `probe-${probe}`)) return true;
    n.emit("room", "room1", `probe-${++probe}`);
    return false;
  }, "room1 reaching b", 10000);
  const stats = async () => Number(/total_net_output_bytes:(\d+)/.exec(await pub.sendCommand(["INFO", "stats"]))[1]);
  const before = await stats();
  const s1Before = await received(s1);
  for (let k = 0; k < messages; k++) n.emit("room", "room1", `load-${k}`);
  let i = 0;
  await until(() => {
    while (i < messages && has(b, "roomsaid", `load-${i}`)) i++;
    return i === messages;
  }, "every room message on b", 20000);
  const bytes = (await stats()) - before;
  const s1Got = (await received(s1)) - s1Before;
  for (const s of all) s.close();
  nodeIo.close();
  s1.child.kill();
  s2.child.kill();
  await sub.quit().catch(() => {});
  await pub.quit().catch(() => {});
  redis.child.kill();
  return { kind, perMessage: bytes / messages, s1Got };
}

async function main() {
  const rows = [];
  for (const kind of adapters) rows.push(await measure(kind));
  console.log(`Room messages: ${messages}, room1 with members on 2 of 3 servers.\n`);
  console.log("| adapter | Redis sends per room message | the server without members received |");
  console.log("|---|---|---|");
  const name = { pubsub: "pubsub (classic)", streams: "streams", static: "sharded, static", dynamic: "sharded, dynamic" };
  for (const r of rows) console.log(`| ${name[r.kind]} | ${r.perMessage.toFixed(1)} bytes | ${r.s1Got} of ${messages} |`);
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
