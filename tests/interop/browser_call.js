// A call on the sio-serve chat page in real Chromium (Debian's, driven by playwright-core, with
// its fake camera and microphone): alice calls bob from the people list; bob's page rings and he
// accepts; both pages get a connected RTCPeerConnection through the server's relay (call user,
// call accepted, offer, answer, ice-candidate) and play the other's video; alice hangs up and the
// call ends on both pages. Then bob calls alice, who declines, and bob's page says so; a ringing
// page answers a third caller that it is busy. A screenshot of the call goes to the artifacts
// folder (lib.js artifactsDir). Usage: node browser_call.js SIO_SERVE
"use strict";
const path = require("path");
const { fail, startServer, until, deadline, artifactsDir, launchChromium } = require("./lib");

const serve = process.argv[2] || fail("usage: node browser_call.js SIO_SERVE");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
deadline(90000);

(async () => {
  const server = await startServer(serve, ["--port", "0", "--quiet"]);
  const browser = await launchChromium(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
                                       executablePath);
  try {
    const open = async (name) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.addInitScript((n) => localStorage.setItem("sio-name", n), name);
      await page.goto(server.url + "/");
      await page.waitForSelector("#status.ok", { timeout: 10000 });
      return { page, errors, name };
    };
    const text = (p, sel) => p.page.textContent(sel);
    const has = async (p, needle) => (await text(p, "#messages")).includes(needle);
    const callButton = (p, who) => p.page.locator("#users li", { has: p.page.locator(`button.uname:text-is("${who}")`) }).locator("button.call");
    const callState = (p) => p.page.$eval("#call", (c) => ({ hidden: c.hidden, connection: c.dataset.connection,
                                                              state: document.getElementById("call-state").textContent }));
    // The other side's video is playing: its frames have a size.
    const remoteVideo = (p) => p.page.$eval("#remote-video", (v) => v.videoWidth > 0 && v.readyState >= 2 && v.srcObject !== null);

    const alice = await open("alice");
    const bob = await open("bob");
    const pages = [alice, bob];
    for (const p of pages) await until(async () => (await text(p, "#online-count")) === "2", `online count 2 on ${p.name}'s page`);

    // alice calls bob; bob's page rings with an accept button.
    await callButton(alice, "bob").click();
    await until(async () => (await callState(alice)).state === "Calling bob…", "alice's page says it is calling bob");
    await until(async () => (await callState(bob)).state === "alice is calling you", "bob's page rings");
    if (!(await bob.page.isVisible("#call-accept")) || !(await bob.page.isVisible("#call-decline"))) fail("no accept/decline on bob's page");
    if (!(await callButton(bob, "alice").isDisabled())) fail("bob can start another call while his page rings");

    // A third person calling bob meanwhile hears that he is busy.
    const carol = await open("carol");
    await until(async () => (await text(carol, "#online-count")) === "3", "carol online");
    await callButton(carol, "bob").click();
    await until(async () => has(carol, "Call with bob ended: bob is in another call"), "carol told that bob is busy");
    await until(async () => has(bob, "carol tried to call you while you were in a call"), "bob told that carol tried");
    if ((await callState(bob)).state !== "alice is calling you") fail("carol's call disturbed bob's ringing");
    await carol.page.close();

    // bob accepts: both peer connections connect, both videos play.
    await bob.page.click("#call-accept");
    for (const [p, other] of [[alice, "bob"], [bob, "alice"]]) {
      await until(async () => (await callState(p)).connection === "connected", `a connected RTCPeerConnection on ${p.name}'s page`, 20000);
      const s = await callState(p);
      if (s.hidden || s.state !== "In a call with " + other) fail(`call state on ${p.name}'s page: ${JSON.stringify(s)}`);
      await until(() => remoteVideo(p), `${other}'s video playing on ${p.name}'s page`, 15000);
      if (!(await p.page.isVisible("#call-hangup"))) fail(`no hang-up button on ${p.name}'s page`);
    }
    const shot = path.join(artifactsDir(serve), "browser_call.png");
    await alice.page.screenshot({ path: shot });
    console.log("screenshot of the call: " + shot);

    // alice hangs up: "call ended" reaches bob; both pages close their connection and say so.
    await alice.page.click("#call-hangup");
    await until(async () => (await callState(bob)).connection === "closed", "the call ended on bob's page");
    for (const [p, why] of [[alice, "Call with bob ended: you hung up"], [bob, "Call with alice ended: alice hung up"]]) {
      const s = await callState(p);
      if (!s.hidden || s.connection !== "closed") fail(`call still shown on ${p.name}'s page: ${JSON.stringify(s)}`);
      if (!(await has(p, why))) fail(`no "${why}" on ${p.name}'s page`);
      if (await p.page.$eval("#local-video", (v) => v.srcObject !== null)) fail(`${p.name}'s camera still in use`);
    }

    // bob calls back; alice declines; bob's page says so, and both can call again.
    await until(async () => !(await callButton(bob, "alice").isDisabled()), "bob's call button enabled again");
    await callButton(bob, "alice").click();
    await until(async () => (await callState(alice)).state === "bob is calling you", "alice's page rings");
    await alice.page.click("#call-decline");
    await until(async () => has(bob, "Call with alice ended: alice declined the call"), "bob told that alice declined");
    for (const p of pages) {
      if (!(await callState(p)).hidden) fail(`the call panel stays on ${p.name}'s page after the decline`);
    }
    await until(async () => !(await callButton(alice, "bob").isDisabled()), "alice's call button enabled again");

    const errors = pages.flatMap((p) => p.errors);
    if (errors.length) fail("page errors: " + errors.join("; "));
    const shown = (await text(alice, "#error")) + (await text(bob, "#error"));
    if (shown) fail("error shown on a page: " + shown);
    console.log("browser call: ok");
  } finally {
    await browser.close();
    server.child.kill();
  }
})().catch((e) => fail(e.stack || String(e)));
