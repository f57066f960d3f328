// The WebSocket frame codec (RFC 6455 section 5): the examples of section 5.7, the length
// encodings' boundaries (125/126, 65535/65536) through writer and parser, fragments with control
// frames between them, every refusal with its close code, the limits, masking in pieces, close
// payloads, and the parser's promises on memory (zero copy, need_more consumes all, nothing held
// after a message, errors stick). Most cases run whole, byte by byte and in odd-sized pieces:
// the result may not depend on how the socket split the bytes.
#include "sio/codec/ws_frame.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace {

namespace ws = sio::codec::ws;
using kind = ws::event::kind;
using ws::opcode;

std::string header(bool binary, std::uint64_t size, const std::array<char, 4>* key = nullptr) {
    sio::codec::ws_frame_header_bytes h{};
    const auto n = sio::codec::ws_frame_header(binary, size, h, key);
    return std::string(h.data(), n);
}

std::string bytes(std::initializer_list<int> b) {
    std::string out;
    for (int x : b) out.push_back(static_cast<char>(x));
    return out;
}

// The masking key of RFC 6455's examples.
const std::array<char, 4> rfc_key{'\x37', '\xfa', '\x21', '\x3d'};

// One frame as the writer makes it: masked with `key` (a client's frame) or not (a server's).
std::string frame(opcode op, bool fin, std::string_view payload, const std::array<char, 4>* key = nullptr) {
    sio::codec::ws_frame_header_bytes h{};
    const std::size_t n = ws::frame_header(op, fin, payload.size(), h, key);
    std::string out(h.data(), n);
    out.append(payload);
    if (key != nullptr) ws::mask({out.data() + n, payload.size()}, *key);
    return out;
}

// A client's frame, as a server parses it.
std::string masked(opcode op, bool fin, std::string_view payload) { return frame(op, fin, payload, &rfc_key); }

// `f` with its first byte replaced (to set reserved bits or opcodes a writer would not).
std::string with_first_byte(std::string f, int b0) {
    f[0] = static_cast<char>(b0);
    return f;
}

// What an event said, copied out of the views (which live only until the next call).
struct seen {
    kind type = kind::need_more;
    bool binary = false;
    std::string payload;
    std::uint16_t code = 0;
    bool operator==(const seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const seen& s) {
    static constexpr const char* names[] = {"need_more", "message", "ping", "pong", "close", "error"};
    os << names[static_cast<int>(s.type)];
    if (s.type == kind::message) os << (s.binary ? " binary" : " text");
    os << " \"" << (s.payload.size() > 40 ? s.payload.substr(0, 40) + "..." : s.payload) << "\" (" << s.payload.size()
       << " bytes)";
    if (s.code != 0) os << " code " << s.code;
    return os;
}

seen text(std::string p) { return {kind::message, false, std::move(p), 0}; }
seen binary(std::string p) { return {kind::message, true, std::move(p), 0}; }
seen ping(std::string p) { return {kind::ping, false, std::move(p), 0}; }
seen pong(std::string p) { return {kind::pong, false, std::move(p), 0}; }
seen closing(std::uint16_t code, std::string reason = {}) { return {kind::close, false, std::move(reason), code}; }
seen error(std::uint16_t code) { return {kind::error, false, {}, code}; }

// Feeds `input` to `p` in pieces of `chunk` bytes (all at once for 0), calling next() until
// need_more after each piece, and returns every event up to and including the first error. Checks
// on the way what holds whatever the input: need_more consumed the piece, an error has a reason.
std::vector<seen> parse(ws::parser& p, std::string input, std::size_t chunk = 0) {
    std::vector<seen> out;
    std::size_t at = 0;
    do {
        const std::size_t n = chunk == 0 ? input.size() : std::min(chunk, input.size() - at);
        std::span<char> in(input.data() + at, n);
        at += n;
        for (;;) {
            const ws::event e = p.next(in);
            if (e.type == kind::need_more) {
                EXPECT_TRUE(in.empty()) << "need_more left " << in.size() << " bytes unread";
                break;
            }
            if (e.type == kind::error) {
                EXPECT_FALSE(e.reason.empty());
                out.push_back(error(e.code));
                return out;
            }
            out.push_back({e.type, e.binary, std::string(e.payload), e.code});
        }
    } while (at < input.size());
    return out;
}

std::vector<seen> parse(ws::role r, const std::string& input, std::size_t chunk = 0, ws::parser_limits limits = {}) {
    ws::parser p(r, limits);
    return parse(p, input, chunk);
}

// The chunk sizes every case runs with: whole, byte by byte, odd pieces.
constexpr std::size_t chunkings[] = {0, 1, 3, 7};

std::string repeat(std::size_t n, char c = 'a') { return std::string(n, c); }

// 0x00, 0x01, ... 0xff, 0x00, ...: every byte value, none of them in the same place twice per 256.
std::string counting(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i & 0xff);
    return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Frame headers (the writer)

TEST(ws_frame_header, matches_the_rfc_examples) {
    // "A single-frame unmasked text message": 0x81 0x05 "Hello".
    EXPECT_EQ(header(false, 5), bytes({0x81, 0x05}));
    // "A single-frame masked text message": 0x81 0x85 0x37 0xfa 0x21 0x3d, then the masked "Hello".
    EXPECT_EQ(header(false, 5, &rfc_key), bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}));
    // "256 bytes binary message in a single unmasked frame": 0x82 0x7E 0x0100.
    EXPECT_EQ(header(true, 256), bytes({0x82, 0x7e, 0x01, 0x00}));
    // "64KiB binary message in a single unmasked frame": 0x82 0x7F 0x0000000000010000.
    EXPECT_EQ(header(true, 65536), bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
}

