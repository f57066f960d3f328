// Shared by the interop scripts: start a server binary on port 0 and learn its port, bounded
// waits, and a failure that names what went wrong.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const net = require("net");
const path = require("path");

function fail(message) {
  console.error("FAIL: " + message);
  process.exit(1);
}

// Starts `binary args...`, resolves with { child, port, url } once it prints
// "listening on http://HOST:PORT" (stdout or stderr). Kills it when this process exits.
function startServer(binary, args = [], { timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`${binary} did not report its port in ${timeoutMs} ms; output: ${seen}`)), timeoutMs);
    const onData = (chunk) => {
      seen += chunk.toString();
      const m = seen.match(/listening on (https?:\/\/[^\s:]+:(\d+))/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[2]), url: m[1], output: () => seen });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${binary} exited with ${code}: ${seen}`)); });
    process.on("exit", () => child.kill("SIGKILL"));
  });
}

// Resolves when `predicate()` holds, polling every 20 ms; rejects after `ms` with `what`.
async function until(predicate, what, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("timed out waiting for " + what);
}

// Sends `signal` to a server from startServer and resolves with {code, signal} once it has
// exited; rejects after `timeoutMs`.
function stopServer(server, signal = "SIGTERM", { timeoutMs = 10000 } = {}) {
  const child = server.child;
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs);
    child.once("exit", (code, sig) => { clearTimeout(timer); resolve({ code, signal: sig }); });
    child.kill(signal);
  });
}

// The folder for what a test leaves behind to look at (screenshots): SIO_ARTIFACTS_DIR when set
// (the build's tests set it), else test-artifacts next to the binary under test; created if
// missing. Never in the source tree, where the tests run.
function artifactsDir(binary) {
  const dir = process.env.SIO_ARTIFACTS_DIR || path.join(path.dirname(path.resolve(binary)), "test-artifacts");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// Fails the whole script if it has not finished within `ms`.
function deadline(ms) {
  setTimeout(() => fail(`did not finish within ${ms} ms`), ms).unref();
}

// A small seeded generator (mulberry32): numbers in [0, 1), the same run for the same seed, so
// that a failure can be reproduced from the seed it printed.
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Runs a tool to its end (killed after `ms`); resolves with its exit code, its standard output and
// error, and with `json`, the output's lines parsed as NDJSON (a line that is not JSON fails).
function runTool(binary, args, { json = true, ms = 30000 } = {}) {
  const { spawn } = require("child_process");
  return new Promise((resolve) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("exit", (code) => {
      clearTimeout(timer);
      let lines = [];
      if (json) {
        try { lines = out.split("\n").filter(Boolean).map((l) => JSON.parse(l)); } catch (e) { fail(`not NDJSON from ${args.join(" ")}: ${out} ${err}`); }
      }
      resolve({ code, out, err, lines });
    });
  });
}

// Headless Chromium as every browser test and benchmark runs it (Debian's, or $CHROMIUM), with
// `extraArgs` after the common flags.
function launchChromium(extraArgs = [], executablePath = process.env.CHROMIUM || "/usr/bin/chromium") {
  const { chromium } = require("playwright-core");
  return chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Resolves once redis-server answers on `port`; rejects if it exits first or after 5 s. `extra`:
// more arguments for redis-server.
function startRedisOn(redisServer, port, extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(redisServer, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...extra],
                        { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("error", (e) => reject(new Error(`cannot start ${redisServer}: ${e.message}`)));
    child.on("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    process.on("exit", () => child.kill("SIGKILL"));
    const end = Date.now() + 5000;
    const probe = () => {
      const c = net.connect(port, "127.0.0.1");
      c.on("connect", () => { c.end(); resolve(child); });
      c.on("error", () => {
        if (Date.now() > end) return reject(new Error(`redis-server did not listen on ${port}: ${out}`));
        setTimeout(probe, 50);
      });
    };
    probe();
  });
}

// redis-server (the binary `redisServer`) on `port`, or on a free one; resolves with { child, port }.
// Redis cannot take port 0: pick a free port and retry with another if it was taken meanwhile.
async function startRedis(redisServer, port) {
  let last;
  for (let attempt = 0; attempt < 5; attempt++) {
    const p = port || (await freePort());
    try {
      return { child: await startRedisOn(redisServer, p), port: p };
    } catch (e) {
      last = e;
      if (port) await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw last;
}

// A port P of 127.0.0.1 free together with P + 10000 (a Redis Cluster node's bus port).
async function freeClusterPort(taken) {
  const isFree = (port) => new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
  for (let attempt = 0; attempt < 200; attempt++) {
    const p = 20000 + Math.floor(Math.random() * 35000);
    if (!taken.has(p) && !taken.has(p + 10000) && (await isFree(p)) && (await isFree(p + 10000))) return p;
  }
  throw new Error("no free port P with P + 10000 free on 127.0.0.1");
}

// A Redis Cluster of `count` redis-server on 127.0.0.1 (half primaries, each with one replica),
// joined by `redisCli --cluster create`; resolves once every node says cluster_state:ok and every
// replica is in sync. Returns
// { nodes: [{ port, child }], client(port) (a node-redis client of that node, kept), info(port)
// (its CLUSTER INFO as an object), stop() (kills every node by PID and removes their files) }.
async function startRedisCluster(redisServer, redisCli, count = 6) {
  const os = require("os");
  const { createClient } = require("redis");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-redis-cluster-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));  // after a failure too
  const nodes = [];
  const taken = new Set();
  for (let i = 0; i < count; i++) {
    let last;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freeClusterPort(taken);
      try {
        // A replica syncs at once (no diskless delay), so that it may take over soon after.
        const child = await startRedisOn(redisServer, port, ["--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
          "--cluster-config-file", path.join(dir, `nodes-${port}.conf`), "--dir", dir, "--repl-diskless-sync-delay", "0"]);
        nodes.push({ port, child });
        taken.add(port).add(port + 10000);
        last = null;
        break;
      } catch (e) { last = e; }
    }
    if (last) throw last;
  }
  const clients = new Map();
  const client = async (port) => {
    if (!clients.has(port)) {
      const c = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
      c.on("error", () => {});
      clients.set(port, c);
      await c.connect();
    }
    return clients.get(port);
  };
  const info = async (port) => Object.fromEntries((await (await client(port)).sendCommand(["CLUSTER", "INFO"]))
    .split("\r\n").filter((l) => l.includes(":")).map((l) => l.split(":")));
  const stop = () => {
    for (const c of clients.values()) c.disconnect().catch(() => {});
    for (const n of nodes) n.child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const created = await runTool(redisCli, ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`),
                                           "--cluster-replicas", "1", "--cluster-yes"], { json: false, ms: 20000 });
  if (created.code !== 0) throw new Error(`redis-cli --cluster create failed (${created.code}): ${created.out} ${created.err}`);
  // Every node ok, and every replica in sync with its primary (a replica that never synced does
  // not take over).
  await until(async () => {
    for (const n of nodes) {
      if ((await info(n.port)).cluster_state !== "ok") return false;
      const replication = await (await client(n.port)).sendCommand(["INFO", "replication"]);
      if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) return false;
    }
    return true;
  }, "cluster_state:ok on every node and every replica in sync", 20000);
  return { nodes, client, info, stop, dir };
}

