// sio-serve's security switches, provoked for real with the Node socket.io-client, ws and raw
// HTTP: --allowed-origin refuses other origins on polling and on the WebSocket upgrade (logged);
// --metrics-listen moves /metrics to its own port; --metrics-token demands a bearer token; the
// static files are exactly the served set (no traversal, right content types); user text cannot
// forge log lines or send terminal escapes through the log.
// Usage: node serve_security.js PATH/TO/sio-serve
"use strict";
const net = require("net");
const { io } = require("socket.io-client");
const WebSocket = require("ws");
const { fail, startServer, until, deadline } = require("./lib");

const serve = process.argv[2] || fail("usage: node serve_security.js SIO_SERVE");
deadline(60000);

const eq = (a, b, what) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); };

function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const s = io(url, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
    s.on("connect", () => resolve(s));
    s.on("connect_error", (e) => { s.close(); reject(e); });
  });
}
function wsStatus(url, headers) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", { headers });
    ws.on("open", () => { ws.close(); resolve(101); });
    ws.on("unexpected-response", (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.on("error", () => resolve(null));
  });
}
// A request target sent as is (fetch would normalise "/../").
function rawGet(port, target, extraHeaders = "") {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, () =>
      s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extraHeaders}Connection: close\r\n\r\n`));
    let got = "";
    s.on("data", (d) => { got += d.toString("latin1"); });
    s.on("close", () => resolve(Number((got.match(/^HTTP\/1\.1 (\d+)/) || [])[1])));
    s.on("error", reject);
  });
}

(async () => {
  const origin = "https://chat.example";
  const server = await startServer(serve, ["--port", "0", "--allowed-origin", origin, "--metrics-listen", "127.0.0.1:0",
                                           "--metrics-token", "m3trics", "--log-format", "json"]);
  const url = server.url;

  // --- origins -----------------------------------------------------------------------------
  const polling = (o) => fetch(url + "/socket.io/?EIO=4&transport=polling", { headers: o ? { Origin: o } : {} });
  eq((await polling(origin)).status, 200, "polling from the allowed origin");
  eq((await polling(undefined)).status, 200, "polling without an Origin (not a browser)");
  const bad = await polling("https://evil.example");
  eq(bad.status, 403, "polling from another origin");
  eq(await wsStatus(url, { Origin: origin }), 101, "WebSocket from the allowed origin");
  eq(await wsStatus(url, { Origin: "https://evil.example" }), 403, "WebSocket from another origin");
  await until(() => (server.output().match(/forbidden origin \\?"https:\/\/evil\.example/g) || []).length >= 2,
              "a log line for each refused origin (polling and WebSocket)");
  // An Origin header that is there but empty names no allowed origin (only its absence is "not a
  // browser"); on polling and on the WebSocket upgrade.
  eq(await rawGet(server.port, "/socket.io/?EIO=4&transport=polling", "Origin: \r\n"), 403, "polling with an empty Origin");
  eq(await rawGet(server.port, "/socket.io/?EIO=4&transport=websocket",
                  "Origin:\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
     403, "WebSocket with an empty Origin");
  await until(() => /the Origin header is empty/.test(server.output()), "the log line of the empty Origin");
  const ok = await connect(url, { extraHeaders: { Origin: origin }, transports: ["websocket"] });

  // --- metrics ----------------------------------------------------------------------------------
  await until(() => /"event":"metrics"/.test(server.output()), "the metrics listener log line");
  const murl = server.output().match(/metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/)[1];
  eq((await fetch(url + "/metrics")).status, 404, "/metrics on the main port with --metrics-listen");
  const noToken = await fetch(murl);
  eq(noToken.status, 401, "/metrics without the token");
  eq((await fetch(murl, { headers: { Authorization: "Bearer wrong!!" } })).status, 401, "/metrics with a wrong token");
  // The scheme is case-insensitive (RFC 7235), and more than one space may follow it.
  for (const scheme of ["bearer", "BEARER", "Bearer  "])
    eq((await fetch(murl, { headers: { Authorization: `${scheme} m3trics` } })).status, 200, `/metrics with "${scheme}"`);
  eq((await fetch(murl, { headers: { Authorization: "Basic m3trics" } })).status, 401, "/metrics with another scheme");
  eq((await fetch(murl, { headers: { Authorization: "m3trics" } })).status, 401, "/metrics with the token alone");
  const withToken = await fetch(murl, { headers: { Authorization: "Bearer m3trics" } });
  eq(withToken.status, 200, "/metrics with the token");
  if (!/sio_connections\{transport="websocket"\} 1/.test(await withToken.text())) fail("metrics do not show the connected client");
  eq((await fetch(murl.replace("/metrics", "/healthz"))).status, 200, "/healthz on the metrics listener");
  eq((await fetch(murl.replace("/metrics", "/"))).status, 404, "the chat page is not on the metrics listener");

  // --- static files -------------------------------------------------------------------------
  const page = await fetch(url + "/");
  eq([page.status, page.headers.get("content-type")], [200, "text/html; charset=utf-8"], "the chat page");
  const bundle = await fetch(url + "/socket.io/socket.io.js");
  eq(bundle.headers.get("content-type"), "application/javascript; charset=utf-8", "the client bundle's type");
  for (const target of ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/socket.io/../../etc/passwd",
                        "/index.html/../../etc/passwd", "//etc/passwd", "/socket.io/socket.io.js/..%2f..%2fetc%2fpasswd"]) {
    const status = await rawGet(server.port, target);
    if (status === 200) fail(`${target} was served`);
  }

  // --- log injection ------------------------------------------------------------------------
  ok.emit("set name", "mallory\n{\"event\":\"forged\"}\u001b[31mred\u0007");
  await new Promise((r) => setTimeout(r, 200));
  ok.close();
  await until(() => /"reason":"client namespace disconnect"|"reason":"transport close"/.test(server.output()), "the disconnect line");
  for (const line of server.output().split("\n")) {
    if (line === "") continue;
    let parsed;
    try { parsed = JSON.parse(line); } catch (e) { fail("log line is not JSON (injected?): " + JSON.stringify(line)); }
    if (parsed.event === "forged") fail("a client forged a log line");
  }
  if (server.output().includes("\u001b")) fail("a terminal escape reached the log");

  // The text format: every line starts with its time and the program name; nothing raw gets through.
  const textServer = await startServer(serve, ["--port", "0", "-v"]);
  const t = await connect(textServer.url, { transports: ["websocket"] });
  await new Promise((resolve) => t.emit("set name", "mallory\nsio-serve: forged\u001b[31m\r", () => resolve()) || setTimeout(resolve, 300));
  t.emit("chat message", "hi\nsio-serve: forged too");
  await new Promise((r) => setTimeout(r, 200));
  t.close();
  await until(() => /disconnect/.test(textServer.output()), "the text-format disconnect line");
  if (!/mallory/.test(textServer.output())) fail("the name was not logged at all, so escaping is untested");
  for (const line of textServer.output().split("\n")) {
    if (line !== "" && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z sio-serve: /.test(line))
      fail("log line without the time and the program prefix: " + JSON.stringify(line));
    if (/^(\S+ )?sio-serve: forged/.test(line)) fail("a client forged a text log line: " + JSON.stringify(line));
  }
  if (/[\u001b\r]/.test(textServer.output())) fail("a control character reached the text log");

  console.log("ok: origins, metrics access, static files, log escaping");
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
