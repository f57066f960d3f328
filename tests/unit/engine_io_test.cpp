// Engine.IO codec: the examples of the protocol specification (v4 and v3), the invalid inputs of
// the reference engine.io-parser test suites, limits, and seeded random round trips.
#include <sio/codec/base64.hpp>
#include <sio/codec/engine_io.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace sio::codec::eio {
// Readable failure output: type, text or hex bytes.
void PrintTo(const packet& p, std::ostream* os) {
    *os << "{" << to_string(p.type) << (p.binary ? " binary " : " \"");
    if (p.binary) {
        for (const unsigned char c : p.data) *os << std::hex << static_cast<int>(c) << std::dec << ' ';
    } else {
        *os << p.data << '"';
    }
    *os << "}";
}
}  // namespace sio::codec::eio

namespace {

using namespace std::string_literals;
using sio::codec::errc;
namespace eio = sio::codec::eio;
using eio::packet;
using eio::packet_type;

// A byte string from small integers: bytes({0x00, 0x04, 0xff}).
std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (const int v : values) out += static_cast<char>(v);
    return out;
}

packet text(packet_type t, std::string data = {}) { return packet{t, std::move(data), false}; }
packet message(std::string data) { return text(packet_type::message, std::move(data)); }
packet binary(std::string data, packet_type t = packet_type::message) { return packet{t, std::move(data), true}; }

// The v3 handshake example of the specification (and its v4 sibling).
const std::string v3_handshake_json =
    R"({"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000})";
const std::string v4_handshake_json =
    R"({"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000})";

struct rejection {
    std::string input;
    errc code;
    std::string reason_part;  // a piece the reason must contain, to keep reasons specific
};

template <class Result>
void expect_rejected(const Result& r, const rejection& want) {
    ASSERT_FALSE(r.has_value()) << "accepted " << testing::PrintToString(want.input);
    EXPECT_EQ(r.err().code, want.code) << r.err().reason;
    EXPECT_NE(r.err().reason.find(want.reason_part), std::string::npos)
        << "reason \"" << r.err().reason << "\" lacks \"" << want.reason_part << "\"";
}

// ------------------------------------------------------------------------------------------------
// base64

TEST(base64, encodes_rfc4648_vectors) {
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}, {bytes({1, 2, 3, 4}), "AQIDBA=="},
        {bytes({0xff, 0xfe, 0xfd}), "//79"},
    };
    for (const auto& [raw, encoded] : vectors) {
        EXPECT_EQ(sio::codec::base64_encode(raw), encoded);
        auto decoded = sio::codec::base64_decode(encoded);
        ASSERT_TRUE(decoded) << encoded << ": " << decoded.err().reason;
        EXPECT_EQ(*decoded, raw) << encoded;
        EXPECT_EQ(sio::codec::base64_encoded_size(raw.size()), encoded.size());
    }
}

TEST(base64, accepts_missing_padding_like_the_reference) {
    EXPECT_EQ(sio::codec::base64_decode("Zg").value(), "f");
    EXPECT_EQ(sio::codec::base64_decode("Zm8").value(), "fo");
    EXPECT_EQ(sio::codec::base64_decode("AQIDBA").value(), bytes({1, 2, 3, 4}));
}

TEST(base64, rejects_malformed_text) {
    const rejection cases[] = {
        {"Z", errc::invalid_base64, "lone character"},
        {"Zm9vY", errc::invalid_base64, "lone character"},
        {"Zg=", errc::invalid_base64, "padding"},          // partial padding
        {"Z===", errc::invalid_base64, "padding"},         // three '='
        {"====", errc::invalid_base64, "padding"},
        {"Zg==Zg==", errc::invalid_base64, "offset 2"},    // padding in the middle
        {"Zm9v!", errc::invalid_base64, "'!' at offset 4"},
        {"Zm 9v", errc::invalid_base64, "' ' at offset 2"},
        {"Zm9v\n", errc::invalid_base64, "byte 0x0a"},
        {"Zm-_", errc::invalid_base64, "'-'"},             // base64url alphabet
        {"Zh==", errc::invalid_base64, "non-zero bits"},   // 'h' leaves bits set after "f"
        {"Zm9=", errc::invalid_base64, "non-zero bits"},
        {"Zm8\xff", errc::invalid_base64, "byte 0xff"},
    };
    for (const auto& c : cases) expect_rejected(sio::codec::base64_decode(c.input), c);
}

TEST(base64, round_trips_every_length_up_to_300) {
    std::mt19937 rng(7);
    for (std::size_t n = 0; n <= 300; ++n) {
        std::string raw(n, '\0');
        for (auto& c : raw) c = static_cast<char>(rng() & 0xFF);
        const auto encoded = sio::codec::base64_encode(raw);
        ASSERT_EQ(encoded.size() % 4, 0u);
        auto decoded = sio::codec::base64_decode(encoded);
        ASSERT_TRUE(decoded) << decoded.err().reason;
        EXPECT_EQ(*decoded, raw);
    }
}

// ------------------------------------------------------------------------------------------------
// single packets

