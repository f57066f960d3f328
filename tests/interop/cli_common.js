// Shared by the sio-cli interop scripts: run sio-cli to its end and parse its --json lines, and
// start a Node socket.io server on port 0.
"use strict";
const { spawn } = require("child_process");
const http = require("http");
const { fail } = require("./lib");

const children = new Set();
process.on("exit", () => { for (const c of children) c.kill("SIGKILL"); });

// Runs `cli args...` to its end: { code, stdout, stderr, lines } (lines: the JSON objects
// printed, when --json). `input`: text for stdin (closed right after; /dev/null when absent).
function runCli(cli, args, { input, env, timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cli, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
                                     env: { ...process.env, NO_COLOR: "1", ...env } });
    children.add(child);
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`sio-cli ${args.join(" ")} did not finish in ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    if (input !== undefined) child.stdin.end(input);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const lines = [];
      if (args.includes("--json")) {
        for (const l of stdout.split("\n")) {
          if (l.trim() === "") continue;
          try { lines.push(JSON.parse(l)); } catch (e) { fail(`sio-cli --json wrote a line that is not JSON: ${l}`); }
        }
      }
      resolve({ code: signal ? `signal ${signal}` : code, stdout, stderr, lines });
    });
  });
}

// Starts sio-cli and hands back the child and what it printed so far (for runs that are
// stopped from outside).
function startCli(cli, args, { env } = {}) {
  const child = spawn(cli, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", ...env } });
  children.add(child);
  const state = { child, stdout: "", stderr: "", code: undefined };
  child.stdout.on("data", (d) => { state.stdout += d; });
  child.stderr.on("data", (d) => { state.stderr += d; });
  child.on("close", (code) => { state.code = code; children.delete(child); });
  state.lines = () => state.stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
  return state;
}

const KEYS = ["ts", "dir", "nsp", "type", "event", "args", "id", "transport"];

// Every --json line has exactly the documented keys and value types.
function checkShape(lines, what) {
  for (const l of lines) {
    const keys = Object.keys(l);
    if (keys.length !== KEYS.length || !KEYS.every((k, i) => keys[i] === k)) fail(`${what}: keys ${keys} in ${JSON.stringify(l)}`);
    if (!Number.isInteger(l.ts) || l.ts < 1.6e12) fail(`${what}: ts ${l.ts}`);
    if (!["in", "out", "info"].includes(l.dir)) fail(`${what}: dir ${l.dir}`);
    if (!Array.isArray(l.args)) fail(`${what}: args not an array in ${JSON.stringify(l)}`);
    if (l.id !== null && !Number.isInteger(l.id)) fail(`${what}: id ${l.id}`);
    if (l.transport !== null && !["websocket", "polling"].includes(l.transport)) fail(`${what}: transport ${l.transport}`);
  }
}

function eq(a, b, what) {
  if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
}
function check(cond, what) { if (!cond) fail(what); }
function expectCode(r, code, what) {
  if (r.code !== code) fail(`${what}: exit ${r.code}, want ${code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
}

// A Node socket.io server (the `Server` given, 4.x) on 127.0.0.1, port 0.
function nodeServer(Server, options, setup) {
  return new Promise((resolve) => {
    // Requests outside the Engine.IO path get a 404 (socket.io hands them to this listener).
    const httpServer = http.createServer((req, res) => {
      if (!res.headersSent) { res.writeHead(404, { "content-type": "text/plain" }); res.end("not found\n"); }
    });
    const io = new Server(httpServer, options);
    setup(io);
    httpServer.listen(0, "127.0.0.1", () => {
      const port = httpServer.address().port;
      resolve({ io, httpServer, port, url: `http://127.0.0.1:${port}` });
    });
  });
}

// The handlers the scripted-client tests share, on `io` (any socket.io version): every socket
// hears `welcome(...)` on connecting and acks "echo" with its arguments; /secure admits only
// sockets whose `tokenOf(socket)` is "t0ken", refusing the rest with "bad token".
function echoAndSecure(io, welcome, tokenOf) {
  const onConnection = (socket) => {
    socket.emit("welcome", ...welcome(socket));
    socket.on("echo", (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      if (ack) ack(...args);
    });
  };
  io.on("connection", onConnection);
  const secure = io.of("/secure");
  secure.use((socket, next) => next(tokenOf(socket) === "t0ken" ? undefined : new Error("bad token")));
  secure.on("connection", onConnection);
}

// A port nothing listens on: bound, then released.
function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

module.exports = { runCli, startCli, checkShape, eq, check, expectCode, nodeServer, freePort, echoAndSecure };
