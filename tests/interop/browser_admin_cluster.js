// The Admin UI served by one sio-serve of a --redis cluster, in real Chromium (playwright-core):
// a Node socket.io server instrumented with @socket.io/admin-ui 0.5.1 and two sio-serve
// --admin-ui on one redis-server. The servers page lists all three (the Node server by its
// serverId, each sio-serve as HOST#PID); the sockets page lists a client of each; the row's
// disconnect button disconnects the client of the Node server (its socket.io-client sees
// "io server disconnect"). A screenshot of the servers page goes to the artifacts folder.
// Usage: node browser_admin_cluster.js SIO_SERVE REDIS_SERVER
"use strict";
const path = require("path");
const { io } = require("socket.io-client");
const { instrument } = require("@socket.io/admin-ui");
const { fail, startServer, until, deadline, artifactsDir, launchChromium, startRedis, nodeRedisServer } = require("./lib");

const serve = process.argv[2] || fail("usage: node browser_admin_cluster.js SIO_SERVE REDIS_SERVER");
const redisServer = process.argv[3] || fail("usage: node browser_admin_cluster.js SIO_SERVE REDIS_SERVER");
deadline(110000);

function connect(url) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, transports: ["websocket"] });
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
}

(async () => {
  const redis = await startRedis(redisServer);
  const url = `redis://127.0.0.1:${redis.port}`;
  const node = await nodeRedisServer(url, (nodeIo) =>
    instrument(nodeIo, { auth: false, mode: "development", serverId: "node-server" }));
  const s1 = await startServer(serve, ["--port", "0", "--redis", url, "--admin-ui"]);
  const s2 = await startServer(serve, ["--port", "0", "--redis", url, "--admin-ui"]);
  const numsub = async (channel) => Number((await node.pub.sendCommand(["PUBSUB", "NUMSUB", channel]))[1]);
  await until(async () => (await numsub("socket.io-request#/admin#")) === 3 && (await numsub("socket.io-request#/#")) === 3,
              "three servers on the request channels of / and /admin", 10000);
  const a = await connect(s1.url);
  const b = await connect(s2.url);
  const n = await connect(node.url);

  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.route("**/*", (route) => (route.request().url().startsWith(s1.url + "/") ? route.continue() : route.abort()));
    const body = () => page.textContent("body");

    // No authentication: the page preset to sio-serve 1 connects at once.
    await page.goto(s1.url + "/admin/#/servers/");
    for (const id of ["node-server", `#${s1.child.pid}`, `#${s2.child.pid}`]) {
      await until(async () => (await body()).includes(id), `the server ${id} on the servers page`, 15000);
    }
    await page.screenshot({ path: path.join(artifactsDir(serve), "admin_ui_cluster_servers.png") });

    await page.goto(s1.url + "/admin/#/sockets/");
    const row = (id) => page.locator("tr", { hasText: id });
    for (const c of [a, b, n]) {
      await until(async () => (await row(c.id).count()) === 1, `the row of ${c.id}`, 10000);
    }
    const nId = n.id;
    const gone = new Promise((r) => n.once("disconnect", r));
    await row(nId).locator("button").click();
    const reason = await gone;
    if (reason !== "io server disconnect") fail(`the UI's disconnect of the Node server's client: it saw ${reason}`);
    if (!a.connected || !b.connected) fail("a client other than the target was disconnected");
    if (errors.length) fail("page errors: " + errors.join("; "));
  } finally {
    await browser.close();
  }
  for (const c of [a, b]) c.close();
  for (const s of [s1, s2]) s.child.kill("SIGTERM");
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