// Records every event a socket.io-client socket receives; next() waits for one that matches (or
// takes the first such one already seen), up to `ms`.
function recorder(socket) {
  const seen = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    seen.push({ event, args });
    for (const w of [...waiters]) {
      if (w.event === event && w.match(...args)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(args);
      }
    }
  });
  return {
    seen,
    next(event, match = () => true, ms = 8000) {
      const old = seen.find((e) => e.event === event && match(...e.args));
      if (old) { seen.splice(seen.indexOf(old), 1); return Promise.resolve(old.args); }
      return new Promise((resolve, reject) => {
        const w = { event, match, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`no ${event} matching ${match}`)), ms).unref();
      });
    },
  };
}

// A Node socket.io server with @socket.io/redis-adapter on the Redis at `redisUrl`, listening on a
// free port of 127.0.0.1; `setup(io)` runs before it listens. Resolves with {io, url, pub, sub}.
async function nodeRedisServer(redisUrl, setup = () => {}) {
  const http = require("http");
  const { Server } = require("socket.io");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const { createClient } = require("redis");
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub, { requestsTimeout: 3000 }) });
  setup(io);
  await new Promise((r) => httpServer.listen(0, "127.0.0.1", r));
  return { io, url: `http://127.0.0.1:${httpServer.address().port}`, pub, sub };
}

// A raw Socket.IO client over a plain WebSocket (the ws package): resolves with the WebSocket once
// its CONNECT to "/" is answered. Cheaper than socket.io-client for thousands at once.
function rawClient(url) {
  return new Promise((resolve, reject) => {
    const WebSocket = require("ws");
    const ws = new WebSocket(url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket");
    ws.on("error", reject);
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("0{")) ws.send("40");
      else if (text === "2") ws.send("3");
      else if (text.startsWith("40{")) resolve(ws);
      else if (text.startsWith("44")) reject(new Error(`CONNECT refused: ${text}`));
    });
  });
}

// sio-cli listening on `url` over WebSocket with --json, reconnecting after 100-200 ms: its
// process, every JSON line it has printed so far, its connects to "/", and what it printed.
function cliListener(cli, url) {
  const child = spawn(cli, [url, "--listen", "--json", "--transport", "websocket", "--reconnect-delay", "100ms",
    "--reconnect-delay-max", "200ms"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  process.on("exit", () => child.kill("SIGKILL"));
  let out = "", err = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { err += d; });
  const lines = () => out.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  const connects = () => lines().filter((l) => l.type === "connect" && l.dir === "info" && l.nsp === "/");
  return { child, lines, connects, out: () => out, err: () => err };
}

// The value of one series of a server's /metrics (`where`: its base URL, or anything with a
// `url`), as a number; `missing` when the series is not there (a labelled counter that never
// counted is left out).
async function metric(where, series, missing = NaN) {
  const base = typeof where === "string" ? where : where.url;
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : missing;
}

module.exports = { fail, metric, startServer, stopServer, until, deadline, seededRandom, artifactsDir, runTool, launchChromium,
                   freePort, startRedis, startRedisCluster, recorder, nodeRedisServer, rawClient, cliListener };