TEST(eio_packet, names_every_type) {
    EXPECT_EQ(eio::to_string(packet_type::open), "open");
    EXPECT_EQ(eio::to_string(packet_type::close), "close");
    EXPECT_EQ(eio::to_string(packet_type::ping), "ping");
    EXPECT_EQ(eio::to_string(packet_type::pong), "pong");
    EXPECT_EQ(eio::to_string(packet_type::message), "message");
    EXPECT_EQ(eio::to_string(packet_type::upgrade), "upgrade");
    EXPECT_EQ(eio::to_string(packet_type::noop), "noop");
    EXPECT_EQ(eio::to_string(static_cast<packet_type>(9)), "unknown");
}

struct text_vector {
    std::string wire;
    packet value;
    int protocol;
};

// Spec examples (v4 README: heartbeat, upgrade, message; v3: probe, HelloWorld, open) and the
// reference parser tests ("4test", "bAQIDBA==", "4€€€", "b4AQID").
const std::vector<text_vector> text_vectors = {
    {"2probe", text(packet_type::ping, "probe"), 4},
    {"3probe", text(packet_type::pong, "probe"), 4},
    {"2", text(packet_type::ping), 4},
    {"3", text(packet_type::pong), 4},
    {"5", text(packet_type::upgrade), 4},
    {"6", text(packet_type::noop), 4},
    {"1", text(packet_type::close), 4},
    {"4hello", message("hello"), 4},
    {"4HelloWorld", message("HelloWorld"), 3},
    {"4test", message("test"), 4},
    {"4", message(""), 4},
    {"4€€€", message("€€€"), 3},
    {"0" + v4_handshake_json, text(packet_type::open, v4_handshake_json), 4},
    {"0{\"some\":\"json\"}", text(packet_type::open, "{\"some\":\"json\"}"), 3},
    {"bAQIDBA==", binary(bytes({1, 2, 3, 4})), 4},
    {"b", binary(""), 4},
    {"b4AQIDBA==", binary(bytes({1, 2, 3, 4})), 3},
    {"b4AQID", binary(bytes({1, 2, 3})), 3},
    {"b4", binary(""), 3},
    {"b2cHJvYmU=", binary("probe", packet_type::ping), 3},
};

TEST(eio_packet, encodes_spec_and_reference_examples) {
    for (const auto& v : text_vectors) EXPECT_EQ(eio::encode_text(v.value, v.protocol), v.wire);
}

TEST(eio_packet, decodes_spec_and_reference_examples) {
    for (const auto& v : text_vectors) {
        auto p = eio::decode_text(v.wire, v.protocol);
        ASSERT_TRUE(p) << v.wire << ": " << p.err().reason;
        EXPECT_EQ(*p, v.value) << v.wire;
    }
}

TEST(eio_packet, v4_binary_text_ignores_type_and_decodes_as_message) {
    EXPECT_EQ(eio::encode_text(binary("\x01", packet_type::ping)), "bAQ==");
    EXPECT_EQ(eio::decode_text("bAQ==").value(), binary("\x01"));
}

TEST(eio_packet, decodes_unpadded_base64_like_the_reference) {
    EXPECT_EQ(eio::decode_text("bAQ").value(), binary("\x01"));
    EXPECT_EQ(eio::decode_text("b4AQID", 3).value(), binary(bytes({1, 2, 3})));
}

TEST(eio_packet, rejects_malformed_text_packets) {
    const rejection cases[] = {
        {"", errc::empty_input, "empty"},
        {"a123", errc::unknown_packet_type, "'a'"},
        {":::", errc::unknown_packet_type, "':'"},
        {"94103", errc::unknown_packet_type, "'9'"},
        {"7", errc::unknown_packet_type, "'7'"},
        {"{", errc::unknown_packet_type, "'{'"},
        {"\x1e", errc::unknown_packet_type, "byte 0x1e"},
        {"b!!!!", errc::invalid_base64, "'!'"},
        {"bAQIDB", errc::invalid_base64, "lone character"},
        {"b4AQID", errc::invalid_base64, "lone character"},  // v3 spelling read as v4
    };
    for (const auto& c : cases) expect_rejected(eio::decode_text(c.input), c);
}

TEST(eio_packet, rejects_malformed_v3_binary_text_packets) {
    const rejection cases[] = {
        {"b", errc::unknown_packet_type, "no type"},
        {"b9AQ==", errc::unknown_packet_type, "'9' after 'b'"},
        {"bAQ==", errc::unknown_packet_type, "'A' after 'b'"},  // v4 spelling read as v3
        {"b4A", errc::invalid_base64, "lone character"},
        {"b4AQ=D", errc::invalid_base64, "padding"},
    };
    for (const auto& c : cases) expect_rejected(eio::decode_text(c.input, 3), c);
}

TEST(eio_binary_frame, v4_frame_is_the_raw_message_data) {
    const std::string raw = bytes({0, 1, 2, 3, 4, 5});
    EXPECT_EQ(eio::encode_binary_frame(binary(raw)), raw);
    EXPECT_EQ(eio::decode_binary_frame(raw).value(), binary(raw));
    EXPECT_EQ(eio::decode_binary_frame("").value(), binary(""));  // empty buffer is a message
}

