// sio-serve --admin-ui against the protocol of @socket.io/admin-ui 0.5.x, spoken by the real Node
// socket.io-client on the admin namespace, as the UI speaks it: config, server_stats and
// all_sockets on connect (with every field the UI reads), then socket_connected, socket_updated
// (an upgrade), room_joined/room_left (a chat client joining a room, and the UI's own join and
// leave), event_received/event_sent, socket_disconnected; "_disconnect" disconnects a chat client
// (which sees "io server disconnect"); malformed operations are refused and the server carries
// on. Then basic authentication (a bcrypt hash): no credentials and a wrong password are refused,
// the right ones give a session id that logs in again; read-only refuses "_disconnect"; production
// mode has no event log. And the UI's files over HTTP, with their content types; CORS for a
// hosted UI's origin (--admin-ui-origin); the msgpack parser (--parser msgpack); usage errors.
// Scale: more than 2,000 changes in one tick arrive as one all_sockets; clients that connect and
// disconnect within a tick are coalesced away, and the sockets an
// admin client builds from all_sockets and the live events equal the real ones; with
// --admin-ui-max-sockets, all_sockets is bounded, the counts stay exact, and a listed socket that
// leaves is replaced by one that was not listed.
// Usage: node serve_admin.js PATH/TO/sio-serve
"use strict";
const { io } = require("socket.io-client");
const { fail, startServer, stopServer, until, deadline, recorder, rawClient } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_admin.js SIO_SERVE");
deadline(90000);

// bcrypt (bcryptjs, $2a$, cost 10) of "secret".
const hash = "$2a$10$.xQ8lnKYNBF7O4iKeG67huUmJexMy/FbkLaqGWu95tX9fdeT/qTFy";

function connect(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, ...opts });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => { s.close(); reject(e); });
  });
}
function refused(url, opts) {
  return connect(url, opts).then((s) => { s.close(); fail(`${url} accepted ${JSON.stringify(opts.auth)}`); },
    (e) => e.message);
}
const check = (cond, what) => { if (!cond) fail(what); };
const isoTime = (t) => typeof t === "string" && !Number.isNaN(Date.parse(t)) && t.endsWith("Z");

// Connects an admin client with its recorder installed before the first event can arrive.
function connectAdmin(url, opts = {}) {
  const s = io(url, { reconnection: false, forceNew: true, transports: ["websocket"], ...opts });
  const rec = recorder(s);
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve({ s, rec }));
    s.once("connect_error", reject);
  });
}

function checkSocket(entry, id, transport, what) {
  check(entry, `${what}: ${id} missing`);
  check(entry.id === id && entry.nsp === "/", `${what}: id/nsp ${JSON.stringify(entry)}`);
  check(entry.transport === transport, `${what}: transport ${entry.transport}, want ${transport}`);
  check(typeof entry.clientId === "string" && entry.clientId.length > 0, `${what}: clientId`);
  check(Array.isArray(entry.rooms) && entry.rooms.includes(id), `${what}: rooms ${JSON.stringify(entry.rooms)}`);
  const h = entry.handshake;
  check(h && typeof h.address === "string" && h.address.length > 0, `${what}: handshake.address`);
  check(h.headers && typeof h.headers.host === "string", `${what}: handshake.headers`);
  check(h.query && h.query.EIO === "4", `${what}: handshake.query ${JSON.stringify(h.query)}`);
  check(typeof h.issued === "number" && typeof h.time === "string" && typeof h.url === "string" &&
        typeof h.secure === "boolean" && typeof h.xdomain === "boolean", `${what}: handshake fields ${JSON.stringify(h)}`);
  check(entry.data && typeof entry.data === "object", `${what}: data`);
}

