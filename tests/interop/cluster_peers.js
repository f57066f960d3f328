// Shared by the cluster tests (redis_*.js): the Node member of a cluster, its clients, and the
// rules that give sio-serve the same behaviour.
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { io } = require("socket.io-client");
const { createClient } = require("redis");
const { until, startRedis, startServer } = require("./lib");

const bin = Buffer.from([0, 1, 2, 250, 255]);

// sio-serve's rules for what nodeServer does: 'say' is broadcast as 'said' (not to the sender),
// 'enter' joins a room and acks, 'room' sends its arguments to a room as `roomEvent`.
const serveRules = (roomEvent) => ["--mode", "none", "--on", "say=broadcast:said", "--on", "enter=join", "--on",
                                   "enter=ack", "--on", `room=to-room:${roomEvent}`];

// A Node socket.io server with these rules on a free port; resolves with { nodeIo, url }.
async function nodeServer(options, roomEvent) {
  const httpServer = http.createServer();
  const nodeIo = new Server(httpServer, options);
  nodeIo.on("connection", (socket) => {
    socket.on("say", (...args) => socket.broadcast.emit("said", ...args));
    socket.on("enter", (room, cb) => { socket.join(room); cb && cb(); });
    socket.on("room", (room, ...args) => socket.to(room).emit(roomEvent, ...args));
  });
  await new Promise((r) => httpServer.listen(0, "127.0.0.1", r));
  return { nodeIo, url: `http://127.0.0.1:${httpServer.address().port}` };
}

// A socket.io-client (over WebSocket unless `transports` says otherwise), without automatic
// reconnection, that records every event in `got` and answers 'ackme' x with "ack-LABEL-x".
function connect(url, label, transports = ["websocket"]) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, transports });
    s.got = [];
    s.label = label;
    s.onAny((event, ...args) => s.got.push({ event, args }));
    s.on("ackme", (x, cb) => cb(`ack-${label}-${x}`));
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
}

const has = (s, event, first) => s.got.some((g) => g.event === event && g.args[0] === first);

const isBin = (x) => {
  const b = x instanceof ArrayBuffer ? Buffer.from(new Uint8Array(x)) : Buffer.isBuffer(x) ? x : null;
  return b !== null && b.equals(bin);
};

// A 'say' from each of `senders` reaches every client of `all` but the sender, with its binary
// and object arguments intact. Calls `fail` otherwise.
async function broadcastsReachOthers(senders, all, fail) {
  for (const from of senders) {
    const tag = `from-${from.label}`;
    from.emit("say", tag, bin, { k: [1, 2] });
    const others = all.filter((s) => s !== from);
    await until(() => others.every((s) => has(s, "said", tag)), `'said' ${tag} on ${others.map((s) => s.label)}`);
    for (const s of others) {
      const g = s.got.find((x) => x.event === "said" && x.args[0] === tag);
      if (!isBin(g.args[1])) fail(`${tag} on ${s.label}: binary argument lost: ${JSON.stringify(g.args[1])}`);
      if (JSON.stringify(g.args[2]) !== '{"k":[1,2]}') fail(`${tag} on ${s.label}: object argument: ${JSON.stringify(g.args[2])}`);
    }
  }
}

// A redis-server on a free port and a connected `redis` client of it: { redis, url, pub }.
async function redisWithClient(redisServer) {
  const redis = await startRedis(redisServer);
  const url = `redis://127.0.0.1:${redis.port}`;
  const pub = createClient({ url });
  pub.on("error", () => {});
  await pub.connect();
  return { redis, url, pub };
}

// Node's fetchSockets() returns every socket of `all`, and `member` with its own room and `room`.
async function fetchSocketsSeesAll(nodeIo, all, member, room, fail) {
  const sockets = await nodeIo.fetchSockets();
  const ids = sockets.map((s) => s.id).sort();
  const want = all.map((s) => s.id).sort();
  if (JSON.stringify(ids) !== JSON.stringify(want)) fail(`fetchSockets: got ${ids}, want ${want}`);
  const remote = sockets.find((s) => s.id === member.id);
  if (!remote.rooms.has(room) || !remote.rooms.has(member.id)) fail(`fetchSockets: ${member.label}'s rooms ${[...remote.rooms]}`);
  return sockets;
}