TEST(eio_binary_frame, v3_frame_starts_with_the_type_byte) {
    // Spec v3: "4|0|1|2|3|4|5" is a message holding bytes 0..5.
    const std::string frame = bytes({4, 0, 1, 2, 3, 4, 5});
    EXPECT_EQ(eio::encode_binary_frame(binary(bytes({0, 1, 2, 3, 4, 5})), 3), frame);
    EXPECT_EQ(eio::decode_binary_frame(frame, 3).value(), binary(bytes({0, 1, 2, 3, 4, 5})));
    // Reference test: a Buffer <04 03 02 01> decodes to a message <03 02 01>.
    EXPECT_EQ(eio::decode_binary_frame(bytes({4, 3, 2, 1}), 3).value(), binary(bytes({3, 2, 1})));
    EXPECT_EQ(eio::decode_binary_frame(bytes({2}), 3).value(), binary("", packet_type::ping));
}

TEST(eio_binary_frame, v3_rejects_empty_frame_and_unknown_type_byte) {
    expect_rejected(eio::decode_binary_frame("", 3), {"", errc::empty_input, "no type byte"});
    expect_rejected(eio::decode_binary_frame(bytes({7, 1}), 3), {"07", errc::unknown_packet_type, "0x07"});
    expect_rejected(eio::decode_binary_frame(bytes({'4', 1}), 3), {"'4'", errc::unknown_packet_type, "0x34"});
    expect_rejected(eio::decode_binary_frame(bytes({0xff}), 3), {"ff", errc::unknown_packet_type, "0xff"});
}

// ------------------------------------------------------------------------------------------------
// v4 polling payload

struct payload_vector {
    std::string wire;
    std::vector<packet> packets;
};

const std::vector<payload_vector> v4_payload_vectors = {
    // Spec v4, "HTTP long-polling" examples.
    {"4hello\x1e" "2\x1e" "4world", {message("hello"), text(packet_type::ping), message("world")}},
    {"4hello\x1e" "bAQIDBA==", {message("hello"), binary(bytes({1, 2, 3, 4}))}},
    // Reference tests: all packet types; string + Buffer.
    {"0\x1e" "1\x1e" "2probe\x1e" "3probe\x1e" "4test",
     {text(packet_type::open), text(packet_type::close), text(packet_type::ping, "probe"),
      text(packet_type::pong, "probe"), message("test")}},
    {"4test\x1e" "bAQIDBA==", {message("test"), binary(bytes({1, 2, 3, 4}))}},
    {"6", {text(packet_type::noop)}},
    {"4€\x1e" "4", {message("€"), message("")}},
};

TEST(eio_payload, encodes_spec_examples) {
    for (const auto& v : v4_payload_vectors) EXPECT_EQ(eio::encode_payload(v.packets), v.wire);
}

TEST(eio_payload, decodes_spec_examples) {
    for (const auto& v : v4_payload_vectors) {
        auto got = eio::decode_payload(v.wire);
        ASSERT_TRUE(got) << v.wire << ": " << got.err().reason;
        EXPECT_EQ(*got, v.packets);
    }
}

TEST(eio_payload, encodes_no_packets_as_empty_body) { EXPECT_EQ(eio::encode_payload({}), ""); }

TEST(eio_payload, rejects_malformed_payloads) {
    const rejection cases[] = {
        {"", errc::empty_input, "empty payload"},
        // Reference tests: "{", "{}", '["a123", "a456"]'.
        {"{", errc::unknown_packet_type, "packet 0 at byte 0: unknown packet type '{'"},
        {"{}", errc::unknown_packet_type, "'{'"},
        {R"(["a123", "a456"])", errc::unknown_packet_type, "'['"},
        {"4hello\x1e\x1e" "4x", errc::empty_input, "packet 1 at byte 7: empty packet"},
        {"4hello\x1e", errc::empty_input, "packet 1 at byte 7"},
        {"\x1e" "4hello", errc::empty_input, "packet 0 at byte 0"},
        {"4a\x1e" "2\x1e" "9x", errc::unknown_packet_type, "packet 2 at byte 5: unknown packet type '9'"},
        {"4a\x1e" "bAQ!D", errc::invalid_base64, "packet 1 at byte 3"},
        {"4a\x1e" "b4AQID", errc::invalid_base64, "packet 1"},
    };
    for (const auto& c : cases) expect_rejected(eio::decode_payload(c.input), c);
}

TEST(eio_payload, rejects_unknown_packet_type) {
    auto r = eio::decode_payload("4ok\x1e" "2\x1e" "3\x1e" "8boom");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::unknown_packet_type);
    EXPECT_EQ(r.err().reason, "packet 3 at byte 8: unknown packet type '8'");
}

TEST(eio_payload, enforces_max_payload_bytes) {
    const std::string body = "4" + std::string(99, 'x');  // 100 bytes
    EXPECT_TRUE(eio::decode_payload(body, {.max_payload = 100}));
    expect_rejected(eio::decode_payload(body, {.max_payload = 99}),
                    {body, errc::payload_too_large, "100 bytes exceeds the limit of 99"});
}

