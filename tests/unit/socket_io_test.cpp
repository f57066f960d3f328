// Socket.IO packet codec: the examples of the protocol spec (socket.io-protocol Readme.md and its
// test suite), the vectors and the must-fail inputs of the reference parser's tests
// (socket.io-parser test/parser.js, buffer.js, arraybuffer.js), binary attachments fed frame by
// frame with errors in between, and random round trips.
#include <sio/codec/socket_io.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace sio::codec::socketio {
// Lets GoogleTest print packets in failure messages.
void PrintTo(const packet& p, std::ostream* os) { *os << describe(p); }
}  // namespace sio::codec::socketio

namespace {

using namespace sio::codec;
using namespace sio::codec::socketio;

// A binary value. Note: json{bin(...)} is not an array of one binary under every compiler (a
// braced list of one json may copy it); spell single-element arrays json::array({...}).
json bin(std::vector<std::uint8_t> bytes) { return json::binary(std::move(bytes)); }

std::string bytes(std::vector<std::uint8_t> b) { return std::string(b.begin(), b.end()); }

packet make(packet_type type, std::string nsp, std::optional<json> data = std::nullopt,
            std::optional<std::uint64_t> id = std::nullopt) {
    packet p;
    p.type = type;
    p.nsp = std::move(nsp);
    p.data = std::move(data);
    p.id = id;
    return p;
}

const char* status_name(decode_status s) {
    switch (s) {
    case decode_status::need_more: return "need_more";
    case decode_status::done: return "done";
    case decode_status::bad: return "bad";
    }
    return "?";
}

// Feeds a text frame and its attachments one at a time; every frame but the last must answer
// need_more. Returns the packet, or fails the test.
packet decode_frames(decoder& d, const std::string& text, const std::vector<std::string>& attachments) {
    decode_status st = d.feed_text(text);
    for (std::size_t i = 0; i < attachments.size(); ++i) {
        EXPECT_EQ(st, decode_status::need_more) << text << ": before attachment " << i << ": "
                                                << (st == decode_status::bad ? d.last_error().reason : "");
        EXPECT_TRUE(d.awaiting_attachments());
        st = d.feed_binary(attachments[i]);
    }
    EXPECT_EQ(st, decode_status::done)
        << text << ": " << status_name(st) << " " << (st == decode_status::bad ? d.last_error().reason : "");
    EXPECT_FALSE(d.awaiting_attachments());
    return d.take();
}

// --- the spec's encoding examples ------------------------------------------------------------

struct vector_case {
    const char* name;
    packet p;  // as the spec writes it (BINARY_EVENT for packets with binary data)
    std::string text;
    std::vector<std::string> attachments;
};
// Named by its case name, so test names (and CTest's list) stay short and readable.
void PrintTo(const vector_case& c, std::ostream* os) { *os << c.name; }


std::vector<vector_case> spec_vectors() {
    using pt = packet_type;
    const std::string b1234 = bytes({1, 2, 3, 4});
    return {
        // Packet encoding: connection to a namespace
        {"connect_main", make(pt::connect, "/"), "0", {}},
        {"connect_main_sid",
         make(pt::connect, "/", json{{"sid", "wZX3oN0bSVIhsaknAAAI"}}),
         R"(0{"sid":"wZX3oN0bSVIhsaknAAAI"})",
         {}},
        {"connect_admin", make(pt::connect, "/admin"), "0/admin,", {}},
        {"connect_admin_sid",
         make(pt::connect, "/admin", json{{"sid", "oSO0OpakMV_3jnilAAAA"}}),
         R"(0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"})",
         {}},
        {"connect_error_object",
         make(pt::connect_error, "/", json{{"message", "Not authorized"}}),
         R"(4{"message":"Not authorized"})",
         {}},
        // sending and receiving data
        {"event_main", make(pt::event, "/", json{"foo"}), R"(2["foo"])", {}},
        {"event_admin", make(pt::event, "/admin", json{"bar"}), R"(2/admin,["bar"])", {}},
        {"binary_event_one",
         make(pt::binary_event, "/", json{"baz", bin({1, 2, 3, 4})}),
         R"(51-["baz",{"_placeholder":true,"num":0}])",
         {b1234}},
        {"binary_event_two",
         make(pt::binary_event, "/admin", json{"baz", bin({1, 2}), bin({3, 4})}),
         R"(52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])",
         {bytes({1, 2}), bytes({3, 4})}},
        // acknowledgement
        {"event_ack_12", make(pt::event, "/", json{"foo"}, 12), R"(212["foo"])", {}},
        {"ack_12_empty", make(pt::ack, "/", json::array(), 12), "312[]", {}},
        {"event_admin_ack_13", make(pt::event, "/admin", json{"foo"}, 13), R"(2/admin,13["foo"])", {}},
        {"ack_admin_13", make(pt::ack, "/admin", json{"bar"}, 13), R"(3/admin,13["bar"])", {}},
        {"binary_event_ack_14",
         make(pt::binary_event, "/", json{"foo", bin({1, 2, 3, 4})}, 14),
         R"(51-14["foo",{"_placeholder":true,"num":0}])",
         {b1234}},
        {"ack_14", make(pt::ack, "/", json{"bar"}, 14), R"(314["bar"])", {}},
        {"event_ack_15", make(pt::event, "/", json{"foo"}, 15), R"(215["foo"])", {}},
        {"binary_ack_15",
         make(pt::binary_ack, "/", json{"bar", bin({1, 2, 3, 4})}, 15),
         R"(61-15["bar",{"_placeholder":true,"num":0}])",
         {b1234}},
        // disconnection from a namespace
        {"disconnect_main", make(pt::disconnect, "/"), "1", {}},
        {"disconnect_admin", make(pt::disconnect, "/admin"), "1/admin,", {}},
        // Sample session (Engine.IO "4" prefix removed)
        {"session_hey_jude", make(pt::event, "/", json{"hey", "Jude"}), R"(2["hey","Jude"])", {}},
        {"session_admin_granted",
         make(pt::connect, "/admin", json{{"sid", "-G5j-67EZFp-q59rADQM"}}),
         R"(0/admin,{"sid":"-G5j-67EZFp-q59rADQM"})",
         {}},
        {"session_tellme", make(pt::event, "/admin", json{"tellme"}, 1), R"(2/admin,1["tellme"])", {}},
        {"session_binary_ack",
         make(pt::binary_ack, "/admin", json::array({bin({0xde, 0xad})}), 1),
         R"(61-/admin,1[{"_placeholder":true,"num":0}])",
         {bytes({0xde, 0xad})}},
        // the spec's test suite
        {"suite_plain_event",
         make(pt::event, "/", json{"message", 1, "2", {{"3", {true}}}}),
         R"(2["message",1,"2",{"3":[true]}])",
         {}},
        {"suite_binary_event",
         make(pt::binary_event, "/", json{"message", bin({1, 2, 3}), bin({4, 5, 6})}),
         R"(52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])",
         {bytes({1, 2, 3}), bytes({4, 5, 6})}},
        {"suite_event_ack",
         make(pt::event, "/", json{"message-with-ack", 1, "2", {{"3", {false}}}}, 456),
         R"(2456["message-with-ack",1,"2",{"3":[false]}])",
         {}},
        {"suite_ack",
         make(pt::ack, "/", json{1, "2", {{"3", {false}}}}, 456),
         R"(3456[1,"2",{"3":[false]}])",
         {}},
        {"suite_binary_event_ack",
         make(pt::binary_event, "/", json{"message-with-ack", bin({1, 2, 3}), bin({4, 5, 6})}, 789),
         R"(52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])",
         {bytes({1, 2, 3}), bytes({4, 5, 6})}},
        {"suite_binary_ack",
         make(pt::binary_ack, "/", json{bin({1, 2, 3}), bin({4, 5, 6})}, 789),
         R"(62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])",
         {bytes({1, 2, 3}), bytes({4, 5, 6})}},
        {"suite_connect_custom_auth",
         make(pt::connect, "/custom", json{{"token", "abc"}}),
         R"(0/custom,{"token":"abc"})",
         {}},
        {"suite_connect_error_invalid_ns",
         make(pt::connect_error, "/random", json{{"message", "Invalid namespace"}}),
         R"(4/random,{"message":"Invalid namespace"})",
         {}},
    };
}

