// Prints codec vectors made by the reference parsers (socket.io-parser, engine.io-parser), one
// JSON object per line, for codec_vectors_check to decode and re-encode byte for byte.
// Usage: node codec_vectors.js [COUNT] [SEED]
"use strict";
const { Encoder, Decoder, PacketType } = require("socket.io-parser");
const eio = require("engine.io-parser");

const count = Number(process.argv[2] || 2000);
const seed = Number(process.argv[3] || 20261123) >>> 0;
process.stderr.write(`codec_vectors.js: ${count} Socket.IO vectors, seed ${seed}\n`);
const rnd = require("./lib").seededRandom(seed);
const int = (n) => Math.floor(rnd() * n);
const pick = (a) => a[int(a.length)];

const alphabet = ["a", "b", "z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u0001", "\u001f", "\u007f",
  "é", "ß", "中", "\u2028", "😀", "💩", "{", "}", "[", "]", ",", ":", "-", "_placeholder"];
function randomString(max = 12) {
  let s = "";
  for (let i = int(max); i > 0; --i) s += pick(alphabet);
  return s;
}
function randomNumber() {
  switch (int(6)) {
    case 0: return int(1000);
    case 1: return -int(1e9);
    case 2: return Number.MAX_SAFE_INTEGER - int(1000);
    case 3: return (rnd() - 0.5) * 1e6;
    case 4: return pick([0.1, 1e21, 1.5e300, 2.5e-8, 123.456, -0.5]);
    default: return rnd();
  }
}
function randomValue(depth, binary) {
  const kinds = depth > 3 ? 5 : 7;
  switch (int(binary ? kinds + 1 : kinds)) {
    case 0: return null;
    case 1: return rnd() < 0.5;
    case 2: return randomNumber();
    case 3: case 4: return randomString();
    case 5: { const a = []; for (let i = int(4); i > 0; --i) a.push(randomValue(depth + 1, binary)); return a; }
    case 6: { const o = {}; for (let i = int(4); i > 0; --i) o[randomString(6) || "k"] = randomValue(depth + 1, binary); return o; }
    default: { const b = Buffer.alloc(int(40)); for (let i = 0; i < b.length; ++i) b[i] = int(256); return b; }
  }
}
// JSON form of a packet for the checker: buffers become {"$bin": base64}.
function portable(v) {
  if (Buffer.isBuffer(v)) return { $bin: v.toString("base64") };
  if (Array.isArray(v)) return v.map(portable);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = portable(v[k]);
    return o;
  }
  return v;
}
function frames(encoded) {
  return encoded.map((f) => (typeof f === "string" ? { text: f } : { bin: Buffer.from(f).toString("base64") }));
}

const encoder = new Encoder();
const reserved = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);
function randomSioPacket() {
  const type = pick([PacketType.CONNECT, PacketType.DISCONNECT, PacketType.EVENT, PacketType.EVENT,
    PacketType.ACK, PacketType.CONNECT_ERROR]);
  const packet = { type, nsp: pick(["/", "/", "/admin", "/a/b", "/中"]) };
  const binary = rnd() < 0.4;
  switch (type) {
    case PacketType.CONNECT:
      if (rnd() < 0.5) packet.data = { token: randomString(), n: randomNumber() };
      break;
    case PacketType.EVENT: {
      let name = randomString(8) || "event";
      if (reserved.has(name)) name = "x" + name;
      packet.data = [name];
      for (let i = int(4); i > 0; --i) packet.data.push(randomValue(1, binary));
      if (rnd() < 0.5) packet.id = int(1e6);
      break;
    }
    case PacketType.ACK:
      packet.id = int(1e6);
      packet.data = [];
      for (let i = int(3); i > 0; --i) packet.data.push(randomValue(1, binary));
      break;
    case PacketType.CONNECT_ERROR:
      packet.data = rnd() < 0.5 ? { message: randomString() } : randomString();
      break;
  }
  return packet;
}

function referenceRefusal(encoded) {
  const decoder = new Decoder();
  try {
    for (const f of encoded) decoder.add(f);
  } catch (e) {
    return e.message;
  }
  return null;
}

function emit(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

for (let i = 0; i < count; ++i) {
  const packet = randomSioPacket();
  const p = portable(packet);  // before encoding: the encoder replaces buffers in place
  const encoded = encoder.encode(packet);
  const v = { layer: "sio", packet: p, frames: frames(encoded) };
  // The reference encoder writes user objects shaped like a placeholder ({"_placeholder": true})
  // as they are, and its own decoder then refuses the packet: such vectors must be refused by
  // ours too, for the same reason.
  const refusal = referenceRefusal(encoded);
  if (refusal) v.reference_refuses = refusal;
  emit(v);
}

const eioTypes = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];
for (let i = 0; i < count / 4; ++i) {
  const packets = [];
  for (let n = 1 + int(5); n > 0; --n) {
    const type = rnd() < 0.7 ? "message" : pick(eioTypes);
    let data;
    if (type === "message" && rnd() < 0.3) data = Buffer.from(randomString(20));
    else if (rnd() < 0.8) data = randomString(20);
    packets.push(data === undefined ? { type } : { type, data });
  }
  eio.encodePayload(packets, (payload) => {
    emit({ layer: "eio", packets: packets.map((p) => ({ type: p.type, data: p.data === undefined ? "" : portable(p.data) })), payload });
  });
}
