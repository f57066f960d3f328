// The Redis adapter's wire format against the messages captured from Node socket.io 4.8.4 with
// @socket.io/redis-adapter 8.3.0 (tests/unit/data/redis-adapter-8.3.0.json, a copy of the
// capture): every payload decodes and encodes back to the same bytes, every channel name is the
// one our builders give.
#include "sio/adapter/redis_codec.hpp"
#include "sio/codec/base64.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace r = sio::adapter::redis;
using sio::codec::json;

const std::string prefix = "socket.io";
const std::string nsp = "/";

json load_vectors() {
    std::ifstream in(std::string(SIO_SOURCE_DIR) + "/tests/unit/data/redis-adapter-8.3.0.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str(), nullptr, false);
}

std::string unhex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The uid of a node, read from its own response channel P-response#N#UID#.
std::string uid_of_specific(const std::string& channel) {
    const auto base = r::response_channel(prefix, nsp);
    return channel.substr(base.size(), channel.size() - base.size() - 1);
}

// Re-encodes a request with the encoder for its type; empty if the type has none.
std::string reencode_request(const json& q) {
    const auto type = static_cast<r::request_type>(q.at("type").get<int>());
    const auto uid = q.at("uid").get<std::string>();
    switch (type) {
    case r::request_type::all_rooms:
        return r::encode_all_rooms_request(uid, q.at("requestId").get<std::string>());
    case r::request_type::remote_fetch: {
        auto o = r::opts_from_json(q.at("opts"));
        EXPECT_TRUE(o.has_value());
        return r::encode_fetch_sockets_request(uid, q.at("requestId").get<std::string>(), *o);
    }
    case r::request_type::remote_join:
    case r::request_type::remote_leave: {
        auto o = r::opts_from_json(q.at("opts"));
        EXPECT_TRUE(o.has_value());
        auto rooms = q.at("rooms").get<std::vector<std::string>>();
        return type == r::request_type::remote_join ? r::encode_remote_join_request(uid, *o, rooms)
                                                    : r::encode_remote_leave_request(uid, *o, rooms);
    }
    case r::request_type::remote_disconnect: {
        auto o = r::opts_from_json(q.at("opts"));
        EXPECT_TRUE(o.has_value());
        return r::encode_remote_disconnect_request(uid, *o, q.at("close").get<bool>());
    }
    case r::request_type::server_side_emit: {
        std::optional<std::string> id;
        if (q.contains("requestId")) id = q.at("requestId").get<std::string>();
        std::optional<std::string_view> idv;
        if (id) idv = *id;
        return r::encode_server_side_emit_request(uid, idv, q.at("data"));
    }
    case r::request_type::broadcast: {
        auto o = r::opts_from_json(q.at("opts"));
        EXPECT_TRUE(o.has_value());
        r::wire_packet p;
        p.type = q.at("packet").at("type").get<int>();
        p.data = q.at("packet").at("data");
        p.nsp = q.at("packet").at("nsp").get<std::string>();
        return r::encode_broadcast_request(uid, q.at("requestId").get<std::string>(), p, *o);
    }
    default: return {};
    }
}

std::string reencode_response(const json& m) {
    const auto id = m.at("requestId").get<std::string>();
    if (m.contains("type")) {
        switch (static_cast<r::request_type>(m.at("type").get<int>())) {
        case r::request_type::server_side_emit: return r::encode_server_side_emit_response(id, m.at("data"));
        case r::request_type::broadcast_client_count:
            return r::encode_broadcast_client_count(id, m.at("clientCount").get<std::size_t>());
        case r::request_type::broadcast_ack: return r::encode_broadcast_ack(id, m.at("packet"));
        default: return {};
        }
    }
    if (m.contains("rooms")) return r::encode_all_rooms_response(id, m.at("rooms").get<std::vector<std::string>>());
    if (m.contains("sockets")) return r::encode_fetch_sockets_response(id, m.at("sockets"));
    return r::encode_remote_done_response(id);
}

// A payload of the sharded or streams modes: no structured codec here, but the generic msgpack
// and JSON layers must give the same bytes back.
void expect_generic_round_trip(const std::string& bytes, bool is_json, const std::string& where) {
    if (is_json) {
        auto v = json::parse(bytes, nullptr, false);
        ASSERT_FALSE(v.is_discarded()) << where;
        EXPECT_EQ(r::to_json_text(v), bytes) << where;
    } else {
        auto v = r::from_msgpack(bytes);
        ASSERT_TRUE(v.has_value()) << where << ": " << v.err().reason;
        EXPECT_EQ(r::to_msgpack(*v), bytes) << where;
    }
}

TEST(redis_codec, every_captured_vector_round_trips) {
    const json vectors = load_vectors();
    ASSERT_TRUE(vectors.is_array());
    ASSERT_GE(vectors.size(), 100u);
    std::size_t checked = 0;
    for (std::size_t i = 0; i < vectors.size(); ++i) {
        const auto& v = vectors[i];
        const auto where = "vector " + std::to_string(i) + " (" + v.at("mode").get<std::string>() +
                           ", " + v.at("op").get<std::string>() + ")";
        const auto mode = v.at("mode").get<std::string>();
        const auto command = v.at("command").get<std::string>();
        const bool classic = mode == "classic" || mode == "mixed-classic";

        if (command == "PSUBSCRIBE") {
            EXPECT_EQ(v.at("args").at(0).get<std::string>(), r::broadcast_pattern(prefix, nsp)) << where;
            ++checked;
        } else if (command == "SUBSCRIBE" && classic) {
            const auto& a = v.at("args");
            EXPECT_EQ(a.at(0).get<std::string>(), r::request_channel(prefix, nsp)) << where;
            EXPECT_EQ(a.at(1).get<std::string>(), r::response_channel(prefix, nsp)) << where;
            const auto own = a.at(2).get<std::string>();
            EXPECT_EQ(own, r::specific_response_channel(prefix, nsp, uid_of_specific(own))) << where;
            EXPECT_EQ(uid_of_specific(own).size(), 6u) << where;
            ++checked;
        } else if (command == "SUBSCRIBE" || command == "SSUBSCRIBE" || command == "SUNSUBSCRIBE") {
            // Sharded and streams modes: the broadcast channel and the per-node / per-room ones.
            for (const auto& c : v.at("args")) {
                EXPECT_TRUE(r::room_of_channel(prefix, nsp, c.get<std::string>()).has_value()) << where;
            }
            ++checked;
        } else if (command == "PUBSUB") {
            const auto sub = v.at("args").at(0).get<std::string>();
            if (classic) {
                EXPECT_EQ(sub, "NUMSUB") << where;
                EXPECT_EQ(v.at("args").at(1).get<std::string>(), r::request_channel(prefix, nsp)) << where;
            } else {
                EXPECT_EQ(v.at("args").at(1).get<std::string>(), r::broadcast_channel(prefix, nsp)) << where;
            }
            ++checked;
        } else if (command == "PUBLISH" && classic) {
            const auto channel = v.at("channel").get<std::string>();
            const auto bytes = unhex(v.at("payload_hex").get<std::string>());
            if (starts_with(channel, r::broadcast_channel(prefix, nsp))) {
                ASSERT_FALSE(v.at("payload_is_json").get<bool>()) << where;
                auto m = r::decode_broadcast(bytes);
                ASSERT_TRUE(m.has_value()) << where << ": " << m.err().reason;
                EXPECT_EQ(m->packet.nsp, "/") << where;
                EXPECT_EQ(m->packet.type, 2) << where;
                ASSERT_TRUE(m->packet.data.is_array() && !m->packet.data.empty()) << where;
                // The event name is the first argument the operation emitted (the mixed capture
                // also holds messages of a hand-written node, uid "fakeC1", with their own).
                if (m->uid != "fakeC1") {
                    EXPECT_NE(v.at("op").get<std::string>().find(m->packet.data[0].get<std::string>()),
                              std::string::npos) << where;
                }
                EXPECT_EQ(r::encode_broadcast(*m), bytes) << where;
                EXPECT_EQ(r::channel_for(prefix, nsp, m->opts), channel) << where;
                ++checked;
            } else if (channel == r::request_channel(prefix, nsp)) {
                auto q = r::decode_message(bytes);
                ASSERT_TRUE(q.has_value()) << where << ": " << q.err().reason;
                EXPECT_EQ(bytes.front() == '{', v.at("payload_is_json").get<bool>()) << where;
                EXPECT_EQ(reencode_request(*q), bytes) << where;
                ++checked;
            } else if (starts_with(channel, r::response_channel(prefix, nsp))) {
                auto m = r::decode_message(bytes);
                ASSERT_TRUE(m.has_value()) << where << ": " << m.err().reason;
                EXPECT_EQ(reencode_response(*m), bytes) << where;
                ++checked;
            } else {
                ADD_FAILURE() << where << ": unexpected channel " << channel;
            }
        } else if (command == "PUBLISH" || command == "SPUBLISH") {
            const auto channel = v.at("channel").get<std::string>();
            EXPECT_TRUE(r::room_of_channel(prefix, nsp, channel).has_value()) << where;
            expect_generic_round_trip(unhex(v.at("payload_hex").get<std::string>()),
                                      v.at("payload_is_json").get<bool>(), where);
            ++checked;
        } else if (command == "XADD") {
            const auto data = v.at("fields").at("data").get<std::string>();
            if (!data.empty() && data.front() == '{') {
                expect_generic_round_trip(data, true, where);
            } else {
                auto raw = sio::codec::base64_decode(data);
                ASSERT_TRUE(raw.has_value()) << where;
                expect_generic_round_trip(*raw, false, where);
            }
            ++checked;
        } else {
            ADD_FAILURE() << where << ": command " << command << " not covered";
        }
    }
    EXPECT_EQ(checked, vectors.size());
}

TEST(redis_codec, binary_arguments_travel_as_msgpack_bin) {
    r::broadcast_message m;
    m.uid = "abcdef";
    m.packet.data = json::array({"bin", json::binary({1, 2, 3})});
    const auto bytes = r::encode_broadcast(m);
    EXPECT_NE(bytes.find(std::string("\xc4\x03\x01\x02\x03", 5)), std::string::npos);
    auto back = r::decode_broadcast(bytes);
    ASSERT_TRUE(back.has_value());
    ASSERT_TRUE(back->packet.data[1].is_binary());
    EXPECT_EQ(back->packet.data[1].get_binary().size(), 3u);
}

TEST(redis_codec, numbers_take_the_smallest_form_like_notepack) {
    EXPECT_EQ(r::to_msgpack(json(5)), std::string("\x05", 1));
    EXPECT_EQ(r::to_msgpack(json(200)), std::string("\xcc\xc8", 2));
    EXPECT_EQ(r::to_msgpack(json(-1)), std::string("\xff", 1));
    EXPECT_EQ(r::to_msgpack(json(-100)), std::string("\xd0\x9c", 2));
    EXPECT_EQ(r::to_msgpack(json(70000)), std::string("\xce\x00\x01\x11\x70", 5));
    // A double without a fraction is an integer in JavaScript.
    EXPECT_EQ(r::to_msgpack(json(2.0)), std::string("\x02", 1));
    EXPECT_EQ(r::to_msgpack(json(3.5)).front(), '\xcb');
    const std::string s40(40, 'x');
    EXPECT_EQ(r::to_msgpack(json(s40)).substr(0, 2), std::string("\xd9\x28", 2));
}

TEST(redis_codec, malformed_input_is_refused_not_crashed) {
    EXPECT_FALSE(r::from_msgpack("").has_value());
    EXPECT_FALSE(r::from_msgpack(std::string("\x93\xa6x8", 4)).has_value());       // truncated
    EXPECT_FALSE(r::from_msgpack(std::string("\x01\x02", 2)).has_value());         // trailing
    EXPECT_FALSE(r::from_msgpack(std::string("\x81\x01\x02", 3)).has_value());     // int key
    EXPECT_FALSE(r::decode_broadcast(std::string("\x92\xa1u\x80", 4)).has_value()); // 2 elements
    EXPECT_FALSE(r::decode_broadcast(std::string("\x93\x01\x80\x80", 4)).has_value()); // uid
    EXPECT_FALSE(r::decode_message("{not json").has_value());
    EXPECT_FALSE(r::decode_message("[1]").has_value());
    // Nesting over the limit.
    std::string deep(1000, '\x91');
    deep.push_back('\x01');
    EXPECT_FALSE(r::from_msgpack(deep).has_value());
    EXPECT_TRUE(r::from_msgpack(deep, 2000).has_value());
}

// Bad input from the network: every truncation of a captured msgpack payload is refused (msgpack
// is prefix-free), and with any single byte changed the decoders either refuse or give a value
// that encodes and decodes back to itself. Nothing crashes.
TEST(redis_codec, damaged_captured_payloads_are_refused_or_consistent) {
    const json vectors = load_vectors();
    std::size_t payloads = 0;
    for (const auto& v : vectors) {
        if (!v.contains("payload_hex") || v.at("payload_is_json").get<bool>()) continue;
        const auto bytes = unhex(v.at("payload_hex").get<std::string>());
        ++payloads;
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            EXPECT_FALSE(r::from_msgpack(std::string_view(bytes).substr(0, n)).has_value()) << n;
            EXPECT_FALSE(r::decode_broadcast(std::string_view(bytes).substr(0, n)).has_value()) << n;
        }
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            for (unsigned char delta : {0x01, 0x10, 0x80, 0xff}) {
                auto damaged = bytes;
                damaged[i] = static_cast<char>(static_cast<unsigned char>(damaged[i]) ^ delta);
                auto m = r::from_msgpack(damaged);
                if (m.has_value()) {
                    auto again = r::from_msgpack(r::to_msgpack(*m));
                    ASSERT_TRUE(again.has_value());
                    EXPECT_EQ(*again, *m);
                }
                auto b = r::decode_broadcast(damaged);
                if (b.has_value()) {
                    auto again = r::decode_broadcast(r::encode_broadcast(*b));
                    ASSERT_TRUE(again.has_value());
                    EXPECT_EQ(again->uid, b->uid);
                    EXPECT_EQ(again->packet.data, b->packet.data);
                }
                (void)r::decode_message(damaged);
            }
        }
    }
    EXPECT_GE(payloads, 10u);
}

TEST(redis_codec, room_of_channel_tells_rooms_from_other_channels) {
    EXPECT_EQ(r::room_of_channel("p", "/chat", "p#/chat#"), "");
    EXPECT_EQ(r::room_of_channel("p", "/chat", "p#/chat#room 1#"), "room 1");
    EXPECT_FALSE(r::room_of_channel("p", "/chat", "p#/other#").has_value());
    EXPECT_FALSE(r::room_of_channel("p", "/chat", "p#/chat#x").has_value());
}

TEST(redis_codec, json_messages_write_buffers_as_node_does) {
    const auto text = r::encode_server_side_emit_response("id1", json::binary({7}));
    EXPECT_EQ(text, R"({"type":6,"requestId":"id1","data":{"type":"Buffer","data":[7]}})");
}

}  // namespace