// The reference parser's own encode/decode vectors (test/parser.js, buffer.js, arraybuffer.js).
std::vector<vector_case> reference_vectors() {
    using pt = packet_type;
    return {
        {"connection", make(pt::connect, "/woot", json{{"token", "123"}}), R"(0/woot,{"token":"123"})", {}},
        {"disconnection", make(pt::disconnect, "/woot"), "1/woot,", {}},
        {"event", make(pt::event, "/", json{"a", 1, json::object()}), R"(2["a",1,{}])", {}},
        {"event_integer_name", make(pt::event, "/", json{1, "a", json::object()}), R"(2[1,"a",{}])", {}},
        {"event_with_ack",
         make(pt::event, "/test", json{"a", 1, json::object()}, 1),
         R"(2/test,1["a",1,{}])",
         {}},
        {"ack", make(pt::ack, "/", json{"a", 1, json::object()}, 123), R"(3123["a",1,{}])", {}},
        {"connect_error_string",
         make(pt::connect_error, "/", json("Unauthorized")),
         R"(4"Unauthorized")",
         {}},
        {"connect_error_object",
         make(pt::connect_error, "/", json{{"message", "Unauthorized"}}),
         R"(4{"message":"Unauthorized"})",
         {}},
        {"buffer",
         make(pt::binary_event, "/cool", json{"a", bin({'a', 'b', 'c'})}, 23),
         R"(51-/cool,23["a",{"_placeholder":true,"num":0}])",
         {"abc"}},
        {"nested_buffer",
         make(pt::binary_event, "/cool", json{"a", {{"b", {"c", bin({'a', 'b', 'c'})}}}}, 23),
         R"(51-/cool,23["a",{"b":["c",{"_placeholder":true,"num":0}]}])",
         {"abc"}},
        {"binary_ack",
         make(pt::binary_ack, "/back", json{"a", bin({'x', 'x', 'x'}), json::object()}, 127),
         R"(61-/back,127["a",{"_placeholder":true,"num":0},{}])",
         {"xxx"}},
        {"array_buffer",
         make(pt::binary_event, "/", json{"a", bin({0, 0})}, 0),
         R"(51-0["a",{"_placeholder":true,"num":0}])",
         {bytes({0, 0})}},
        {"typed_array",
         make(pt::binary_event, "/", json{"a", bin({0, 1, 2, 3, 4})}, 0),
         R"(51-0["a",{"_placeholder":true,"num":0}])",
         {bytes({0, 1, 2, 3, 4})}},
        {"deep_array_buffers",
         make(pt::binary_event, "/deep",
              json{"a",
                   {{"a", "hi"},
                    {"b", {{"why", bin({0, 0, 0})}}},
                    {"c", {{"a", "bye"}, {"b", {{"a", bin({0, 0, 0, 0, 0, 0})}}}}}}},
              999),
         R"(52-/deep,999["a",{"a":"hi","b":{"why":{"_placeholder":true,"num":0}},"c":{"a":"bye","b":{"a":{"_placeholder":true,"num":1}}}}])",
         {bytes({0, 0, 0}), bytes({0, 0, 0, 0, 0, 0})}},
        {"deep_with_nulls",
         make(pt::binary_event, "/",
              json{"a",
                   {{"a", "b"}, {"c", 4}, {"e", {{"g", nullptr}}}, {"h", bin(std::vector<std::uint8_t>(9))}}},
              600),
         R"(51-600["a",{"a":"b","c":4,"e":{"g":null},"h":{"_placeholder":true,"num":0}}])",
         {std::string(9, '\0')}},
    };
}

class codec_vectors : public testing::TestWithParam<vector_case> {};

TEST_P(codec_vectors, encodes_to_exact_frames) {
    const auto& c = GetParam();
    const auto enc = encode(c.p);
    EXPECT_EQ(enc.text, c.text);
    EXPECT_EQ(enc.attachments, c.attachments);
}

TEST_P(codec_vectors, decodes_frame_by_frame_to_the_packet) {
    const auto& c = GetParam();
    decoder d;
    EXPECT_EQ(decode_frames(d, c.text, c.attachments), c.p);
}

TEST_P(codec_vectors, event_and_ack_with_binary_encode_as_their_binary_type) {
    // The reference encoder is given EVENT / ACK and picks the binary type itself.
    auto p = GetParam().p;
    if (p.type == packet_type::binary_event) p.type = packet_type::event;
    if (p.type == packet_type::binary_ack) p.type = packet_type::ack;
    const auto enc = encode(p);
    EXPECT_EQ(enc.text, GetParam().text);
    EXPECT_EQ(enc.attachments, GetParam().attachments);
}

