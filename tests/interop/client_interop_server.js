#!/usr/bin/env node
// The Node peer of client_interop.js, run as a child process so that the test can stop it
// (SIGSTOP: a silent server) and restart it on the same port.
//
// usage: node client_interop_server.js [--port N] [--v2] [--recovery] [--tls CERT KEY]
//        [--ping-interval MS] [--ping-timeout MS] [--ws-echo]
// Prints "listening on http(s)://127.0.0.1:PORT" once ready.
"use strict";
const fs = require("fs");
const http = require("http");
const https = require("https");

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const flag = (name) => argv.includes(name);

const port = Number(opt("--port", "0"));
const tls = flag("--tls") ? { cert: fs.readFileSync(opt("--tls")), key: fs.readFileSync(argv[argv.indexOf("--tls") + 2]) } : null;
const httpServer = tls ? https.createServer(tls) : http.createServer();

if (flag("--ws-echo")) {
  const { WebSocketServer } = require("ws");
  const wss = new WebSocketServer({
    server: httpServer,
    handleProtocols: (protocols) => (protocols.has("chat.v1") ? "chat.v1" : false),
  });
  wss.on("connection", (ws) => {
    ws.on("message", (data, isBinary) => {
      if (!isBinary && data.toString() === "close-me") ws.close(4001, "asked to close");
      else ws.send(data, { binary: isBinary });
    });
    ws.ping(Buffer.from("srv"));
  });
} else if (flag("--v2")) {
  const io = require("socket.io-v2")(httpServer, {
    pingInterval: Number(opt("--ping-interval", "25000")),
    pingTimeout: Number(opt("--ping-timeout", "20000")),
  });
  const setup = (nsp) => {
    nsp.on("connection", (socket) => {
      socket.emit("welcome", { nsp: nsp.name, token: socket.handshake.query.token || null }, Buffer.from([4, 5, 6]),
                  (...a) => console.log("ACK " + JSON.stringify(a)));
      socket.on("echo", (...args) => {
        const cb = args.pop();
        cb(...args);
      });
      socket.on("kick", () => socket.disconnect(true));
    });
  };
  setup(io.of("/"));
  setup(io.of("/admin"));
} else {
  const { Server } = require("socket.io");
  const io = new Server(httpServer, {
    pingInterval: Number(opt("--ping-interval", "25000")),
    pingTimeout: Number(opt("--ping-timeout", "20000")),
    connectionStateRecovery: flag("--recovery") ? { maxDisconnectionDuration: 60000, skipMiddlewares: true } : undefined,
  });
  const setup = (nsp) => {
    nsp.use((socket, next) => {
      if (socket.handshake.auth && socket.handshake.auth.token === "bad") next(new Error("not authorized"));
      else next();
    });
    nsp.on("connection", (socket) => {
      console.log(`CONNECTION ${nsp.name} recovered=${socket.recovered}`);
      socket.emit("welcome", { nsp: nsp.name, auth: socket.handshake.auth }, Buffer.from([4, 5, 6]), (...a) =>
        console.log("ACK " + JSON.stringify(a)));
      socket.on("echo", (...args) => {
        const cb = args.pop();
        cb(...args);
      });
      socket.on("kick", () => socket.disconnect(true));
      socket.on("ready", () => {
        if (!flag("--recovery")) return;
        // One event the client receives, then the transport drops; while it is away, two more
        // broadcasts that recovery must deliver.
        io.emit("tick", 1);
        setTimeout(() => {
          socket.conn.close();
          setTimeout(() => {
            io.emit("tick", 2);
            io.emit("tick", 3);
          }, 20);
        }, 100);
      });
    });
  };
  setup(io.of("/"));
  setup(io.of("/admin"));
}

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening on ${tls ? "https" : "http"}://127.0.0.1:${httpServer.address().port}`);
});
