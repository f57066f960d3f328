// The Admin UI served by sio-serve --admin-ui in real Chromium (Debian's, driven by
// playwright-core): the page at /admin/ comes preset to this server; a wrong password is refused
// on its login form, the right one logs in; the sockets page lists three connected clients with
// their transports (one on WebSocket, one held on polling, one upgraded); a row's disconnect
// button disconnects that client (its socket.io-client sees "io server disconnect"; its page says
// so, and the list drops it); a socket's page shows
// its rooms, and a client joining a room shows up live on the rooms page and on its socket's page.
// With --admin-read-only the page offers no disconnect, and one sent from the page is refused.
// The icon font comes from the server; nothing else is fetched from outside but the text font
// (refused here). A screenshot of the
// sockets page goes to the artifacts folder (see lib.js artifactsDir).
// Usage: node browser_admin.js SIO_SERVE
"use strict";
const path = require("path");
const { io } = require("socket.io-client");
const { fail, startServer, stopServer, until, deadline, artifactsDir, launchChromium } = require("./lib");

const serve = process.argv[2] || fail("usage: node browser_admin.js SIO_SERVE");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
deadline(110000);

// bcrypt (bcryptjs, $2a$, cost 10) of "secret".
const hash = "$2a$10$.xQ8lnKYNBF7O4iKeG67huUmJexMy/FbkLaqGWu95tX9fdeT/qTFy";

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, ...opts });
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
}

// --admin-read-only: the UI lists the socket but offers no disconnect (the config lacks the
// feature), and a _disconnect sent from the page anyway (the Socket.IO client bundle the server
// serves, on the admin namespace) is refused: the client stays connected.
async function readOnly() {
  const server = await startServer(serve, ["--port", "0", "--admin-ui", "--admin-read-only"]);
  const client = await connect(server.url, { transports: ["websocket"] });
  const browser = await launchChromium([], executablePath);
  try {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.url + "/admin/#/sockets/");
    const row = page.locator("tr", { hasText: client.id });
    await until(async () => (await row.count()) === 1, `the row of ${client.id}`, 10000);
    await until(async () => /websocket/i.test(await row.textContent()), "its transport");
    if ((await row.locator("button").count()) !== 0) fail("read-only: the row offers a disconnect button");
    await page.goto(`${server.url}/admin/#/n/%2F/sockets/${client.id}`);
    await until(async () => (await page.textContent("body")).includes(client.id), "the socket's page");
    if ((await page.getByRole("button", { name: /disconnect/i }).count()) !== 0) fail("read-only: the socket's page offers disconnect");

    await page.addScriptTag({ url: server.url + "/socket.io/socket.io.min.js" });
    await page.evaluate(([url, id]) => new Promise((resolve, reject) => {
      const admin = window.io(url + "/admin", { transports: ["websocket"], forceNew: true });
      admin.on("connect_error", reject);
      admin.on("config", () => { admin.emit("_disconnect", "/", true, id); resolve(); });
    }), [server.url, client.id]);
    await until(() => /admin: '_disconnect' refused: the server is read-only/.test(server.output()), "the read-only refusal");
    // A round trip on the client's own connection after the refusal: it is still there.
    await new Promise((r) => client.emit("join", "after", r));
    if (!client.connected) fail("read-only: the client was disconnected");
    if (errors.length) fail("read-only page errors: " + errors.join("; "));
  } finally {
    await browser.close();
  }
  client.close();
  await stopServer(server);
}

(async () => {
  const server = await startServer(serve, ["--port", "0", "--admin-ui", "--admin-auth", "admin:" + hash]);
  const ws = await connect(server.url, { transports: ["websocket"] });
  const polling = await connect(server.url, { transports: ["polling"] });
  const upgraded = await connect(server.url, {});
  await until(() => upgraded.io.engine.transport.name === "websocket", "the third client's upgrade");
  await new Promise((r) => ws.emit("join", "alpha", r));

  const browser = await launchChromium([], executablePath);
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const outside = [];
    const icons = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(server.url + "/admin/mdi/")) icons.push(url);
      if (url.startsWith(server.url + "/")) return route.continue();
      outside.push(url);
      return route.abort();
    });
    const body = () => page.textContent("body");
    const waitText = (needle, what, ms = 10000) => until(async () => (await body()).includes(needle), what, ms);

    await page.goto(server.url + "/admin/");
    // Preset to this server: it tries at once, without credentials, and the form says why it failed.
    const serverUrl = page.getByLabel("Server URL");
    await serverUrl.waitFor({ timeout: 10000 });
    if ((await serverUrl.inputValue()) !== server.url) fail(`server URL on the form: ${await serverUrl.inputValue()}`);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: /connect/i }).click();
    await waitText("Invalid credentials", "the wrong password refused on the form");
    await page.getByLabel("Password").fill("secret");
    await page.getByRole("button", { name: /connect/i }).click();
    await until(async () => !(await serverUrl.isVisible()), "the login form to close");

    // The sockets page: three clients, each with its transport.
    await page.goto(server.url + "/admin/#/sockets/");
    const row = (id) => page.locator("tr", { hasText: id });
    for (const [client, transport] of [[ws, "websocket"], [polling, "polling"], [upgraded, "websocket"]]) {
      await until(async () => (await row(client.id).count()) === 1, `the row of ${client.id}`);
      await until(async () => new RegExp(transport, "i").test(await row(client.id).textContent()), `${client.id} on ${transport}`);
    }
    await page.screenshot({ path: path.join(artifactsDir(serve), "admin_ui_sockets.png") });

    // The row's disconnect button disconnects that client; its row goes away.
    const pollingId = polling.id;
    const gone = new Promise((r) => polling.once("disconnect", r));
    await row(pollingId).locator("button").click();
    const reason = await gone;
    if (reason !== "io server disconnect") fail(`the UI's disconnect: the client saw ${reason}`);
    // The click also opened the socket's page, which now says it is disconnected.
    await waitText("disconnected", "the socket's page to say it is disconnected");
    await page.goto(server.url + "/admin/#/sockets/");
    await until(async () => (await row(ws.id).count()) === 1, "the sockets page again");
    // (The socket's page may linger a moment in the page's transition.)
    await until(async () => (await row(pollingId).count()) === 0, "the disconnected client off the list");

    // A socket's page shows its rooms; a join shows up live there and on the rooms page.
    await page.goto(`${server.url}/admin/#/n/%2F/sockets/${upgraded.id}`);
    await waitText(upgraded.id, "the socket's page");
    await page.goto(server.url + "/admin/#/rooms/");
    await waitText("room:alpha", "the room the first client joined before");
    await new Promise((r) => upgraded.emit("join", "lobby", r));
    await waitText("room:lobby", "the room joined while the page is open");
    await page.goto(`${server.url}/admin/#/n/%2F/sockets/${upgraded.id}`);
    await waitText("room:lobby", "the room on the socket's page");

    if (errors.length) fail("page errors: " + errors.join("; "));
    // Only the text font is left to Google Fonts; the icons come from this server.
    if (outside.some((u) => !/^https:\/\/fonts\.googleapis\.com\//.test(u))) fail("fetched from elsewhere: " + outside.join(", "));
    if (!icons.some((u) => u.endsWith(".woff2") || u.includes(".woff2?"))) fail("the icon font was not loaded from the server: " + icons.join(", "));
  } finally {
    await browser.close();
  }
  for (const s of [ws, polling, upgraded]) s.close();
  await stopServer(server);
  await readOnly();
  console.log("ok");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
