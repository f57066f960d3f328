// One Admin UI for a whole cluster: a Node socket.io 4.8 server instrumented with
// @socket.io/admin-ui 0.5.1 and two sio-serve --admin-ui, all on one redis-server through one of
// the Redis adapters (ADAPTER: pubsub, the default, with @socket.io/redis-adapter 8.3.0 on the Node
// side; streams, with @socket.io/redis-streams-adapter 0.3.1; sharded, with redis-adapter's
// createShardedAdapter). A socket.io-client admin connection to one sio-serve gets server_stats
// from all three servers (three serverIds), all_sockets with the chat clients of all three, the
// live socket_connected of a client of another server, and the event log of another sio-serve; its
// join and _disconnect operations reach sockets of the other servers. An admin connection to the
// Node server sees the sio-serve servers and their sockets, with the transport a socket upgraded
// to, also for a socket past sio-serve's --admin-ui-max-sockets; its _disconnect reaches a client
// of a sio-serve. More than 2,000 changes in one tick of a sio-serve reach every admin client as one
// all_sockets of the whole cluster.
// Usage: node admin_cluster.js PATH/TO/sio-serve PATH/TO/redis-server [pubsub|streams|sharded]
"use strict";
const { io } = require("socket.io-client");
const { instrument } = require("@socket.io/admin-ui");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { createAdapter: createStreamsAdapter } = require("@socket.io/redis-streams-adapter");
const { fail, startServer, until, deadline, recorder, rawClient } = require("./lib");
const { nodeServer, redisWithClient } = require("./cluster_peers");

const usage = "usage: node admin_cluster.js SIO_SERVE REDIS_SERVER [pubsub|streams|sharded]";
const serve = process.argv[2] || fail(usage);
const redisServer = process.argv[3] || fail(usage);
const kind = process.argv[4] || "pubsub";
deadline(90000);

// Per adapter: the Node server's adapter (on the connected client `pub`), sio-serve's flags, and
// how many servers listen on a namespace's request channel.
const adapters = {
  pubsub: {
    node: (pub, sub) => createAdapter(pub, sub, { requestsTimeout: 3000 }),
    flags: [],
    listeners: async (pub, nsp) => Number((await pub.sendCommand(["PUBSUB", "NUMSUB", `socket.io-request#${nsp}#`]))[1]),
  },
  streams: {
    node: (pub) => createStreamsAdapter(pub),
    flags: ["--redis-adapter", "streams"],
    listeners: async (pub, nsp) => Number((await pub.sendCommand(["PUBSUB", "NUMSUB", `socket.io#${nsp}#`]))[1]),
  },
  sharded: {
    node: (pub, sub) => createShardedAdapter(pub, sub),
    flags: ["--redis-adapter", "sharded"],
    listeners: async (pub, nsp) => Number((await pub.sendCommand(["PUBSUB", "SHARDNUMSUB", `socket.io#${nsp}#`]))[1]),
  },
};
const adapter = adapters[kind] || fail(`unknown adapter ${kind}; ${usage}`);

const check = (cond, what) => { if (!cond) fail(what); };

function connect(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, transports: ["websocket"], ...opts });
    s.rec = recorder(s);  // before the first event can arrive
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => { s.close(); reject(e); });
  });
}

// The server_stats an admin client gets from now on, by serverId, once `n` servers have sent one.
function servers(socket, n, ms = 10000) {
  return new Promise((resolve, reject) => {
    const ids = new Map();
    const timer = setTimeout(() => reject(new Error(`server_stats from ${ids.size} servers, want ${n}: ${[...ids.keys()]}`)), ms);
    const on = (stats) => {
      ids.set(stats.serverId, stats);
      if (ids.size < n) return;
      socket.off("server_stats", on);
      clearTimeout(timer);
      resolve(ids);
    };
    socket.on("server_stats", on);
  });
}

// An all_sockets with every one of `ids`.
async function allSockets(rec, ids) {
  const [list] = await rec.next("all_sockets", (l) => ids.every((id) => l.some((s) => s.id === id)));
  return list;
}

function disconnected(socket) {
  return new Promise((resolve) => socket.once("disconnect", resolve));
}

