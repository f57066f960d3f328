// Captures what @socket.io/redis-streams-adapter 0.3.1 (two Node socket.io 4.8 servers) writes
// to Redis: the stream's entries, the messages on its channels and a session record, as JSON on
// stdout (tests/unit/data/redis-streams-adapter-0.3.1.json is its output; the unit test
// redis_streams_codec_test checks our codec against it).
// Usage: node capture_redis_streams.js PATH/TO/redis-server > FILE
"use strict";
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { fail, until, startRedis } = require("./lib");
const { nodeServer, connect, has } = require("./cluster_peers");

const redisServer = process.argv[2] || fail("usage: node capture_redis_streams.js REDIS_SERVER");

async function main() {
  const redis = await startRedis(redisServer);
  const url = `redis://127.0.0.1:${redis.port}`;
  const clients = [];
  const client = async () => {
    const c = createClient({ url });
    c.on("error", () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  const published = [];
  const spy = await client();
  const listener = await client();
  await listener.pSubscribe("socket.io#*", (payload, channel) => published.push({ channel: channel.toString(), payload_hex: payload.toString("hex") }), true);
  const recovery = { maxDisconnectionDuration: 30000 };
  const A = await nodeServer({ adapter: createAdapter(await client()), connectionStateRecovery: recovery }, "said");
  const B = await nodeServer({ adapter: createAdapter(await client()), connectionStateRecovery: recovery }, "said");
  const a = await connect(A.url, "a");
  const b = await connect(B.url, "b");
  b.on("question", (x, cb) => cb(x * 2));
  await until(async () => Number((await spy.sendCommand(["PUBSUB", "NUMSUB", "socket.io#/#"]))[1]) === 2, "two nodes");

  A.nodeIo.emit("plain", "world", 1, { a: true }, [1.5, -2, null]);
  A.nodeIo.to("room1").except("room2").emit("binary", Buffer.from([0, 1, 255]), "x");
  A.nodeIo.in(b.id).socketsJoin(["room1", "room3"]);
  A.nodeIo.in(b.id).socketsLeave("room3");
  await until(() => has(b, "plain", "world"), "the broadcast on b");
  await A.nodeIo.fetchSockets();
  B.nodeIo.on("ping", (x, cb) => cb && cb({ pong: x }));
  await A.nodeIo.serverSideEmitWithAck("ping", 42);
  await A.nodeIo.timeout(2000).emitWithAck("question", 7).catch(() => {});
  const sessionKeys = [];
  const gone = new Promise((r) => b.once("disconnect", r));
  b.io.engine.close();
  await gone;
  await until(async () => (await spy.keys("sio:session:*")).length > 0, "a session record");
  for (const key of await spy.keys("sio:session:*")) sessionKeys.push({ key, value: await spy.get(key), ttl_ms: await spy.pTTL(key) });
  A.nodeIo.in(a.id).disconnectSockets(true);
  await until(async () => (await spy.xRange("socket.io", "-", "+")).some((e) => e.message.type === "6"), "DISCONNECT_SOCKETS");

  const entries = (await spy.xRange("socket.io", "-", "+")).map((e) => ({ fields: Object.entries(e.message) }));
  console.log(JSON.stringify({ entries, published, sessions: sessionKeys }, null, 1));
  for (const c of clients) await c.disconnect();
  redis.child.kill("SIGKILL");
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
