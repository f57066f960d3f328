// sio-inspect doctor and handshake against the python-socketio server (python_sio_server.py,
// AsyncServer on aiohttp: Debian's python3-socketio and python3-aiohttp) and the Node socket.io
// server: doctor finds both healthy (exit 0: no "sticky" or "msgpack" blame for a server that
// refuses what a client may not send), and both commands end their sessions as a client leaves
// (a Socket.IO DISCONNECT, then the Engine.IO close), so that the server sees the client go at
// once instead of a ghost until its ping timeout (45 s by default). Behind a round robin without
// stickiness, python-engineio's refusal ("Invalid session") is read as Node's "Session ID unknown".
// Usage: node inspect_python.js PATH/TO/sio-inspect (SIO_PYTHON: another interpreter than
// /usr/bin/python3)
"use strict";
const http = require("http");
const path = require("path");
const { Server } = require("socket.io");
const { fail, startServer, until, deadline, runTool } = require("./lib");

const inspect = process.argv[2] || fail("usage: node inspect_python.js SIO_INSPECT");
// Debian's interpreter: the one python3-socketio is installed for.
const python = process.env.SIO_PYTHON || "/usr/bin/python3";
deadline(90000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };
// A departure the server sees this long after the tool exited is prompt; a ghost session lasts
// pingInterval + pingTimeout (45 s by default, 25 s + 20 s in python-engineio).
const PROMPT_MS = 3000;

const run = (args) => runTool(inspect, args);
const doctor = (url, ...extra) => run(["doctor", "--json", "--timeout", "5000", url, ...extra]);
const handshake = (url, ...extra) => run(["handshake", "--json", "--timeout", "5000", url, ...extra]);

// The python server's events, from its standard output: [["connect", sid], ["disconnect", sid]].
function pythonEvents(server) {
  return server.output().split("\n").map((l) => l.trim().split(" ")).filter((w) => w[0] === "connect" || w[0] === "disconnect");
}
// Every session that connected has left, within PROMPT_MS of now.
async function allLeft(events, what) {
  try {
    await until(() => {
      const e = events();
      const joined = e.filter((x) => x[0] === "connect").map((x) => x[1]);
      return joined.length > 0 && joined.every((sid) => e.some((x) => x[0] === "disconnect" && x[1] === sid));
    }, `${what}: the server to see the client leave`, PROMPT_MS);
  } catch (e) {
    fail(`${what}: the session was not ended (server events: ${JSON.stringify(events())})`);
  }
}

