// A mixed cluster on one Redis stream: two sio-serve (--redis-adapter streams) and one Node
// socket.io 4.8 server with @socket.io/redis-streams-adapter 0.3.1, each with real
// socket.io-client clients. Checks that broadcasts from every instance reach the clients of the
// others (never the sender), binary arguments included; that room broadcasts reach only the
// room's members; that Node's fetchSockets(), broadcast with acks and serverSideEmit with acks see
// and answer for the sio-serve sockets; that Node's socketsJoin, socketsLeave and
// disconnectSockets reach them; that sio-serve's own fetchSockets (its chat demo's online list)
// gets every server's sockets; that sio-serve's stream entries are what the Node adapter writes
// (fields uid, nsp, type, data; JSON, or base64 msgpack with binary); and that a malformed stream
// entry is dropped and logged while delivery goes on; and that when Redis is killed and
// restarted, local delivery goes on meanwhile and cluster delivery resumes.
// Usage: node redis_streams.js PATH/TO/sio-serve PATH/TO/redis-server
"use strict";
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { fail, startServer, until, deadline, startRedis } = require("./lib");
const { serveRules, nodeServer, connect, has, broadcastsReachOthers, redisWithClient, fetchSocketsSeesAll, nodeAcksReachServe, fourClients, room1Reaches, nodeJoinReaches,
        onlineListSpansCluster } = require("./cluster_peers");

const serve = process.argv[2] || fail("usage: node redis_streams.js SIO_SERVE REDIS_SERVER");
const redisServer = process.argv[3] || fail("usage: node redis_streams.js SIO_SERVE REDIS_SERVER");
deadline(110000);

// The senders' own broadcasts would have arrived before a marker sent after them.
async function noneGotItsOwn(all) {
  const [first, second] = all;
  second.emit("say", "marker");
  await until(() => has(first, "said", "marker"), "the marker broadcast");
  for (const s of all) if (has(s, "said", `from-${s.label}`)) fail(`${s.label} got its own broadcast`);
}