TEST(eio_payload, enforces_max_packets) {
    const std::string body = "2\x1e" "2\x1e" "2";
    EXPECT_EQ(eio::decode_payload(body, {.max_packets = 3})->size(), 3u);
    expect_rejected(eio::decode_payload(body, {.max_packets = 2}), {body, errc::too_many_packets, "limit of 2"});
}

TEST(eio_payload, tells_which_packets_cannot_travel_in_a_payload) {
    EXPECT_TRUE(eio::can_encode_in_payload(message("plain")));
    EXPECT_FALSE(eio::can_encode_in_payload(message("a\x1e" "b")));
    EXPECT_TRUE(eio::can_encode_in_payload(binary("a\x1e" "b")));
}

TEST(eio_payload, never_reads_past_the_view) {
    // The bytes after the view would complete the packet; the decoder must not see them.
    const std::string buffer = "4hello\x1e" "bAQIDBA==";
    auto r = eio::decode_payload(std::string_view(buffer).substr(0, 9));  // ends in "bA"
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::invalid_base64);
}

// ------------------------------------------------------------------------------------------------
// handshake

TEST(eio_handshake, encodes_spec_example_in_key_order) {
    eio::handshake h{"lv_VI97HAXpY6yYWAAAC", {"websocket"}, 25000, 20000, 1000000};
    EXPECT_EQ(eio::encode_handshake(h), v4_handshake_json);
}

TEST(eio_handshake, v3_open_packet_matches_spec_sample_session) {
    eio::handshake h{"lv_VI97HAXpY6yYWAAAC", {"websocket"}, 25000, 5000, std::nullopt};
    EXPECT_EQ(eio::encode_handshake(h), v3_handshake_json);
    const packet open = text(packet_type::open, eio::encode_handshake(h));
    EXPECT_EQ(eio::v3::encode_text_payload(std::span(&open, 1)), "96:0" + v3_handshake_json);
}

TEST(eio_handshake, decodes_spec_examples) {
    auto v4 = eio::decode_handshake(v4_handshake_json);
    ASSERT_TRUE(v4) << v4.err().reason;
    EXPECT_EQ(*v4, (eio::handshake{"lv_VI97HAXpY6yYWAAAC", {"websocket"}, 25000, 20000, 1000000}));

    auto v3 = eio::decode_handshake(v3_handshake_json);
    ASSERT_TRUE(v3) << v3.err().reason;
    EXPECT_EQ(*v3, (eio::handshake{"lv_VI97HAXpY6yYWAAAC", {"websocket"}, 25000, 5000, std::nullopt}));

    // v3 "WebSocket only" sample: no "upgrades" key at all.
    auto ws = eio::decode_handshake(R"({"sid":"lv_VI97HAXpY6yYWAAAC","pingInterval":25000,"pingTimeout":5000})");
    ASSERT_TRUE(ws) << ws.err().reason;
    EXPECT_TRUE(ws->upgrades.empty());
    EXPECT_EQ(ws->ping_timeout_ms, 5000u);
}

TEST(eio_handshake, decodes_in_any_key_order_and_ignores_unknown_keys) {
    auto h = eio::decode_handshake(
        R"({"pingTimeout":1,"extra":{"x":[1]},"maxPayload":2.0,"upgrades":[],"sid":"s","pingInterval":3})");
    ASSERT_TRUE(h) << h.err().reason;
    EXPECT_EQ(*h, (eio::handshake{"s", {}, 3, 1, 2}));
}