function checkStats(stats, what) {
  for (const k of ["serverId", "hostname"]) check(typeof stats[k] === "string" && stats[k].length > 0, `${what}: ${k}`);
  for (const k of ["pid", "uptime", "clientsCount", "pollingClientsCount"]) check(typeof stats[k] === "number", `${what}: ${k}`);
  check(Array.isArray(stats.namespaces) && stats.namespaces.every((n) => typeof n.name === "string" && typeof n.socketsCount === "number"),
        `${what}: namespaces ${JSON.stringify(stats.namespaces)}`);
}

async function openAdmin() {
  const server = await startServer(serve, ["--port", "0", "--threads", "2", "--admin-ui"]);
  check(/Admin UI namespace \/admin is OPEN/.test(server.output()), "no warning that the admin namespace is open");
  await until(() => /Admin UI on http:\/\/[^ ]+\/admin\//.test(server.output()), "the Admin UI URL in the log");
  const url = server.url;
  const c1 = await connect(url, { transports: ["websocket"] });
  const c2 = await connect(url, { transports: ["polling"] });
  const { s: admin, rec } = await connectAdmin(url + "/admin");

  const [config] = await rec.next("config");
  for (const f of ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"])
    check(config.supportedFeatures.includes(f), `config lacks ${f}: ${JSON.stringify(config)}`);
  const [stats] = await rec.next("server_stats");
  checkStats(stats, "server_stats");
  check(stats.clientsCount === 3 && stats.pollingClientsCount === 1, `counts: ${JSON.stringify(stats)}`);
  const root = stats.namespaces.find((n) => n.name === "/");
  check(root && root.socketsCount === 2, `namespaces: ${JSON.stringify(stats.namespaces)}`);
  const [all] = await rec.next("all_sockets");
  checkSocket(all.find((e) => e.id === c1.id), c1.id, "websocket", "all_sockets c1");
  checkSocket(all.find((e) => e.id === c2.id), c2.id, "polling", "all_sockets c2");

  // A client that starts on polling and upgrades.
  const c3 = await connect(url);
  const [connected, when] = await rec.next("socket_connected", (e) => e.id === c3.id);
  check(isoTime(when), `socket_connected timestamp ${when}`);
  checkSocket(connected, c3.id, "polling", "socket_connected");
  const [updated] = await rec.next("socket_updated", (u) => u.id === c3.id);
  check(updated.nsp === "/" && updated.transport === "websocket", `socket_updated ${JSON.stringify(updated)}`);
  const [, sentId, sentArgs] = await rec.next("event_sent", (nsp, id, args) => id === c3.id && args[0] === "online users");
  check(sentId === c3.id && Array.isArray(sentArgs[1]), `event_sent ${JSON.stringify(sentArgs)}`);

  // A chat client joins and leaves a room.
  await new Promise((r) => c1.emit("join", "lobby", r));
  const [jn, jroom, jid, jts] = await rec.next("room_joined", (nsp, room, id) => id === c1.id && room.includes("lobby"));
  check(jn === "/" && isoTime(jts), `room_joined ${jn} ${jroom} ${jts}`);
  const [, , recvArgs] = await rec.next("event_received", (nsp, id, args) => id === c1.id && args[0] === "join");
  check(recvArgs[1] === "lobby", `event_received args ${JSON.stringify(recvArgs)}`);
  // The event log's hooks went in when the admin client came (c1 was there before); c3 came after.
  await new Promise((r) => c3.emit("join", "after-admin", r));
  await rec.next("event_received", (nsp, id, args) => id === c3.id && args[0] === "join" && args[1] === "after-admin");
  await new Promise((r) => c1.emit("leave", "lobby", r));
  await rec.next("room_left", (nsp, room, id) => id === c1.id && room === jroom);

  // The UI's operations: join and leave a room for one socket, then disconnect it.
  admin.emit("join", "/", "vip", c2.id);
  await rec.next("room_joined", (nsp, room, id) => id === c2.id && room === "vip");
  admin.emit("leave", "/", "vip", c2.id);
  await rec.next("room_left", (nsp, room, id) => id === c2.id && room === "vip");

  // Malformed operations: refused, nothing else happens.
  for (const args of [[], [123], ["/nope", "x", c1.id], ["/", {}, c1.id], ["/", "x", 42], ["/", ""], [null, null]])
    admin.emit("join", ...args);
  admin.emit("_disconnect", "/", "yes", c1.id);
  admin.emit("_disconnect", { nsp: "/" });
  admin.emit("_disconnect", "/");
  admin.emit("emit", "/", null, 7);
  admin.emit("emit", "/", c1.id, "connect");  // a reserved name
  await until(() => (server.output().match(/admin: '[a-z_]+' refused/g) || []).length >= 12, "12 refusals in the log");
  check(c1.connected, "a malformed operation disconnected c1");

  // "emit" to one socket.
  const got = new Promise((r) => c1.once("from admin", (...a) => r(a)));
  admin.emit("emit", "/", c1.id, "from admin", { n: 1 });
  check(JSON.stringify(await got) === '[{"n":1}]', "emit to c1");

  const c2Id = c2.id, c3Id = c3.id;  // a client forgets its id when it disconnects
  const c2gone = new Promise((r) => c2.once("disconnect", r));
  admin.emit("_disconnect", "/", false, c2.id);
  check(await c2gone === "io server disconnect", "c2 was not disconnected by the server");
  const [, , reason, dts] = await rec.next("socket_disconnected", (nsp, id) => id === c2Id);
  check(reason === "server namespace disconnect" && isoTime(dts), `socket_disconnected reason ${reason}`);
  c3.disconnect();
  const [, , reason3] = await rec.next("socket_disconnected", (nsp, id) => id === c3Id);
  check(reason3 === "client namespace disconnect", `c3 reason ${reason3}`);

  // The periodic server_stats, with the aggregated events of the dashboard.
  const [periodic] = await rec.next("server_stats", (s) => Array.isArray(s.aggregatedEvents), 5000);
  checkStats(periodic, "periodic server_stats");
  check(periodic.aggregatedEvents.some((e) => e.type === "rawConnection" && typeof e.timestamp === "number" && e.count >= 1),
        `aggregatedEvents ${JSON.stringify(periodic.aggregatedEvents)}`);

  await checkHttp(url);
  for (const s of [admin, c1]) s.close();
  await stopServer(server);
}

async function checkHttp(url) {
  const index = await fetch(url + "/admin/");
  check(index.status === 200 && index.headers.get("content-type").startsWith("text/html"), `/admin/: ${index.status}`);
  const html = await index.text();
  check(html.includes("Socket.IO Admin UI") && html.includes('setItem("namespace","/admin")'), "/admin/ page");
  const files = [...html.matchAll(/(?:href|src)="((?:js|css)\/[^"]+|favicon\.png)"/g)].map((m) => m[1]);
  check(files.length >= 4, `files named by index.html: ${files}`);
  const types = { js: "application/javascript", css: "text/css", png: "image/png" };
  for (const f of files) {
    const res = await fetch(url + "/admin/" + f);
    const want = types[f.split(".").pop()];
    check(res.status === 200 && res.headers.get("content-type").startsWith(want), `/admin/${f}: ${res.status} ${res.headers.get("content-type")}`);
    check((await res.arrayBuffer()).byteLength > 0, `/admin/${f} empty`);
  }
  // The icons: the page names the stylesheet served here, which names the fonts served here.
  check(html.includes('href="mdi/css/materialdesignicons.min.css"') && !html.includes("cdn.jsdelivr"), "the icons' stylesheet");
  const css = await fetch(url + "/admin/mdi/css/materialdesignicons.min.css");
  check(css.status === 200 && css.headers.get("content-type").startsWith("text/css"), `icons' stylesheet: ${css.status}`);
  const woff2 = (await css.text()).match(/url\("?\.\.\/(fonts\/[^"?)]+\.woff2)/);
  check(woff2, "the stylesheet names no woff2 font");
  const font = await fetch(url + "/admin/mdi/" + woff2[1] + "?v=1");
  check(font.status === 200 && font.headers.get("content-type") === "font/woff2", `icon font: ${font.status}`);
  const redirect = await fetch(url + "/admin", { redirect: "manual" });
  check(redirect.status === 301 && redirect.headers.get("location") === "/admin/", `/admin: ${redirect.status}`);
  check((await fetch(url + "/admin/nothing.js")).status === 404, "/admin/nothing.js");
}

