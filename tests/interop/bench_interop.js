// sio-bench against real servers: sio-serve and the Node socket.io 4.8 server (bench_node_server.js).
// Per transport the counts add up (every ack received or counted as an error), the percentiles
// are ordered, the bytes per layer fit the transport; polling never asks for an upgrade; the
// bytes per message agree with a count taken by a TCP proxy in this script; --transport all
// gives three runs; broadcast delivers every message to every listener; a server that stalls
// once for a second shows in the corrected latency and not in the uncorrected; --raw echoes
// over plain WebSocket; an unreachable server is exit 3 with one line that names the cause.
// Usage: node bench_interop.js PATH/TO/sio-bench PATH/TO/sio-serve
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const net = require("net");
const os = require("os");
const path = require("path");
const { fail, startServer, deadline } = require("./lib");

const bench = process.argv[2] || fail("usage: node bench_interop.js SIO_BENCH SIO_SERVE");
const serve = process.argv[3] || fail("usage: node bench_interop.js SIO_BENCH SIO_SERVE");
deadline(160000);

const check = (cond, what, detail) => { if (!cond) fail(`${what}${detail ? ": " + JSON.stringify(detail) : ""}`); };

// Runs sio-bench with --json; resolves with { code, runs, err }.
function run(args) {
  return new Promise((resolve) => {
    const child = spawn(bench, ["--json", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      let runs;
      try { runs = out.split("\n").filter(Boolean).map((l) => JSON.parse(l)); } catch (e) { fail(`not one JSON object a line: ${out}`); }
      resolve({ code, runs, err });
    });
  });
}

function ordered(h, what) {
  check(h.p50 <= h.p90 && h.p90 <= h.p99 && h.p99 <= h.p999 && h.p999 <= h.max, `${what}: percentiles out of order`, h);
}

// One clean echo run: every message answered, nothing lost, the layers fit the transport.
function cleanEcho(r, transport, payload, where) {
  const w = `${where} ${transport}`;
  check(r.scenario === "echo" && r.transport === transport, `${w}: scenario/transport`, r);
  check(r.connected === r.clients, `${w}: every client connected`, r);
  check(r.received > 0, `${w}: nothing received`, r);
  check(r.errors === 0, `${w}: errors`, r.errors_by_kind);
  check(r.sent === r.received, `${w}: sent ${r.sent} != received ${r.received}`);
  ordered(r.latency_us, `${w} latency`);
  ordered(r.latency_uncorrected_us, `${w} uncorrected latency`);
  check(r.latency_us.max > 0, `${w}: no latency recorded`, r.latency_us);
  const b = r.bytes_per_msg;
  check(b.payload === 2 * payload, `${w}: payload bytes`, b);
  check(b.protocol > 0 && b.protocol < 100, `${w}: protocol bytes`, b);
  check(Math.abs(b.total - (b.http + b.ws_framing + b.protocol + b.payload)) < 1e-6, `${w}: total is not the sum`, b);
  if (transport === "polling") {
    check(b.http > 100 && b.ws_framing === 0, `${w}: polling has HTTP headers and no framing`, b);
    check(r.http_requests_per_msg >= 1, `${w}: at least one request per message over polling`, r);
  } else {
    check(b.ws_framing >= 8 && b.ws_framing <= 28, `${w}: WebSocket framing of a masked frame out (6+) and one back (2+)`, b);
  }
  if (transport === "websocket") check(b.http === 0, `${w}: no HTTP after the handshake`, b);
}

// A TCP proxy that counts the bytes going through it both ways.
function countingProxy(targetPort) {
  return new Promise((resolve) => {
    const stats = { bytes: 0 };
    const server = net.createServer((a) => {
      const b = net.connect(targetPort, "127.0.0.1");
      a.on("data", (d) => { stats.bytes += d.length; b.write(d); });
      b.on("data", (d) => { stats.bytes += d.length; a.write(d); });
      a.on("close", () => b.destroy());
      b.on("close", () => a.destroy());
      a.on("error", () => b.destroy());
      b.on("error", () => a.destroy());
    });
    server.listen(0, "127.0.0.1", () => resolve({ server, stats, port: server.address().port }));
  });
}

