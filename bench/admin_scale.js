// The Admin UI with many idle sockets: sio-serve --admin-ui (--threads 1), sio-bench holding
// --clients idle WebSockets, then headless Chromium opening the served UI. Prints, as one JSON
// line: the time for the dashboard to show the client count and for the sockets page to show its
// table, the page's main-thread busy time (Chromium's TaskDuration and ScriptDuration over the
// visit) and JS heap, and each sio-serve's CPU during the visit beside its CPU over as long without
// the UI.
// With --servers N (2..5) the sockets are spread over a cluster: a redis-server on a free port, N
// sio-serve --redis, each with sio-bench processes of at most 9,000 sockets (a sio-serve holds at
// most 18,000: the fd limit here is 20,000), and the UI opened on the first server; its dashboard
// counts the sockets of every server.
// Loopback only; each wait is bounded (--wait-s); the whole run lasts at most a few minutes, and
// every process it started is stopped at the end.
// Usage: node bench/admin_scale.js --serve build/tools/sio-serve --bench build/tools/sio-bench
//          [--clients 10000] [--servers 1] [--redis-server redis-server] [--ramp-up-s 30]
//          [--wait-s 120] [--chromium /usr/bin/chromium] [--flags "--admin-ui-max-sockets 1000"]
"use strict";
const fs = require("fs");
const path = require("path");
const { spawn, execSync } = require("child_process");
const interop = path.join(__dirname, "..", "tests", "interop");
const { io } = require(path.join(interop, "node_modules", "socket.io-client"));
const { startServer, stopServer, until, launchChromium, startRedis } = require(path.join(interop, "lib"));

const arg = (name, def) => {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : def;
};
const serve = arg("serve", "build/tools/sio-serve");
const bench = arg("bench", "build/tools/sio-bench");
const clients = Number(arg("clients", "10000"));
const servers = Number(arg("servers", "1"));
const redisServer = arg("redis-server", "redis-server");
const rampUpS = Number(arg("ramp-up-s", clients > 1000 ? "30" : "1"));
const waitMs = Number(arg("wait-s", "120")) * 1000;
const executablePath = arg("chromium", process.env.CHROMIUM || "/usr/bin/chromium");
const extraFlags = arg("flags", "").split(" ").filter(Boolean);
const perProcess = 18000;  // sockets of one sio-serve
const perBench = 9000;  // sockets of one sio-bench
if (!(servers >= 1 && servers <= 5)) throw new Error("--servers 1..5");
if (!(clients >= 1 && clients <= perProcess * servers)) throw new Error(`--clients 1..${perProcess * servers} with --servers ${servers}`);
if (!(rampUpS >= 1 && rampUpS <= 120)) throw new Error("--ramp-up-s 1..120");
const share = (i) => Math.floor(clients / servers) + (i < clients % servers ? 1 : 0);