std::string case_name(const testing::TestParamInfo<vector_case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(spec, codec_vectors, testing::ValuesIn(spec_vectors()), case_name);
INSTANTIATE_TEST_SUITE_P(reference, codec_vectors, testing::ValuesIn(reference_vectors()), case_name);

// --- inputs that must fail -------------------------------------------------------------------

struct bad_case {
    const char* name;
    std::string text;
    errc expected;
    protocol version = protocol::v5;
    std::size_t max_attachments = 10;
};
// Named by its case name, so test names (and CTest's list) stay short and readable.
void PrintTo(const bad_case& c, std::ostream* os) { *os << c.name; }


const std::string ph0 = R"({"_placeholder":true,"num":0})";
const std::string ph1 = R"({"_placeholder":true,"num":1})";
const std::string ph2 = R"({"_placeholder":true,"num":2})";

std::vector<bad_case> reference_rejects() {
    // Every input the reference's tests require to throw (test/parser.js, test/buffer.js), except
    // Decoder.add(999): a non-string, non-binary value cannot be passed to this API.
    return {
        // "decodes a bad binary packet"
        {"bad_binary_packet", "5", errc::invalid_attachments},
        // "throw an error upon parsing error"
        {"connect_error_unterminated_json", R"(442["some","data")", errc::invalid_json},
        {"connect_with_string", R"(0/admin,"invalid")", errc::invalid_payload},
        {"connect_with_array", "0[]", errc::invalid_payload},
        {"disconnect_with_object", "1/admin,{}", errc::invalid_payload},
        {"event_unterminated_string", R"(2/admin,"invalid)", errc::invalid_json},
        {"event_with_object", "2/admin,{}", errc::invalid_payload},
        {"event_name_object", R"(2[{"toString":"foo"}])", errc::invalid_payload},
        {"event_name_boolean", R"(2[true,"foo"])", errc::invalid_payload},
        {"event_name_null", R"(2[null,"bar"])", errc::invalid_payload},
        {"event_name_connect", R"(2["connect"])", errc::invalid_payload},
        {"event_name_disconnect", R"(2["disconnect","123"])", errc::invalid_payload},
        {"unknown_type_9", "999", errc::unknown_packet_type},
        // "throws an error when receiving too many attachments"
        {"too_many_attachments_limit_2", "53-[\"hello\"," + ph0 + "," + ph1 + "," + ph2 + "]",
         errc::too_many_attachments, protocol::v5, 2},
        {"too_many_attachments_default", "51000000-[\"hello\"," + ph0 + "]", errc::too_many_attachments},
        // "throw an error upon an invalid attachment count"
        {"count_missing_dash_5", "5", errc::invalid_attachments},
        {"count_missing_dash_51", "51", errc::invalid_attachments},
        {"count_zero_50", "50-", errc::invalid_attachments},
        {"count_letter_5a", "5a-", errc::invalid_attachments},
        {"count_decimal_51_23", "51.23-", errc::invalid_attachments},
        {"count_empty_5", "5-", errc::invalid_attachments},
        {"count_empty_with_data", R"(5-["hello"])", errc::invalid_attachments},
        {"count_zero_with_data", R"(50-["hello"])", errc::invalid_attachments},
        {"count_zero_with_namespace", R"(50-/admin,["hello"])", errc::invalid_attachments},
        {"count_zero_with_ack", R"(50-1["hello"])", errc::invalid_attachments},
        {"ack_count_empty", R"(6-["hello"])", errc::invalid_attachments},
        {"ack_count_zero", R"(60-["hello"])", errc::invalid_attachments},
        {"count_decimal_with_data", R"(51.23-["hello"])", errc::invalid_attachments},
        {"count_zero_with_placeholder", "50-[\"hello\"," + ph0 + "]", errc::invalid_attachments},
        // buffer.js: a placeholder's num must index the attachments (refused on the text frame)
        {"placeholder_num_string", R"(51-["hello",{"_placeholder":true,"num":"splice"}])",
         errc::invalid_attachments},
        {"placeholder_num_out_of_bound", "51-[\"hello\"," + ph1 + "]", errc::invalid_attachments},
        // The protocol test suite: the server closes the connection on these
        {"suite_unknown_type", "abc", errc::unknown_packet_type},
        {"suite_event_object", "2{}", errc::invalid_payload},
        {"suite_bad_ack_id", R"(2abc["message-with-ack",1,"2",{"3":[false]}])", errc::invalid_json},
    };
}

std::vector<bad_case> own_rejects() {
    return {
        {"empty_frame", "", errc::empty_input},
        {"type_7", "7", errc::unknown_packet_type},
        {"type_space", " ", errc::unknown_packet_type},  // JavaScript's Number(" ") is 0: CONNECT
        {"type_nul", std::string(1, '\0'), errc::unknown_packet_type},
        {"event_without_data", "2", errc::invalid_payload},
        {"event_empty_array", "2[]", errc::invalid_payload},
        {"event_namespace_without_data", "2/admin,", errc::invalid_payload},
        {"event_namespace_without_comma", R"(2/admin["a"])", errc::invalid_payload},
        {"event_name_array", R"(2[["a"]])", errc::invalid_payload},
        {"event_data_string", R"(2"hello")", errc::invalid_payload},
        {"event_name_disconnecting", R"(2["disconnecting"])", errc::invalid_payload},
        {"event_name_new_listener", R"(2["newListener"])", errc::invalid_payload},
        {"event_name_remove_listener", R"(2["removeListener"])", errc::invalid_payload},
        {"event_name_connect_error", R"(2["connect_error"])", errc::invalid_payload},
        {"binary_event_reserved_name", "51-[\"connect\"," + ph0 + "]", errc::invalid_payload},
        {"binary_event_object", "51-{\"a\":" + ph0 + "}", errc::invalid_payload},
        {"ack_without_data", "312", errc::invalid_payload},
        {"ack_object", "312{}", errc::invalid_payload},
        {"binary_ack_object", "61-12{\"a\":" + ph0 + "}", errc::invalid_payload},
        {"connect_null", "0null", errc::invalid_payload},
        {"connect_number", "01.5", errc::invalid_json},  // id 1, then ".5"
        {"connect_error_without_data", "4", errc::invalid_payload},
        {"connect_error_array", R"(4["a"])", errc::invalid_payload},
        {"connect_error_number", "4/admin,x", errc::invalid_json},
        {"trailing_garbage", R"(2["a"]x)", errc::invalid_json},
        {"two_payloads", R"(2["a"]["b"])", errc::invalid_json},
        {"leading_whitespace", R"(2 ["a"])", errc::invalid_json},  // the reference reads id 0 here
        {"whitespace_after_id", R"(212 ["a"])", errc::invalid_json},
        {"whitespace_after_namespace", "2/admin, [\"a\"]", errc::invalid_json},
        {"namespace_without_slash", R"(2admin,["a"])", errc::invalid_namespace},
        {"connect_namespace_without_slash", "0admin,", errc::invalid_namespace},
        {"ack_id_overflow", R"(218446744073709551616["a"])", errc::invalid_ack_id},
        {"ack_id_far_overflow", R"(2999999999999999999999999999["a"])", errc::invalid_ack_id},
        {"number_overflow", R"(2["a",1e400])", errc::invalid_json},
        {"invalid_utf8_in_string", "2[\"a\xff\"]", errc::invalid_json},
        {"lone_surrogate_escape", R"(2["\ud800"])", errc::invalid_json},
        {"count_plus_sign", "5+1-[\"a\"," + ph0 + "]", errc::invalid_attachments},
        {"count_hex", "50x1-[\"a\"," + ph0 + "]", errc::invalid_attachments},
        {"count_space", "5 1-[\"a\"," + ph0 + "]", errc::invalid_attachments},
        {"count_no_digits_namespace", "5/admin,[\"a\"," + ph0 + "]", errc::invalid_attachments},
        {"count_huge", std::string("5").append(40, '9').append("-[\"a\",").append(ph0).append("]"),
         errc::too_many_attachments},
        {"count_one_over_limit", "511-[\"a\"]", errc::too_many_attachments},
        {"attachment_not_referenced", R"(51-["hello"])", errc::invalid_attachments},
        {"second_attachment_not_referenced", "52-[\"a\"," + ph0 + "," + ph0 + "]", errc::invalid_attachments},
        {"more_attachments_than_placeholders", "53-[\"a\"," + ph0 + "," + ph1 + "]",
         errc::invalid_attachments},
        {"placeholder_num_negative", R"(51-["a",{"_placeholder":true,"num":-1}])", errc::invalid_attachments},
        {"placeholder_num_fraction", R"(51-["a",{"_placeholder":true,"num":0.5}])",
         errc::invalid_attachments},
        {"placeholder_num_missing", R"(51-["a",{"_placeholder":true}])", errc::invalid_attachments},
        {"placeholder_num_null", R"(51-["a",{"_placeholder":true,"num":null}])", errc::invalid_attachments},
        {"placeholder_num_huge", R"(51-["a",{"_placeholder":true,"num":18446744073709551615}])",
         errc::invalid_attachments},
        {"placeholder_nested_out_of_range", "52-[\"a\",{\"b\":[" + ph0 + "," + ph2 + "]}]",
         errc::invalid_attachments},
        {"v4_event_reserved_name", R"(2["disconnect"])", errc::invalid_payload, protocol::v4},
        {"v4_error_array", R"(4["a"])", errc::invalid_payload, protocol::v4},
        {"v4_connect_array", "0[]", errc::invalid_payload, protocol::v4},
        {"v4_connect_with_object", R"(0/admin,{"token":"x"})", errc::invalid_payload, protocol::v4},
        {"v4_disconnect_with_data", "1{}", errc::invalid_payload, protocol::v4},
    };
}

class decode_rejects : public testing::TestWithParam<bad_case> {};

TEST_P(decode_rejects, with_expected_error_then_decodes_next_packet) {
    const auto& c = GetParam();
    decoder d(decoder_options{c.version, c.max_attachments});
    ASSERT_EQ(d.feed_text(c.text), decode_status::bad) << c.text;
    EXPECT_EQ(d.last_error().code, make_error_code(c.expected)) << c.text << ": " << d.last_error().reason;
    EXPECT_FALSE(d.last_error().reason.empty());
    EXPECT_FALSE(d.awaiting_attachments());
    // The decoder is idle again: it is not left waiting for attachments.
    ASSERT_EQ(d.feed_text(R"(2["hello"])"), decode_status::done) << d.last_error().reason;
    EXPECT_EQ(d.take(), make(packet_type::event, "/", json{"hello"}));
}

TEST_P(decode_rejects, through_decode_text_too) {
    const auto& c = GetParam();
    auto r = decode_text(c.text, decoder_options{c.version, c.max_attachments});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.err().code, make_error_code(c.expected)) << r.err().reason;
}