async function echoSuite(url, port, where, upgrades) {
  const short = ["--clients", "3", "--duration", "1s", "--rate", "20", "--payload", "50"];
  for (const t of ["websocket", "polling", "upgrade"]) {
    const seenBefore = upgrades ? upgrades() : 0;
    const { code, runs, err } = await run([url, "--transport", t, ...short]);
    check(code === 0, `${where} ${t}: exit ${code}`, err);
    check(runs.length === 1, `${where} ${t}: one JSON object`, runs);
    cleanEcho(runs[0], t, 50, where);
    if (upgrades) {
      const seen = upgrades() - seenBefore;
      if (t === "polling") check(seen === 0, `${where}: polling asked for ${seen} WebSocket upgrade(s)`);
      else check(seen === 3, `${where} ${t}: expected 3 upgrade requests, saw ${seen}`);
    }
  }
  // Side by side.
  const all = await run([url, "--transport", "all", "--clients", "2", "--duration", "500ms", "--rate", "20"]);
  check(all.code === 0, `${where} all: exit ${all.code}`, all.err);
  check(JSON.stringify(all.runs.map((r) => r.transport)) === JSON.stringify(["websocket", "polling", "upgrade"]),
        `${where}: --transport all gives websocket, polling, upgrade`, all.runs.map((r) => r.transport));
  all.runs.forEach((r) => cleanEcho(r, r.transport, 32, `${where} all`));

  // --csv: a header and one row per run; --ensure decides the exit status (9 when it fails).
  const csv = await new Promise((resolve) => {
    const child = spawn(bench, [url, "--csv", "--transport", "all", "--clients", "1", "--duration", "300ms",
                                "--ensure", "errors=0,received>1000000000"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", (code) => resolve({ code, lines: out.trim().split("\n"), err }));
  });
  check(csv.code === 9, `${where} --ensure: exit ${csv.code}, expected 9`, csv.err);
  check((csv.err.match(/failed: received>1000000000 \(was \d+\)/g) || []).length === 3, `${where} --ensure: one failure per run`, csv.err);
  check(csv.lines.length === 4 && csv.lines[0].startsWith("scenario,transport,"), `${where} --csv: header and three rows`, csv.lines);
  const cols = csv.lines[0].split(",");
  csv.lines.slice(1).forEach((line, i) => {
    const cells = line.split(",");
    check(cells.length === cols.length, `${where} --csv: row ${i} has ${cells.length} cells for ${cols.length} columns`);
    check(cells[1] === ["websocket", "polling", "upgrade"][i] && Number(cells[cols.indexOf("received")]) > 0, `${where} --csv row`, line);
  });
  const report = path.join(os.tmpdir(), `sio-bench-${process.pid}.html`);
  const ok = await run([url, "--clients", "1", "--duration", "300ms", "--ensure", "errors=0,received>0", "--html", report]);
  check(ok.code === 0, `${where} --ensure that holds: exit ${ok.code}`, ok.err);
  const page = fs.readFileSync(report, "utf8");
  fs.unlinkSync(report);
  check(page.startsWith("<!DOCTYPE html>") && (page.match(/<svg /g) || []).length === 2 && (page.match(/<polyline /g) || []).length === 4 &&
        !page.includes("<script"), `${where} --html: a page with two plots`, page.slice(0, 300));

  // The bytes per message against a count taken by a proxy: what the proxy saw, less what the
  // messages account for, is the connections' own cost (handshake, CONNECT, close), which is
  // bounded per client.
  const proxy = await countingProxy(port);
  for (const t of ["websocket", "polling"]) {
    proxy.stats.bytes = 0;
    const clients = 2, payload = 1000;
    const r = await run([`http://127.0.0.1:${proxy.port}`, "--transport", t, "--clients", String(clients),
                         "--duration", "1s", "--rate", "40", "--payload", String(payload)]);
    check(r.code === 0, `${where} proxy ${t}: exit ${r.code}`, r.err);
    const x = r.runs[0];
    cleanEcho(x, t, payload, `${where} via proxy`);
    const accounted = x.received * x.bytes_per_msg.total;
    const rest = proxy.stats.bytes - accounted;
    const allowance = clients * (t === "polling" ? 4000 : 1500);
    console.log(`${where} ${t}: proxy ${proxy.stats.bytes} bytes, ${x.received} messages x ${x.bytes_per_msg.total} = ${accounted}, rest ${rest}`);
    check(rest >= 0 && rest <= allowance,
          `${where} ${t}: the proxy counted ${proxy.stats.bytes} bytes, the messages account for ${accounted} ` +
          `(${x.received} x ${x.bytes_per_msg.total}); the rest ${rest} is not within 0..${allowance}`);
  }
  proxy.server.close();

  // Broadcast: every listener gets every message; fan-out completion is no earlier than a delivery.
  const bc = await run([url, "--scenario", "broadcast", "--clients", "4", "--senders", "2", "--rate", "10", "--duration", "1s"]);
  check(bc.code === 0, `${where} broadcast: exit ${bc.code}`, { err: bc.err, runs: bc.runs });
  const b = bc.runs[0];
  check(b.sent > 0 && b.expected === b.sent * 4 && b.received === b.expected && b.errors === 0,
        `${where} broadcast: every listener gets every message`, b);
  ordered(b.latency_us, `${where} broadcast latency`);
  ordered(b.fanout_us, `${where} fan-out`);
  check(b.fanout_us.max >= b.latency_us.p50, `${where}: fan-out completes before a median delivery`, b);

  // Connect: connections in a loop, each counted once.
  const cn = await run([url, "--scenario", "connect", "--clients", "2", "--duration", "1s", "--transport", "polling"]);
  check(cn.code === 0, `${where} connect: exit ${cn.code}`, cn.err);
  const c = cn.runs[0];
  check(c.connected > 2 && c.connected === c.received && c.errors === 0, `${where} connect: connections counted`, c);
  ordered(c.connect_us, `${where} connect time`);
  check(c.connect_phases_us && !c.connect_phases_us.upgrade, `${where} connect over polling: phases without an upgrade`, c.connect_phases_us);
  ordered(c.connect_phases_us.engine_open, `${where} engine open phase`);
  ordered(c.connect_phases_us.namespace_connect, `${where} namespace phase`);
  check(c.connect_phases_us.engine_open.p50 <= c.connect_us.max, `${where}: a phase longer than the whole`, c);
  // Over upgrade a connection counts once upgraded, and the upgrade is timed.
  const up = await run([url, "--scenario", "connect", "--clients", "2", "--duration", "1s", "--transport", "upgrade", "--threads", "2"]);
  check(up.code === 0, `${where} connect upgrade: exit ${up.code}`, up.err);
  const u = up.runs[0];
  check(u.received > 0 && u.errors === 0 && u.connect_phases_us.upgrade && u.connect_phases_us.upgrade.max > 0,
        `${where} connect over upgrade: upgrades timed`, u);

  // Several threads: counters summed, nothing lost.
  const mt = await run([url, "--transport", "polling", "--clients", "6", "--threads", "3", "--duration", "1s", "--rate", "20"]);
  check(mt.code === 0, `${where} threads: exit ${mt.code}`, mt.err);
  cleanEcho(mt.runs[0], "polling", 32, `${where} --threads 3`);
}

(async () => {
  // sio-serve.
  const s = await startServer(serve, ["--port", "0"]);
  await echoSuite(s.url, s.port, "sio-serve");
  const idle = await run([s.url, "--scenario", "idle", "--clients", "20", "--duration", "1s", "--server-pid", String(s.child.pid)]);
  check(idle.code === 0 && idle.runs[0].connected === 20 && idle.runs[0].server_rss_kib > 0 &&
        typeof idle.runs[0].server_rss_kib_per_conn === "number", "sio-serve idle: server memory reported", idle);

  // Ctrl-C ends a long run early, with its figures so far and exit 130.
  const started = Date.now();
  const intr = await new Promise((resolve) => {
    const child = spawn(bench, [s.url, "--json", "--clients", "2", "--duration", "60s", "--rate", "20"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    setTimeout(() => child.kill("SIGINT"), 1500);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
    child.on("exit", (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
  check(intr.code === 130, `SIGINT: exit ${intr.code}, expected 130`, intr.out);
  check(Date.now() - started < 15000, "SIGINT: the run did not end early");
  const ir = JSON.parse(intr.out.trim());
  check(ir.received > 0 && ir.duration_s < 10, "SIGINT: the figures so far, over the time run", ir);
  s.child.kill("SIGTERM");

  // The Node socket.io 4.8 server, which also reports every upgrade request it sees.
  const script = path.join(__dirname, "bench_node_server.js");
  const n = await startServer(process.execPath, [script]);
  let upgrades = 0;
  n.child.stdout.on("data", (d) => { upgrades += (d.toString().match(/^UPGRADE /gm) || []).length; });
  await echoSuite(n.url, n.port, "node", () => upgrades);
  // A namespace the server refuses: every client's CONNECT_ERROR counted by its message, exit 3.
  const nsp = await run([n.url, "--namespace", "/nope", "--clients", "2", "--duration", "500ms"]);
  check(nsp.code === 3 && nsp.runs[0].errors_by_kind["connect_error: Invalid namespace"] === 2,
        `refused namespace: exit ${nsp.code}`, nsp.runs);
  n.child.kill("SIGTERM");

  // A server that relays every broadcast 400 ms late: the last deliveries arrive after the
  // window of one second has ended, and are still counted (the listeners wait for them).
  const late = await startServer(process.execPath, [script, "--relay-delay", "400"]);
  const lb = await run([late.url, "--scenario", "broadcast", "--clients", "3", "--senders", "1", "--rate", "20", "--duration", "1s"]);
  const l = lb.runs[0];
  check(lb.code === 0 && l.sent > 0 && l.received === l.expected && l.errors === 0,
        "broadcast relayed late: every delivery counted, none reported missed", { code: lb.code, err: lb.err, run: l });
  late.child.kill("SIGTERM");

  // A server that answers one echo a second late: the corrected latency shows the stall, the
  // uncorrected one (one message in a hundred and more) does not reach its p99.
  const stall = await startServer(process.execPath, [script, "--stall-once", "1000"]);
  const st = await run([stall.url, "--clients", "1", "--rate", "50", "--duration", "3s", "--timeout", "5s"]);
  check(st.code === 0, `stall: exit ${st.code}`, st.err);
  const sr = st.runs[0];
  check(sr.errors === 0 && sr.received === sr.sent, "stall: every message answered", sr);
  check(sr.latency_us.max >= 1000000, "stall: corrected max below the stall", sr.latency_us);
  check(sr.latency_uncorrected_us.max >= 1000000, "stall: the stalled message itself", sr.latency_uncorrected_us);
  check(sr.latency_us.p99 >= 500000, "stall: the corrected p99 does not show the stall", sr.latency_us);
  check(sr.latency_uncorrected_us.p99 < sr.latency_us.p99, "stall: uncorrected p99 not below corrected", sr);
  stall.child.kill("SIGTERM");

  // --raw over a plain WebSocket echo server.
  const ws = await startServer(process.execPath, [script, "--ws-echo"]);
  const raw = await run([ws.url.replace("http://", "ws://"), "--raw", "--clients", "2", "--duration", "1s", "--rate", "20", "--payload", "10"]);
  check(raw.code === 0, `raw: exit ${raw.code}`, raw.err);
  const rr = raw.runs[0];
  check(rr.transport === "raw-websocket" && rr.received > 0 && rr.received === rr.sent && rr.errors === 0, "raw: every echo back", rr);
  check(rr.bytes_per_msg.payload === 20 && rr.bytes_per_msg.protocol === 0 && rr.bytes_per_msg.ws_framing === 8, "raw: bytes per layer", rr.bytes_per_msg);
  ws.child.kill("SIGTERM");

  // Nothing listening: exit 3 and a sentence that says so, quickly.
  const closed = net.createServer();
  await new Promise((r) => closed.listen(0, "127.0.0.1", r));
  const deadPort = closed.address().port;
  closed.close();
  const dead = await run([`http://127.0.0.1:${deadPort}`, "--clients", "2", "--duration", "1s"]);
  check(dead.code === 3, `unreachable: exit ${dead.code}, expected 3`, dead.err);
  check(dead.err === `sio-bench: cannot connect to 127.0.0.1:${deadPort}: Connection refused\n`, "unreachable: one line with the cause", dead.err);
  check(dead.runs.length === 1 && dead.runs[0].connected === 0 && dead.runs[0].errors === 2, "unreachable: errors counted", dead.runs);
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