async function authenticatedReadOnly() {
  const server = await startServer(serve, ["--port", "0", "--admin-ui", "--admin-read-only", "--admin-mode", "production",
                                           "--admin-auth", "admin:" + hash]);
  check(!/is OPEN/.test(server.output()), "warned of an open namespace with --admin-auth");
  const url = server.url + "/admin";
  check(await refused(url, {}) === "invalid credentials", "no credentials");
  check(await refused(url, { auth: { username: "admin", password: "wrong" } }) === "invalid credentials", "wrong password");
  check(await refused(url, { auth: { username: "root", password: "secret" } }) === "invalid credentials", "wrong user");
  check(await refused(url, { auth: { sessionId: "0123456789abcdef" } }) === "invalid credentials", "unknown session");
  check(await refused(url, { auth: { username: "admin", password: ["secret"] } }) === "invalid credentials", "password not a string");

  const chat = await connect(server.url);
  const { s: admin, rec } = await connectAdmin(url, { auth: { username: "admin", password: "secret" } });
  const [sessionId] = await rec.next("session");
  check(typeof sessionId === "string" && sessionId.length >= 16, `session ${sessionId}`);
  const [config] = await rec.next("config");
  check(JSON.stringify(config.supportedFeatures) === '["AGGREGATED_EVENTS"]', `read-only production config ${JSON.stringify(config)}`);
  const [all] = await rec.next("all_sockets");
  check(all.some((e) => e.id === chat.id), "all_sockets in production mode");

  admin.emit("_disconnect", "/", false, chat.id);
  await until(() => /admin: '_disconnect' refused: the server is read-only/.test(server.output()), "the read-only refusal");
  const echo = await new Promise((r) => chat.emit("echo", "still here", (...a) => r(a)));
  check(chat.connected && echo[0] === "still here", "read-only: the chat client was disconnected");
  chat.emit("echo", "no event log");
  // No event log in production mode: the chat's echo is not reported.
  await new Promise((r) => chat.once("echo", r));
  check(!rec.seen.some((e) => e.event === "event_received" || e.event === "event_sent"), "event log in production mode");

  // The session id logs in again without the password.
  const again = await connectAdmin(url, { auth: { sessionId } });
  await again.rec.next("config");
  check(!again.rec.seen.some((e) => e.event === "session"), "a new session for a known one");
  for (const s of [admin, again.s, chat]) s.close();
  await stopServer(server);
}

