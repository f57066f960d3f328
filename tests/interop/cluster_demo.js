// Shared by the tests of scripts/cluster-demo (redis_haproxy.js, redis_round_robin.js): the demo
// itself (Redis, three sio-serve, HAProxy), each instance's /metrics, its polling chat clients and
// `sio-inspect doctor` through it.
"use strict";
const { spawn } = require("child_process");
const { io } = require("socket.io-client");
const lib = require("./lib");

// Starts the demo with `args` for each sio-serve and `env` added (HAPROXY_CFG); resolves with
// { child, url (HAProxy's), nodes (HOST:PORT of each sio-serve) } once it has printed them.
function startDemo(demo, serve, { args = [], env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [demo, ...args], { env: { ...process.env, ...env, SIO_SERVE: serve },
                                                  stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`cluster-demo did not print its URL: ${out}`)), 30000);
    const onData = (c) => {
      out += c;
      const url = out.match(/open (http:\/\/127\.0\.0\.1:\d+)/);
      const nodes = out.match(/sio-serve on ((?:127\.0\.0\.1:\d+ ?){3})/);
      if (url && nodes) {
        clearTimeout(timer);
        resolve({ child, url: url[1], nodes: nodes[1].trim().split(" ") });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`cluster-demo exited with ${code}: ${out}`)); });
    // The demo's trap stops its processes on SIGTERM.
    process.on("exit", () => { try { process.kill(-child.pid, "SIGTERM"); } catch {} });
  });
}

// One sample of a metric (the first line that matches `name{labels}` or `name`) of a node, 0 when absent.
// A series of the /metrics of `node` (HOST:PORT); 0 when it is not there.
const metric = (node, name) => lib.metric(`http://${node}`, name, 0);

// `count` socket.io-client clients of the demo's chat (polling only unless `transports` says
// otherwise); with keepCookies they store and send HAProxy's cookie. Each records the chat
// messages it got (`got`, text -> times) and what went wrong (`problems`).
function chatClients(url, count, { keepCookies = false, transports = ["polling"], name = "user" } = {}) {
  const clients = [];
  for (let i = 0; i < count; i++) {
    const s = io(url, { transports, forceNew: true, reconnection: false, withCredentials: keepCookies,
                        auth: { name: `${name}${i}` } });
    s.got = new Map();
    s.problems = [];
    s.on("chat message", (m) => s.got.set(m.text, (s.got.get(m.text) || 0) + 1));
    s.on("user connected", (u) => (s.lastTotal = u.total));
    s.on("online users", (list) => (s.online = list));
    s.on("connect_error", (e) => s.problems.push(`connect_error ${e.message}`));
    s.on("disconnect", (r) => s.problems.push(`disconnect ${r}`));
    clients.push(s);
  }
  return clients;
}

// `sio-inspect doctor --json` through `url`: its findings (the lines with a check).
async function doctorFindings(inspect, url) {
  const out = await new Promise((resolve) => {
    const child = spawn(inspect, ["doctor", "--json", "--timeout", "3000", url], { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (c) => { text += c; });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30000);
    child.on("exit", (code) => { clearTimeout(timer); resolve({ code, text }); });
  });
  return { text: out.text, findings: out.text.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.check) };
}

module.exports = { startDemo, metric, chatClients, doctorFindings };
