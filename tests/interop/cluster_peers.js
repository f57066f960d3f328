// Shared by the cluster tests (redis_*.js): the Node member of a cluster, its clients, and the
// rules that give sio-serve the same behaviour.
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { io } = require("socket.io-client");
const { until } = require("./lib");

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

module.exports = { bin, serveRules, nodeServer, connect, has, isBin, broadcastsReachOthers };
