// The sio-serve chat page in real Chromium (Debian's, driven by playwright-core): three people
// open it; the online list counts them; one types and the others see the typing indicator; a
// message reaches everyone with the sender's name, shown once on the sender's page (the pending
// line confirmed, not duplicated) and never rendered as HTML; a room message reaches that room's
// members only; a click on a name sends a private message, shown as private on both sides and to
// nobody else; every message shows its time; a rename survives the server's restart (the page
// reconnects under the new name, says in plain words that it is reconnecting meanwhile) and a
// reload; at phone width (390 px) nothing scrolls sideways and the people list sits above the
// messages (a screenshot goes to the artifacts folder, see lib.js artifactsDir); a page closing
// leaves the others' lists. Usage: node browser_chat.js SIO_SERVE (SIO_SERVE_ARGS in the
// environment: more sio-serve arguments, e.g. "--parser msgpack").
"use strict";
const path = require("path");
const { fail, startServer, stopServer, until, deadline, artifactsDir, launchChromium } = require("./lib");

const serve = process.argv[2] || fail("usage: node browser_chat.js SIO_SERVE");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
deadline(110000);

(async () => {
  const extra = (process.env.SIO_SERVE_ARGS || "").split(" ").filter(Boolean);
  let server = await startServer(serve, ["--port", "0", "--quiet", ...extra]);
  const browser = await launchChromium([], executablePath);
  try {
    const open = async (name) => {
      const context = await browser.newContext();  // its own localStorage, so its own name
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      // The name a first visit starts with; a reload keeps whatever the page stored since.
      await page.addInitScript((n) => { if (!localStorage.getItem("sio-name")) localStorage.setItem("sio-name", n); }, name);
      await page.goto(server.url + "/");
      await page.waitForSelector("#status.ok", { timeout: 10000 });
      return { page, errors, name };
    };
    const text = (p, sel) => p.page.textContent(sel);
    const names = (p) => p.page.$$eval("#users li .uname", (els) => els.map((e) => e.textContent).sort());
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
      const users = await names(p);
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

    // Private: alice clicks bob's name and writes; bob sees it marked private and from her,
    // alice sees it confirmed and marked private to bob; carol never gets it.
    await alice.page.click('#users button.uname:text-is("bob")');
    if ((await text(alice, "#to")).trim().replace(/\s+/g, " ") !== "private to bob ×") fail("no private target shown: " + (await text(alice, "#to")));
    await alice.page.fill("#text", "psst, only for bob");
    await alice.page.press("#text", "Enter");
    await until(async () => (await alice.page.$$("#messages li.private.mine:not(.pending)")).length === 1, "alice's private message confirmed");
    const sent = await alice.page.$eval("#messages li.private.mine", (li) => ({ tag: li.querySelector(".tag").textContent, text: li.querySelector(".text").textContent }));
    if (sent.tag !== "private to bob" || sent.text !== "psst, only for bob") fail("alice's private line: " + JSON.stringify(sent));
    await until(async () => (await bob.page.$$("#messages li.private")).length === 1, "bob receives the private message");
    const got = await bob.page.$eval("#messages li.private", (li) => ({ tag: li.querySelector(".tag").textContent, who: li.querySelector(".who").textContent,
                                                                      text: li.querySelector(".text").textContent }));
    if (JSON.stringify(got) !== JSON.stringify({ tag: "private", who: "alice", text: "psst, only for bob" })) fail("bob's private line: " + JSON.stringify(got));
    // Back to everyone; a later public message reaches carol, the private one never did.
    await alice.page.click("#to-clear");
    if (!(await alice.page.isHidden("#to"))) fail("the private target stays after ×");
    const hostile = '<img src=x onerror="document.body.dataset.pwned=1">';
    await say(alice, hostile);
    for (const p of [bob, carol]) {
      await until(async () => (await lines(p, hostile)) === 1, `${p.name} receives alice's public message`);
    }
    if ((await lines(carol, "psst")) !== 0) fail("the private message reached carol");
    if ((await lines(bob, hostile)) !== 1 || (await bob.page.$$("#messages li.private")).length !== 1) fail("the public message was shown as private");

    // Untrusted text stays text: the markup is shown literally, no element, no script ran.
    for (const p of pages) {
      const seen = await p.page.evaluate((h) => ({
        literal: [...document.querySelectorAll("#messages li .text")].some((t) => t.textContent === h),
        images: document.querySelectorAll("#messages img").length,
        pwned: document.body.dataset.pwned,
      }), hostile);
      if (!seen.literal || seen.images !== 0 || seen.pwned !== undefined) fail(`markup rendered on ${p.name}'s page: ${JSON.stringify(seen)}`);
    }

    // Every line has a time, from the server's clock for what came from the server.
    for (const p of pages) {
      const times = await p.page.$$eval("#messages li", (lis) => lis.map((li) => {
        const t = li.querySelector("time.ts");
        return t ? { shown: t.textContent, at: Date.parse(t.dateTime) } : null;
      }));
      if (times.length === 0) fail(`no messages on ${p.name}'s page`);
      for (const t of times) {
        if (!t || !/\d{1,2}\D\d{2}/.test(t.shown) || !(Math.abs(Date.now() - t.at) < 10 * 60 * 1000)) {
          fail(`a line without a proper time on ${p.name}'s page: ${JSON.stringify(t)}`);
        }
      }
    }

    // A rename, then the server goes away and comes back on the same port: the page says it is
    // reconnecting in plain words, then comes back under the new name, which the others see.
    await alice.page.fill("#name", "Alicia");
    await alice.page.press("#name", "Enter");
    for (const p of pages) {
      await until(async () => (await names(p)).includes("Alicia"), `the rename seen on ${p.name}'s page`);
    }
    if ((await text(alice, "#me")) !== "Alicia") fail("alice's header after the rename: " + (await text(alice, "#me")));
    const port = server.port;
    const stopped = await stopServer(server, "SIGTERM");
    if (stopped.code !== 0) fail("sio-serve did not exit cleanly on SIGTERM: " + JSON.stringify(stopped));
    for (const p of pages) {
      await until(async () => /^Can't reach the server, retrying…/.test(await text(p, "#status")), `"can't reach" on ${p.name}'s page`, 15000);
      const header = await text(p, "header");
      const side = await text(p, "#transport");
      if (/websocket|polling|xhr|poll error/i.test(header + " " + side)) fail(`jargon while disconnected on ${p.name}'s page: ${header} / ${side}`);
      if ((await names(p)).length !== 0) fail(`${p.name}'s page still lists people while disconnected`);
    }
    server = await startServer(serve, ["--port", String(port), "--quiet", ...extra]);
    for (const p of pages) {
      await until(async () => (await text(p, "#status")) === "Online", `${p.name}'s page back online`, 15000);
    }
    for (const p of pages) {
      await until(async () => JSON.stringify(await names(p)) === JSON.stringify(["Alicia", "bob", "carol"]),
                  `the names after the restart on ${p.name}'s page (${await names(p)})`, 10000);
    }
    if ((await alice.page.inputValue("#name")) !== "Alicia") fail("alice's name box after the restart: " + (await alice.page.inputValue("#name")));
    if ((await text(alice, "#me")) !== "Alicia") fail("alice's header after the restart: " + (await text(alice, "#me")));
    if (/[A-Za-z0-9_-]{20}/.test(await text(alice, "header"))) fail("a socket id in the header: " + (await text(alice, "header")));

    // A reload keeps the name too.
    await alice.page.reload();
    await alice.page.waitForSelector("#status.ok", { timeout: 10000 });
    await until(async () => (await text(alice, "#me")) === "Alicia", "alice's name after a reload");
    if ((await alice.page.inputValue("#name")) !== "Alicia") fail("alice's name box after a reload");
    await until(async () => JSON.stringify(await names(bob)) === JSON.stringify(["Alicia", "bob", "carol"]), "bob's list after alice's reload");

    // A phone: 390 px wide. A long word wraps, nothing scrolls sideways, the people list is
    // folded above the messages and opens on a tap.
    await bob.page.setViewportSize({ width: 390, height: 844 });
    await say(bob, "x".repeat(300));
    const layout = await bob.page.evaluate(() => {
      const box = (sel) => document.querySelector(sel).getBoundingClientRect();
      const list = document.getElementById("messages");
      return { scroll: document.documentElement.scrollWidth, listScroll: list.scrollWidth - list.clientWidth,
               aside: box("aside"), messages: box("#messages") };
    });
    if (layout.scroll > 390) fail(`the page scrolls sideways at 390 px (${layout.scroll} px wide)`);
    if (layout.listScroll > 0) fail(`the long word does not wrap: the messages scroll ${layout.listScroll} px sideways`);
    if (!(layout.aside.bottom <= layout.messages.top + 1 && layout.aside.width > 300)) fail("the people list does not stack above the messages: " + JSON.stringify(layout));
    if (await bob.page.isVisible("#users")) fail("the people list is not folded at phone width");
    await bob.page.click("#people-toggle");
    await until(async () => bob.page.isVisible("#users"), "the people list opens");
    const shot = path.join(artifactsDir(serve), `browser_chat-390px${extra.length ? "-" + extra.join("-").replace(/[^A-Za-z0-9]+/g, "") : ""}.png`);
    await bob.page.screenshot({ path: shot });
    console.log("screenshot at 390 px: " + shot);

    // Bob leaves: the others' lists shrink to two.
    await bob.page.close();
    for (const p of [alice, carol]) {
      await until(async () => (await text(p, "#online-count")) === "2", `online count back to 2 on ${p.name}'s page`);
      const users = await names(p);
      if (JSON.stringify(users) !== JSON.stringify(["Alicia", "carol"])) fail(`online list after bob left: ${users}`);
    }

    const errors = pages.flatMap((p) => p.errors);
    if (errors.length) fail("page errors: " + errors.join("; "));
    console.log("browser chat: ok (transport " + (await text(alice, "#transport")) + ")");
  } finally {
    await browser.close();
    server.child.kill();
  }
})().catch((e) => fail(e.stack || String(e)));