TEST(ws_frame_header, uses_the_shortest_length_encoding_at_each_boundary) {
    EXPECT_EQ(header(false, 0), bytes({0x81, 0x00}));
    EXPECT_EQ(header(false, 125), bytes({0x81, 0x7d}));
    EXPECT_EQ(header(false, 126), bytes({0x81, 0x7e, 0x00, 0x7e}));
    EXPECT_EQ(header(false, 65535), bytes({0x81, 0x7e, 0xff, 0xff}));
    const std::array<char, 4> key{'\x01', '\x02', '\x03', '\x04'};
    EXPECT_EQ(header(true, 65536, &key), bytes({0x82, 0xff, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 1, 2, 3, 4}));
    EXPECT_EQ(header(true, 0x0102030405060708ull),
              bytes({0x82, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
}

TEST(ws_frame_header, writes_the_opcode_and_fin_it_is_given) {
    EXPECT_EQ(frame(opcode::text, false, "Hel"), bytes({0x01, 0x03, 'H', 'e', 'l'}));
    EXPECT_EQ(frame(opcode::continuation, true, "lo"), bytes({0x80, 0x02, 'l', 'o'}));
    EXPECT_EQ(frame(opcode::continuation, false, ""), bytes({0x00, 0x00}));
    EXPECT_EQ(frame(opcode::ping, true, ""), bytes({0x89, 0x00}));
    EXPECT_EQ(frame(opcode::pong, true, ""), bytes({0x8a, 0x00}));
    EXPECT_EQ(frame(opcode::close, true, ""), bytes({0x88, 0x00}));
}

// ---------------------------------------------------------------------------------------------
// RFC 6455 section 5.7

TEST(ws_parser, parses_every_example_of_rfc_6455_section_5_7_whole_and_byte_by_byte) {
    const std::string hello = "Hello";
    const std::string masked_hello = bytes({0x7f, 0x9f, 0x4d, 0x51, 0x58});
    const std::string key = bytes({0x37, 0xfa, 0x21, 0x3d});
    struct example {
        const char* name;
        ws::role parser_role;
        std::string wire;
        std::vector<seen> expected;
    };
    const std::vector<example> examples = {
        {"single-frame unmasked text message", ws::role::client, bytes({0x81, 0x05}) + hello, {text("Hello")}},
        {"single-frame masked text message", ws::role::server, bytes({0x81, 0x85}) + key + masked_hello, {text("Hello")}},
        {"fragmented unmasked text message", ws::role::client, bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}),
         {text("Hello")}},
        {"unmasked ping request", ws::role::client, bytes({0x89, 0x05}) + hello, {ping("Hello")}},
        {"masked ping response", ws::role::server, bytes({0x8a, 0x85}) + key + masked_hello, {pong("Hello")}},
        {"256 bytes binary message in a single unmasked frame", ws::role::client,
         bytes({0x82, 0x7e, 0x01, 0x00}) + counting(256), {binary(counting(256))}},
        {"64KiB binary message in a single unmasked frame", ws::role::client,
         bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}) + counting(65536), {binary(counting(65536))}},
    };
    for (const auto& ex : examples) {
        for (std::size_t chunk : chunkings) {
            SCOPED_TRACE(std::string(ex.name) + ", pieces of " + std::to_string(chunk));
            EXPECT_EQ(parse(ex.parser_role, ex.wire, chunk), ex.expected);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writer and parser together

TEST(ws_parser, round_trips_each_length_encoding_boundary_in_both_directions) {
    for (std::size_t size : {0, 1, 125, 126, 127, 65535, 65536, 70000}) {
        const std::string payload = counting(size);
        for (bool from_client : {true, false}) {
            const auto* key = from_client ? &rfc_key : nullptr;
            const std::string wire = frame(opcode::binary, true, payload, key);
            const std::size_t header_size = (size < 126 ? 2 : size <= 0xffff ? 4 : 10) + (from_client ? 4 : 0);
            EXPECT_EQ(wire.size(), header_size + size);
            const ws::role parser_role = from_client ? ws::role::server : ws::role::client;
            for (std::size_t chunk : chunkings) {
                if (chunk == 1 && size > 1000) continue;  // the 64 KiB example covers that already
                SCOPED_TRACE(std::to_string(size) + " bytes, " + (from_client ? "client to server" : "server to client") +
                             ", pieces of " + std::to_string(chunk));
                EXPECT_EQ(parse(parser_role, wire, chunk), std::vector<seen>{binary(payload)});
            }
        }
    }
}

TEST(ws_parser, reports_a_whole_frame_from_the_callers_buffer_without_a_copy) {
    for (bool from_client : {true, false}) {
        std::string wire = frame(opcode::text, true, "Hello, world", from_client ? &rfc_key : nullptr) +
                           frame(opcode::ping, true, "p", from_client ? &rfc_key : nullptr);
        ws::parser p(from_client ? ws::role::server : ws::role::client);
        std::span<char> in(wire);
        const char* const begin = wire.data();
        const char* const end = begin + wire.size();

        const ws::event m = p.next(in);
        ASSERT_EQ(m.type, kind::message);
        EXPECT_EQ(m.payload, "Hello, world");
        EXPECT_TRUE(m.payload.data() >= begin && m.payload.data() + m.payload.size() <= end) << "copied";
        const ws::event g = p.next(in);
        ASSERT_EQ(g.type, kind::ping);
        EXPECT_EQ(g.payload, "p");
        EXPECT_TRUE(g.payload.data() >= begin && g.payload.data() < end) << "copied";
        EXPECT_EQ(p.next(in).type, kind::need_more);
        EXPECT_EQ(p.buffered_bytes(), 0u);
    }
}

TEST(ws_parser, keeps_a_frame_split_across_calls_and_reports_it_whole) {
    std::string wire = masked(opcode::binary, true, "0123456789");
    ws::parser p(ws::role::server);
    std::span<char> first(wire.data(), 6 + 4);  // header and 4 bytes of payload
    EXPECT_EQ(p.next(first).type, kind::need_more);
    EXPECT_TRUE(first.empty());
    EXPECT_EQ(p.buffered_bytes(), 4u);
    std::span<char> rest(wire.data() + 10, wire.size() - 10);
    const ws::event e = p.next(rest);
    ASSERT_EQ(e.type, kind::message);
    EXPECT_TRUE(e.binary);
    EXPECT_EQ(e.payload, "0123456789");
    EXPECT_TRUE(rest.empty());
    EXPECT_EQ(p.buffered_bytes(), 0u);
}

TEST(ws_parser, need_more_consumes_everything_and_counts_what_it_holds) {
    // A masked frame of 300 bytes: 2 bytes, 2 of length, 4 of key, then the payload; fed so that
    // each call ends inside another part of it.
    const std::string payload = counting(300);
    std::string wire = masked(opcode::binary, true, payload);
    ws::parser p(ws::role::server);
    const std::size_t cuts[] = {1, 3, 6, 9, 150, wire.size()};
    const std::size_t held[] = {1, 3, 6, 1, 142};  // header bytes, then payload bytes
    std::size_t at = 0;
    for (std::size_t i = 0; i < std::size(cuts); ++i) {
        std::span<char> in(wire.data() + at, cuts[i] - at);
        at = cuts[i];
        const ws::event e = p.next(in);
        EXPECT_TRUE(in.empty());
        if (i + 1 < std::size(cuts)) {
            EXPECT_EQ(e.type, kind::need_more) << "after " << at << " bytes";
            EXPECT_EQ(p.buffered_bytes(), held[i]) << "after " << at << " bytes";
        } else {
            ASSERT_EQ(e.type, kind::message);
            EXPECT_EQ(e.payload, payload);
        }
    }
    EXPECT_EQ(p.buffered_bytes(), 0u);
}

TEST(ws_parser, reports_each_frame_of_one_buffer_in_turn) {
    const std::string wire = frame(opcode::text, true, "a") + frame(opcode::binary, true, "b") +
                             frame(opcode::ping, true, "c") + frame(opcode::close, true, ws::close_payload(1000, "d"));
    for (std::size_t chunk : chunkings) {
        SCOPED_TRACE(chunk);
        EXPECT_EQ(parse(ws::role::client, wire, chunk),
                  (std::vector<seen>{text("a"), binary("b"), ping("c"), closing(1000, "d")}));
    }
}

TEST(ws_parser, reports_an_empty_frame_at_the_end_of_the_input_without_waiting) {
    for (opcode op : {opcode::text, opcode::binary, opcode::ping, opcode::pong}) {
        std::string wire = masked(op, true, "");
        ws::parser p(ws::role::server);
        std::span<char> in(wire);
        const ws::event e = p.next(in);
        EXPECT_NE(e.type, kind::need_more) << static_cast<int>(op);
        EXPECT_TRUE(e.payload.empty());
        EXPECT_TRUE(in.empty());
    }
    // The last fragment of a message, empty.
    EXPECT_EQ(parse(ws::role::client, frame(opcode::text, false, "ab") + frame(opcode::continuation, true, "")),
              std::vector<seen>{text("ab")});
    // A message of empty fragments only.
    EXPECT_EQ(parse(ws::role::client, frame(opcode::binary, false, "") + frame(opcode::continuation, false, "") +
                                          frame(opcode::continuation, true, "")),
              std::vector<seen>{binary("")});
}

// ---------------------------------------------------------------------------------------------
// Fragments and control frames

TEST(ws_parser, joins_the_fragments_of_a_message) {
    const std::string wire = masked(opcode::binary, false, counting(100)) + masked(opcode::continuation, false, "") +
                             masked(opcode::continuation, false, counting(200).substr(100)) +
                             masked(opcode::continuation, true, counting(300).substr(200));
    for (std::size_t chunk : chunkings) {
        SCOPED_TRACE(chunk);
        EXPECT_EQ(parse(ws::role::server, wire, chunk), std::vector<seen>{binary(counting(300))});
    }
}

TEST(ws_parser, reports_control_frames_between_fragments_as_they_arrive) {
    const std::string wire = masked(opcode::text, false, "Hel") + masked(opcode::ping, true, "ping 1") +
                             masked(opcode::continuation, false, "l") + masked(opcode::pong, true, "") +
                             masked(opcode::ping, true, repeat(125, 'p')) + masked(opcode::continuation, true, "o") +
                             masked(opcode::text, true, "next");
    for (std::size_t chunk : chunkings) {
        SCOPED_TRACE(chunk);
        EXPECT_EQ(parse(ws::role::server, wire, chunk),
                  (std::vector<seen>{ping("ping 1"), pong(""), ping(repeat(125, 'p')), text("Hello"), text("next")}));
    }
}

TEST(ws_parser, says_when_it_is_inside_a_fragmented_message) {
    std::string wire = frame(opcode::text, false, "a") + frame(opcode::ping, true, "") + frame(opcode::continuation, true, "b");
    ws::parser p(ws::role::client);
    EXPECT_FALSE(p.in_message());
    std::span<char> in(wire.data(), 3);
    EXPECT_EQ(p.next(in).type, kind::need_more);
    EXPECT_TRUE(p.in_message());
    EXPECT_EQ(p.buffered_bytes(), 1u);
    in = std::span<char>(wire.data() + 3, wire.size() - 3);
    EXPECT_EQ(p.next(in).type, kind::ping);
    EXPECT_TRUE(p.in_message());
    EXPECT_EQ(p.buffered_bytes(), 1u);
    EXPECT_EQ(p.next(in).type, kind::message);
    EXPECT_FALSE(p.in_message());
    EXPECT_EQ(p.buffered_bytes(), 0u);
    // A single frame split across calls is not a fragmented message.
    std::string one = frame(opcode::text, true, "abc");
    std::span<char> part(one.data(), 3);
    EXPECT_EQ(p.next(part).type, kind::need_more);
    EXPECT_FALSE(p.in_message());
}

TEST(ws_parser, keeps_a_split_control_frame_apart_from_the_message_around_it) {
    // The ping's payload arrives in two calls while "abc" waits for its last fragment.
    std::string wire = frame(opcode::binary, false, "abc") + frame(opcode::ping, true, "12345") +
                       frame(opcode::continuation, true, "def");
    ws::parser p(ws::role::client);
    std::span<char> in(wire.data(), 5 + 2 + 2);  // the first fragment, the ping's header and "12"
    EXPECT_EQ(p.next(in).type, kind::need_more);
    EXPECT_EQ(p.buffered_bytes(), 5u);
    in = std::span<char>(wire.data() + 9, wire.size() - 9);
    const ws::event g = p.next(in);
    ASSERT_EQ(g.type, kind::ping);
    EXPECT_EQ(g.payload, "12345");
    EXPECT_EQ(p.buffered_bytes(), 3u);  // the message so far, not the ping just reported
    const ws::event m = p.next(in);
    ASSERT_EQ(m.type, kind::message);
    EXPECT_EQ(m.payload, "abcdef");
}

TEST(ws_parser, accepts_a_character_split_across_fragments_and_reads) {
    // U+20AC (E2 82 AC) and U+1F600 (F0 9F 98 80) cut after each of their bytes.
    for (const std::string ch : {"\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
        const std::string whole = std::string("x").append(ch).append("y");
        for (std::size_t cut = 1; cut < ch.size(); ++cut) {
            const std::string wire = frame(opcode::text, false, whole.substr(0, 1 + cut)) +
                                     frame(opcode::continuation, true, whole.substr(1 + cut));
            for (std::size_t chunk : chunkings)
                EXPECT_EQ(parse(ws::role::client, wire, chunk), std::vector<seen>{text(whole)}) << cut;
        }
    }
}

TEST(ws_parser, refuses_ill_formed_utf8_in_a_fragment_before_the_message_ends) {
    ws::parser p(ws::role::client);
    std::string first = frame(opcode::text, false, "ok \xFF");
    EXPECT_EQ(parse(p, first), std::vector<seen>{error(ws::close_code::invalid_payload)});
    // And within one frame split across reads: refused from the first piece.
    ws::parser q(ws::role::client);
    std::string wire = frame(opcode::text, true, "\xC0\xAF and more");
    std::span<char> in(wire.data(), 4);
    const ws::event e = q.next(in);
    EXPECT_EQ(e.type, kind::error);
    EXPECT_EQ(e.code, ws::close_code::invalid_payload);
}

// ---------------------------------------------------------------------------------------------
// Refusals, each with its close code

struct refusal {
    const char* name;
    ws::role parser_role;
    std::string wire;
    std::uint16_t code;
    ws::parser_limits limits{};
};

void expect_refusals(const std::vector<refusal>& cases) {
    for (const auto& c : cases) {
        for (std::size_t chunk : chunkings) {
            SCOPED_TRACE(std::string(c.name) + ", pieces of " + std::to_string(chunk));
            const auto events = parse(c.parser_role, c.wire, chunk, c.limits);
            ASSERT_FALSE(events.empty());
            EXPECT_EQ(events.back(), error(c.code));
        }
    }
}

constexpr auto server = ws::role::server;
constexpr auto client = ws::role::client;
constexpr std::uint16_t protocol_error = ws::close_code::protocol_error;
constexpr std::uint16_t invalid_payload = ws::close_code::invalid_payload;
constexpr std::uint16_t too_big = ws::close_code::too_big;

TEST(ws_parser, refuses_unmasked_frame_from_a_client_and_masked_frame_from_a_server) {
    expect_refusals({
        {"unmasked text to a server", server, frame(opcode::text, true, "hi"), protocol_error},
        {"unmasked ping to a server", server, frame(opcode::ping, true, ""), protocol_error},
        {"masked text to a client", client, masked(opcode::text, true, "hi"), protocol_error},
        {"masked close to a client", client, masked(opcode::close, true, ""), protocol_error},
    });
    ws::parser p(server);
    std::string wire = frame(opcode::text, true, "hi");
    std::span<char> in(wire);
    EXPECT_EQ(p.next(in).reason, "unmasked frame from a client");
}

TEST(ws_parser, refuses_reserved_bits_and_reserved_opcodes) {
    std::vector<refusal> cases = {
        {"RSV1", server, with_first_byte(masked(opcode::text, true, "x"), 0xC1), protocol_error},
        {"RSV2", server, with_first_byte(masked(opcode::text, true, "x"), 0xA1), protocol_error},
        {"RSV3", client, with_first_byte(frame(opcode::binary, true, "x"), 0x92), protocol_error},
        {"RSV1 on a ping", client, with_first_byte(frame(opcode::ping, true, "x"), 0xC9), protocol_error},
    };
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF})
        cases.push_back({"reserved opcode", server, with_first_byte(masked(opcode::text, true, "x"), 0x80 | op), protocol_error});
    expect_refusals(cases);
}

TEST(ws_parser, refuses_fragmented_or_long_control_frames) {
    // A writer cuts control payloads to 125 bytes, so the long ones are written by hand.
    const std::string ping_126 = bytes({0x89, 0x7e, 0x00, 0x7e}) + repeat(126);
    const std::string close_200 = bytes({0x88, 0x7e, 0x00, 0xc8}) + bytes({0x03, 0xe8}) + repeat(198);
    expect_refusals({
        {"ping without FIN", client, frame(opcode::ping, false, "x"), protocol_error},
        {"pong without FIN", server, masked(opcode::pong, false, ""), protocol_error},
        {"close without FIN", client, frame(opcode::close, false, ws::close_payload(1000, "")), protocol_error},
        {"ping of 126 bytes", client, ping_126, protocol_error},
        {"close of 200 bytes", client, close_200, protocol_error},
        {"ping of 126 bytes inside a message", client, frame(opcode::text, false, "a") + ping_126, protocol_error},
    });
    ws::parser p(client);
    std::string wire = close_200;
    std::span<char> in(wire);
    EXPECT_EQ(p.next(in).reason, "close frame of 200 bytes (a control frame has at most 125)");
}

TEST(ws_parser, refuses_continuations_without_a_message_and_messages_inside_one) {
    expect_refusals({
        {"continuation first", client, frame(opcode::continuation, true, "x"), protocol_error},
        {"continuation after a whole message", server,
         masked(opcode::text, true, "a") + masked(opcode::continuation, true, "b"), protocol_error},
        {"text inside a text message", client, frame(opcode::text, false, "a") + frame(opcode::text, true, "b"), protocol_error},
        {"binary inside a text message", server,
         masked(opcode::text, false, "a") + masked(opcode::binary, false, "b"), protocol_error},
        {"text inside a binary message after a ping", client,
         frame(opcode::binary, false, "a") + frame(opcode::ping, true, "") + frame(opcode::text, true, "b"), protocol_error},
    });
}

TEST(ws_parser, refuses_lengths_with_the_top_bit_set_or_not_in_their_shortest_encoding) {
    expect_refusals({
        {"64-bit length with the top bit set", client,
         bytes({0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0x01}) + "x", protocol_error},
        {"64-bit length 2^64-1", client, bytes({0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), protocol_error},
        {"16-bit length 125", client, bytes({0x82, 0x7e, 0x00, 0x7d}) + repeat(125), protocol_error},
        {"16-bit length 0", client, bytes({0x81, 0x7e, 0x00, 0x00}), protocol_error},
        {"64-bit length 65535", client, bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff}) + repeat(65535), protocol_error},
        {"64-bit length 5", server, bytes({0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4}) + repeat(5), protocol_error},
    });
    // The boundaries themselves are accepted.
    EXPECT_EQ(parse(client, bytes({0x82, 0x7e, 0x00, 0x7e}) + repeat(126)), std::vector<seen>{binary(repeat(126))});
    EXPECT_EQ(parse(client, bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}) + repeat(65536)),
              std::vector<seen>{binary(repeat(65536))});
}