async function usage() {
  const { spawnSync } = require("child_process");
  const run = (args) => spawnSync(serve, args, { encoding: "utf8", timeout: 10000 });
  let r = run(["--admin-auth", "admin:" + hash]);
  check(r.status === 2 && /need --admin-ui/.test(r.stderr), `--admin-auth without --admin-ui: ${r.status} ${r.stderr}`);
  r = run(["--admin-ui", "--admin-auth", "admin:plaintext"]);
  check(r.status === 2 && /bcrypt hash/.test(r.stderr), `plain password: ${r.status} ${r.stderr}`);
  r = run(["--admin-ui", "--admin-mode", "fast"]);
  check(r.status === 2 && /development or production/.test(r.stderr), `--admin-mode fast: ${r.status}`);
  r = run(["--admin-ui", "--mode", "engine-echo"]);
  check(r.status === 2 && /needs Socket.IO/.test(r.stderr), `--admin-ui with engine-echo: ${r.status}`);
  r = run(["--admin-ui-max-sockets", "5"]);
  check(r.status === 2 && /need --admin-ui/.test(r.stderr), `--admin-ui-max-sockets without --admin-ui: ${r.status}`);
  r = run(["--admin-ui", "--admin-ui-max-sockets", "0"]);
  check(r.status === 2 && /at least 1/.test(r.stderr), `--admin-ui-max-sockets 0: ${r.status}`);
  r = run(["--admin-ui", "-n", "/admin"]);
  check(r.status === 2 && /also a chat namespace/.test(r.stderr), `--admin-ui with -n /admin: ${r.status}`);
  // --admin-ui-origin: the hosted UI's origin gets CORS answers, with credentials.
  const hosted = await startServer(serve, ["--port", "0", "--admin-ui", "--admin-ui-origin", "https://admin.socket.io"]);
  const cors = await fetch(hosted.url + "/socket.io/?EIO=4&transport=polling", { headers: { origin: "https://admin.socket.io" } });
  check(cors.status === 200 && cors.headers.get("access-control-allow-origin") === "https://admin.socket.io" &&
        cors.headers.get("access-control-allow-credentials") === "true", `CORS for the hosted UI: ${cors.status} ${[...cors.headers]}`);
  await stopServer(hosted);
  const plain = await startServer(serve, ["--port", "0"]);
  check((await fetch(plain.url + "/admin/")).status === 404, "/admin/ without --admin-ui");
  await refused(plain.url + "/admin", {});
  await stopServer(plain);
}