async function main() {
  const { redis, url, pub } = await redisWithClient(redisServer);
  const { nodeIo, url: nodeUrl } = await nodeServer({ adapter: createAdapter(pub) }, "roomsaid");
  const flags = ["--port", "0", "--redis", url, "--redis-adapter", "streams", ...serveRules("roomsaid")];
  const s1 = await startServer(serve, flags);
  const s2 = await startServer(serve, flags);

  const numsub = async () => Number((await pub.sendCommand(["PUBSUB", "NUMSUB", "socket.io#/#"]))[1]);
  await until(async () => (await numsub()) === 3, "three subscribers of the public channel", 10000);
  const metrics = async () => (await (await fetch(`${s1.url}/metrics`)).text());
  const shown = await metrics();
  if (!/^sio_redis_adapter\{adapter="streams"\} 1$/m.test(shown)) fail(`/metrics does not show the adapter: ${shown}`);
  await until(async () => /^sio_redis_connected 1$/m.test(await metrics()),
              "sio_redis_connected 1");

  const clients = await fourClients(s1, s2, nodeUrl);
  const { a, a2, b, n, all } = clients;

  await broadcastsReachOthers([a, b, n, a2], all, fail);
  await noneGotItsOwn([a, b, n, a2]);

  // sio-serve's entries are the Node adapter's: uid, nsp, type "3", data as JSON (no binary)
  // or base64 msgpack (binary).
  a.emit("say", "plain-from-a", 1);
  await until(() => has(n, "said", "plain-from-a"), "a plain broadcast from a on Node");
  const entries = await pub.xRange("socket.io", "-", "+");
  const plain = entries.find((e) => e.message.data && e.message.data.includes("plain-from-a"));
  if (!plain) fail(`no stream entry for a's broadcast: ${JSON.stringify(entries.slice(-3))}`);
  if (Object.keys(plain.message).join() !== "uid,nsp,type,data") fail(`entry fields: ${Object.keys(plain.message)}`);
  const data = JSON.parse(plain.message.data);
  if (plain.message.nsp !== "/" || plain.message.type !== "3" || data.packet.type !== 2 ||
      JSON.stringify(data.packet.data) !== '["said","plain-from-a",1]' || !Array.isArray(data.opts.rooms) ||
      !data.opts.except.includes(a.id)) fail(`entry: ${JSON.stringify(plain)}`);
  const binary = entries.filter((e) => e.message.type === "3" && e.message.uid === plain.message.uid &&
                                       e.message.data && !e.message.data.startsWith("{"));
  if (binary.length === 0) fail("no base64 msgpack entry for a broadcast with binary from sio-serve");

  // Rooms: b (sio-serve 2) and n (Node) join room1; a broadcast to room1 reaches them only.
  await room1Reaches(clients);
  a.emit("say", "after-rooms");
  await until(() => [a2, b, n].every((s) => has(s, "said", "after-rooms")), "the broadcast after the room ones");
  for (const s of [a, a2]) {
    if (has(s, "roomsaid", "r-from-a") || has(s, "roomsaid", "r-from-n")) fail(`${s.label} is not in room1 but got its message`);
  }
  if (has(n, "roomsaid", "r-from-n")) fail("the Node sender got its own room message");

  // Node asks the cluster for every socket, with its rooms.
  await fetchSocketsSeesAll(nodeIo, all, b, "room1", fail);

  // sio-serve asks the cluster too: its chat demo's online list spans every server.
  await onlineListSpansCluster(serve, ["--redis", url, "--redis-adapter", "streams"], all, numsub, 4, fail);

  // Node's broadcast with acks and its serverSideEmit with an ack reach the sio-serve servers.
  await nodeAcksReachServe(nodeIo, all, fail);

  // socketsJoin and socketsLeave from Node reach a socket on sio-serve.
  await nodeJoinReaches(nodeIo, a, [a2, b], fail);
  nodeIo.in(a.id).socketsLeave("room2");
  await until(async () => (await nodeIo.in("room2").fetchSockets()).length === 0, "a out of room2");

  // disconnectSockets from Node closes a2 on sio-serve 1, and only it.
  const gone = new Promise((r) => a2.once("disconnect", r));
  nodeIo.in(a2.id).disconnectSockets(true);
  await gone;
  await until(async () => (await nodeIo.fetchSockets()).length === 3, "three sockets left in the cluster");

  // A malformed entry on the stream is dropped and logged; delivery goes on.
  await pub.sendCommand(["XADD", "socket.io", "*", "uid", "junk", "nsp", "/", "type", "3", "data", "{not json"]);
  await pub.sendCommand(["XADD", "socket.io", "*", "uid", "junk", "nsp", "/", "type", "3", "data", "%%%"]);
  await pub.sendCommand(["XADD", "socket.io", "*", "nsp", "/"]);
  await pub.publish("socket.io#/#", "\xc1");
  b.emit("say", "after-garbage");
  await until(() => [a, n].every((s) => has(s, "said", "after-garbage")), "delivery after malformed entries");
  if (!/malformed message on stream socket\.io/.test(s1.output())) fail(`no malformed entry logged: ${s1.output()}`);

  // A key that is not a stream: the refusal is logged, and the server keeps serving; a broadcast
  // Redis refused to add is delivered here (with recovery on, it would otherwise wait for the
  // stream).
  await pub.set("notastream", "x");
  const odd = await startServer(serve, ["--port", "0", "--redis", url, "--redis-adapter", "streams", "--redis-key",
                                        "notastream", "--recovery-window", "10s", ...serveRules("roomsaid")]);
  await until(() => /WRONGTYPE/.test(odd.output()), "the WRONGTYPE refusal in the log");
  const [lone1, lone2] = [await connect(odd.url, "lone1"), await connect(odd.url, "lone2")];
  lone1.emit("say", "refused-by-redis");
  await until(() => has(lone2, "said", "refused-by-redis"), "a broadcast Redis refused, delivered locally");
  if (!/not added to the stream; delivered here only/.test(odd.output())) fail(`no log of the refused broadcast: ${odd.output()}`);
  for (const s of [lone1, lone2]) s.close();
  odd.child.kill("SIGKILL");

  // Redis dies: local delivery goes on; restarted on its port, the cluster delivers again (the
  // readers go on from the last entry they read).
  const a3 = await connect(s1.url, "a3");
  redis.child.removeAllListeners("exit");
  const exited = new Promise((r) => redis.child.on("exit", r));
  redis.child.kill("SIGKILL");
  await exited;
  await until(async () => /^sio_redis_connected 0$/m.test(await metrics()), "sio_redis_connected 0 during the outage");
  a3.emit("say", "during-outage");
  await until(() => has(a, "said", "during-outage"), "local delivery while Redis is down");
  const again = await startRedis(redisServer, redis.port);
  await until(async () => { try { return (await numsub()) === 3; } catch { return false; } },
              "three subscribers again after the restart", 20000);
  await until(async () => /^sio_redis_connected 1$/m.test(await metrics()), "sio_redis_connected 1 after the restart", 10000);
  a.emit("say", "after-restart-a");
  await until(() => [a3, b, n].every((s) => has(s, "said", "after-restart-a")), "cluster delivery after the restart", 10000);
  n.emit("say", "after-restart-n");
  await until(() => [a, a3, b].every((s) => has(s, "said", "after-restart-n")), "Node's broadcasts after the restart", 10000);

  for (const s of [s1, s2]) if (s.child.exitCode !== null) fail("a sio-serve exited");
  for (const s of [...all, a3]) s.close();
  for (const s of [s1, s2]) s.child.kill("SIGKILL");
  again.child.kill("SIGKILL");
  console.log("ok: mixed sio-serve/Node cluster over a Redis stream");
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