TEST(eio_handshake, round_trips_escaped_sid_and_several_upgrades) {
    const eio::handshake h{"a\"b\\c\u00e9\x01", {"websocket", "webtransport"}, 0, 18446744073709551615u, 0};
    const auto json = eio::encode_handshake(h);
    EXPECT_NE(json.find(R"("sid":"a\"b\\cé\u0001")"), std::string::npos) << json;
    auto back = eio::decode_handshake(json);
    ASSERT_TRUE(back) << back.err().reason;
    EXPECT_EQ(*back, h);
}

TEST(eio_handshake, rejects_bad_handshakes_with_clear_reasons) {
    const rejection cases[] = {
        {"", errc::invalid_json, "not valid JSON"},
        {"{", errc::invalid_json, "not valid JSON"},
        {"{\"sid\":\"\xff\"}", errc::invalid_json, "not valid JSON"},
        {"[]", errc::invalid_handshake, "is an array, expected an object"},
        {R"({"upgrades":[],"pingInterval":1,"pingTimeout":1})", errc::invalid_handshake, "has no \"sid\""},
        {R"({"sid":5,"pingInterval":1,"pingTimeout":1})", errc::invalid_handshake, "\"sid\" is a number"},
        {R"({"sid":"","pingInterval":1,"pingTimeout":1})", errc::invalid_handshake, "\"sid\" is empty"},
        {R"({"sid":"s","upgrades":"websocket","pingInterval":1,"pingTimeout":1})", errc::invalid_handshake,
         "\"upgrades\" is a string, expected an array"},
        {R"({"sid":"s","upgrades":["websocket",3],"pingInterval":1,"pingTimeout":1})", errc::invalid_handshake,
         "\"upgrades\"[1] is a number"},
        {R"({"sid":"s","pingTimeout":1})", errc::invalid_handshake, "has no \"pingInterval\""},
        {R"({"sid":"s","pingInterval":1})", errc::invalid_handshake, "has no \"pingTimeout\""},
        {R"({"sid":"s","pingInterval":-5,"pingTimeout":1})", errc::invalid_handshake, "\"pingInterval\" is negative (-5)"},
        {R"({"sid":"s","pingInterval":"25000","pingTimeout":1})", errc::invalid_handshake,
         "\"pingInterval\" is a string, expected a number"},
        {R"({"sid":"s","pingInterval":1,"pingTimeout":null})", errc::invalid_handshake, "\"pingTimeout\" is a null"},
        {R"({"sid":"s","pingInterval":1,"pingTimeout":2.5})", errc::invalid_handshake, "not a whole number"},
        {R"({"sid":"s","pingInterval":1,"pingTimeout":-0.5})", errc::invalid_handshake, "negative"},
        {R"({"sid":"s","pingInterval":1,"pingTimeout":1e300})", errc::invalid_handshake, "too large"},
        {R"({"sid":"s","pingInterval":1,"pingTimeout":1,"maxPayload":-1})", errc::invalid_handshake,
         "\"maxPayload\" is negative"},
        {R"({"sid":"s","pingInterval":1,"pingTimeout":1,"maxPayload":true})", errc::invalid_handshake,
         "\"maxPayload\" is a boolean"},
    };
    for (const auto& c : cases) expect_rejected(eio::decode_handshake(c.input), c);
}

// ------------------------------------------------------------------------------------------------
// v3 text payload

const std::vector<payload_vector> v3_text_vectors = {
    // Spec v3 examples.
    {"6:4hello2:4€", {message("hello"), message("€")}},
    {"2:4€10:b4AQIDBA==", {message("€"), binary(bytes({1, 2, 3, 4}))}},
    {"4:4hey", {message("hey")}},
    {"6:4hello6:4world", {message("hello"), message("world")}},
    {"96:0" + v3_handshake_json, {text(packet_type::open, v3_handshake_json)}},
    // Reference tests and outputs: several multi-byte characters, an empty payload.
    {"4:4€€€2:4α", {message("€€€"), message("α")}},
    {"0:", {}},
    {"6:b4AQID", {binary(bytes({1, 2, 3}))}},
    // UTF-16 counting: "é" 1 unit, "😀" 2 units (a surrogate pair), 4-byte U+10FFFF 2 units.
    {"3:4éa", {message("éa")}},
    {"4:4😀x1:2", {message("😀x"), text(packet_type::ping)}},
    {"5:4\xf4\x8f\xbf\xbf\xe2\x82\xac\xc2\x80", {message("\xf4\x8f\xbf\xbf\xe2\x82\xac\xc2\x80")}},
    {"1:6", {text(packet_type::noop)}},
    {"9:4a:1:2:3:", {message("a:1:2:3:")}},
};

TEST(eio3_text_payload, encodes_spec_examples) {
    for (const auto& v : v3_text_vectors) EXPECT_EQ(eio::v3::encode_text_payload(v.packets), v.wire);
}

TEST(eio3_text_payload, decodes_spec_examples) {
    for (const auto& v : v3_text_vectors) {
        auto got = eio::v3::decode_text_payload(v.wire);
        ASSERT_TRUE(got) << v.wire << ": " << got.err().reason;
        EXPECT_EQ(*got, v.packets) << v.wire;
    }
}

TEST(eio3_text_payload, skips_empty_records_like_the_reference) {
    auto got = eio::v3::decode_text_payload("0:4:4hey0:");
    ASSERT_TRUE(got) << got.err().reason;
    EXPECT_EQ(*got, std::vector<packet>{message("hey")});
}

TEST(eio3_text_payload, rejects_malformed_payloads) {
    const rejection cases[] = {
        // Reference tests.
        {"", errc::empty_input, "empty payload"},
        {"1!", errc::invalid_length, "'!' at byte 1"},
        {"))", errc::invalid_length, "')' at byte 0"},
        {"1:", errc::invalid_length, "length prefix 1 exceeds the 0 bytes left"},
        {"3:99:", errc::unknown_packet_type, "packet 0 at byte 0: unknown packet type '9'"},
        {"1:aa", errc::unknown_packet_type, "'a'"},
        {"1:a2:b", errc::unknown_packet_type, "'a'"},
        // Lengths.
        {"120:4hello", errc::invalid_length, "length prefix 120 exceeds the 6 bytes left"},
        {":4hey", errc::invalid_length, "empty length prefix"},
        {"04:4hey", errc::invalid_length, "leading zero"},
        {"4:4hey3", errc::invalid_length, "packet 1 at byte 6: length prefix 3 is not followed by ':'"},
        {"4x:4hey", errc::invalid_length, "'x' at byte 1"},
        {"-4:4hey", errc::invalid_length, "'-'"},
        {" 4:4hey", errc::invalid_length, "' '"},
        {"5:4hey", errc::invalid_length, "exceeds"},                   // one unit short
        {"3:4hey", errc::invalid_length, "packet 1 at byte 5"},       // "y" read as a length
        {"99999999999999999999999:4", errc::payload_too_large, "exceeds the limit"},
        // UTF-16 counting against the UTF-8 bytes.
        {"5:4😀x", errc::invalid_length, "exceeds the input left"},
        {"2:4😀", errc::invalid_length, "ends inside the surrogate pair of the character at byte 3"},
        {"4:4€", errc::invalid_length, "exceeds the input left"},     // bytes would say 4, units say 2
        {"2:4\xff", errc::invalid_utf8, "packet 0 at byte 0: invalid UTF-8 at byte 3"},
        {"3:4\xc0\x80", errc::invalid_utf8, "at byte 3"},               // overlong NUL
        {"2:4\xed\xa0\x80", errc::invalid_utf8, "at byte 3"},           // encoded surrogate
        {"2:4\xe2\x82", errc::invalid_utf8, "at byte 3"},               // truncated sequence
        {"2:4\xf4\x90\x80\x80", errc::invalid_utf8, "at byte 3"},       // above U+10FFFF
        // Packets inside.
        {"6:b4AQ!D", errc::invalid_base64, "packet 0"},
        {"4:b9AA", errc::unknown_packet_type, "'9' after 'b'"},
        {"1:b", errc::unknown_packet_type, "no type"},
    };
    for (const auto& c : cases) expect_rejected(eio::v3::decode_text_payload(c.input), c);
}

TEST(eio3_text_payload, rejects_length_over_limit) {
    // 7 bytes of input fit the limit of 10; the announced 20 units do not.
    expect_rejected(eio::v3::decode_text_payload("20:4abc", {.max_payload = 10}),
                    {"20:4abc", errc::payload_too_large, "length prefix 20 exceeds the limit of 10 bytes"});
    expect_rejected(eio::v3::decode_text_payload("4:4hey", {.max_payload = 5}),
                    {"4:4hey", errc::payload_too_large, "6 bytes exceeds the limit of 5"});
}

TEST(eio3_text_payload, enforces_max_packets) {
    EXPECT_TRUE(eio::v3::decode_text_payload("1:21:2", {.max_packets = 2}));
    expect_rejected(eio::v3::decode_text_payload("1:21:21:2", {.max_packets = 2}),
                    {"1:21:21:2", errc::too_many_packets, "limit of 2"});
}

TEST(eio3_text_payload, replaces_invalid_utf8_when_encoding) {
    const packet bad = message("a\xff" "b");
    EXPECT_EQ(eio::v3::encode_text_payload(std::span(&bad, 1)), "4:4a\xef\xbf\xbd" "b");
}

TEST(eio3_text_payload, never_reads_past_the_view) {
    const std::string buffer = "4:4hey";
    auto r = eio::v3::decode_text_payload(std::string_view(buffer).substr(0, 5));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::invalid_length);
}