const ticks = Number(execSync("getconf CLK_TCK").toString());
function cpuSeconds(pid) {  // utime + stime of /proc/PID/stat
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every sio-serve's CPU over `ms` from now, per second.
async function cpuPerSecond(pids, ms) {
  const before = pids.map(cpuSeconds);
  const start = Date.now();
  await sleep(ms);
  const s = (Date.now() - start) / 1000;
  return pids.map((p, i) => round((cpuSeconds(p) - before[i]) / s, 3));
}

// The sio-serve (one, or `servers` on a new redis-server) and a sio-bench for each.
async function startAll(started) {
  const common = ["--port", "0", "--threads", "1", "--mode", "echo", "--max-connections", String(perProcess + 1000),
                  "--admin-ui", "--admin-mode", "production", ...extraFlags];
  let redisUrl = null;
  if (servers > 1) {
    const redis = await startRedis(redisServer);
    started.redis = redis.child;
    redisUrl = `redis://127.0.0.1:${redis.port}`;
  }
  for (let i = 0; i < servers; i++) {
    started.serves.push(await startServer(serve, redisUrl ? [...common, "--redis", redisUrl] : common));
  }
  const durationS = Math.ceil(waitMs / 1000) * 3 + 60;
  for (let i = 0; i < servers; i++) {
    // At most perBench sockets per sio-bench process.
    const procs = Math.ceil(share(i) / perBench);
    for (let k = 0; k < procs; k++) {
      const n = Math.floor(share(i) / procs) + (k < share(i) % procs ? 1 : 0);
      const load = spawn(bench, [started.serves[i].url, "--scenario", "idle", "--clients", String(n),
                                 "--ramp-up", `${rampUpS}s`, "--timeout", "60s", "--duration", `${durationS}s`],
                         { stdio: ["ignore", "ignore", "inherit"] });
      started.loads.push(load);
    }
  }
}

// Waits for the idle sockets through server_stats (every 2 s; with a cluster, every server's),
// on an admin client of the first server that then leaves. Resolves with their number.
async function idleSockets(url) {
  const watcher = io(url + "/admin", { transports: ["websocket"], forceNew: true, reconnection: false });
  const counts = new Map();  // serverId -> sockets on "/"
  watcher.on("server_stats", (s) => {
    const root = s.namespaces.find((n) => n.name === "/");
    counts.set(s.serverId, root ? root.socketsCount : 0);
    if (process.env.VERBOSE) console.error(`sockets: ${[...counts.values()]}`);
  });
  const total = () => (counts.size === servers ? [...counts.values()].reduce((a, b) => a + b, 0) : 0);
  // All of them (a few may time out), or as many as came within the ramp-up and 70 s.
  await until(() => total() >= clients * 0.999, `${clients} idle sockets`, rampUpS * 1000 + 70000)
    .catch((e) => console.error(e.message));
  watcher.close();
  return total();
}

// The visit: open the page, wait for the dashboard's count (server_stats: every server's clients,
// and this page), switch to the sockets page, wait for its table, stay 10 s.
async function visit(url, sockets, pids, result) {
  const browser = await launchChromium([], executablePath);
  try {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    await page.route("**/*", (route) => route.request().url().startsWith(url + "/") ? route.continue() : route.abort());
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const metrics = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
    const body = () => page.evaluate(() => document.body ? document.body.innerText : "");
    const timed = async (what, pred) => {
      const t = Date.now();
      try {
        await until(pred, what, waitMs);
        return round((Date.now() - t) / 1000);
      } catch (e) {
        if (process.env.VERBOSE) console.error(`${what}: ${(await body()).slice(0, 600)}`);
        return `>${waitMs / 1000}`;
      }
    };
    const cpu0 = pids.map(cpuSeconds);
    const start = Date.now();
    const m0 = await metrics();
    await page.goto(url + "/admin/", { timeout: waitMs });
    const want = String(sockets + 1);
    const shown = await timed("the dashboard's client count", async () => (await body()).includes(want));
    result.dashboard_s = typeof shown === "number" ? round((Date.now() - start) / 1000) : shown;  // from goto
    // The sockets page: its table's footer, "1-10 of N".
    const t1 = Date.now();
    await page.evaluate(() => { location.hash = "#/sockets/"; });
    let listed = null;
    const table = await timed("the sockets table", async () => {
      const m = (await body()).match(/\d+\s*-\s*\d+\s+of\s+(\d+)/);
      if (m) listed = Number(m[1]);
      return m !== null;
    });
    result.sockets_page_s = typeof table === "number" ? round((Date.now() - t1) / 1000) : table;
    result.sockets_listed = listed;
    await sleep(10000);
    const responsive = Date.now();
    await page.evaluate(() => 1);  // answers only when the main thread is free
    result.evaluate_ms_after_10s = Date.now() - responsive;
    const m1 = await metrics();
    const visitS = (Date.now() - start) / 1000;
    result.visit_s = round(visitS);
    result.task_duration_s = round(m1.TaskDuration - m0.TaskDuration);
    result.script_duration_s = round(m1.ScriptDuration - m0.ScriptDuration);
    result.js_heap_mb = round(m1.JSHeapUsedSize / 1048576, 1);
    result.server_cpu_visit_s = pids.map((p, i) => round(cpuSeconds(p) - cpu0[i]));
    result.server_cpu_visit_per_s = result.server_cpu_visit_s.map((c) => round(c / visitS, 3));
  } finally {
    await browser.close();
  }
}

async function stopAll(started) {
  for (const load of started.loads) {
    if (load.exitCode === null && load.signalCode === null) {
      load.kill("SIGINT");
      await Promise.race([new Promise((r) => load.once("exit", r)), sleep(10000)]);
      if (load.exitCode === null && load.signalCode === null) load.kill("SIGKILL");
    }
  }
  for (const server of started.serves) {
    await stopServer(server).catch((e) => {
      console.error(`sio-serve: ${e.message}; killed`);
      server.child.kill("SIGKILL");
    });
  }
  if (started.redis) started.redis.kill("SIGKILL");
}

(async () => {
  const started = { serves: [], loads: [], redis: null };
  process.on("exit", () => { for (const load of started.loads) load.kill("SIGKILL"); });
  const result = { clients, servers, serve };
  try {
    await startAll(started);
    const url = started.serves[0].url;
    const pids = started.serves.map((s) => s.child.pid);
    result.sockets = await idleSockets(url);
    // Every server's CPU with the sockets idle and no admin client, over 10 s.
    result.server_cpu_idle_per_s = await cpuPerSecond(pids, 10000);
    await visit(url, result.sockets, pids, result);
  } finally {
    console.log(JSON.stringify(result));
    await stopAll(started);
  }
  process.exit(0);
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