std::string bad_name(const testing::TestParamInfo<bad_case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(reference, decode_rejects, testing::ValuesIn(reference_rejects()), bad_name);
INSTANTIATE_TEST_SUITE_P(own, decode_rejects, testing::ValuesIn(own_rejects()), bad_name);

// --- inputs that must pass (some where a stricter reading would refuse them) -----------------

struct good_case {
    const char* name;
    std::string text;
    packet expected;
    protocol version = protocol::v5;
};
// Named by its case name, so test names (and CTest's list) stay short and readable.
void PrintTo(const good_case& c, std::ostream* os) { *os << c.name; }


std::vector<good_case> accepted_inputs() {
    using pt = packet_type;
    return {
        // The protocol test suite sends these without the namespace's ','.
        {"connect_namespace_at_end", "0/random", make(pt::connect, "/random")},
        {"disconnect_namespace_at_end", "1/custom", make(pt::disconnect, "/custom")},
        {"root_namespace_written", R"(2/,["a"])", make(pt::event, "/", json{"a"})},
        {"namespace_with_query_v4", "0/admin?token=x,", make(pt::connect, "/admin?token=x"), protocol::v4},
        {"namespace_with_query_v5", "0/admin?token=x,", make(pt::connect, "/admin?token=x")},
        {"namespace_utf8", "2/中,[\"a\"]", make(pt::event, "/中", json{"a"})},
        {"event_name_float", "2[1.5]", make(pt::event, "/", json{1.5})},
        {"event_name_negative", "2[-3,\"x\"]", make(pt::event, "/", json{-3, "x"})},
        {"reserved_name_as_argument", R"(2["a","disconnect"])",
         make(pt::event, "/", json{"a", "disconnect"})},
        {"reserved_name_other_case", R"(2["Connect"])", make(pt::event, "/", json{"Connect"})},
        {"ack_id_zero", R"(20["a"])", make(pt::event, "/", json{"a"}, 0)},
        {"ack_id_leading_zeros", R"(2007["a"])", make(pt::event, "/", json{"a"}, 7)},
        {"ack_id_max", R"(218446744073709551615["a"])",
         make(pt::event, "/", json{"a"}, std::numeric_limits<std::uint64_t>::max())},
        {"ack_id_on_connect", "0/admin,5", make(pt::connect, "/admin", std::nullopt, 5)},
        {"trailing_whitespace", "2[\"a\"] \n", make(pt::event, "/", json{"a"})},
        {"whitespace_inside", "2[ \"a\" , 1 ]", make(pt::event, "/", json{"a", 1})},
        {"placeholder_in_plain_event", "2[\"a\"," + ph0 + "]",
         make(pt::event, "/", json{"a", {{"_placeholder", true}, {"num", 0}}})},
        {"connect_error_string", R"(4"nope")", make(pt::connect_error, "/", json("nope"))},
        {"v4_error_string", R"(4"Invalid namespace")",
         make(pt::connect_error, "/", json("Invalid namespace")), protocol::v4},
        {"v4_error_object", R"(4/admin,{"message":"x"})",
         make(pt::connect_error, "/admin", json{{"message", "x"}}), protocol::v4},
        {"v4_error_without_data", "4", make(pt::connect_error, "/"), protocol::v4},
        {"duplicate_keys_last_value_first_place", R"(0{"a":1,"b":2,"a":3})",
         make(pt::connect, "/", json{{"a", 3}, {"b", 2}})},
        {"keys_keep_wire_order", R"(0{"z":1,"a":2})",
         make(pt::connect, "/", json::parse(R"({"z":1,"a":2})"))},
    };
}

class decode_accepts : public testing::TestWithParam<good_case> {};

TEST_P(decode_accepts, the_packet) {
    const auto& c = GetParam();
    decoder_options o;
    o.version = c.version;
    auto r = decode_text(c.text, o);
    ASSERT_TRUE(r.has_value()) << c.text << ": " << r.err().reason;
    EXPECT_EQ(*r, c.expected);
}

std::string good_name(const testing::TestParamInfo<good_case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(inputs, decode_accepts, testing::ValuesIn(accepted_inputs()), good_name);

// --- reasons ---------------------------------------------------------------------------------

std::string reason_of(const std::string& text, protocol v = protocol::v5) {
    decoder_options o;
    o.version = v;
    auto r = decode_text(text, o);
    return r ? std::string("(decoded)") : r.err().reason;
}

TEST(socket_decoder, rejects_reserved_event_name) {
    EXPECT_EQ(reason_of(R"(2["disconnect","123"])"), "reserved event name 'disconnect'");
}

TEST(socket_decoder, reasons_say_what_is_wrong) {
    EXPECT_EQ(
        reason_of("2/admin,{}"),
        "invalid payload: EVENT data must be a non-empty array starting with the event name, got object");
    EXPECT_EQ(reason_of("2[]"),
              "invalid payload: EVENT data must be a non-empty array starting with the event name, got an "
              "empty array");
    EXPECT_EQ(reason_of(R"(2[true,"foo"])"),
              "invalid payload: the event name must be a string or a number, got boolean");
    EXPECT_EQ(reason_of("1/admin,{}"), "invalid payload: DISCONNECT carries no data, got object");
    EXPECT_EQ(reason_of("4[1]", protocol::v4),
              "invalid payload: ERROR data must be a string or an object, got array");
    EXPECT_EQ(reason_of("9"), "unknown packet type '9' (a packet starts with a digit 0-6)");
    EXPECT_EQ(reason_of(std::string(1, '\x01')),
              "unknown packet type 0x01 (a packet starts with a digit 0-6)");
    EXPECT_EQ(reason_of("50-"), "BINARY_EVENT declares 0 attachments; a binary packet carries at least one");
    EXPECT_EQ(reason_of("6x"),
              "BINARY_ACK header must give the attachment count followed by '-', as in \"61-\"");
    EXPECT_EQ(reason_of("511-[\"a\"]"), "BINARY_EVENT declares 11 attachments, over the limit of 10");
    EXPECT_EQ(reason_of(R"(2["a"]x)").rfind("invalid JSON payload at byte 6: ", 0), 0U)
        << reason_of(R"(2["a"]x)");
    EXPECT_EQ(reason_of(R"(2admin,["a"])"), "namespace must start with '/': got 'admin'");
    EXPECT_EQ(reason_of(R"(2123456789012345678901["a"])"),
              "ack id 123456789012345678901 does not fit in 64 bits");
    EXPECT_EQ(reason_of("51-[\"a\"," + ph1 + "]"),
              "placeholder num must be an integer from 0 to 0 (the packet declares 1 attachments), got 1");
    EXPECT_EQ(reason_of("52-[\"a\"," + ph1 + "," + ph1 + "]"),
              "attachment 0 of 2 is not referenced by any placeholder");
    EXPECT_EQ(reason_of("53-[\"a\"," + ph0 + "," + ph1 + "]"),
              "BINARY_EVENT declares 3 attachments but has 2 placeholders");
}

TEST(socket_decoder, reasons_stay_on_one_line) {
    const auto r = reason_of("2[\"a\"]\x01\n");
    EXPECT_EQ(r.find('\n'), std::string::npos) << r;
    EXPECT_EQ(r.find('\x01'), std::string::npos) << r;
}

// --- limits ----------------------------------------------------------------------------------

TEST(socket_decoder, refuses_text_over_max_payload) {
    decoder_options o;
    o.max_payload = 10;
    EXPECT_TRUE(decode_text(R"(2["12345"])", o).has_value());  // exactly 10 bytes
    auto r = decode_text(R"(2["123456"])", o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, make_error_code(errc::payload_too_large));
}

TEST(socket_decoder, counts_attachments_against_max_payload) {
    decoder_options o;
    const std::string text = "51-[\"a\"," + ph0 + "]";
    o.max_payload = text.size() + 4;
    decoder d(o);
    ASSERT_EQ(d.feed_text(text), decode_status::need_more);
    EXPECT_EQ(d.feed_binary("1234"), decode_status::done);  // exactly at the limit
    ASSERT_EQ(d.feed_text(text), decode_status::need_more);
    EXPECT_EQ(d.feed_binary("12345"), decode_status::bad);
    EXPECT_EQ(d.last_error().code, make_error_code(errc::payload_too_large));
    EXPECT_FALSE(d.awaiting_attachments());
}

TEST(socket_decoder, counts_an_attachment_placed_twice_twice) {
    // One attachment referenced by many placeholders would otherwise be copied many times over.
    const std::string text = "51-[\"a\"," + ph0 + "," + ph0 + "]";
    decoder_options o;
    o.max_payload = text.size() + 7;
    decoder d(o);
    ASSERT_EQ(d.feed_text(text), decode_status::need_more);
    EXPECT_EQ(d.feed_binary("123"), decode_status::done);  // 2 x 3 bytes fit
    ASSERT_EQ(d.feed_text(text), decode_status::need_more);
    EXPECT_EQ(d.feed_binary("1234"), decode_status::bad);  // 2 x 4 bytes do not
    EXPECT_EQ(d.last_error().code, make_error_code(errc::payload_too_large));
}

std::string nested_arrays(std::size_t depth) {
    return "2[\"a\"," + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "]";
}

TEST(socket_decoder, limits_json_nesting_depth) {
    decoder_options o;
    o.max_depth = 32;
    EXPECT_TRUE(decode_text(nested_arrays(32), o).has_value());
    auto r = decode_text(nested_arrays(33), o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, make_error_code(errc::payload_too_large));
    EXPECT_EQ(r.err().reason, "JSON payload nested deeper than 32 levels");
}

TEST(socket_decoder, survives_very_deep_json_with_default_limits) {
    auto r = decode_text(nested_arrays(200'000));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, make_error_code(errc::payload_too_large));
}

TEST(socket_decoder, parses_objects_with_many_keys_and_repeated_keys) {
    // Past a few keys the decoder indexes keys instead of scanning: same result as a scan.
    std::string text = "0{";
    json expected = json::object();
    auto& members = *expected.get_ptr<json::object_t*>();  // appended directly: no key scan
    for (int i = 0; i < 5000; ++i) {
        const std::string key = std::string("k").append(std::to_string(i));
        text.append("\"").append(key).append("\":").append(std::to_string(i)).append(",");
        members.emplace_back(key, i);
    }
    text += R"("k17":"again","k4999":"last","new":true})";
    members.begin()[17].second = "again";
    members.begin()[4999].second = "last";
    members.emplace_back("new", true);
    auto r = decode_text(text);
    ASSERT_TRUE(r.has_value()) << r.err().reason;
    ASSERT_TRUE(r->data.has_value());
    EXPECT_EQ(*r->data, expected);
    EXPECT_EQ(r->data->size(), 5001U);
    EXPECT_EQ(std::next(r->data->begin(), 17).key(), "k17");
}

// --- binary attachments ----------------------------------------------------------------------

TEST(socket_decoder, waits_for_each_attachment_in_turn) {
    decoder d;
    ASSERT_EQ(d.feed_text("53-/a,9[\"x\"," + ph2 + "," + ph0 + "," + ph1 + "]"), decode_status::need_more);
    EXPECT_TRUE(d.awaiting_attachments());
    EXPECT_EQ(d.feed_binary("zero"), decode_status::need_more);
    EXPECT_EQ(d.feed_binary(""), decode_status::need_more);  // an empty buffer is an attachment too
    EXPECT_TRUE(d.awaiting_attachments());
    EXPECT_EQ(d.feed_binary(bytes({0, 255})), decode_status::done);
    EXPECT_FALSE(d.awaiting_attachments());
    EXPECT_EQ(d.take(), make(packet_type::binary_event, "/a",
                             json{"x", bin({0, 255}), bin({'z', 'e', 'r', 'o'}), bin({})}, 9));
}

TEST(socket_decoder, replaces_nested_placeholders) {
    decoder d;
    const auto p =
        decode_frames(d, "62-[{\"a\":[1,{\"b\":" + ph1 + "}],\"c\":" + ph0 + "}]", {"first", "second"});
    EXPECT_EQ(p, make(packet_type::binary_ack, "/",
                      json::array({{{"a", {1, {{"b", bin({'s', 'e', 'c', 'o', 'n', 'd'})}}}},
                                    {"c", bin({'f', 'i', 'r', 's', 't'})}}})));
}

TEST(socket_decoder, places_an_attachment_referenced_twice_in_both_places) {
    decoder d;
    const auto p = decode_frames(d, "51-[\"a\"," + ph0 + ",[" + ph0 + "]]", {"xy"});
    EXPECT_EQ(p, make(packet_type::binary_event, "/", json{"a", bin({'x', 'y'}), {bin({'x', 'y'})}}));
}

TEST(socket_decoder, replaces_whole_placeholder_objects_only_when_marked_true) {
    decoder d;
    const auto p = decode_frames(
        d,
        R"(51-["a",{"_placeholder":true,"num":0,"extra":1},{"_placeholder":false,"num":0},{"_placeholder":"true","num":0},{"_placeholder":1,"num":0}])",
        {"b"});
    ASSERT_TRUE(p.data);
    EXPECT_EQ((*p.data)[1], bin({'b'}));
    EXPECT_EQ((*p.data)[2], json::parse(R"({"_placeholder":false,"num":0})"));
    EXPECT_EQ((*p.data)[3], json::parse(R"({"_placeholder":"true","num":0})"));
    EXPECT_EQ((*p.data)[4], json::parse(R"({"_placeholder":1,"num":0})"));
}

TEST(socket_decoder, accepts_placeholder_num_written_as_float) {
    decoder d;
    const auto p = decode_frames(d, R"(51-["a",{"_placeholder":true,"num":0.0}])", {"q"});
    EXPECT_EQ(p, make(packet_type::binary_event, "/", json{"a", bin({'q'})}));
}

TEST(socket_decoder, text_frame_while_awaiting_attachments_is_unexpected_text) {
    decoder d;
    ASSERT_EQ(d.feed_text("52-[\"a\"," + ph0 + "," + ph1 + "]"), decode_status::need_more);
    ASSERT_EQ(d.feed_binary("one"), decode_status::need_more);
    ASSERT_EQ(d.feed_text(R"(2["hello"])"), decode_status::bad);
    EXPECT_EQ(d.last_error().code, make_error_code(errc::unexpected_text));
    EXPECT_EQ(d.last_error().reason,
              "text frame arrived while 1 of 2 binary attachments were still expected");
    EXPECT_FALSE(d.awaiting_attachments());
    // The interrupted packet is dropped; its last attachment arriving late is now unexpected.
    ASSERT_EQ(d.feed_binary("two"), decode_status::bad);
    EXPECT_EQ(d.last_error().code, make_error_code(errc::unexpected_binary));
    EXPECT_EQ(decode_frames(d, "51-[\"b\"," + ph0 + "]", {"ok"}),
              make(packet_type::binary_event, "/", json{"b", bin({'o', 'k'})}));
}

TEST(socket_decoder, binary_frame_without_header_is_unexpected_binary) {
    decoder d;
    ASSERT_EQ(d.feed_binary("world"), decode_status::bad);
    EXPECT_EQ(d.last_error().code, make_error_code(errc::unexpected_binary));
    EXPECT_EQ(d.last_error().reason,
              "binary frame of 5 bytes arrived but no binary packet awaits attachments");
    EXPECT_EQ(decode_frames(d, R"(2["hello"])", {}), make(packet_type::event, "/", json{"hello"}));
}

TEST(socket_decoder, extra_binary_frame_after_packet_is_unexpected_binary) {
    decoder d;
    ASSERT_EQ(d.feed_text("51-[\"a\"," + ph0 + "]"), decode_status::need_more);
    ASSERT_EQ(d.feed_binary("1"), decode_status::done);
    const auto p = d.take();
    EXPECT_EQ(p, make(packet_type::binary_event, "/", json{"a", bin({'1'})}));
    ASSERT_EQ(d.feed_binary("2"), decode_status::bad);
    EXPECT_EQ(d.last_error().code, make_error_code(errc::unexpected_binary));
    EXPECT_EQ(decode_frames(d, "61-3[" + ph0 + "]", {"3"}),
              make(packet_type::binary_ack, "/", json::array({bin({'3'})}), 3));
}

TEST(socket_decoder, placeholder_out_of_range_is_refused_before_attachments) {
    decoder d;
    ASSERT_EQ(d.feed_text("51-[\"hello\"," + ph1 + "]"), decode_status::bad);
    EXPECT_EQ(d.last_error().code, make_error_code(errc::invalid_attachments));
    EXPECT_FALSE(d.awaiting_attachments());
    ASSERT_EQ(d.feed_binary("world"), decode_status::bad);  // the reference's test sends it next
    EXPECT_EQ(d.last_error().code, make_error_code(errc::unexpected_binary));
    EXPECT_EQ(decode_frames(d, "51-[\"hello\"," + ph0 + "]", {"world"}),
              make(packet_type::binary_event, "/", json{"hello", bin({'w', 'o', 'r', 'l', 'd'})}));
}

TEST(socket_decoder, reset_abandons_a_pending_packet) {
    // The reference's "should resume decoding after calling destroy()".
    decoder d;
    ASSERT_EQ(d.feed_text("51-[\"hello\"," + ph0 + "]"), decode_status::need_more);
    d.reset();
    EXPECT_FALSE(d.awaiting_attachments());
    EXPECT_EQ(decode_frames(d, R"(2["hello"])", {}), make(packet_type::event, "/", json{"hello"}));
}

TEST(socket_decoder, take_gives_the_packet_once) {
    decoder d;
    ASSERT_EQ(d.feed_text(R"(2/x,["a"])"), decode_status::done);
    EXPECT_EQ(d.take(), make(packet_type::event, "/x", json{"a"}));
    EXPECT_EQ(d.take(), packet{});
}

TEST(socket_decoder, decode_text_refuses_a_binary_header) {
    auto r = decode_text("51-[\"a\"," + ph0 + "]");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, make_error_code(errc::invalid_attachments));
}

TEST(socket_decoder, keeps_its_pending_packet_when_moved) {
    // The decoder remembers where the placeholders are; moving it must not invalidate that.
    decoder d;
    ASSERT_EQ(d.feed_text("52-[\"a\",{\"b\":[" + ph0 + "]}," + ph1 + "]"), decode_status::need_more);
    decoder moved = std::move(d);
    ASSERT_EQ(moved.feed_binary("x"), decode_status::need_more);
    decoder assigned;
    assigned = std::move(moved);
    ASSERT_EQ(assigned.feed_binary("y"), decode_status::done);
    EXPECT_EQ(assigned.take(),
              make(packet_type::binary_event, "/", json{"a", {{"b", {bin({'x'})}}}, bin({'y'})}));
}

// --- encoder ---------------------------------------------------------------------------------

TEST(socket_encoder, binary_type_without_binary_data_becomes_plain) {
    EXPECT_EQ(encode(make(packet_type::binary_event, "/", json{"a"})).text, R"(2["a"])");
    EXPECT_EQ(encode(make(packet_type::binary_ack, "/x", json{1}, 4)).text, "3/x,4[1]");
}

TEST(socket_encoder, numbers_attachments_depth_first_in_key_order) {
    json data = json::parse(R"(["e",{"z":null,"a":[null,null]}])");
    data[1]["z"] = bin({1});
    data[1]["a"][0] = bin({2});
    data[1]["a"][1] = bin({3});
    data.push_back(bin({4}));
    const auto enc = encode(make(packet_type::event, "/", data));
    EXPECT_EQ(enc.text, "54-[\"e\",{\"z\":" + ph0 + ",\"a\":[" + ph1 + "," + ph2 +
                            "]},{\"_placeholder\":true,\"num\":3}]");
    EXPECT_EQ(enc.attachments, (std::vector<std::string>{bytes({1}), bytes({2}), bytes({3}), bytes({4})}));
}

TEST(socket_encoder, binary_in_other_types_is_written_as_a_node_buffer) {
    const auto enc = encode(make(packet_type::connect, "/", json{{"key", bin({1, 2})}}));
    EXPECT_EQ(enc.text, R"(0{"key":{"type":"Buffer","data":[1,2]}})");
    EXPECT_TRUE(enc.attachments.empty());
}

TEST(socket_encoder, replaces_invalid_utf8) {
    EXPECT_EQ(encode(make(packet_type::event, "/", json{std::string("a\xff")})).text, "2[\"a\xEF\xBF\xBD\"]");
}

TEST(socket_encoder, empty_namespace_is_the_main_one) {
    EXPECT_EQ(encode(make(packet_type::disconnect, "")).text, "1");
}

TEST(socket_encoder, escapes_strings_as_json_stringify_does) {
    EXPECT_EQ(encode(make(packet_type::event, "/", json{"q\"\\\n\x01\x7f/é😀\u2028"})).text,
              "2[\"q\\\"\\\\\\n\\u0001\x7f/é😀\u2028\"]");
}

TEST(socket_encoder, leaves_the_input_packet_unchanged) {
    const packet p = make(packet_type::event, "/", json{"a", bin({1, 2, 3}), bin({4, 5, 6})});
    const packet copy = p;
    (void)encode(p);
    EXPECT_EQ(p, copy);
}

// --- describe, validate, names ---------------------------------------------------------------

TEST(socket_describe, one_line_summary) {
    EXPECT_EQ(describe(make(packet_type::event, "/admin", json{"chat", "hi"}, 12)),
              R"(EVENT /admin id=12 ["chat","hi"])");
    EXPECT_EQ(describe(make(packet_type::connect, "/")), "CONNECT /");
    EXPECT_EQ(describe(make(packet_type::binary_event, "/", json{"f", bin({1, 2, 3, 4})}, 14)),
              R"(BINARY_EVENT / id=14 ["f",<4 bytes: 01 02 03 04>])");
    EXPECT_EQ(describe(make(packet_type::binary_ack, "/",
                            json::array({{{"k", bin(std::vector<std::uint8_t>(20, 0xab))}}}))),
              R"(BINARY_ACK / [{"k":<20 bytes: ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ...>}])");
    EXPECT_EQ(describe(make(packet_type::connect_error, "/", json("nope")), protocol::v4),
              R"(ERROR / "nope")");
    EXPECT_EQ(describe(make(packet_type::disconnect, "/a\nb")), R"(DISCONNECT /a\x0ab)");
}

TEST(socket_describe, cuts_long_data_on_a_character_boundary) {
    const auto s = describe(make(packet_type::event, "/", json{"ééééé"}), protocol::v5, 5);
    EXPECT_EQ(s, "EVENT / [\"é...");
}

TEST(socket_validate, checks_shape_and_namespace) {
    EXPECT_FALSE(validate(make(packet_type::event, "/", json{"chat"})).has_value());
    EXPECT_FALSE(validate(make(packet_type::event, "", json{"chat"})).has_value());
    const auto reserved = validate(make(packet_type::event, "/", json{"connect"}));
    ASSERT_TRUE(reserved.has_value());
    EXPECT_EQ(reserved->code, make_error_code(errc::invalid_payload));
    const auto ns = validate(make(packet_type::event, "admin", json{"chat"}));
    ASSERT_TRUE(ns.has_value());
    EXPECT_EQ(ns->code, make_error_code(errc::invalid_namespace));
    EXPECT_TRUE(validate(make(packet_type::event, "/a,b", json{"chat"})).has_value());
    EXPECT_TRUE(validate(make(packet_type::connect_error, "/")).has_value());
    EXPECT_FALSE(validate(make(packet_type::connect_error, "/"), protocol::v4).has_value());
}

TEST(socket_names, types_and_reserved_events) {
    EXPECT_EQ(to_string(packet_type::connect), "CONNECT");
    EXPECT_EQ(to_string(packet_type::disconnect), "DISCONNECT");
    EXPECT_EQ(to_string(packet_type::event), "EVENT");
    EXPECT_EQ(to_string(packet_type::ack), "ACK");
    EXPECT_EQ(to_string(packet_type::connect_error), "CONNECT_ERROR");
    EXPECT_EQ(to_string(packet_type::connect_error, protocol::v4), "ERROR");
    EXPECT_EQ(to_string(packet_type::binary_event), "BINARY_EVENT");
    EXPECT_EQ(to_string(packet_type::binary_ack), "BINARY_ACK");
    EXPECT_EQ(to_string(static_cast<packet_type>(9)), "UNKNOWN");
    for (const char* name :
         {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})
        EXPECT_TRUE(is_reserved_event_name(name)) << name;
    for (const char* name : {"", "message", "Connect", "connected", "error", "disconnect "})
        EXPECT_FALSE(is_reserved_event_name(name)) << name;
}

// --- random round trips ----------------------------------------------------------------------

class random_packets {
public:
    random_packets(std::uint32_t seed, protocol version) : rng_(seed), version_(version) {}

    packet next() {
        static constexpr packet_type types[] = {packet_type::connect, packet_type::disconnect,
                                                packet_type::event,   packet_type::event,
                                                packet_type::ack,     packet_type::connect_error};
        packet p;
        p.type = types[below(std::size(types))];
        p.nsp = "/";
        if (chance(2)) p.nsp.append(text(8, false));
        if (chance(3)) p.id = chance(4) ? std::numeric_limits<std::uint64_t>::max() : rng_() % 100000;
        switch (p.type) {
        case packet_type::connect:
            if (version_ == protocol::v5 && chance(2)) p.data = object(0, false);
            break;
        case packet_type::disconnect: break;
        case packet_type::event: {
            json args = json::array();
            std::string name = text(10, false);
            if (is_reserved_event_name(name)) name += "!";
            args.push_back(chance(8) ? json(below(1000)) : json(name));
            for (std::size_t n = below(5); n > 0; --n) args.push_back(value(1, true));
            p.data = std::move(args);
            break;
        }
        case packet_type::ack: p.data = array(0, true); break;
        default: p.data = chance(2) ? json(text(20, true)) : object(0, false); break;
        }
        return p;
    }

private:
    std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
    bool chance(std::size_t one_in) { return below(one_in) == 0; }

    // UTF-8 text: ASCII incl. the JSON specials and controls, 2-, 3- and 4-byte characters.
    std::string text(std::size_t max, bool allow_comma) {
        std::string s;
        for (std::size_t n = below(max + 1); n > 0; --n) {
            std::uint32_t cp = 0;
            switch (below(6)) {
            case 0: cp = static_cast<std::uint32_t>(below(0x20)); break;
            case 1: cp = static_cast<std::uint32_t>("\"\\/{}[]:,-_0123456789"[below(21)]); break;
            case 2: cp = static_cast<std::uint32_t>(0x80 + below(0x800 - 0x80)); break;
            case 3: cp = static_cast<std::uint32_t>(0x800 + below(0xD800 - 0x800)); break;
            case 4: cp = static_cast<std::uint32_t>(0x10000 + below(0x110000 - 0x10000)); break;
            default: cp = static_cast<std::uint32_t>('a' + below(26)); break;
            }
            if (cp == ',' && !allow_comma) cp = '.';
            append_utf8(s, cp);
        }
        return s;
    }

    static void append_utf8(std::string& s, std::uint32_t cp) {
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xE0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    json number() {
        switch (below(5)) {
        case 0: return static_cast<std::int64_t>(rng_()) - (std::int64_t{1} << 31);
        case 1: return std::numeric_limits<std::uint64_t>::max() - below(1000);
        case 2: return std::numeric_limits<std::int64_t>::min() + static_cast<std::int64_t>(below(1000));
        case 3: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
        default: {
            double d = 0;
            do {
                std::uint64_t bits = (std::uint64_t{rng_()} << 32) | rng_();
                std::memcpy(&d, &bits, sizeof d);
            } while (!std::isfinite(d));
            return d;
        }
        }
    }

    json array(int depth, bool binary) {
        json a = json::array();
        for (std::size_t n = below(5); n > 0; --n) a.push_back(value(depth + 1, binary));
        return a;
    }

    json object(int depth, bool binary) {
        json o = json::object();
        for (std::size_t n = below(5); n > 0; --n) {
            std::string key = text(6, true);
            if (key == "_placeholder") key += "_";  // a literal placeholder would be taken for one
            o[key] = value(depth + 1, binary);
        }
        return o;
    }

    json value(int depth, bool binary) {
        const std::size_t kinds = depth >= 5 ? 5 : 7;
        switch (below(binary ? kinds + 1 : kinds)) {
        case 0: return nullptr;
        case 1: return chance(2);
        case 2: return number();
        case 3:
        case 4: return text(12, true);
        case 5: return array(depth, binary);
        case 6: return object(depth, binary);
        default: {
            std::vector<std::uint8_t> b(below(40));
            for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
            return json::binary(std::move(b));
        }
        }
    }

    std::mt19937 rng_;
    protocol version_;
};

bool contains_binary(const json& v) {
    if (v.is_binary()) return true;
    if (v.is_array() || v.is_object()) {
        for (const auto& e : v) {
            if (contains_binary(e)) return true;
        }
    }
    return false;
}

// What decode(encode(p)) must give: the wire type, and "/" for an empty namespace.
packet on_the_wire(packet p) {
    const bool binary = p.data && contains_binary(*p.data);
    if (p.type == packet_type::event && binary) p.type = packet_type::binary_event;
    if (p.type == packet_type::ack && binary) p.type = packet_type::binary_ack;
    return p;
}

void round_trip(protocol version, std::uint32_t seed, int count) {
    random_packets gen(seed, version);
    decoder_options o;
    o.version = version;
    o.max_attachments = 1000;
    decoder d(o);
    int with_attachments = 0;
    for (int i = 0; i < count; ++i) {
        const packet p = gen.next();
        ASSERT_FALSE(validate(p, version).has_value()) << describe(p);
        const auto enc = encode(p, version);
        with_attachments += enc.attachments.empty() ? 0 : 1;
        const packet got = decode_frames(d, enc.text, enc.attachments);
        ASSERT_EQ(got, on_the_wire(p)) << "packet " << i << " encoded as " << enc.text;
        // Encoding what was decoded gives the same frames again.
        const auto again = encode(got, version);
        ASSERT_EQ(again.text, enc.text);
        ASSERT_EQ(again.attachments, enc.attachments);
    }
    EXPECT_GT(with_attachments, count / 20);  // the generator does exercise attachments
}

TEST(socket_round_trip, random_packets_v5) { round_trip(protocol::v5, 20240601, 3000); }

TEST(socket_round_trip, random_packets_v4) { round_trip(protocol::v4, 4242, 1000); }

}  // namespace
