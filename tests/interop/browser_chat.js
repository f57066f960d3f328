// The sio-serve chat page in real Chromium (Debian's, driven by playwright-core): two people
// join, one writes, both see the message with the sender's name, the sender's own line turns
// from pending to acknowledged, the online list counts both, and a room keeps its messages from
// the others. Usage: node browser_chat.js PATH/TO/sio-serve
"use strict";
const { chromium } = require("playwright-core");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node browser_chat.js SIO_SERVE");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
deadline(60000);

(async () => {
  const server = await startServer(serve, ["--port", "0"]);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const open = async (name) => {
      const page = await browser.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.addInitScript((n) => localStorage.setItem("sio-name", n), name);
      await page.goto(server.url + "/");
      await page.waitForSelector("#status.ok", { timeout: 10000 });
      return { page, errors };
    };
    const alice = await open("alice");
    const bob = await open("bob");

    // Online list: both names, count 2, on both pages.
    for (const p of [alice.page, bob.page]) {
      await until(async () => (await p.textContent("#online-count")) === "2", "online count 2");
      const users = await p.$$eval("#users li", (lis) => lis.map((l) => l.textContent).sort());
      if (JSON.stringify(users) !== JSON.stringify(["alice", "bob"])) fail("online list: " + users);
    }

    // A message to everyone: both see it; the sender's line is acknowledged.
    await alice.page.fill("#text", "hello <b>bob</b> ✓");
    await alice.page.press("#text", "Enter");
    await until(async () => (await alice.page.$$("#messages li.mine")).length === 1, "alice's message acknowledged");
    await until(async () => (await bob.page.textContent("#messages")).includes("hello <b>bob</b> ✓"), "bob receives the message");
    const bobLine = await bob.page.$eval("#messages li:last-child", (li) => ({ who: li.querySelector(".who").textContent, html: li.innerHTML }));
    if (bobLine.who !== "alice") fail("sender shown as " + bobLine.who);
    if (bobLine.html.includes("<b>")) fail("chat text was rendered as HTML: " + bobLine.html);

    // A room: bob joins #ops, alice does not; bob's message there does not reach alice.
    await bob.page.fill("#room", "ops");
    await bob.page.press("#room", "Enter");
    await bob.page.fill("#text", "only for ops");
    await bob.page.press("#text", "Enter");
    await until(async () => (await bob.page.$$("#messages li.mine")).length === 1, "bob's room message acknowledged");
    await new Promise((r) => setTimeout(r, 300));
    if ((await alice.page.textContent("#messages")).includes("only for ops")) fail("room message leaked to alice");

    // Bob leaves: alice's list shrinks to one.
    await bob.page.close();
    await until(async () => (await alice.page.textContent("#online-count")) === "1", "online count back to 1");

    const errors = [...alice.errors, ...bob.errors];
    if (errors.length) fail("page errors: " + errors.join("; "));
    console.log("browser chat: ok (transport " + (await alice.page.textContent("#transport")) + ")");
  } finally {
    await browser.close();
    server.child.kill();
  }
})().catch((e) => fail(e.stack || String(e)));
