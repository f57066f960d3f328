// Engine.IO packets and payloads, protocol v4 (socket.io 3.x/4.x) and v3 (socket.io 1.x/2.x).
//
// Pure functions over bytes: no I/O, no exceptions. Decoders return result<T>; their error
// reasons name what went wrong and where ("packet 2 at byte 17: unknown packet type '9'"), with
// packet indices counted from 0 and byte offsets from the start of the decoded input.
//
// Wire formats, in short:
//   packet (text)      <type digit><data>                 "4hello", "2probe", "6"
//   binary, v4 text    b<base64 of data>                  "bAQIDBA=="       (always a message)
//   binary, v3 text    b<type digit><base64 of data>      "b4AQIDBA=="
//   WebSocket binary   v4: the raw data (always a message); v3: <type byte 0..6><data>
//   polling, v4        text packets joined by '\x1e'      "4hello\x1e2\x1e4world"
//   polling, v3 text   <length>:<packet> repeated, length in UTF-16 code units, "6:4hello2:4€"
//   polling, v3 XHR2   per packet: <0 text | 1 binary><length as digit bytes 0..9><0xFF><packet>
#pragma once

#include "sio/codec/error.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sio::codec::eio {

enum class packet_type : std::uint8_t { open = 0, close = 1, ping = 2, pong = 3, message = 4, upgrade = 5, noop = 6 };

// "open", "close", "ping", "pong", "message", "upgrade", "noop"; "unknown" for other values.
std::string_view to_string(packet_type) noexcept;

// One Engine.IO packet. `data` holds text (UTF-8) or, when `binary` is set, raw bytes.
// In v4 only message packets can be binary; v3 keeps the type of a binary packet as sent.
struct packet {
    packet_type type = packet_type::message;
    std::string data;
    bool binary = false;

    friend bool operator==(const packet&, const packet&) = default;
};

// Bounds applied by the payload decoders to untrusted input.
struct limits {
    std::size_t max_payload = 1'000'000;  // bytes of the whole input (errc::payload_too_large)
    std::size_t max_packets = 10'000;     // packets in one payload (errc::too_many_packets)
};

// Engine.IO protocol revision: 4 (the default) or 3. Any value other than 3 means 4.
inline constexpr int protocol_v4 = 4;
inline constexpr int protocol_v3 = 3;

// --- single packets --------------------------------------------------------------------------

// A packet as a WebSocket text frame or a polling element: "4hello", "2probe", "6".
// A binary packet becomes "b" + base64(data) in v4 (its type is not written: it is a message),
// "b" + type digit + base64(data) in v3.
std::string encode_text(const packet&, int protocol = protocol_v4);

// Inverse of encode_text. Errors: "" -> empty_input; a first character that is not 0-6 (or 'b')
// -> unknown_packet_type; bad base64 after 'b' -> invalid_base64. Text is not checked for UTF-8
// here (a WebSocket layer validates text frames itself).
result<packet> decode_text(std::string_view, int protocol = protocol_v4);

// A packet as a WebSocket binary frame. v4: the frame is the data itself (the packet is a binary
// message). v3: one type byte (0x00..0x06) followed by the data.
std::string encode_binary_frame(const packet&, int protocol = protocol_v4);

// Inverse of encode_binary_frame; always yields a packet with binary = true. v4 accepts any
// frame, the empty one included (an empty buffer is a valid message). v3: an empty frame ->
// empty_input, a type byte above 6 -> unknown_packet_type.
result<packet> decode_binary_frame(std::string_view, int protocol = protocol_v4);

// --- v4 polling payload ----------------------------------------------------------------------

// Packets joined by the record separator '\x1e', binary ones as "b" + base64. An empty span gives
// "" (which is not a decodable payload: a poll always carries at least one packet).
std::string encode_payload(std::span<const packet>);

// False for a text packet whose data contains '\x1e': the v4 polling format has no escape for
// it, so such a packet cannot travel in a payload (send it over WebSocket, or as binary).
bool can_encode_in_payload(const packet&) noexcept;

// Splits on '\x1e' and decodes every element with decode_text. Errors: empty body or empty
// element -> empty_input; over limits -> payload_too_large / too_many_packets; plus those of
// decode_text, prefixed with the packet index and byte offset.
result<std::vector<packet>> decode_payload(std::string_view body, const limits& = {});

// --- handshake (data of the open packet) -----------------------------------------------------

struct handshake {
    std::string sid;
    std::vector<std::string> upgrades;
    std::uint64_t ping_interval_ms = 25000;
    std::uint64_t ping_timeout_ms = 20000;
    std::optional<std::uint64_t> max_payload;  // v4 only; v3 servers do not send it

    friend bool operator==(const handshake&, const handshake&) = default;
};

// {"sid":"..","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
// in exactly this key order; maxPayload omitted when unset. Strings that are not UTF-8 are
// written with U+FFFD in place of the bad bytes (JSON text must be UTF-8).
std::string encode_handshake(const handshake&);

// Required: "sid" (non-empty string), "pingInterval" and "pingTimeout" (non-negative whole
// numbers). Optional: "upgrades" (array of strings; absent in some v3 WebSocket-only examples,
// then empty), "maxPayload" (non-negative whole number). Other keys are ignored. Errors:
// invalid_json when the text does not parse, invalid_handshake otherwise.
result<handshake> decode_handshake(std::string_view json_text);

// --- v3 polling payloads ---------------------------------------------------------------------
namespace v3 {

// "<length>:<packet>" per packet, where <packet> is encode_text(p, 3) and <length> counts its
// UTF-16 code units as JavaScript's String.length does ("€" is 1, "😀" is 2). An empty span
// gives "0:", as the reference writes it. Text that is not valid UTF-8 has no such length:
// each invalid sequence is sent as U+FFFD instead, as a JavaScript peer would read it.
std::string encode_text_payload(std::span<const packet>);

// Inverse of encode_text_payload. Records of length 0 ("0:") carry no packet and are skipped,
// as the reference does. Errors: empty input -> empty_input; a length that is empty, not
// decimal, has a leading zero, is not followed by ':', exceeds the input left or ends inside a
// surrogate pair -> invalid_length; a length over the limit -> payload_too_large; invalid UTF-8
// -> invalid_utf8; plus those of decode_text(…, 3).
result<std::vector<packet>> decode_text_payload(std::string_view, const limits& = {});

// XHR2 binary payload. Per packet: a byte 0 (text) or 1 (binary), the length as decimal digits
// each stored as a byte 0..9, a byte 0xFF, then the packet. Text packets are encode_text(p, 3)
// and their length counts UTF-8 bytes (the reference UTF-8-encodes the string first and writes
// one byte per resulting character); binary packets are the type byte then the data, and their
// length includes the type byte. An empty span gives an empty string. Invalid UTF-8 in text is
// replaced by U+FFFD, as for the text payload.
std::string encode_binary_payload(std::span<const packet>);

// Inverse of encode_binary_payload; an empty input gives no packets (the reference writes no
// packets so). Errors: a marker byte other than 0/1, a length digit byte above 9, an empty
// length, a leading zero, a missing 0xFF or a length beyond the input -> invalid_length; input
// or a length over the limit -> payload_too_large; too many packets -> too_many_packets; a text
// packet that is not UTF-8 -> invalid_utf8 (the reference rejects it too); plus those of
// decode_text(…, 3) and decode_binary_frame(…, 3).
result<std::vector<packet>> decode_binary_payload(std::string_view, const limits& = {});

}  // namespace v3
}  // namespace sio::codec::eio
