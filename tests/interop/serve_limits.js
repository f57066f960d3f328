// sio-serve's limits driven by the real Node socket.io-client 4.8, every case over each
// transport (polling, websocket, polling then upgrade): a client that stops answering pings is
// dropped with "ping timeout" while a healthy one keeps echoing; a message over --max-payload
// closes its sender only; a client whose transport is killed reconnects by itself, with a new
// socket id, and chats again.
// Usage: node serve_limits.js PATH/TO/sio-serve
//
// The server runs with short heartbeats (--ping-interval 300 --ping-timeout 300), so the timed
// waits are a few intervals long; every wait is bounded.
"use strict";
const { io } = require("socket.io-client");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_limits.js SIO_SERVE");
deadline(60000);

const TRANSPORTS = [["polling"], ["websocket"], ["polling", "websocket"]];
const PING_INTERVAL = 300;
const PING_TIMEOUT = 300;
const MAX_PAYLOAD = 2000;

const check = (cond, what) => { if (!cond) fail(what); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A client that records its disconnects; `connected_` resolves on the first connect.
function client(url, label, opts) {
  const s = io(url, { reconnection: false, forceNew: true, ...opts });
  s.label = label;
  s.disconnects = [];
  s.on("disconnect", (reason, details) => s.disconnects.push({ reason, details }));
  s.connected_ = new Promise((resolve, reject) => {
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => reject(new Error(`${label}: connect_error ${e.message}`)));
  });
  return s;
}

async function connect(url, label, transports, opts = {}) {
  const s = client(url, label, { transports, ...opts });
  await s.connected_;
  if (transports.length === 2) await until(() => s.io.engine.transport.name === "websocket", `${label}: upgrade`);
  return s;
}

// One echo round trip with an ack, bounded.
async function echo(s, value, what) {
  let got;
  try {
    got = await s.timeout(3000).emitWithAck("echo", value);
  } catch (e) {
    fail(`${what}: echo ${JSON.stringify(value).slice(0, 40)} got no ack (${e.message})`);
  }
  check(got === value, `${what}: echo came back as ${JSON.stringify(got).slice(0, 40)}`);
}

// Echoes on `s` every 50 ms until `stop()` holds; returns the number of round trips.
async function keepEchoing(s, stop, what) {
  let n = 0;
  while (!stop()) {
    check(s.connected, `${what}: the healthy client was disconnected (${JSON.stringify(s.disconnects)})`);
    await echo(s, `healthy ${n}`, what);
    n++;
    await sleep(50);
  }
  return n;
}

// Lines the server logged since `from` (an offset in its output) that name Engine.IO session `sid`.
const logLines = (server, from, sid) => server.output().slice(from).split("\n").filter((l) => l.includes(sid));

// 1. A client that stops answering pings is dropped by the server; a healthy one is not.
async function pingTimeoutCase(server, transports, label) {
  const healthy = await connect(server.url, `${label} healthy`, transports);
  const mute = await connect(server.url, `${label} mute`, transports);
  await echo(mute, "before muting", `${label} mute`);
  const muteEngineId = mute.io.engine.id;
  const logFrom = server.output().length;

  // engine.io-client answers a ping with this._sendPacket("pong") (socket.js, _onPacket): drop
  // those, so the server sees no pong; everything else still goes out.
  const engine = mute.io.engine;
  const sendPacket = engine._sendPacket;
  check(typeof sendPacket === "function", `${label}: engine.io-client has no _sendPacket to patch`);
  let pongsDropped = 0;
  engine._sendPacket = function (type, ...rest) {
    if (type === "pong") { pongsDropped++; return; }
    return sendPacket.call(this, type, ...rest);
  };

  // The healthy client echoes throughout, and for more than three ping intervals after.
  const start = Date.now();
  let muteGoneAt = 0;
  let muteError = null;
  const muteGone = until(() => mute.disconnects.length > 0, `${label}: the mute client to be disconnected`, 5000)
    .then(() => { muteGoneAt = Date.now(); }, (e) => { muteError = e; });
  const rounds = await keepEchoing(healthy, () => muteError || (muteGoneAt && Date.now() - muteGoneAt > 3.5 * PING_INTERVAL &&
                                                                Date.now() - start > 3.5 * PING_INTERVAL), `${label} healthy`);
  await muteGone;
  if (muteError) fail(`${label}: the client that stopped answering pings was not disconnected within 5 s (${pongsDropped} pongs dropped)`);
  check(pongsDropped > 0, `${label}: no pong was dropped: the server did not ping`);
  // The server notices after pingInterval + pingTimeout; give the timers some slack.
  const after = muteGoneAt - start;
  check(after >= PING_TIMEOUT && after < PING_INTERVAL + PING_TIMEOUT + 2000,
        `${label}: the mute client was dropped after ${after} ms (ping interval ${PING_INTERVAL}, timeout ${PING_TIMEOUT})`);
  // The server closes the connection: the client sees its transport go, not its own ping timer
  // (the server would have stopped pinging for that).
  const reason = mute.disconnects[0].reason;
  check(reason === "transport close" || reason === "transport error",
        `${label}: the mute client saw "${reason}", want the server closing its transport`);
  // And the server says why.
  await until(() => logLines(server, logFrom, muteEngineId).some((l) => /disconnect/.test(l) && /ping timeout/.test(l)),
              `${label}: the server's log to report the mute client's ping timeout`, 3000)
    .catch(() => fail(`${label}: no "ping timeout" disconnect logged for ${muteEngineId}; lines: ${logLines(server, logFrom, muteEngineId).join(" | ")}`));
  check(rounds > 0 && healthy.connected && healthy.disconnects.length === 0,
        `${label}: the healthy client did not survive: ${JSON.stringify(healthy.disconnects)}`);
  await echo(healthy, "after the ping timeout", `${label} healthy`);
  mute.close();
  healthy.close();
  console.log(`${label}: ping timeout ok (mute dropped after ${after} ms, "${reason}"; healthy echoed ${rounds} times)`);
}