// ------------------------------------------------------------------------------------------------
// v3 binary (XHR2) payload

const std::vector<payload_vector> v3_binary_vectors = {
    // Spec v3 "Example with binary", as the reference encoder really writes it: the binary
    // packet's length counts its type byte, which comes first (04 = message).
    {bytes({0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac, 0x01, 0x05, 0xff, 0x04, 0x01, 0x02, 0x03, 0x04}),
     {message("€"), binary(bytes({1, 2, 3, 4}))}},
    // Reference output for ["é😀", ping "probe", <00 ff>]: text lengths count UTF-8 bytes.
    {bytes({0x00, 0x07, 0xff, 0x34, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80, 0x00, 0x06, 0xff, 0x32, 0x70, 0x72, 0x6f,
            0x62, 0x65, 0x01, 0x03, 0xff, 0x04, 0x00, 0xff}),
     {message("é😀"), text(packet_type::ping, "probe"), binary(bytes({0x00, 0xff}))}},
    {bytes({0x00, 0x01, 0xff, 0x36}), {text(packet_type::noop)}},
    {bytes({0x01, 0x01, 0xff, 0x04}), {binary("")}},
    {bytes({0x01, 0x03, 0xff, 0x02, 0x70, 0x72}), {binary("pr", packet_type::ping)}},
    {"", {}},
};

TEST(eio3_binary_payload, encodes_reference_examples) {
    for (const auto& v : v3_binary_vectors) EXPECT_EQ(eio::v3::encode_binary_payload(v.packets), v.wire);
}

TEST(eio3_binary_payload, decodes_reference_examples) {
    for (const auto& v : v3_binary_vectors) {
        auto got = eio::v3::decode_binary_payload(v.wire);
        ASSERT_TRUE(got) << testing::PrintToString(v.wire) << ": " << got.err().reason;
        EXPECT_EQ(*got, v.packets);
    }
}

