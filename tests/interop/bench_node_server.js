#!/usr/bin/env node
// The Node socket.io 4.8 peer of bench_interop.js: acks `echo` with its arguments, and relays
// `broadcast` [EVENT, ...args] to every other socket as sio-serve does.
//
// usage: node bench_node_server.js [--port N] [--stall-once MS] [--relay-delay MS] [--ws-echo]
//   --stall-once MS  the first `echo` after the first second is answered MS late (a stalled server)
//   --relay-delay MS every `broadcast` is relayed MS late (deliveries still on their way when the
//                    generator's window ends)
//   --ws-echo        a plain WebSocket echo server instead (for sio-bench --raw)
// Prints "listening on http://127.0.0.1:PORT" once ready, and "UPGRADE <url>" for every
// WebSocket upgrade request it sees.
"use strict";
const http = require("http");

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const port = Number(opt("--port", "0"));
const stallMs = Number(opt("--stall-once", "0"));
const relayDelayMs = Number(opt("--relay-delay", "0"));
const httpServer = http.createServer();
httpServer.on("upgrade", (req) => console.log("UPGRADE " + req.url));

if (argv.includes("--ws-echo")) {
  const { WebSocketServer } = require("ws");
  const wss = new WebSocketServer({ server: httpServer });
  wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
} else {
  const { Server } = require("socket.io");
  const io = new Server(httpServer);
  const started = Date.now();
  let stalled = stallMs <= 0;
  io.on("connection", (socket) => {
    socket.on("echo", (...args) => {
      const cb = args.pop();
      if (typeof cb !== "function") return;
      if (!stalled && Date.now() - started > 1000) {
        stalled = true;
        setTimeout(() => cb(...args), stallMs);
        return;
      }
      cb(...args);
    });
    socket.on("broadcast", (event, ...rest) => {
      const cb = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
      if (relayDelayMs > 0) setTimeout(() => socket.broadcast.emit(event, ...rest), relayDelayMs);
      else socket.broadcast.emit(event, ...rest);
      if (cb) cb({ ok: true });
    });
  });
}
httpServer.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${httpServer.address().port}`));
process.on("SIGTERM", () => process.exit(0));