TEST(ws_parser, refuses_text_that_is_not_utf8_with_1007) {
    expect_refusals({
        {"lone continuation byte", client, frame(opcode::text, true, "a\x80"), invalid_payload},
        {"byte FF", server, masked(opcode::text, true, "\xFF"), invalid_payload},
        {"overlong slash", client, frame(opcode::text, true, "\xC0\xAF"), invalid_payload},
        {"overlong 3-byte", client, frame(opcode::text, true, "\xE0\x80\xAF"), invalid_payload},
        {"surrogate U+D800", client, frame(opcode::text, true, "\xED\xA0\x80"), invalid_payload},
        {"above U+10FFFF", client, frame(opcode::text, true, "\xF4\x90\x80\x80"), invalid_payload},
        {"cut character at the end", client, frame(opcode::text, true, "ab\xE2\x82"), invalid_payload},
        {"cut character at the end of fragments", server,
         masked(opcode::text, false, "ab") + masked(opcode::continuation, true, "\xF0\x9F\x98"), invalid_payload},
        {"bad byte in the last fragment", client,
         frame(opcode::text, false, "\xE2\x82") + frame(opcode::continuation, true, "\xAC\xFE"), invalid_payload},
    });
    // Binary messages are not text: any bytes go.
    EXPECT_EQ(parse(client, frame(opcode::binary, true, "\xFF\xC0\xAF")), std::vector<seen>{binary("\xFF\xC0\xAF")});
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(ws_parser, refuses_a_message_over_max_message_from_its_header_before_its_payload) {
    const ws::parser_limits limits{10, 4096};
    // At the limit: accepted, whole or in fragments.
    EXPECT_EQ(parse(server, masked(opcode::binary, true, repeat(10)), 0, limits), std::vector<seen>{binary(repeat(10))});
    EXPECT_EQ(parse(server, masked(opcode::text, false, repeat(6)) + masked(opcode::continuation, true, repeat(4)), 0, limits),
              std::vector<seen>{text(repeat(10))});
    // One byte over: refused from the header alone (no payload given).
    for (std::string wire : {masked(opcode::binary, true, repeat(11)), masked(opcode::text, false, repeat(11)),
                             masked(opcode::binary, true, repeat(70000))}) {
        wire.resize(wire.size() - (wire.size() > 100 ? 70000 : 11));
        ws::parser p(server, limits);
        std::span<char> in(wire);
        const ws::event e = p.next(in);
        EXPECT_EQ(e.type, kind::error);
        EXPECT_EQ(e.code, too_big);
        EXPECT_EQ(p.buffered_bytes(), 0u);
    }
    // In fragments: the fragment that would pass the limit is refused from its header.
    ws::parser p(server, limits);
    std::string wire = masked(opcode::text, false, repeat(6)) + masked(opcode::ping, true, "") +
                       masked(opcode::continuation, true, repeat(5)).substr(0, 6);
    EXPECT_EQ(parse(p, wire), (std::vector<seen>{ping(""), error(too_big)}));
    std::span<char> none;
    EXPECT_EQ(p.next(none).reason, "message of at least 11 bytes (at most 10)");
    // A huge length in a fragment does not overflow the count.
    expect_refusals({{"huge continuation", client,
                      frame(opcode::binary, false, "abc") + bytes({0x80, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
                      too_big, limits}});
}

TEST(ws_parser, refuses_a_message_of_more_than_max_fragments_frames) {
    const ws::parser_limits limits{1'000'000, 3};
    const std::string three = masked(opcode::binary, false, "a") + masked(opcode::continuation, false, "b") +
                              masked(opcode::ping, true, "") + masked(opcode::continuation, true, "c");
    EXPECT_EQ(parse(server, three, 0, limits), (std::vector<seen>{ping(""), binary("abc")}));
    const std::string four = masked(opcode::binary, false, "a") + masked(opcode::continuation, false, "b") +
                             masked(opcode::continuation, false, "c") + masked(opcode::continuation, true, "d");
    expect_refusals({{"four frames", server, four, too_big, limits}});
    // The count starts again with each message.
    EXPECT_EQ(parse(server, three + three + masked(opcode::text, true, "x"), 0, limits),
              (std::vector<seen>{ping(""), binary("abc"), ping(""), binary("abc"), text("x")}));
}

// ---------------------------------------------------------------------------------------------
// Close frames

TEST(ws_parser, reports_close_frames_with_and_without_code_and_reason) {
    for (std::size_t chunk : chunkings) {
        SCOPED_TRACE(chunk);
        EXPECT_EQ(parse(client, frame(opcode::close, true, "")), std::vector<seen>{closing(ws::close_code::no_status)});
        EXPECT_EQ(parse(client, frame(opcode::close, true, bytes({0x03, 0xe8})), chunk), std::vector<seen>{closing(1000)});
        EXPECT_EQ(parse(server, masked(opcode::close, true, bytes({0x03, 0xe9}) + "going \xE2\x82\xAC"), chunk),
                  std::vector<seen>{closing(1001, "going \xE2\x82\xAC")});
        EXPECT_EQ(parse(client, frame(opcode::close, true, bytes({0x0f, 0x9f}) + "app"), chunk),
                  std::vector<seen>{closing(3999, "app")});
        // Between fragments.
        EXPECT_EQ(parse(client, frame(opcode::text, false, "a") + frame(opcode::close, true, ws::close_payload(4000, "x")), chunk),
                  std::vector<seen>{closing(4000, "x")});
    }
}

TEST(ws_parser, refuses_close_frames_with_a_1_byte_body_a_reserved_code_or_a_reason_not_utf8) {
    std::vector<refusal> cases = {
        {"1-byte body", client, frame(opcode::close, true, "\x03"), protocol_error},
        {"reason not UTF-8", client, frame(opcode::close, true, bytes({0x03, 0xe8}) + "\xFF"), invalid_payload},
        {"reason with a cut character", server, masked(opcode::close, true, bytes({0x03, 0xe8}) + "\xE2\x82"), invalid_payload},
    };
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}) {
        cases.push_back({"reserved code", client,
                         frame(opcode::close, true, bytes({(code >> 8) & 0xff, code & 0xff})), protocol_error});
    }
    expect_refusals(cases);
}

TEST(ws_close_code, valid_codes_are_1000_to_1003_1007_to_1014_and_3000_to_4999) {
    for (unsigned code = 0; code <= 0xffff; ++code) {
        const bool expected = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
        ASSERT_EQ(ws::close_code_valid(static_cast<std::uint16_t>(code)), expected) << code;
    }
    // The boundaries, spelled out.
    for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1014, 3000, 4999})
        EXPECT_TRUE(ws::close_code_valid(code)) << code;
    for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535})
        EXPECT_FALSE(ws::close_code_valid(code)) << code;
}