// --parser msgpack: the admin namespace speaks it too, and the served page presets it.
async function msgpackAdmin() {
  const parser = require("socket.io-msgpack-parser");
  const server = await startServer(serve, ["--port", "0", "--admin-ui", "--parser", "msgpack"]);
  const chat = await connect(server.url, { parser, transports: ["websocket"] });
  const { s: admin, rec } = await connectAdmin(server.url + "/admin", { parser });
  await rec.next("config");
  const [stats] = await rec.next("server_stats");
  checkStats(stats, "msgpack server_stats");
  const [all] = await rec.next("all_sockets");
  checkSocket(all.find((e) => e.id === chat.id), chat.id, "websocket", "msgpack all_sockets");
  const html = await (await fetch(server.url + "/admin/")).text();
  check(html.includes('setItem("parser","msgpack")'), "the page does not preset the msgpack parser");
  for (const s of [admin, chat]) s.close();
  await stopServer(server);
}

// The sockets of namespace "/" as the UI's store builds them from all_sockets (which replaces the
// list) and socket_connected/socket_disconnected; counts the live events.
function model(admin) {
  const m = { ids: new Set(), live: 0, snapshots: 0 };
  admin.on("all_sockets", (all) => {
    m.snapshots++;
    m.ids = new Set(all.filter((e) => e.nsp === "/").map((e) => e.id));
  });
  admin.on("socket_connected", (e) => { if (e.nsp === "/") { m.live++; m.ids.add(e.id); } });
  admin.on("socket_disconnected", (nsp, id) => { if (nsp === "/") { m.live++; m.ids.delete(id); } });
  return m;
}
const sameSet = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));

async function coalescing() {
  const server = await startServer(serve, ["--port", "0", "--threads", "2", "--admin-ui", "--admin-mode", "production"]);
  const stay = [];
  for (let i = 0; i < 5; i++) stay.push(await connect(server.url, { transports: ["websocket"] }));
  const { s: admin, rec } = await connectAdmin(server.url + "/admin");
  const m = model(admin);
  await rec.next("all_sockets");
  await until(() => sameSet(m.ids, new Set(stay.map((c) => c.id))), "the five clients");
  // 200 clients that come and go (20 waves of 10, each client gone as soon as it is in), and 20
  // that stay.
  const N = 200;
  const more = [];
  for (let wave = 0; wave < 20; wave++) {
    more.push(connect(server.url, { transports: ["websocket"] }));
    await Promise.all(Array.from({ length: N / 20 }, () => connect(server.url, { transports: ["websocket"] }).then((c) => {
      const gone = new Promise((r) => c.once("disconnect", r));
      c.disconnect();
      return gone;
    })));
  }
  stay.push(...(await Promise.all(more)));
  const real = new Set(stay.map((c) => c.id));
  await until(() => sameSet(m.ids, real), "the admin's sockets equal the connected clients");
  // The reference sends 2 events per brief client and 1 per staying one: 420.
  check(m.live < N / 2, `${m.live} socket events for ${N} brief clients and 20 staying`);
  // A later change still arrives, and the set stays right.
  const last = stay.pop();
  const lastId = last.id;
  last.disconnect();
  await rec.next("socket_disconnected", (nsp, id) => id === lastId);
  check(sameSet(m.ids, new Set(stay.map((c) => c.id))), "after one more disconnect");
  for (const s of [admin, ...stay]) s.close();
  await stopServer(server);
}