(async () => {
  // --- python-socketio ------------------------------------------------------------------------------
  const py = await startServer(python, [path.join(__dirname, "python_sio_server.py"), "--ping-interval", "1"]);
  let r = await doctor(py.url);
  const checks = r.lines.filter((l) => l.check);
  eq([r.code, r.lines[r.lines.length - 1].summary, checks.filter((c) => c.status === "fail").map((c) => c.check)],
     [0, "healthy", []], "doctor against python-socketio: exit, verdict, failures");
  for (const check of ["reachable", "socket.io", "sticky", "namespace", "websocket"]) {
    if (!checks.some((c) => c.check === check && c.status === "ok")) fail(`python-socketio: no passing '${check}' check: ${JSON.stringify(checks)}`);
  }
  if (/msgpack/.test(JSON.stringify(checks))) fail("python-socketio: a parser is blamed: " + JSON.stringify(checks));
  if (r.err !== "") fail("doctor against python-socketio wrote to stderr: " + r.err);
  await allLeft(() => pythonEvents(py), "doctor against python-socketio");
  eq(pythonEvents(py).length, 2, "doctor against python-socketio: one connection, one departure");

  for (const transport of ["upgrade", "polling", "websocket"]) {
    const before = pythonEvents(py).length;
    r = await handshake(py.url, "--transport", transport, "--no-ping");
    const phases = r.lines.map((p) => `${p.phase}:${p.ok ? "ok" : "fail"}`);
    eq([r.code, phases.includes("connect:ok")], [0, true], `handshake --transport ${transport} against python-socketio`);
    await allLeft(() => pythonEvents(py).slice(before), `handshake --transport ${transport} against python-socketio`);
  }
  // With the heartbeat: the session is on WebSocket when it ends.
  const before = pythonEvents(py).length;
  r = await handshake(py.url);
  eq([r.code, r.lines[r.lines.length - 1].phase], [0, "heartbeat"], "handshake against python-socketio with the first ping");
  await allLeft(() => pythonEvents(py).slice(before), "handshake against python-socketio with the first ping");

  // Two python servers behind a round robin without stickiness: the requests naming the session
  // that reach the other one are refused with python-engineio's words ("Invalid session", a
  // plain-text 400), which doctor must read as Node's "Session ID unknown".
  const py2 = await startServer(python, [path.join(__dirname, "python_sio_server.py")]);
  let turn = 0;
  const rr = http.createServer((req, res) => {
    const u = new URL([py.url, py2.url][turn++ % 2]);
    const fwd = http.request({ host: u.hostname, port: u.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    fwd.on("error", () => { res.writeHead(502); res.end(); });
    req.pipe(fwd);
  });
  await new Promise((res) => rr.listen(0, "127.0.0.1", res));
  r = await doctor(`http://127.0.0.1:${rr.address().port}`);
  const sticky = r.lines.find((l) => l.check === "sticky");
  eq([r.code, sticky && sticky.status], [7, "fail"], "doctor against two python servers without stickiness: exit, sticky");
  if (!/\d of 6 requests naming the session were answered "Invalid session/.test(sticky.seen) || !/sticky sessions/.test(sticky.fix))
    fail("python's refusal not read as an unknown session: " + JSON.stringify(sticky));
  if (/msgpack/.test(JSON.stringify(r.lines))) fail("two python servers: a parser is blamed: " + JSON.stringify(r.lines));
  rr.close();

  // --- Node socket.io -------------------------------------------------------------------------------
  const httpServer = http.createServer();
  const io = new Server(httpServer, { pingInterval: 500 });
  const nodeEvents = [];
  io.on("connection", (socket) => {
    nodeEvents.push(["connect", socket.id]);
    socket.on("disconnect", (reason) => nodeEvents.push(["disconnect", socket.id, reason]));
  });
  await new Promise((res) => httpServer.listen(0, "127.0.0.1", res));
  const nodeUrl = `http://127.0.0.1:${httpServer.address().port}`;
  const nodeLeft = async (from, what) => {
    await allLeft(() => nodeEvents.slice(from), what);
    // The Socket.IO DISCONNECT came first: a client that only cut the connection would be
    // "transport close", a ghost "ping timeout".
    const reasons = nodeEvents.slice(from).filter((e) => e[0] === "disconnect").map((e) => e[2]);
    if (!reasons.every((x) => x === "client namespace disconnect")) fail(`${what}: left with ${JSON.stringify(reasons)}`);
    await until(() => io.engine.clientsCount === 0, `${what}: the Engine.IO session closed`, PROMPT_MS)
      .catch(() => fail(`${what}: ${io.engine.clientsCount} Engine.IO session(s) left open`));
  };

  let from = nodeEvents.length;
  r = await doctor(nodeUrl);
  eq([r.code, r.lines[r.lines.length - 1].summary], [0, "healthy"], "doctor against Node socket.io");
  await nodeLeft(from, "doctor against Node socket.io");
  for (const transport of ["upgrade", "polling", "websocket"]) {
    from = nodeEvents.length;
    r = await handshake(nodeUrl, "--transport", transport);
    eq(r.code, 0, `handshake --transport ${transport} against Node socket.io`);
    await nodeLeft(from, `handshake --transport ${transport} against Node socket.io`);
  }

  console.log("ok: sio-inspect against python-socketio and Node socket.io");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