TEST(ws_close_payload, writes_the_code_then_the_reason) {
    EXPECT_EQ(ws::close_payload(1000, ""), bytes({0x03, 0xe8}));
    EXPECT_EQ(ws::close_payload(1009, "too big"), bytes({0x03, 0xf1}) + "too big");
    EXPECT_EQ(ws::close_payload(4999, "x"), bytes({0x13, 0x87}) + "x");
    EXPECT_EQ(ws::close_payload(ws::close_code::no_status, "dropped"), "");  // 1005 is said with an empty body
}

TEST(ws_close_payload, cuts_the_reason_to_123_bytes_at_a_utf8_boundary) {
    const std::string euro = "\xE2\x82\xAC";
    EXPECT_EQ(ws::close_payload(1000, repeat(123)).size(), 125u);
    EXPECT_EQ(ws::close_payload(1000, repeat(200)).substr(2), repeat(123));
    EXPECT_EQ(ws::close_payload(1000, repeat(120) + euro).substr(2), repeat(120) + euro);  // exactly 123
    EXPECT_EQ(ws::close_payload(1000, repeat(121) + euro).substr(2), repeat(121));        // the cut falls in the euro
    EXPECT_EQ(ws::close_payload(1000, repeat(122) + euro + "b").substr(2), repeat(122));
    EXPECT_EQ(ws::close_payload(1000, repeat(119) + "\xF0\x9F\x98\x80" + "z").substr(2), repeat(119) + "\xF0\x9F\x98\x80");
    EXPECT_EQ(ws::close_payload(1000, repeat(120) + "\xF0\x9F\x98\x80").substr(2), repeat(120));
    // Ill-formed bytes become U+FFFD, so that the peer can read it.
    EXPECT_EQ(ws::close_payload(1000, "a\xFF" "b").substr(2), "a\xEF\xBF\xBD" "b");
    // What it writes, a parser reads back.
    const std::string reason = repeat(121) + euro + euro;
    EXPECT_EQ(parse(client, ws::control_frame(opcode::close, ws::close_payload(1001, reason))),
              std::vector<seen>{closing(1001, repeat(121))});
}

