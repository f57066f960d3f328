// sio-serve's connection state recovery (--recovery-window) driven by the real Node
// socket.io-client 4.8, over websocket and over polling:
//   - a client that had received nothing before its connection dropped comes back recovered
//     (same id, recovered: true) and gets every broadcast sent while it was away, in order, once;
//   - it recovers again after a second and a third drop (the same session, many times);
//   - its rooms come back: room broadcasts sent while away arrive, and later ones reach it live;
//   - its own emits (no ack) sent while the transport was dead are replayed;
//   - a client that stays away longer than the window connects as a new socket (recovered: false);
//   - without --recovery-window nothing is recovered (the protocol's pid is not offered).
//   - sio-cli (SIO_CLI in the environment) stopped past the ping timeout comes back recovered
//     and prints the broadcasts it missed, once each, in order.
// Usage: node serve_recovery.js PATH/TO/sio-serve
"use strict";
const { io } = require("socket.io-client");
const { fail, startServer, until, deadline, cliListener } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_recovery.js SIO_SERVE");
deadline(100000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Resolves with `promise`, or fails the script naming `what` after `ms`.
function within(promise, ms, what) {
  let timer;
  const limit = new Promise((resolve) => { timer = setTimeout(() => fail(what), ms); });
  return Promise.race([promise.finally(() => clearTimeout(timer)), limit]);
}
const rules = ["--mode", "none", "--on", "shout=broadcast", "--on", "enter=join", "--on", "tell=to-room",
  "--on", "poke=emit:poked", "--on", "sync=ack"];

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200, randomizationFactor: 0, ...opts });
    const got = [];
    // The offset the server appends is the last argument; the payload is the first.
    s.onAny((event, ...args) => got.push({ event, n: args[0] }));
    s.got = got;
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(e));
  });
}

// Resolves after the server has answered an ack: everything the client sent before has been
// handled by then.
function sync(s) {
  return new Promise((resolve, reject) => s.timeout(3000).emit("sync", (err) => (err ? reject(err) : resolve())));
}

// Drops the client's transport (as a network failure would) and returns once it is connected
// again, with whether the server recovered it.
async function dropAndReturn(s, whileAway, label) {
  const gone = new Promise((resolve) => s.once("disconnect", resolve));
  s.io.engine.close();  // flushes what was emitted, then closes
  await within(gone, 5000, `${label}: the transport did not close`);
  const back = new Promise((resolve) => s.once("connect", resolve));
  await whileAway();
  await within(back, 8000, `${label}: did not reconnect`);
  return s.recovered;
}

function expectSequence(got, event, want, label) {
  const ns = got.filter((g) => g.event === event).map((g) => g.n);
  if (JSON.stringify(ns) !== JSON.stringify(want))
    fail(`${label}: ${event} received ${JSON.stringify(ns)}, want ${JSON.stringify(want)} (in order, once each)`);
}

async function recovers(transports) {
  const label = `recovery over ${transports}`;
  const server = await startServer(serve, ["--port", "0", "--quiet", "--recovery-window", "10000", ...rules]);
  try {
    const a = await connect(server.url, { transports });
    const b = await connect(server.url, { transports });
    const firstId = a.id;
    if (a.recovered) fail(`${label}: a fresh socket says recovered`);
    a.emit("enter", "news");
    await sync(a);

    // 1. Dropped before receiving anything at all (the reference cannot recover this one).
    let n = 0;
    const sent = [];
    const shout = async (k) => {
      for (let i = 0; i < k; ++i) { ++n; sent.push(n); b.emit("shout", n); }
      await sync(b);
    };
    let recovered = await dropAndReturn(a, () => shout(5), `${label}, first drop`);
    if (!recovered) fail(`${label}: not recovered after a drop with nothing received before it`);
    if (a.id !== firstId) fail(`${label}: recovered with a new id ${a.id} (was ${firstId})`);
    await until(() => a.got.filter((g) => g.event === "shout").length >= sent.length, `${label}: missed shouts`);

    // 2. Live traffic, then a second and a third drop: the same session recovers each time.
    await shout(3);
    for (const round of [2, 3]) {
      recovered = await dropAndReturn(a, () => shout(4), `${label}, drop ${round}`);
      if (!recovered) fail(`${label}: not recovered on drop ${round}`);
      if (a.id !== firstId) fail(`${label}: drop ${round} changed the id`);
    }
    await until(() => a.got.filter((g) => g.event === "shout").length >= sent.length, `${label}: shouts after drops`);
    await sleep(200);  // a duplicate would arrive right behind
    expectSequence(a.got, "shout", sent, label);

    // 3. Rooms survive: a room broadcast sent while away arrives, and the next one live.
    const told = [];
    recovered = await dropAndReturn(a, async () => { b.emit("tell", "news", 101); told.push(101); await sync(b); }, `${label}, room`);
    if (!recovered) fail(`${label}: not recovered (room round)`);
    b.emit("tell", "news", 102); told.push(102);
    await until(() => a.got.filter((g) => g.event === "tell").length >= 2, `${label}: room broadcasts`);
    expectSequence(a.got, "tell", told, `${label} (rooms)`);
    if (b.got.some((g) => g.event === "tell")) fail(`${label}: a room broadcast reached a socket outside the room`);

    // 4. The server's answer to an event sent just before the transport dies arrives once:
    // live if it made it, replayed if not.
    for (let k = 1; k <= 3; ++k) {
      a.emit("poke", k);
      recovered = await dropAndReturn(a, async () => {}, `${label}, poke ${k}`);
      if (!recovered) fail(`${label}: not recovered (poke ${k})`);
      await until(() => a.got.filter((g) => g.event === "poked").length >= k, `${label}: poked ${k}`);
    }
    await sleep(200);
    expectSequence(a.got, "poked", [1, 2, 3], `${label} (own emits)`);
    a.disconnect();
    b.disconnect();
  } finally {
    server.child.kill("SIGKILL");
  }
}

