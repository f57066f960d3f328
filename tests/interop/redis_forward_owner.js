// Request forwarding between two sio-serve --redis, at the level of Engine.IO requests: a session
// opened on A is served through B (a POST and a GET forwarded to A and answered as A answers);
// a WebSocket upgrade through B is refused with "Session ID unknown" and polling goes on; a body
// over --max-payload is refused by B itself (413). When A is killed, B answers a GET that was
// waiting at A, and every later request for A's sessions, with the reference's unknown-session
// answer (400 {"code":1,"message":"Session ID unknown"}) within a few seconds, not at the ping
// interval; when Redis is gone, B answers 503 and keeps serving.
// Usage: node redis_forward_owner.js PATH/TO/sio-serve PATH/TO/redis-server
"use strict";
const WebSocket = require("ws");
const lib = require("./lib");
const { fail, startServer, until, deadline, startRedis } = lib;

const serve = process.argv[2] || fail("usage: node redis_forward_owner.js SIO_SERVE REDIS_SERVER");
const redisServer = process.argv[3] || fail("usage: node redis_forward_owner.js SIO_SERVE REDIS_SERVER");
deadline(30000);

const unknownSid = JSON.stringify({ code: 1, message: "Session ID unknown" });

const metric = (url, name) => lib.metric(url, name, 0);  // 0 when the series is not there

function engineUrl(base, sid) {
  return `${base}/socket.io/?EIO=4&transport=polling${sid ? `&sid=${encodeURIComponent(sid)}` : ""}`;
}

async function get(base, sid) {
  const res = await fetch(engineUrl(base, sid));
  return { status: res.status, body: await res.text() };
}

async function post(base, sid, body) {
  const res = await fetch(engineUrl(base, sid), { method: "POST", body, headers: { "Content-Type": "text/plain;charset=UTF-8" } });
  return { status: res.status, body: await res.text() };
}

// GETs through `base` until a payload has a packet that `match`es (a bounded number of GETs).
async function getUntil(base, sid, match, what) {
  for (let i = 0; i < 10; i++) {
    const r = await get(base, sid);
    if (r.status !== 200) fail(`${what}: GET answered ${r.status} ${r.body}`);
    if (r.body.split("\x1e").some(match)) return;
  }
  fail(`${what}: not in 10 GETs`);
}

// A WebSocket upgrade of `sid` through `base`: resolves with the refusal's status and body.
function refusedUpgrade(base, sid) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    ws.on("open", () => reject(new Error("the upgrade through another server was accepted")));
    ws.on("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    ws.on("error", () => {});
  });
}

async function main() {
  const redis = await startRedis(redisServer);
  const args = ["--port", "0", "--redis", `redis://127.0.0.1:${redis.port}`, "--max-payload", "10000"];
  const a = await startServer(serve, args);
  const b = await startServer(serve, args);
  await until(async () => (await metric(a.url, "sio_forward_connected")) === 1 && (await metric(b.url, "sio_forward_connected")) === 1,
              "both servers' forwarding connected", 5000);

  const open = await get(a.url);
  if (open.status !== 200 || !open.body.startsWith("0{")) fail(`handshake on A: ${open.status} ${open.body}`);
  const sid = JSON.parse(open.body.slice(1)).sid;
  if (sid.length !== 28) fail(`a sid of a forwarding server is its node tag and 20 characters: ${sid}`);

  // The Socket.IO CONNECT through B, its answer through B.
  const connect = await post(b.url, sid, "40");
  if (connect.status !== 200 || connect.body !== "ok") fail(`POST through B: ${connect.status} ${connect.body}`);
  await getUntil(b.url, sid, (p) => p.startsWith("40{"), "the CONNECT answer through B");

  // The upgrade through B fails as for an unknown session; the session goes on polling.
  const up = await refusedUpgrade(b.url, sid);
  if (up.status !== 400 || up.body !== unknownSid) fail(`upgrade through B: ${up.status} ${up.body}`);
  const say = await post(b.url, sid, '42["chat message","after the upgrade"]');
  if (say.status !== 200) fail(`POST after the refused upgrade: ${say.status} ${say.body}`);
  await getUntil(b.url, sid, (p) => p.startsWith("42") && p.includes("after the upgrade"), "the chat message through B");

  // B applies the body limit itself.
  const big = await post(b.url, sid, "4" + "x".repeat(20000));
  if (big.status !== 413) fail(`a POST over --max-payload through B: ${big.status}`);

  // A GET waiting at A (A counted it served), then A is killed: B answers it as an unknown session.
  const served = await metric(a.url, 'sio_forwarded_requests_total{kind="served"}');
  const waiting = get(b.url, sid);
  await until(async () => (await metric(a.url, 'sio_forwarded_requests_total{kind="served"}')) > served,
              "the GET through B reaching A", 5000);
  const killed = Date.now();
  a.child.kill("SIGKILL");
  let last = await waiting;
  if (last.status === 200) last = await get(b.url, sid);  // it got a packet first
  const took = Date.now() - killed;
  if (last.status !== 400 || last.body !== unknownSid) fail(`GET after A died: ${last.status} ${last.body}`);
  if (took > 5000) fail(`the GET waiting at a dead server was answered after ${took} ms`);
  const again = await post(b.url, sid, "3");
  if (again.status !== 400 || again.body !== unknownSid) fail(`POST after A died: ${again.status} ${again.body}`);
  if ((await metric(b.url, 'sio_forward_failures_total{reason="owner_gone"}')) < 2) fail("owner_gone not counted");
  if ((await metric(b.url, 'sio_forward_failures_total{reason="upgrade"}')) !== 1) fail("the refused upgrade not counted");

  // Redis gone: B answers 503 for another server's session and keeps serving.
  redis.child.kill("SIGKILL");
  await until(async () => (await metric(b.url, "sio_forward_connected")) === 0, "B noticing Redis gone", 5000);
  const down = await get(b.url, sid);
  if (down.status !== 503) fail(`GET with Redis gone: ${down.status} ${down.body}`);
  if ((await metric(b.url, 'sio_forward_failures_total{reason="unreachable"}')) < 1) fail("unreachable not counted");
  const local = await get(b.url);
  if (local.status !== 200) fail(`B's own handshake with Redis gone: ${local.status}`);
  console.log(`ok: forwarded POST and GET, refused upgrade, dead owner answered in ${took} ms, 503 with Redis gone`);
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
