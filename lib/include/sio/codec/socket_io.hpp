// Socket.IO packets, protocol v5 (socket.io 3.x/4.x) and v4 (socket.io 2.x): encoder and an
// incremental decoder that puts binary attachments back in place.
//
// No I/O, no exceptions (beyond running out of memory): the decoder answers every frame with
// need_more, done or bad, and after bad last_error() says why in words a person can act on.
//
// Wire format, one Engine.IO message per frame:
//   <type digit>[<attachment count>-][<namespace>,][<ack id>][<JSON payload>]
//     "0"  "0/admin,"  "0{\"token\":\"123\"}"  "2[\"foo\"]"  "2/admin,13[\"foo\"]"  "312[]"
//   Binary values in the payload are sent as {"_placeholder":true,"num":N}, each followed by its
//   own binary frame in the order of N:
//     "51-[\"baz\",{\"_placeholder\":true,\"num\":0}]" then the bytes 01 02 03 04.
//
// Decoding follows the reference parser (socket.io-parser 4.2.x, and 3.4.x for v4) and refuses
// what it refuses; where the reference accepts input only through JavaScript's number coercion
// (a type " ", an attachment count "0x1" or " 1", whitespace taken as an ack id) this decoder is
// stricter. See decoder below for the full list of checks.
#pragma once

#include "sio/codec/error.hpp"
#include "sio/codec/json.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio::codec::socketio {

enum class packet_type : std::uint8_t {
    connect = 0,
    disconnect = 1,
    event = 2,
    ack = 3,
    connect_error = 4,  // "ERROR" in protocol v4
    binary_event = 5,
    binary_ack = 6,
};

// "CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK";
// "UNKNOWN" for other values.
std::string_view to_string(packet_type) noexcept;

// Socket.IO protocol revision: v4 is spoken by socket.io 2.x, v5 by socket.io 3.x and 4.x.
enum class protocol { v4 = 4, v5 = 5 };

// As to_string(packet_type), but type 4 is called "ERROR" in v4.
std::string_view to_string(packet_type, protocol) noexcept;

// True for binary_event and binary_ack, the types whose header carries an attachment count.
constexpr bool is_binary_type(packet_type t) noexcept {
    return t == packet_type::binary_event || t == packet_type::binary_ack;
}

// Event names a peer may not use because the libraries give them a meaning of their own:
// connect, connect_error, disconnect, disconnecting, newListener, removeListener.
bool is_reserved_event_name(std::string_view) noexcept;

struct packet {
    packet_type type = packet_type::event;
    std::string nsp = "/";
    std::optional<std::uint64_t> id;  // ack id
    std::optional<json> data;         // absent for e.g. DISCONNECT or a CONNECT without auth

    friend bool operator==(const packet&, const packet&) = default;
};

// A text frame and the binary frames that follow it, in order.
struct encoded {
    std::string text;
    std::vector<std::string> attachments;
};

// Encodes a packet as the reference encoder does:
// - binary values (json::binary_t) anywhere in the data of an EVENT or ACK are replaced by
//   {"_placeholder":true,"num":N} in depth-first order and moved to `attachments`, and the type
//   becomes BINARY_EVENT / BINARY_ACK with an "<N>-" header. BINARY_EVENT / BINARY_ACK given
//   without any binary value are sent as EVENT / ACK (a binary header with 0 attachments is
//   refused by decoders);
// - in other types a binary value is written as a Node.js Buffer serialises itself,
//   {"type":"Buffer","data":[1,2,3]}: those packets have no attachments;
// - the namespace is written only when it is not "/" (an empty one counts as "/"), and must
//   start with '/' and hold no ',' for the result to decode to the same packet;
// - text that is not UTF-8 is written with U+FFFD in place of the bad bytes.
// As with the reference, data holding binary values must not also hold objects whose
// "_placeholder" is true: a decoder would take those for placeholders too.
// The wire format is the same in v4 and v5; `version` states which one the caller speaks.
encoded encode(const packet&, protocol version = protocol::v5);

struct decoder_options {
    protocol version = protocol::v5;
    std::size_t max_attachments = 10;     // declared per packet (errc::too_many_attachments)
    std::size_t max_payload = 1'000'000;  // bytes of a packet: text + attachments as placed
    std::size_t max_depth = 128;          // nesting of arrays and objects in the payload
    bool operator==(const decoder_options&) const = default;
};

enum class decode_status { need_more, done, bad };