async function expires(transports) {
  const label = `window over ${transports}`;
  const server = await startServer(serve, ["--port", "0", "--quiet", "--recovery-window", "300", ...rules]);
  try {
    const a = await connect(server.url, { transports, reconnectionDelay: 1200, reconnectionDelayMax: 1200 });
    const firstId = a.id;
    const recovered = await dropAndReturn(a, async () => {}, label);
    if (recovered) fail(`${label}: recovered after staying away longer than the window`);
    if (a.id === firstId) fail(`${label}: the expired session's id was reused`);
    a.disconnect();
  } finally {
    server.child.kill("SIGKILL");
  }
}

async function off(transports) {
  const label = `no window over ${transports}`;
  const server = await startServer(serve, ["--port", "0", "--quiet", ...rules]);
  try {
    const a = await connect(server.url, { transports });
    const b = await connect(server.url, { transports });
    const recovered = await dropAndReturn(a, async () => { b.emit("shout", 1); await sync(b); }, label);
    if (recovered) fail(`${label}: recovered without --recovery-window`);
    await sleep(300);
    if (a.got.some((g) => g.event === "shout")) fail(`${label}: got a broadcast sent while it was away`);
    a.disconnect();
    b.disconnect();
  } finally {
    server.child.kill("SIGKILL");
  }
}

// sio-cli as the client: SIGSTOP past the server's ping timeout, broadcasts meanwhile, SIGCONT.
async function cliRecovers(cli) {
  const label = "sio-cli recovery";
  const server = await startServer(serve, ["--port", "0", "--quiet", "--recovery-window", "10000",
    "--ping-interval", "300", "--ping-timeout", "300", ...rules]);
  const { child, lines, connects, out, err } = cliListener(cli, server.url);
  const shouts = () => lines().filter((l) => l.type === "event" && l.event === "shout").map((l) => l.args[0]);
  try {
    await until(() => connects().length >= 1, `${label}: first connect (stderr: ${err()})`, 8000);
    const b = await connect(server.url, { transports: ["websocket"] });
    b.emit("shout", 1); b.emit("shout", 2);
    await until(() => shouts().length >= 2, `${label}: live shouts`);
    child.kill("SIGSTOP");
    await sleep(1500);  // the server gives up on it after 600 ms
    for (const n of [3, 4, 5]) b.emit("shout", n);
    await sync(b);
    child.kill("SIGCONT");
    await until(() => connects().length >= 2, `${label}: reconnect (output: ${out()})`, 10000);
    const again = connects()[1].args[0];
    if (again.recovered !== true) fail(`${label}: came back unrecovered: ${JSON.stringify(again)}`);
    await until(() => shouts().length >= 5, `${label}: missed shouts (got ${JSON.stringify(shouts())})`);
    await sleep(200);
    if (JSON.stringify(shouts()) !== "[1,2,3,4,5]") fail(`${label}: shouts ${JSON.stringify(shouts())}, want [1,2,3,4,5]`);
    b.disconnect();
  } finally {
    child.kill("SIGKILL");
    server.child.kill("SIGKILL");
  }
}

(async () => {
  if (process.env.SIO_CLI) await cliRecovers(process.env.SIO_CLI);
  for (const transports of [["websocket"], ["polling"]]) {
    await recovers(transports);
    await expires(transports);
    await off(transports);
  }
  console.log("serve_recovery: ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