// sio-serve's own fetchSockets: a chat-demo server started with `flags` joins the cluster
// (`subscribers()` reaches `count`), and its online list names every socket of `all` and its own
// client; the server is killed and gone again (`subscribers()` back to count - 1) at the end.
async function onlineListSpansCluster(serve, flags, all, subscribers, count, fail) {
  const chat = await startServer(serve, ["--port", "0", ...flags]);
  await until(async () => (await subscribers()) === count, "the chat server in the cluster", 10000);
  const carol = await connect(chat.url, "carol");
  carol.emit("set name", "carol");
  await until(() => carol.got.some((g) => g.event === "online users"), "the online list");
  const online = carol.got.find((g) => g.event === "online users").args[0].map((u) => u.id).sort();
  const everyone = [...all, carol].map((s) => s.id).sort();
  if (JSON.stringify(online) !== JSON.stringify(everyone)) fail(`online users: ${online}, want ${everyone}`);
  carol.close();
  chat.child.kill("SIGKILL");
  await until(async () => (await subscribers()) === count - 1, "the chat server gone", 10000);
}

// The four clients of the cluster tests: a and a2 on sio-serve 1, b on sio-serve 2, n on Node.
async function fourClients(s1, s2, nodeUrl) {
  const a = await connect(s1.url, "a");
  const a2 = await connect(s1.url, "a2");
  const b = await connect(s2.url, "b");
  const n = await connect(nodeUrl, "n");
  return { a, a2, b, n, all: [a, a2, b, n] };
}

// b and n join room1; a room1 broadcast from a (sio-serve 1, no member) reaches both, and one
// from n reaches b. `joined` runs in between (to wait for what the joins set up).
async function room1Reaches({ a, b, n }, joined = async () => {}) {
  await b.timeout(3000).emitWithAck("enter", "room1");
  await n.timeout(3000).emitWithAck("enter", "room1");
  await joined();
  a.emit("room", "room1", "r-from-a");
  await until(() => has(b, "roomsaid", "r-from-a") && has(n, "roomsaid", "r-from-a"), "room1 message on b and n");
  n.emit("room", "room1", "r-from-n");
  await until(() => has(b, "roomsaid", "r-from-n"), "room1 message from Node on b");
}

// A Node broadcast with acks collects the acks of every client in `all`, those on sio-serve too;
// Node's serverSideEmit with an ack gets one answer from each of the two sio-serve (returned).
async function nodeAcksReachServe(nodeIo, all, fail) {
  const acks = await nodeIo.timeout(3000).emitWithAck("ackme", 7);
  const wantAcks = all.map((s) => `ack-${s.label}-7`).sort();
  if (JSON.stringify([...acks].sort()) !== JSON.stringify(wantAcks)) fail(`broadcast acks: got ${acks}, want ${wantAcks}`);
  const answers = await nodeIo.serverSideEmitWithAck("hello-servers", 1);
  if (answers.length !== 2 || !answers.every((x) => x && x.server === "sio-serve")) fail(`serverSideEmit answers: ${JSON.stringify(answers)}`);
  if (JSON.stringify(answers.map((x) => x.sockets).sort()) !== "[1,2]") fail(`serverSideEmit socket counts: ${JSON.stringify(answers)}`);
}

// Node's socketsJoin puts `member` (a client of sio-serve) in room2; a room broadcast from Node
// then reaches it and none of `others`.
async function nodeJoinReaches(nodeIo, member, others, fail) {
  nodeIo.in(member.id).socketsJoin("room2");
  await until(async () => (await nodeIo.in("room2").fetchSockets()).some((s) => s.id === member.id), "a in room2");
  nodeIo.to("room2").emit("r2", "to-room2");
  await until(() => has(member, "r2", "to-room2"), "room2 message on a");
  if (others.some((o) => has(o, "r2", "to-room2"))) fail("room2 message reached a socket outside room2");
}

module.exports = { bin, serveRules, nodeServer, connect, has, isBin, broadcastsReachOthers, redisWithClient,
                   fetchSocketsSeesAll, onlineListSpansCluster, nodeAcksReachServe, nodeJoinReaches, fourClients, room1Reaches };
