#!/usr/bin/env node
// sio's Socket.IO client (client_driver) against the real Node socket.io 4.8.x and 2.x servers
// (client_interop_server.js, run as a child on port 0), in polling, websocket and upgrade
// modes: namespaces, auth, acks, binary both ways, server disconnect, ack timeout, ping timeout
// (server stopped with SIGSTOP), reconnection across a restart, connection state recovery,
// Engine.IO v3, TLS with a CA made here by openssl, an HTTP CONNECT proxy written here, and the
// raw WebSocket client against a ws echo server.
//
// usage: node client_interop.js <path to client_driver>
"use strict";

const { spawn, execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const net = require("net");
const http = require("http");
const assert = require("assert");

const driver = process.argv[2];
if (!driver) {
  console.error("usage: node client_interop.js <client_driver>");
  process.exit(2);
}
const OVERALL_MS = 110000;
const children = new Set();
let step = "start";

function fail(why) {
  console.error(`FAIL [${step}]: ${why instanceof Error ? why.stack || why.message : why}`);
  for (const c of children) c.kill("SIGKILL");
  process.exit(1);
}
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
process.on("exit", () => { for (const c of children) c.kill("SIGKILL"); });
setTimeout(() => fail(`timed out after ${OVERALL_MS} ms`), OVERALL_MS).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts client_interop_server.js with `args`; resolves { child, port, url, log() }.
function startServer(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, "client_interop_server.js"), ...args],
                        { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let seen = "";
    const timer = setTimeout(() => reject(new Error("server did not start: " + seen)), 10000);
    const onData = (d) => {
      seen += d.toString();
      const m = seen.match(/listening on (https?:\/\/127\.0\.0\.1:(\d+))/);
      if (m && timer) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[2]), url: m[1], log: () => seen });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", () => children.delete(child));
  });
}

function stopServer(s) {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
    s.child.once("exit", resolve);
    s.child.kill("SIGKILL");
  });
}

// Runs the driver; `onEvent(ev, all)` sees each JSON line as it arrives. Resolves
// { code, events, stderr }.
function runDriver(scenario, url, opts = {}, onEvent = () => {}) {
  return new Promise((resolve) => {
    const args = [scenario, url, ...Object.entries(opts).map(([k, v]) => `${k}=${v}`)];
    const child = spawn(driver, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    const events = [];
    let buf = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const ev = JSON.parse(line);
        events.push(ev);
        onEvent(ev, events);
      }
    });
    child.stderr.on("data", (d) => { stderr += d.toString(); });
    child.on("exit", (code) => {
      children.delete(child);
      resolve({ code, events, stderr });
    });
  });
}

const find = (events, pred) => events.filter(pred);
const one = (events, pred, what) => {
  const m = events.find(pred);
  if (!m) throw new Error(`no ${what} in ${JSON.stringify(events)}`);
  return m;
};
function expectDone(r, what) {
  if (r.code !== 0) throw new Error(`${what}: driver exit ${r.code}; events ${JSON.stringify(r.events)} ${r.stderr}`);
}

async function basicChecks(r, mode, { v2 = false } = {}) {
  expectDone(r, `basic ${mode}`);
  const connects = find(r.events, (e) => e.ev === "connect");
  assert.deepStrictEqual(connects.map((c) => c.nsp).sort(), ["/", "/admin"]);
  for (const c of connects) assert.ok(c.id.length > 0, "socket id");
  if (v2) assert.ok(connects.find((c) => c.nsp === "/admin").id.startsWith("/admin#"), "v2 socket id is nsp#sid");
  const welcomes = find(r.events, (e) => e.ev === "event" && e.name === "welcome");
  assert.strictEqual(welcomes.length, 2);
  for (const w of welcomes) {
    assert.strictEqual(w.args[0].nsp, w.nsp);
    assert.deepStrictEqual(w.args[1].bytes, [4, 5, 6], "binary from the server");
    assert.strictEqual(w.ack, true);
  }
  const acks = find(r.events, (e) => e.ev === "ack");
  assert.strictEqual(acks.length, 2);
  for (const a of acks) {
    assert.strictEqual(a.error, "");
    assert.deepStrictEqual(a.args[0], "hi");
    assert.deepStrictEqual(a.args[1], { n: 1 });
    assert.deepStrictEqual(a.args[2].bytes, [1, 2, 3], "binary echoed");
  }
  const st = one(r.events, (e) => e.ev === "status", "status");
  assert.strictEqual(st.state, "open");
  const expected = mode === "polling" ? "polling" : "websocket";
  assert.strictEqual(st.transport, expected, `transport in ${mode} mode`);
  assert.strictEqual(st.upgraded, mode === "upgrade");
  if (mode === "upgrade") one(r.events, (e) => e.ev === "upgrade", "upgrade event");
}