// 2. A message over --max-payload closes its sender's connection only.
async function maxPayloadCase(server, transports, label) {
  const other = await connect(server.url, `${label} other`, transports);
  const big = await connect(server.url, `${label} big`, transports);
  await echo(big, "small first", `${label} big`);
  const bigEngineId = big.io.engine.id;
  const logFrom = server.output().length;

  const text = "x".repeat(5000);
  let acked = false;
  big.emit("echo", text, () => { acked = true; });
  await until(() => big.disconnects.length > 0, `${label}: the client over --max-payload to be disconnected`, 5000);
  const reason = big.disconnects[0].reason;
  check(!acked, `${label}: the message over --max-payload was answered`);
  check(reason === "transport close" || reason === "transport error",
        `${label}: the client over --max-payload saw "${reason}", want its transport closed by the server`);
  // Over WebSocket the server closes the connection; over polling it answers the POST with 413
  // (as the reference server does) and the client gives the transport up. Either way the log
  // names the size and the limit.
  await until(() => logLines(server, logFrom, bigEngineId).some((l) => /over maxPayload \(2000 bytes\)/.test(l)),
              `${label}: the server's log to report the payload`, 3000)
    .catch(() => fail(`${label}: no maxPayload refusal logged for ${bigEngineId}; lines: ${logLines(server, logFrom, bigEngineId).join(" | ")}`));

  // The other client never noticed.
  check(other.connected && other.disconnects.length === 0, `${label}: the other client was disconnected too: ${JSON.stringify(other.disconnects)}`);
  await echo(other, "after the big one", `${label} other`);
  // Just under the limit still passes (the packet's framing adds a few bytes to the text).
  await echo(other, "y".repeat(MAX_PAYLOAD - 100), `${label} other`);
  await sleep(2 * PING_INTERVAL);
  check(other.connected && other.disconnects.length === 0, `${label}: the other client was disconnected later: ${JSON.stringify(other.disconnects)}`);
  await echo(other, "still here", `${label} other`);
  big.close();
  other.close();
  console.log(`${label}: max payload ok ("${reason}")`);
}

// 3. A client whose transport is killed reconnects by itself with a new socket id.
async function reconnectCase(server, transports, label) {
  const witness = await connect(server.url, `${label} witness`, transports, { auth: { name: "witness" } });
  const s = await connect(server.url, `${label} phoenix`, transports, {
    reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, reconnectionAttempts: 20, auth: { name: "phoenix" },
  });
  await echo(s, "before", `${label} phoenix`);
  const firstId = s.id;
  const firstEngineId = s.io.engine.id;
  let connects = 0;
  s.on("connect", () => connects++);
  let reconnected = false;
  s.io.on("reconnect", () => { reconnected = true; });

  s.io.engine.close();
  await until(() => s.disconnects.length > 0, `${label}: the killed client to see a disconnect`, 3000);
  await until(() => connects === 1 && s.connected, `${label}: the client to reconnect by itself`, 10000);
  check(reconnected, `${label}: no "reconnect" event from the manager`);
  check(s.id && s.id !== firstId, `${label}: same socket id after reconnecting (${s.id})`);
  check(s.io.engine.id !== firstEngineId, `${label}: same Engine.IO session after reconnecting`);
  if (transports.length === 2) await until(() => s.io.engine.transport.name === "websocket", `${label}: upgrade after reconnecting`);

  // Chat again: the witness sees the message from the new id.
  await echo(s, "after", `${label} phoenix`);
  const got = new Promise((resolve) => witness.on("chat message", (m) => { if (m.text === "back again") resolve(m); }));
  const ack = await s.timeout(3000).emitWithAck("chat message", "back again");
  check(typeof ack.id === "number", `${label}: chat ack after reconnecting: ${JSON.stringify(ack)}`);
  const m = await Promise.race([got, sleep(3000).then(() => null)]);
  check(m && m.from === s.id && m.name === "phoenix", `${label}: the witness did not get the chat from the new id: ${JSON.stringify(m)}`);
  check(witness.connected && witness.disconnects.length === 0, `${label}: the witness was disconnected`);
  const newId = s.id;
  s.close();
  witness.close();
  console.log(`${label}: reconnect ok (${firstId} -> ${newId}, disconnect "${s.disconnects[0].reason}")`);
}

(async () => {
  // Not --quiet: the disconnect lines name the Engine.IO session and the reason.
  const server = await startServer(serve, ["--port", "0", "--ping-interval", String(PING_INTERVAL),
    "--ping-timeout", String(PING_TIMEOUT), "--max-payload", String(MAX_PAYLOAD)]);
  try {
    for (const transports of TRANSPORTS) {
      const label = transports.join("+");
      await pingTimeoutCase(server, transports, label);
      await maxPayloadCase(server, transports, label);
      await reconnectCase(server, transports, label);
    }
  } finally {
    server.child.kill("SIGKILL");
  }
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