// Incremental decoder: feed it the frames of Engine.IO messages as they arrive.
//
// A text frame is decoded at once; for BINARY_EVENT / BINARY_ACK the decoder then waits for the
// announced number of binary frames and answers need_more until the last one arrives. Checks,
// each failing with the errc named:
// - frame empty -> empty_input; first byte not a digit 0-6 -> unknown_packet_type;
// - binary types: count digits then '-', at least 1 -> invalid_attachments; over
//   max_attachments -> too_many_attachments;
// - namespace: starts with '/' right after the header, ends at the first ',' or at the end of
//   the frame ("0/admin" is accepted as the reference does); otherwise "/" is meant;
// - ack id: decimal digits that fit in 64 bits -> invalid_ack_id;
// - payload: JSON (no leading whitespace, no trailing garbage) -> invalid_json; deeper than
//   max_depth or text over max_payload -> payload_too_large;
// - payload shape per type -> invalid_payload:
//     CONNECT        v5: absent or an object; v4: absent (the query of "/admin?token=x" is
//                    part of the namespace)
//     DISCONNECT     absent
//     EVENT          a non-empty array whose first element is a number or a string that is not
//                    a reserved event name (v4 too: socket.io 2.x peers never send those)
//     ACK            an array (possibly empty)
//     CONNECT_ERROR  v5: a string or an object; v4 (ERROR): a string, an object, or absent
// - placeholders ({"_placeholder":true,...}) in binary types: "num" an integer within the
//   announced count, and every attachment referenced at least once -> invalid_attachments;
//   checked on the text frame, before any attachment is buffered. In other types such objects
//   are plain data and the payload is not searched for them;
// - attachments placed (an attachment referenced twice counts twice) over max_payload ->
//   payload_too_large;
// - a text frame while attachments are awaited -> unexpected_text; a binary frame when none
//   is -> unexpected_binary.
// After bad the decoder is idle again and the next frame starts a new packet.
class decoder {
public:
    explicit decoder(decoder_options = {});

    // The slots below point into the packet being built: a copy would point into the original.
    decoder(const decoder&) = delete;
    decoder& operator=(const decoder&) = delete;
    decoder(decoder&&) = default;  // moving keeps the tree, so the slots stay valid
    decoder& operator=(decoder&&) = default;
    ~decoder() = default;

    decode_status feed_text(std::string_view frame);    // a text message
    decode_status feed_binary(std::string_view frame);  // a binary message (an attachment)

    // After done: the packet, with placeholders replaced by json::binary_t. The type is the one
    // on the wire (BINARY_EVENT stays BINARY_EVENT). Leaves the decoder idle.
    packet take();

    // After bad: code and reason of the last failure.
    const error& last_error() const noexcept { return error_; }

    bool awaiting_attachments() const noexcept { return state_ == state::awaiting; }
    void reset() noexcept;

    const decoder_options& options() const noexcept { return options_; }

private:
    enum class state : std::uint8_t { idle, awaiting, done };

    // A placeholder inside packet_.data and the attachment that replaces it.
    struct slot {
        json* value;
        std::size_t attachment;
    };

    decode_status fail(error);
    decode_status finish_binary();

    decoder_options options_;
    state state_ = state::idle;
    packet packet_;
    std::vector<slot> slots_;
    std::vector<std::size_t> uses_;  // placeholders per attachment
    std::vector<json::binary_t::container_type> attachments_;
    std::size_t expected_ = 0;  // attachments announced by the header
    std::size_t placed_ = 0;    // bytes so far: text frame + attachments times their uses
    error error_;
};

// One text frame to one packet, for packets without attachments (a binary header gives
// invalid_attachments: use a decoder to receive the attachments).
result<packet> decode_text(std::string_view, const decoder_options& = {});

// The checks decoder applies to a payload's shape (not the placeholders), for a packet about to
// be sent: nothing when valid, else invalid_payload or invalid_namespace with the reason.
std::optional<error> validate(const packet&, protocol = protocol::v5);

// Which parser writes a peer's packets; both sides of a connection must use the same.
enum class wire_parser : std::uint8_t {
    json,     // the default parser: a text message per packet, binary values as attachments
    msgpack,  // socket.io-msgpack-parser: a binary (msgpack) message per packet
};

// socket.io-msgpack-parser (3.x), the reference's alternative parser: each packet is one binary
// Engine.IO message holding the msgpack map {type, data, nsp, id} in notepack.io's encoding.
// Binary values stay inside data as msgpack bin: there are no attachments and no BINARY_EVENT or
// BINARY_ACK (those types are sent as EVENT and ACK). Protocol v5 only.
std::string encode_msgpack(const packet&);

// One binary message to one packet. Refused, as the reference parser refuses them: not a msgpack
// map (invalid_payload), "type" not an integer 0-4 (unknown_packet_type), "nsp" not a string
// starting with '/' (invalid_namespace), "id" present and not an integer in range
// (invalid_ack_id), and a data shape the JSON decoder would refuse for the type
// (invalid_payload); a message over max_payload or nested deeper than max_depth gives
// payload_too_large. Other keys (socket.io-client sends "options") are ignored.
result<packet> decode_msgpack(std::string_view, const decoder_options& = {});

// One-line summary for logs and inspectors: `EVENT /admin id=12 ["chat","hi"]`, binary values
// as <4 bytes: 01 02 03 04>. With max_chars > 0 the data part is cut to about that many
// characters and ends with "...".
std::string describe(const packet&, protocol = protocol::v5, std::size_t max_chars = 0);

}  // namespace sio::codec::socketio