TEST(eio3_binary_payload, writes_multi_digit_lengths_as_digit_bytes) {
    const packet big = message(std::string(1233, 'x'));  // "4" + 1233 bytes = 1234
    const auto wire = eio::v3::encode_binary_payload(std::span(&big, 1));
    EXPECT_EQ(wire.substr(0, 7), bytes({0x00, 0x01, 0x02, 0x03, 0x04, 0xff, 0x34}));
    EXPECT_EQ(eio::v3::decode_binary_payload(wire).value(), std::vector<packet>{big});
}

TEST(eio3_binary_payload, decodes_the_spec_bytes_as_the_reference_does) {
    // The bytes printed in the v3 specification omit the type byte of the binary packet; the
    // reference then reads 0x01 as the type (close). Decoding must agree with the reference.
    auto got = eio::v3::decode_binary_payload(
        bytes({0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac, 0x01, 0x04, 0xff, 0x01, 0x02, 0x03, 0x04}));
    ASSERT_TRUE(got) << got.err().reason;
    EXPECT_EQ(*got, (std::vector<packet>{message("€"), binary(bytes({2, 3, 4}), packet_type::close)}));
}

TEST(eio3_binary_payload, rejects_malformed_payloads) {
    const rejection cases[] = {
        {bytes({64}), errc::invalid_length, "marker byte 0x40"},  // reference test: Buffer [64]
        {bytes({0x02, 0x01, 0xff, 0x34}), errc::invalid_length, "marker byte 0x02"},
        {bytes({0x00, 0x04}), errc::invalid_length, "not followed by a 0xff byte"},
        {bytes({0x00, 0x04, 0x34, 0x61, 0x62, 0x63}), errc::invalid_length, "byte 0x34 at byte 2"},  // missing 0xFF
        {bytes({0x00}), errc::invalid_length, "missing length prefix"},
        {bytes({0x00, 0xff, 0x34}), errc::invalid_length, "empty length prefix"},
        {bytes({0x00, 0x0a, 0xff, 0x34}), errc::invalid_length, "byte 0x0a"},
        {bytes({0x00, 0x00, 0x01, 0xff, 0x34}), errc::invalid_length, "leading zero"},
        {bytes({0x00, 0x05, 0xff, 0x34, 0x61}), errc::invalid_length, "length prefix 5 exceeds the 2 bytes left"},
        {bytes({0x00, 0x00, 0xff}), errc::empty_input, "packet 0 at byte 0: empty packet"},
        {bytes({0x01, 0x00, 0xff}), errc::empty_input, "no type byte"},
        {bytes({0x01, 0x01, 0xff, 0x07}), errc::unknown_packet_type, "0x07"},
        {bytes({0x00, 0x02, 0xff, 0x34, 0xff}), errc::invalid_utf8, "text is not UTF-8 at byte 4"},
        {bytes({0x00, 0x04, 0xff, 0x34, 0xed, 0xa0, 0x80}), errc::invalid_utf8, "at byte 4"},
        {bytes({0x00, 0x01, 0xff, 0x39}), errc::unknown_packet_type, "'9'"},
        {bytes({0x00, 0x01, 0xff, 0x36, 0x00, 0x01, 0xff, 0x37}), errc::unknown_packet_type, "packet 1 at byte 4"},
        {bytes({0x00, 0x03, 0xff, 0x62, 0x34, 0x41}), errc::invalid_base64, "lone character"},
        {bytes({0x00, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xff}), errc::payload_too_large,
         "exceeds the limit"},
    };
    for (const auto& c : cases) expect_rejected(eio::v3::decode_binary_payload(c.input), c);
}

TEST(eio3_binary_payload, rejects_length_over_limit) {
    const std::string wire = bytes({0x01, 0x05, 0x00, 0xff, 0x04});  // announces 50 bytes
    expect_rejected(eio::v3::decode_binary_payload(wire, {.max_payload = 20}),
                    {wire, errc::payload_too_large, "length prefix 50 exceeds the limit of 20 bytes"});
    expect_rejected(eio::v3::decode_binary_payload(wire, {.max_payload = 4}),
                    {wire, errc::payload_too_large, "5 bytes exceeds the limit of 4"});
}

TEST(eio3_binary_payload, enforces_max_packets) {
    const std::string wire = bytes({0x00, 0x01, 0xff, 0x32, 0x00, 0x01, 0xff, 0x32});
    EXPECT_TRUE(eio::v3::decode_binary_payload(wire, {.max_packets = 2}));
    expect_rejected(eio::v3::decode_binary_payload(wire, {.max_packets = 1}),
                    {wire, errc::too_many_packets, "limit of 1"});
}

TEST(eio3_binary_payload, replaces_invalid_utf8_when_encoding) {
    const packet bad = message("\xc0");
    EXPECT_EQ(eio::v3::encode_binary_payload(std::span(&bad, 1)), bytes({0x00, 0x04, 0xff, 0x34, 0xef, 0xbf, 0xbd}));
}

// ------------------------------------------------------------------------------------------------
// seeded random round trips

class random_packets {
public:
    explicit random_packets(std::uint32_t seed) : rng_(seed) {}