async function main() {
  const { url, pub } = await redisWithClient(redisServer);
  const sub = pub.duplicate();
  sub.on("error", () => {});
  await sub.connect();

  // The Node member, instrumented as a Node user would do it.
  const { nodeIo, url: nodeUrl } = await nodeServer({ adapter: adapter.node(pub, sub) }, "roomsaid");
  instrument(nodeIo, { auth: false, mode: "development", serverId: "node-server" });

  // sio-serve 2 lists two sockets to the UI: a third is past --admin-ui-max-sockets.
  const s1 = await startServer(serve, ["--port", "0", "--redis", url, ...adapter.flags, "--admin-ui", "--threads", "1",
                                       "--mode", "echo", "--admin-ui-max-sockets", "5000"]);
  const s2 = await startServer(serve, ["--port", "0", "--redis", url, ...adapter.flags, "--admin-ui",
                                       "--admin-ui-max-sockets", "2"]);
  await until(async () => (await adapter.listeners(pub, "/admin")) === 3 && (await adapter.listeners(pub, "/")) === 3,
              `three servers on the ${kind} request channels of / and /admin`, 10000);

  const c1 = await connect(s1.url);
  const c2 = await connect(s2.url);
  const cn = await connect(nodeUrl);

  // An admin client of sio-serve 1 sees the three servers and every chat client.
  const admin = await connect(`${s1.url}/admin`);
  const rec = admin.rec;
  const seen = await servers(admin, 3);
  check(seen.has("node-server"), `server_stats: no Node server among ${[...seen.keys()]}`);
  const ours = [...seen.values()].filter((s) => s.serverId !== "node-server");
  check(ours.length === 2 && ours.every((s) => s.serverId === `${s.hostname}#${s.pid}`),
        `server_stats of sio-serve: the serverId is HOST#PID in a cluster: ${JSON.stringify(ours)}`);
  check(new Set(ours.map((s) => s.pid)).size === 2, "two sio-serve, two pids");
  for (const s of seen.values()) {
    check(Array.isArray(s.namespaces) && s.namespaces.some((n) => n.name === "/" && n.socketsCount === 1),
          `server_stats of ${s.serverId}: one socket on /: ${JSON.stringify(s.namespaces)}`);
  }
  const list = await allSockets(rec, [c1.id, c2.id, cn.id]);
  for (const c of [c1, c2, cn]) {
    const entry = list.find((s) => s.id === c.id);
    check(entry.nsp === "/" && entry.transport === "websocket" && entry.rooms.includes(c.id) &&
          typeof entry.clientId === "string" && entry.clientId.length === 12 &&
          typeof entry.handshake === "object" && typeof entry.handshake.address === "string",
          `all_sockets entry of ${c.id}: ${JSON.stringify(entry)}`);
  }
  const nodeEntry = list.find((s) => s.id === cn.id);
  check(typeof nodeEntry.clientId === "string" && !("_admin" in nodeEntry.data),
        `the Node socket's client id comes from its data._admin: ${JSON.stringify(nodeEntry)}`);
  check(list.filter((s) => s.id === c1.id).length === 1, "sio-serve 1's own socket listed once");

  // Live: a new client of the Node server and one of sio-serve 2.
  const c3 = await connect(nodeUrl);
  await rec.next("socket_connected", (s) => s.id === c3.id);
  const c4 = await connect(s2.url);
  await rec.next("socket_connected", (s) => s.id === c4.id && s.transport === "websocket");

  // The event log of sio-serve 2 reaches this admin client once sio-serve 2 has counted it (its
  // next server_stats tick asks the cluster).
  await servers(admin, 3);
  await servers(admin, 3);
  c2.emit("hello-from-c2", 42);
  await rec.next("event_received", (nsp, id, args) => nsp === "/" && id === c2.id && args[0] === "hello-from-c2" && args[1] === 42);
  cn.emit("hello-from-node", 7);
  await rec.next("event_received", (nsp, id, args) => id === cn.id && args[0] === "hello-from-node");

  // Operations reach other servers: c2 (sio-serve 2) joins a room; cn (Node) is disconnected.
  admin.emit("join", "/", "from-admin", c2.id);
  await rec.next("room_joined", (nsp, room, id) => room === "from-admin" && id === c2.id);
  const [cnId, c2Id, c1Id] = [cn.id, c2.id, c1.id];  // a client forgets its id once disconnected
  const cnGone = disconnected(cn);
  admin.emit("_disconnect", "/", false, cn.id);
  check((await cnGone) === "io server disconnect", "the Node client was disconnected by the server");
  await rec.next("socket_disconnected", (nsp, id) => id === cnId);
  const c2Gone = disconnected(c2);
  admin.emit("_disconnect", "/", true, c2.id);
  await c2Gone;
  await rec.next("socket_disconnected", (nsp, id) => id === c2Id);
  check(c1.connected && c3.connected && c4.connected, "only the targets were disconnected");

  // A client of sio-serve 2 that opens on long-polling and upgrades: the other servers' feeds
  // read its transport after the upgrade from its data._admin.
  const c5 = io(s2.url, { reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    c5.on("connect_error", reject);
    c5.io.engine.once("upgrade", resolve);
  });
  await rec.next("socket_updated", (s) => s.id === c5.id && s.transport === "websocket");
  // One more, past sio-serve 2's --admin-ui-max-sockets (c4 and c5 are listed): not in its feed, but
  // its data._admin follows the upgrade, so the other servers see its transport.
  const c6 = io(s2.url, { reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    c6.on("connect_error", reject);
    c6.io.engine.once("upgrade", resolve);
  });
  const transportOf = async (id) => {
    const found = (await nodeIo.fetchSockets()).find((s) => s.id === id);
    return found && found.data && found.data._admin ? found.data._admin.transport : undefined;
  };
  await until(async () => (await transportOf(c6.id)) === "websocket", "the upgrade of a socket past the limit in its data", 5000)
    .catch(async (e) => fail(`${e.message}: ${await transportOf(c6.id)}`));

  // An admin client of the Node server sees the sio-serve servers and their sockets too, with
  // their client ids and transports, and its _disconnect reaches a client of sio-serve 1.
  const nodeAdmin = await connect(`${nodeUrl}/admin`);
  const nrec = nodeAdmin.rec;
  const seenByNode = await servers(nodeAdmin, 3);
  check(seenByNode.has("node-server") && [...seenByNode.keys()].filter((k) => k.includes("#")).length === 2,
        `the Node admin client's servers: ${[...seenByNode.keys()]}`);
  const nlist = await allSockets(nrec, [c1Id, c3.id, c4.id, c5.id, c6.id]);
  check(nlist.find((s) => s.id === c1Id).nsp === "/", "the Node server lists sio-serve 1's client");
  for (const id of [c1Id, c4.id, c5.id, c6.id]) {
    const entry = nlist.find((s) => s.id === id);
    check(entry.transport === "websocket" && typeof entry.clientId === "string" && entry.clientId.length === 12 &&
          !("_admin" in (entry.data || {})),
          `the Node admin's entry of sio-serve's socket ${id}: ${JSON.stringify(entry)}`);
  }
  c5.close();
  c6.close();
  const c1Gone = disconnected(c1);
  nodeAdmin.emit("_disconnect", "/", false, c1Id);
  check((await c1Gone) === "io server disconnect", "sio-serve 1's client disconnected from the Node admin client");
  await rec.next("socket_disconnected", (nsp, id) => id === c1Id);

  // More than 2,000 changes in one tick of sio-serve 1 go out as one all_sockets to every admin
  // client of the cluster, gathered from every server: the Node admin client's list keeps the
  // other servers' sockets. (2,100 raw clients on sio-serve 1, then the UI's join of every socket
  // of "/" to one room: 2,100 room changes in the tick the operation runs in.)
  const raws = await Promise.all(Array.from({ length: 2100 }, () => rawClient(s1.url)));
  admin.emit("join", "/", "everyone");
  await nrec.next("all_sockets", (l) => l.filter((e) => e.rooms.includes("everyone")).length >= 2100 &&
                                        l.some((e) => e.id === c3.id) && l.some((e) => e.id === c4.id), 20000);
  for (const r of raws) r.terminate();

  for (const s of [admin, nodeAdmin, c3, c4]) s.close();
  // The Node server and its Redis clients end with this process (admin-ui still emits the closes
  // through them on the next tick).
  for (const s of [s1, s2]) s.child.kill("SIGTERM");
  console.log(`ok: one Admin UI over two sio-serve and a Node server on one Redis (${kind} adapter)`);
  process.exit(0);
}

main().catch((e) => fail(e.stack || e.message));