async function bounded() {
  const server = await startServer(serve, ["--port", "0", "--admin-ui", "--admin-ui-max-sockets", "10"]);
  const clients = await Promise.all(Array.from({ length: 30 }, () => connect(server.url, { transports: ["websocket"] })));
  const { s: admin, rec } = await connectAdmin(server.url + "/admin");
  const m = model(admin);
  const [all] = await rec.next("all_sockets");
  check(all.length === 10, `all_sockets has ${all.length} sockets, want 10`);
  const [stats] = await rec.next("server_stats");
  const root = stats.namespaces.find((n) => n.name === "/");
  check(root && root.socketsCount === 30 && stats.clientsCount === 31, `counts past the limit: ${JSON.stringify(stats)}`);
  // Listed clients leave: unlisted ones take their places, and every listed one is real.
  const byId = new Map(clients.map((c) => [c.id, c]));
  const listed = [...m.ids].slice(0, 3);
  for (const id of listed) byId.get(id).disconnect();
  await until(() => listed.every((id) => !m.ids.has(id)) && m.ids.size === all.filter((e) => e.nsp === "/").length,
              "three listed clients replaced");
  check([...m.ids].every((id) => byId.has(id) && byId.get(id).connected), `listed: ${[...m.ids]}`);
  for (const s of [admin, ...clients]) s.close();
  await stopServer(server);
}

// More than 2,000 changes in one tick go out as one all_sockets instead: 2,100 raw clients
// connected at once, then the UI's join of every socket of "/" to one room (2,100 room changes in
// the one tick the operation runs in, on the server's one loop).
async function oneSnapshot() {
  const N = 2100;
  const server = await startServer(serve, ["--port", "0", "--threads", "1", "--mode", "echo", "--admin-ui",
                                           "--admin-mode", "production", "--admin-ui-max-sockets", "5000"]);
  const { s: admin, rec } = await connectAdmin(server.url + "/admin");
  await rec.next("all_sockets");
  const m = model(admin);
  let joins = 0;
  admin.on("room_joined", (nsp, room) => { if (room === "everyone") joins++; });
  const clients = await Promise.all(Array.from({ length: N }, () => rawClient(server.url)));
  await until(() => m.ids.size === N, `the admin client's ${N} sockets`, 20000);
  const before = m.snapshots;
  admin.emit("join", "/", "everyone");
  const root = (list) => list.filter((e) => e.nsp === "/");
  await rec.next("all_sockets", (list) => root(list).length === N && root(list).every((e) => e.rooms.includes("everyone")),
                 20000);
  check(m.snapshots === before + 1, `${m.snapshots - before} all_sockets for one round of ${N} changes`);
  // The tick's room_joined went into the snapshot, not out one by one.
  check(joins === 0, `${joins} room_joined sent beside the all_sockets`);
  await until(() => /admin: \d+ updates in one tick sent as all_sockets/.test(server.output()), "the resync's log line");
  for (const c of clients) c.terminate();
  admin.close();
  await stopServer(server);
}

(async () => {
  await oneSnapshot();
  await coalescing();
  await bounded();
  await openAdmin();
  await msgpackAdmin();
  await authenticatedReadOnly();
  await usage();
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