    // Valid UTF-8 text mixing ASCII (control bytes, digits and ':' included), 2-, 3- and 4-byte
    // characters; '\x1e' only when allowed.
    std::string utf8_text(bool allow_separator) {
        std::string s;
        const int n = pick(0, 24);
        for (int i = 0; i < n; ++i) {
            switch (pick(0, 5)) {
            case 0: append(s, static_cast<std::uint32_t>(pick(0, 0x7F))); break;
            case 1: append(s, static_cast<std::uint32_t>(pick(0x80, 0x7FF))); break;
            case 2: append(s, static_cast<std::uint32_t>(pick(0xE000, 0xFFFF))); break;
            case 3: append(s, static_cast<std::uint32_t>(pick(0x800, 0xD7FF))); break;
            case 4: append(s, static_cast<std::uint32_t>(pick(0x10000, 0x10FFFF))); break;
            default: s += ":0123456789b"[pick(0, 11)]; break;
            }
        }
        if (!allow_separator) std::erase(s, '\x1e');
        return s;
    }

    std::string raw_bytes() {
        std::string s(static_cast<std::size_t>(pick(0, 40)), '\0');
        for (auto& c : s) c = static_cast<char>(pick(0, 255));
        return s;
    }

    // v4: binary packets are messages; v3: binary packets keep any type.
    std::vector<packet> packets(int protocol, int min_count) {
        std::vector<packet> out(static_cast<std::size_t>(pick(min_count, 8)));
        for (auto& p : out) {
            p.type = static_cast<packet_type>(pick(0, 6));
            p.binary = pick(0, 3) == 0;
            if (p.binary) {
                if (protocol == 4) p.type = packet_type::message;
                p.data = raw_bytes();
            } else {
                p.data = utf8_text(protocol != 4);
            }
        }
        return out;
    }

private:
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

    static void append(std::string& s, std::uint32_t cp) {
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | cp >> 6);
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xE0 | cp >> 12);
            s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | cp >> 18);
            s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
            s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::mt19937 rng_;
};

constexpr int round_trips = 3000;

TEST(eio_round_trip, v4_payload_gives_back_the_packets) {
    random_packets gen(20240501);
    for (int i = 0; i < round_trips; ++i) {
        const auto packets = gen.packets(4, 1);
        const auto wire = eio::encode_payload(packets);
        auto back = eio::decode_payload(wire);
        ASSERT_TRUE(back) << "iteration " << i << ": " << back.err().reason;
        ASSERT_EQ(*back, packets) << "iteration " << i;
    }
}

TEST(eio_round_trip, v4_and_v3_single_packets_give_back_the_packet) {
    random_packets gen(99);
    for (int i = 0; i < round_trips; ++i) {
        for (const int protocol : {3, 4}) {
            for (const auto& p : gen.packets(protocol, 1)) {
                auto t = eio::decode_text(eio::encode_text(p, protocol), protocol);
                ASSERT_TRUE(t) << t.err().reason;
                ASSERT_EQ(*t, p);
                if (!p.binary) continue;
                auto b = eio::decode_binary_frame(eio::encode_binary_frame(p, protocol), protocol);
                ASSERT_TRUE(b) << b.err().reason;
                ASSERT_EQ(*b, p);
            }
        }
    }
}

TEST(eio_round_trip, v3_text_payload_gives_back_the_packets) {
    random_packets gen(31337);
    for (int i = 0; i < round_trips; ++i) {
        const auto packets = gen.packets(3, 0);
        const auto wire = eio::v3::encode_text_payload(packets);
        auto back = eio::v3::decode_text_payload(wire);
        ASSERT_TRUE(back) << "iteration " << i << ": " << back.err().reason;
        ASSERT_EQ(*back, packets) << "iteration " << i;
    }
}

TEST(eio_round_trip, v3_binary_payload_gives_back_the_packets) {
    random_packets gen(4242);
    for (int i = 0; i < round_trips; ++i) {
        const auto packets = gen.packets(3, 0);
        const auto wire = eio::v3::encode_binary_payload(packets);
        auto back = eio::v3::decode_binary_payload(wire);
        ASSERT_TRUE(back) << "iteration " << i << ": " << back.err().reason;
        ASSERT_EQ(*back, packets) << "iteration " << i;
    }
}

TEST(eio_round_trip, handshake_gives_back_the_handshake) {
    random_packets gen(5);
    std::mt19937_64 rng(6);
    for (int i = 0; i < 500; ++i) {
        eio::handshake h;
        h.sid = gen.utf8_text(true);
        h.sid.push_back('s');  // never empty
        for (int u = static_cast<int>(rng() % 3); u > 0; --u) h.upgrades.push_back(gen.utf8_text(true));
        h.ping_interval_ms = rng();
        h.ping_timeout_ms = rng() % 100000;
        if (rng() % 2) h.max_payload = rng();
        auto back = eio::decode_handshake(eio::encode_handshake(h));
        ASSERT_TRUE(back) << back.err().reason;
        ASSERT_EQ(*back, h);
    }
}

}  // namespace
