// The Admin UI with many idle sockets: sio-serve --admin-ui (--threads 1), sio-bench holding
// --clients idle WebSockets, then headless Chromium opening the served UI. Prints, as one JSON
// line: the time for the dashboard to show the client count and for the sockets page to show its
// table, the page's main-thread busy time (Chromium's TaskDuration and ScriptDuration over the
// visit), and sio-serve's CPU during the visit beside its CPU over as long without the UI.
// Loopback only; each wait is bounded (--wait-s); the whole run lasts at most a few minutes.
// Usage: node bench/admin_scale.js --serve build/tools/sio-serve --bench build/tools/sio-bench
//          [--clients 10000] [--wait-s 120] [--chromium /usr/bin/chromium]
"use strict";
const fs = require("fs");
const path = require("path");
const { spawn } = require("child_process");
const interop = path.join(__dirname, "..", "tests", "interop");
const { io } = require(path.join(interop, "node_modules", "socket.io-client"));
const { startServer, stopServer, until, launchChromium } = require(path.join(interop, "lib"));

const arg = (name, def) => {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : def;
};
const serve = arg("serve", "build/tools/sio-serve");
const bench = arg("bench", "build/tools/sio-bench");
const clients = Number(arg("clients", "10000"));
const waitMs = Number(arg("wait-s", "120")) * 1000;
const executablePath = arg("chromium", process.env.CHROMIUM || "/usr/bin/chromium");
if (!(clients >= 1 && clients <= 20000)) throw new Error("--clients 1..20000");

const ticks = Number(require("child_process").execSync("getconf CLK_TCK").toString());
function cpuSeconds(pid) {  // utime + stime of /proc/PID/stat
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

(async () => {
  const server = await startServer(serve, ["--port", "0", "--threads", "1", "--mode", "echo", "--max-connections", "12000", "--admin-ui", "--admin-mode", "production"]);
  const pid = server.child.pid;
  const load = spawn(bench, [server.url, "--scenario", "idle", "--clients", String(clients),
                             "--ramp-up", clients > 1000 ? "30s" : "1s", "--timeout", "60s", "--duration", String(Math.ceil(waitMs / 1000) * 3 + 60) + "s"],
                     { stdio: ["ignore", "ignore", "inherit"] });
  const result = { clients, serve };
  try {
    // Wait for the idle sockets through server_stats (every 2 s), on a watcher that then leaves.
    const watcher = io(server.url + "/admin", { transports: ["websocket"], forceNew: true, reconnection: false });
    let count = 0;
    watcher.on("server_stats", (s) => {
      const root = s.namespaces.find((n) => n.name === "/");
      count = root ? root.socketsCount : 0;
      if (process.env.VERBOSE) console.error(`sockets: ${count}`);
    });
    // All of them (a few may time out), or as many as came within 100 s (the count is in the result).
    await until(() => count >= clients * 0.999, `${clients} idle sockets`, 100000).catch((e) => console.error(e.message));
    result.sockets = count;
    watcher.close();
    // The server's CPU with the sockets idle and no admin client, over 10 s.
    const idle0 = cpuSeconds(pid);
    const idleStart = Date.now();
    await new Promise((r) => setTimeout(r, 10000));
    result.server_cpu_idle_per_s = round((cpuSeconds(pid) - idle0) / ((Date.now() - idleStart) / 1000), 3);

    const browser = await launchChromium([], executablePath);
    try {
      const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
      await page.route("**/*", (route) => route.request().url().startsWith(server.url + "/") ? route.continue() : route.abort());
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
      const cpu0 = cpuSeconds(pid);
      const start = Date.now();
      const m0 = await metrics();
      await page.goto(server.url + "/admin/", { timeout: waitMs });
      // The dashboard: the client count (server_stats, clients + this page) on the page.
      const want = String(result.sockets + 1);
      const shown = await timed("the dashboard's client count", async () => (await body()).includes(want));
      result.dashboard_s = typeof shown === "number" ? round((Date.now() - start) / 1000) : shown;  // from goto
      // The sockets page: its table's footer, "1-10 of N".
      const t1 = Date.now();
      await page.evaluate(() => { location.hash = "#/sockets/"; });
      let listed = null;
      const sockets = await timed("the sockets table", async () => {
        const m = (await body()).match(/\d+\s*-\s*\d+\s+of\s+(\d+)/);
        if (m) listed = Number(m[1]);
        return m !== null;
      });
      result.sockets_page_s = typeof sockets === "number" ? round((Date.now() - t1) / 1000) : sockets;
      result.sockets_listed = listed;
      // Then 10 s more on the sockets page, as a user watching it.
      await new Promise((r) => setTimeout(r, 10000));
      const responsive = Date.now();
      await page.evaluate(() => 1);  // answers only when the main thread is free
      result.evaluate_ms_after_10s = Date.now() - responsive;
      const m1 = await metrics();
      result.visit_s = round((Date.now() - start) / 1000);
      result.task_duration_s = round(m1.TaskDuration - m0.TaskDuration);
      result.script_duration_s = round(m1.ScriptDuration - m0.ScriptDuration);
      result.js_heap_mb = round(m1.JSHeapUsedSize / 1048576, 1);
      result.server_cpu_visit_s = round(cpuSeconds(pid) - cpu0);
      result.server_cpu_visit_per_s = round(result.server_cpu_visit_s / ((Date.now() - start) / 1000), 3);
    } finally {
      await browser.close();
    }
  } finally {
    console.log(JSON.stringify(result));
    load.kill("SIGINT");
    await new Promise((r) => load.once("exit", r));
    await stopServer(server).catch((e) => {
      console.error(`sio-serve: ${e.message}; killed`);
      server.child.kill("SIGKILL");
    });
  }
  process.exit(0);
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