TEST(ws_control_frame, writes_one_whole_frame_masked_or_not_and_cuts_at_125_bytes) {
    EXPECT_EQ(ws::control_frame(opcode::ping, "Hello"), bytes({0x89, 0x05}) + "Hello");
    // RFC 6455 section 5.7's masked pong.
    EXPECT_EQ(ws::control_frame(opcode::pong, "Hello", &rfc_key),
              bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    EXPECT_EQ(ws::control_frame(opcode::pong, repeat(200)), bytes({0x8a, 0x7d}) + repeat(125));
    EXPECT_EQ(parse(server, ws::control_frame(opcode::ping, repeat(300, 'q'), &rfc_key)), std::vector<seen>{ping(repeat(125, 'q'))});
}

// ---------------------------------------------------------------------------------------------
// Masking

TEST(ws_mask, masks_the_rfc_example_and_unmasks_it_again) {
    std::string hello = "Hello";
    ws::mask(hello, rfc_key);
    EXPECT_EQ(hello, bytes({0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    ws::mask(hello, rfc_key);
    EXPECT_EQ(hello, "Hello");
}

TEST(ws_mask, masking_a_payload_in_two_pieces_equals_masking_it_whole) {
    const std::array<char, 4> key{'\x01', '\x22', '\x7f', '\xe0'};
    const std::string payload = counting(41);  // longer than the 8-byte steps, not a multiple of 4 or 8
    std::string whole = payload;
    ws::mask(whole, key);
    // Each byte of the masked payload is the byte XOR the key at its position.
    for (std::size_t i = 0; i < payload.size(); ++i)
        ASSERT_EQ(static_cast<char>(payload[i] ^ key[i % 4]), whole[i]) << i;
    for (std::size_t cut = 0; cut <= payload.size(); ++cut) {
        std::string pieces = payload;
        ws::mask({pieces.data(), cut}, key, 0);
        ws::mask({pieces.data() + cut, pieces.size() - cut}, key, cut);
        EXPECT_EQ(pieces, whole) << "cut at " << cut;
    }
    // The offset counts from the payload's start, across many pieces too.
    std::string threes = payload;
    for (std::size_t at = 0; at < threes.size(); at += 3)
        ws::mask({threes.data() + at, std::min<std::size_t>(3, threes.size() - at)}, key, at);
    EXPECT_EQ(threes, whole);
}

// ---------------------------------------------------------------------------------------------
// Errors and memory

TEST(ws_parser, an_error_is_sticky_and_consumes_nothing_more) {
    ws::parser p(server);
    std::string bad = frame(opcode::text, true, "unmasked");
    std::span<char> in(bad);
    const ws::event first = p.next(in);
    ASSERT_EQ(first.type, kind::error);
    const std::string reason(first.reason);
    EXPECT_TRUE(p.failed());
    for (int i = 0; i < 3; ++i) {
        std::string good = masked(opcode::text, true, "fine");
        std::span<char> again(good);
        const ws::event e = p.next(again);
        EXPECT_EQ(e.type, kind::error);
        EXPECT_EQ(e.code, protocol_error);
        EXPECT_EQ(e.reason, reason);
        EXPECT_EQ(again.size(), good.size()) << "consumed after the error";
    }
    EXPECT_EQ(p.buffered_bytes(), 0u);
    EXPECT_FALSE(p.in_message());
}

TEST(ws_parser, holds_nothing_after_a_whole_message) {
    ws::parser p(client);
    // A message in fragments, fed in small pieces so that all of it is copied.
    std::string wire = frame(opcode::binary, false, counting(5000)) + frame(opcode::ping, true, "x") +
                       frame(opcode::continuation, true, counting(3000));
    std::vector<seen> events = parse(p, wire, 100);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].payload.size(), 8000u);
    EXPECT_EQ(p.buffered_bytes(), 0u);
    EXPECT_FALSE(p.in_message());
    // Right after the event too, before the next call drops the payload.
    std::string split = frame(opcode::text, true, "abcdef");
    std::span<char> a(split.data(), 4), b(split.data() + 4, split.size() - 4);
    EXPECT_EQ(p.next(a).type, kind::need_more);
    EXPECT_EQ(p.buffered_bytes(), 2u);
    EXPECT_EQ(p.next(b).type, kind::message);
    EXPECT_EQ(p.buffered_bytes(), 0u);
    EXPECT_EQ(p.next(b).type, kind::need_more);
    EXPECT_EQ(p.buffered_bytes(), 0u);
}

TEST(ws_parser, is_small) {
    // An idle connection holds one; the buffer inside is empty between messages.
    EXPECT_LE(sizeof(ws::parser), 112u);
}
