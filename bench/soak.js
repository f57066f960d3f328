// Soak: churns connections with traffic through sio-serve for a bounded time and records the
// server's resident memory after each round. After a warm-up, memory must stop growing: a
// server that leaks a little per session shows a steady climb over thousands of sessions.
//
// Usage: node bench/soak.js --serve PATH [--duration S] [--clients N] [--messages M] [--out FILE]
//   --duration S   rounds start until S seconds have passed (default 60)
//   --clients N    connections opened per round, half WebSocket, half polling (default 200)
//   --messages M   acked echoes plus chat messages per connection and round (default 5)
//   --out FILE     also write the samples as CSV (round,seconds,sessions,rss_kib)
// Prints one line per round and a summary; exits 1 when memory kept growing after warm-up.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const { io } = require(path.join(root, "tests/interop/node_modules/socket.io-client"));

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const serve = arg("--serve", path.join(root, "build/tools/sio-serve"));
const durationS = Number(arg("--duration", "60"));
const clients = Number(arg("--clients", "200"));
const messages = Number(arg("--messages", "5"));
const outFile = arg("--out", "");
for (const [name, v] of [["--duration", durationS], ["--clients", clients], ["--messages", messages]]) {
  if (!Number.isInteger(v) || v <= 0 || v > 100000) { console.error(`soak: ${name} must be a positive whole number`); process.exit(2); }
}

function rssKib(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : NaN;
}

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(serve, ["--port", "0", "-q", "--rate-limit", "0", "--max-connections", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let seen = "";
    const timer = setTimeout(() => reject(new Error("sio-serve did not start: " + seen)), 10000);
    const on = (d) => {
      seen += d;
      const m = seen.match(/listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1] }); }
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.on("exit", (code) => reject(new Error(`sio-serve exited with ${code}: ${seen}`)));
  });
}

// One client's life: connect, name itself, echo with acks, chat, leave. Resolves with the number
// of acks received; rejects after 10 s.
function life(url, i, round) {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: i % 2 ? ["polling"] : ["websocket"], forceNew: true, reconnection: false, timeout: 10000 });
    const timer = setTimeout(() => { s.close(); reject(new Error("client stuck")); }, 10000);
    s.on("connect_error", (e) => { clearTimeout(timer); reject(e); });
    s.on("connect", async () => {
      try {
        s.emit("set name", `soak-${round}-${i}`);
        let acks = 0;
        for (let m = 0; m < messages; ++m) {
          const reply = await s.timeout(5000).emitWithAck("echo", { round, i, m, pad: "x".repeat(64) });
          if (reply && reply.m === m) ++acks;
          s.emit("chat message", `message ${m}`);
        }
        s.close();
        clearTimeout(timer);
        resolve(acks);
      } catch (e) {
        clearTimeout(timer);
        s.close();
        reject(e);
      }
    });
  });
}

(async () => {
  const server = await startServer();
  const start = Date.now();
  const samples = [];
  let sessions = 0;
  let lostAcks = 0;
  const baseline = rssKib(server.child.pid);
  console.log(`soak: ${serve}, ${clients} connections per round for ${durationS} s, baseline RSS ${baseline} KiB`);
  for (let round = 1; (Date.now() - start) / 1000 < durationS && round <= 100000; ++round) {
    const results = await Promise.allSettled(Array.from({ length: clients }, (_, i) => life(server.url, i, round)));
    for (const r of results) {
      if (r.status === "rejected") { console.error(`soak: round ${round}: ${r.reason}`); process.exitCode = 1; }
      else lostAcks += messages - r.value;
    }
    sessions += clients;
    await new Promise((r) => setTimeout(r, 100));  // let the closes land
    const sample = { round, seconds: (Date.now() - start) / 1000, sessions, rss: rssKib(server.child.pid) };
    samples.push(sample);
    console.log(`round ${String(round).padStart(4)}  ${sample.seconds.toFixed(1).padStart(6)} s  ${String(sessions).padStart(7)} sessions  RSS ${sample.rss} KiB`);
  }
  server.child.kill("SIGTERM");
  if (outFile) fs.writeFileSync(outFile, "round,seconds,sessions,rss_kib\n" + samples.map((s) => `${s.round},${s.seconds},${s.sessions},${s.rss}`).join("\n") + "\n");

  // Growth after warm-up: the peak of the last half against the peak of the warm-up (the first
  // quarter, at least two rounds), with room for allocator noise.
  if (samples.length < 4) { console.error("soak: too few rounds to judge; raise --duration"); process.exit(1); }
  const warm = samples.slice(0, Math.max(2, Math.floor(samples.length / 4)));
  const late = samples.slice(Math.floor(samples.length / 2));
  const warmPeak = Math.max(...warm.map((s) => s.rss));
  const latePeak = Math.max(...late.map((s) => s.rss));
  const allowed = Math.round(warmPeak * 1.1 + 4096);
  console.log(`summary: ${sessions} sessions in ${samples.length} rounds; RSS ${baseline} KiB at start, peak ${warmPeak} KiB ` +
              `during warm-up, peak ${latePeak} KiB in the second half (allowed ${allowed}); ${lostAcks} acks lost`);
  if (lostAcks > 0) { console.error("soak: acks were lost"); process.exitCode = 1; }
  if (latePeak > allowed) { console.error("soak: memory kept growing after warm-up"); process.exitCode = 1; }
})().catch((e) => { console.error("soak: " + (e.stack || e)); process.exit(1); });