function serverAcks(server) {
  return server.log().split("\n").filter((l) => l.startsWith("ACK ")).map((l) => JSON.parse(l.slice(4)));
}

function makeCerts(dir) {
  const run = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
      "-subj", "/CN=sio client test CA");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  fs.writeFileSync(path.join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
      "-days", "2", "-extfile", "ext.cnf");
}

// An HTTP CONNECT proxy: tunnels to 127.0.0.1 only, refuses port 1 with 403; records targets.
function startProxy() {
  return new Promise((resolve) => {
    const seen = [];
    const proxy = http.createServer((req, res) => { res.writeHead(405); res.end(); });
    proxy.on("connect", (req, client, head) => {
      seen.push(req.url);
      const [host, port] = req.url.split(":");
      if (host !== "127.0.0.1" || port === "1") {
        client.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      const upstream = net.connect(Number(port), host, () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        if (head && head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    });
    proxy.listen(0, "127.0.0.1", () => resolve({ proxy, seen, port: proxy.address().port }));
  });
}

async function main() {
  const modes = ["polling", "websocket", "upgrade"];

  // --- socket.io 4.8.x ---
  step = "start v4 server";
  const v4 = await startServer([]);
  for (const mode of modes) {
    step = `basic ${mode}`;
    const before = serverAcks(v4).length;
    const r = await runDriver("basic", v4.url, { transport: mode });
    await basicChecks(r, mode);
    const acks = serverAcks(v4).slice(before);
    assert.strictEqual(acks.length, 2, "the server got our acks of welcome");
    for (const a of acks) assert.deepStrictEqual(a, ["thanks", { type: "Buffer", data: [9, 8, 7] }]);

    step = `auth refused ${mode}`;
    const ref = await runDriver("refused", v4.url, { transport: mode, token: "bad" });
    expectDone(ref, step);
    assert.deepStrictEqual(one(ref.events, (e) => e.ev === "connect_error", "connect_error").data,
                           { message: "not authorized" });
    assert.strictEqual(find(ref.events, (e) => e.ev === "connect").length, 0);

    step = `server disconnect ${mode}`;
    const kick = await runDriver("kick", v4.url, { transport: mode });
    expectDone(kick, step);
    assert.strictEqual(one(kick.events, (e) => e.ev === "disconnect", "disconnect").reason, "io server disconnect");

    step = `ack timeout ${mode}`;
    const at = await runDriver("ack_timeout", v4.url, { transport: mode });
    expectDone(at, step);
    assert.strictEqual(one(at.events, (e) => e.ev === "ack", "ack").timeout, true);
  }

  step = "connect refused";
  {
    const port = v4.port;
    await stopServer(v4);
    const r = await runDriver("open_fail", `http://127.0.0.1:${port}`, { reconnect: 0, transport: "websocket" });
    expectDone(r, step);
    const f = one(r.events, (e) => e.ev === "open_failed", "open_failed");
    assert.strictEqual(f.value, 3, "client_errc::connect_failed");
  }

  // --- ping timeout: the server is stopped (SIGSTOP) and says nothing more ---
  for (const mode of ["websocket", "polling"]) {
    step = `ping timeout ${mode}`;
    const s = await startServer(["--ping-interval", "300", "--ping-timeout", "200"]);
    const t0 = { at: 0 };
    const r = await runDriver("ping_timeout", s.url, { transport: mode, reconnect: 0 }, (ev) => {
      if (ev.ev === "connect") { t0.at = Date.now(); s.child.kill("SIGSTOP"); }
      if (ev.ev === "disconnect") t0.took = Date.now() - t0.at;
    });
    s.child.kill("SIGCONT");
    await stopServer(s);
    expectDone(r, step);
    assert.strictEqual(one(r.events, (e) => e.ev === "disconnect", "disconnect").reason, "ping timeout");
    assert.ok(t0.took < 3000, `detected in ${t0.took} ms`);
  }

  // --- reconnection across a server restart on the same port ---
  for (const mode of ["websocket", "polling", "upgrade"]) {
    step = `reconnect ${mode}`;
    let s = await startServer([]);
    const port = s.port;
    let restarted;
    const r = await runDriver("reconnect", s.url, { transport: mode }, (ev, all) => {
      if (ev.ev === "connect" && all.filter((e) => e.ev === "connect").length === 1) {
        restarted = (async () => {
          await stopServer(s);
          await sleep(500);
          s = await startServer(["--port", String(port)]);
        })();
      }
    });
    await restarted;
    await stopServer(s);
    expectDone(r, step);
    const connects = find(r.events, (e) => e.ev === "connect");
    assert.strictEqual(connects.length, 2, "connected again");
    assert.notStrictEqual(connects[0].id, connects[1].id);
    assert.strictEqual(one(r.events, (e) => e.ev === "disconnect", "disconnect").reason.startsWith("transport"), true);
    const attempts = find(r.events, (e) => e.ev === "reconnect_attempt");
    assert.ok(attempts.length >= 1, "reconnect attempts reported");
    attempts.forEach((a, i) => {
      assert.strictEqual(a.attempt, i + 1);
      assert.ok(a.delay >= 50 && a.delay <= 400, `delay ${a.delay} within jitter and max`);
    });
    assert.strictEqual(one(r.events, (e) => e.ev === "reconnect", "reconnect").attempt, attempts.length);
  }

  // --- connection state recovery ---
  for (const mode of ["websocket", "polling"]) {
    step = `recovery ${mode}`;
    const s = await startServer(["--recovery"]);
    const r = await runDriver("recovery", s.url, { transport: mode });
    await stopServer(s);
    expectDone(r, step);
    const connects = find(r.events, (e) => e.ev === "connect");
    assert.strictEqual(connects.length, 2);
    assert.strictEqual(connects[0].recovered, false);
    assert.strictEqual(connects[1].recovered, true, "recovered on reconnect");
    assert.strictEqual(connects[0].id, connects[1].id, "same socket id after recovery");
    const ticks = find(r.events, (e) => e.ev === "event" && e.name === "tick").map((e) => e.args[0]);
    assert.deepStrictEqual(ticks, [1, 2, 3], "missed broadcasts delivered");
    assert.ok(s.log().includes("CONNECTION / recovered=false"));
  }

  // --- Engine.IO v3 / socket.io 2.x ---
  step = "start v2 server";
  const v2 = await startServer(["--v2"]);
  for (const mode of modes) {
    step = `eio3 basic ${mode}`;
    const before = serverAcks(v2).length;
    const r = await runDriver("basic", v2.url, { transport: mode, eio: 3, token: "t2" });
    await basicChecks(r, mode, { v2: true });
    const adminWelcome = one(r.events, (e) => e.ev === "event" && e.name === "welcome" && e.nsp === "/admin", "welcome");
    assert.strictEqual(adminWelcome.args[0].token, "t2", "auth sent as the namespace query in protocol v4");
    const acks = serverAcks(v2).slice(before);
    assert.strictEqual(acks.length, 2, "the v2 server got our acks");
    for (const a of acks) assert.deepStrictEqual(a[0], "thanks");
  }
  step = "eio3 ping timeout";
  {
    const s = await startServer(["--v2", "--ping-interval", "300", "--ping-timeout", "200"]);
    const r = await runDriver("ping_timeout", s.url, { transport: "websocket", eio: 3, reconnect: 0 }, (ev) => {
      if (ev.ev === "connect") setTimeout(() => s.child.kill("SIGSTOP"), 700);  // after pings were answered
    });
    s.child.kill("SIGCONT");
    await stopServer(s);
    expectDone(r, step);
    assert.strictEqual(one(r.events, (e) => e.ev === "disconnect", "disconnect").reason, "ping timeout");
  }
  await stopServer(v2);

  // --- TLS with a CA made here ---
  step = "tls certificates";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-client-tls-"));
  try {
    makeCerts(dir);
    const s = await startServer(["--tls", path.join(dir, "server.pem"), path.join(dir, "server.key")]);
    assert.ok(s.url.startsWith("https://"));
    for (const mode of modes) {
      step = `tls verified ${mode}`;
      await basicChecks(await runDriver("basic", s.url, { transport: mode, ca: path.join(dir, "ca.pem") }), mode);
    }
    step = "tls refused without the CA";
    const bad = await runDriver("open_fail", s.url, { transport: "websocket", reconnect: 0 });
    expectDone(bad, step);
    const f = one(bad.events, (e) => e.ev === "open_failed", "open_failed");
    assert.strictEqual(f.value, 5, "client_errc::tls_failed");
    assert.match(f.message, /verif/i);
    step = "tls insecure";
    await basicChecks(await runDriver("basic", s.url, { transport: "upgrade", insecure: 1 }), "upgrade");
    step = "tls wss scheme";
    await basicChecks(await runDriver("basic", s.url.replace("https", "wss"),
                                      { transport: "websocket", ca: path.join(dir, "ca.pem") }), "websocket");

    // --- through an HTTP CONNECT proxy (TLS inside the tunnel) ---
    step = "proxy";
    const p = await startProxy();
    for (const mode of modes) {
      step = `proxy ${mode}`;
      const before = p.seen.length;
      await basicChecks(await runDriver("basic", s.url, { transport: mode, ca: path.join(dir, "ca.pem"),
                                                          proxy: `http://127.0.0.1:${p.port}` }), mode);
      assert.ok(p.seen.length > before, "requests went through the proxy");
      assert.ok(p.seen.slice(before).every((t) => t === `127.0.0.1:${s.port}`), JSON.stringify(p.seen));
    }
    step = "proxy refusal";
    const pr = await runDriver("open_fail", "http://127.0.0.1:1", { reconnect: 0, proxy: `http://127.0.0.1:${p.port}` });
    expectDone(pr, step);
    const pf = one(pr.events, (e) => e.ev === "open_failed", "open_failed");
    assert.strictEqual(pf.value, 6, "client_errc::proxy_failed");
    assert.match(pf.message, /403/);
    p.proxy.close();
    await stopServer(s);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // --- raw WebSocket against a ws echo server ---
  step = "raw websocket";
  {
    const s = await startServer(["--ws-echo"]);
    const r = await runDriver("ws", s.url.replace("http", "ws") + "/echo");
    await stopServer(s);
    expectDone(r, step);
    assert.strictEqual(one(r.events, (e) => e.ev === "open", "open").subprotocol, "chat.v1");
    const msgs = find(r.events, (e) => e.ev === "message");
    assert.strictEqual(msgs[0].text, "hello");
    assert.strictEqual(msgs[0].binary, false);
    assert.deepStrictEqual(msgs[1].bytes, [1, 2, 3]);
    assert.strictEqual(msgs[1].binary, true);
    assert.strictEqual(one(r.events, (e) => e.ev === "ping", "server ping").payload, "srv");
    assert.strictEqual(one(r.events, (e) => e.ev === "pong", "pong").payload, "hb");
    const c = one(r.events, (e) => e.ev === "close", "close");
    assert.strictEqual(c.code, 4001);
    assert.strictEqual(c.reason, "asked to close");
  }

  console.log("client interop: all checks passed");
  process.exit(0);
}

main().catch(fail);
