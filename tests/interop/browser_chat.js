// The sio-serve chat page in real Chromium (Debian's, driven by playwright-core): three people
// open it; the online list counts them; one types and the others see the typing indicator; a
// message reaches everyone with the sender's name, shown once on the sender's page (the pending
// line confirmed, not duplicated) and never rendered as HTML; a room message reaches that room's
// members only; a page closing leaves the others' lists. Usage: node browser_chat.js SIO_SERVE
// (SIO_SERVE_ARGS in the environment: more sio-serve arguments, e.g. "--parser msgpack").
"use strict";
const { chromium } = require("playwright-core");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node browser_chat.js SIO_SERVE");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
deadline(90000);

(async () => {
  const extra = (process.env.SIO_SERVE_ARGS || "").split(" ").filter(Boolean);
  const server = await startServer(serve, ["--port", "0", "--quiet", ...extra]);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const open = async (name) => {
      const context = await browser.newContext();  // its own localStorage, so its own name
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.addInitScript((n) => localStorage.setItem("sio-name", n), name);
      await page.goto(server.url + "/");
      await page.waitForSelector("#status.ok", { timeout: 10000 });
      return { page, errors, name };
    };
    const text = (p, sel) => p.page.textContent(sel);
    const lines = (p, needle) => p.page.$$eval("#messages li", (lis, n) => lis.filter((l) => l.textContent.includes(n)).length, needle);
    const joinRoom = async (p, room) => {
      await p.page.fill("#room", room);
      await p.page.press("#room", "Enter");
      if (room) await until(async () => (await text(p, "#messages")).includes("you are in #" + room), `${p.name} joins #${room}`);
    };
    const say = async (p, message) => {
      await p.page.fill("#text", message);
      await p.page.press("#text", "Enter");
      await until(async () => (await p.page.$$eval("#messages li.mine:not(.pending)", (lis, m) => lis.filter((l) => l.textContent.includes(m)).length, message)) === 1,
                  `${p.name}'s message '${message}' confirmed`);
    };

    const alice = await open("alice");
    const bob = await open("bob");
    const carol = await open("carol");
    const pages = [alice, bob, carol];

    // Online list: three names, on every page.
    for (const p of pages) {
      await until(async () => (await text(p, "#online-count")) === "3", `online count 3 on ${p.name}'s page`);
      const users = await p.page.$$eval("#users li", (lis) => lis.map((l) => l.textContent).sort());
      if (JSON.stringify(users) !== JSON.stringify(["alice", "bob", "carol"])) fail(`online list on ${p.name}'s page: ${users}`);
    }

    // Typing: alice types, bob's page says so, alice's own does not.
    await alice.page.type("#text", "hello <b>bob</b> ✓");
    await until(async () => (await text(bob, "#typing")).includes("alice is typing"), "typing indicator on bob's page");
    if ((await text(alice, "#typing")) !== "") fail("alice sees herself typing: " + (await text(alice, "#typing")));

    // Sent: everyone sees it, from alice, as text; alice's page shows it once; typing stops.
    await alice.page.press("#text", "Enter");
    await until(async () => (await alice.page.$$("#messages li.mine:not(.pending)")).length === 1, "alice's message confirmed");
    for (const p of [bob, carol]) {
      await until(async () => (await text(p, "#messages")).includes("hello <b>bob</b> ✓"), `${p.name} receives the message`);
      const last = await p.page.$eval("#messages li:last-child", (li) => ({ who: li.querySelector(".who").textContent, html: li.innerHTML }));
      if (last.who !== "alice") fail(`sender shown as ${last.who} on ${p.name}'s page`);
      if (last.html.includes("<b>")) fail("chat text was rendered as HTML: " + last.html);
    }
    if ((await lines(alice, "hello <b>bob</b>")) !== 1) fail("alice's own message shown " + (await lines(alice, "hello <b>bob</b>")) + " times");
    await until(async () => (await text(bob, "#typing")) === "", "typing indicator cleared on bob's page");

    // A room: bob and carol join #ops, alice does not; bob's message there reaches carol only.
    await joinRoom(bob, "ops");
    await joinRoom(carol, "ops");
    await say(bob, "only for ops");
    await until(async () => (await text(carol, "#messages")).includes("only for ops"), "carol receives the room message");
    // Barrier: bob goes back to everyone; alice gets that later message, and never the room's.
    await joinRoom(bob, "");
    await say(bob, "back to everyone");
    await until(async () => (await text(alice, "#messages")).includes("back to everyone"), "alice receives bob's next message");
    if ((await text(alice, "#messages")).includes("only for ops")) fail("room message leaked to alice");

    // Bob leaves: the others' lists shrink to two.
    await bob.page.close();
    for (const p of [alice, carol]) {
      await until(async () => (await text(p, "#online-count")) === "2", `online count back to 2 on ${p.name}'s page`);
      const users = await p.page.$$eval("#users li", (lis) => lis.map((l) => l.textContent).sort());
      if (JSON.stringify(users) !== JSON.stringify(["alice", "carol"])) fail(`online list after bob left: ${users}`);
    }

    const errors = pages.flatMap((p) => p.errors);
    if (errors.length) fail("page errors: " + errors.join("; "));
    console.log("browser chat: ok (transport " + (await text(alice, "#transport")) + ")");
  } finally {
    await browser.close();
    server.child.kill();
  }
})().catch((e) => fail(e.stack || String(e)));
