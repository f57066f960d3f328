// The streams adapter's wire format against what two Node socket.io 4.8.4 servers with
// @socket.io/redis-streams-adapter 0.3.1 wrote to Redis (tests/unit/data/redis-streams-adapter-
// 0.3.1.json, made by tests/interop/capture_redis_streams.js): every stream entry, channel
// message and session record decodes and encodes back to the same bytes; then the stream ids,
// the rooms rule of a replay, and malformed input.
#include "sio/adapter/redis_streams_codec.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace st = sio::adapter::redis::streams;
using sio::codec::json;

json load_capture() {
    std::ifstream in(std::string(SIO_SOURCE_DIR) + "/tests/unit/data/redis-streams-adapter-0.3.1.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str(), nullptr, false);
}

std::string unhex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

TEST(redis_streams_codec, every_captured_stream_entry_round_trips) {
    const auto capture = load_capture();
    ASSERT_TRUE(capture.is_object());
    ASSERT_EQ(capture["entries"].size(), 5u);
    for (const auto& e : capture["entries"]) {
        st::fields f;
        for (const auto& kv : e["fields"]) f.emplace_back(kv[0].get<std::string>(), kv[1].get<std::string>());
        auto m = st::decode_entry(f);
        ASSERT_TRUE(m.has_value()) << e.dump();
        EXPECT_EQ(m->nsp, "/");
        EXPECT_GE(m->type, 3);
        EXPECT_LE(m->type, 6);
        EXPECT_EQ(st::encode_entry(*m), f) << e.dump();
    }
}

TEST(redis_streams_codec, a_broadcast_with_binary_is_base64_msgpack) {
    const auto capture = load_capture();
    st::fields f;
    for (const auto& kv : capture["entries"][1]["fields"]) f.emplace_back(kv[0].get<std::string>(), kv[1].get<std::string>());
    auto m = st::decode_entry(f);
    ASSERT_TRUE(m.has_value());
    const auto& data = m->data["packet"]["data"];
    EXPECT_EQ(data[0], "binary");
    ASSERT_TRUE(data[1].is_binary());
    const std::vector<std::uint8_t>& bytes = data[1].get_binary();
    EXPECT_EQ(bytes, (std::vector<std::uint8_t>{0, 1, 255}));
    sio::adapter::redis::wire_packet p;
    p.data = data;
    sio::adapter::redis::broadcast_opts o;
    o.rooms = {"room1"};
    o.except = {"room2"};
    EXPECT_EQ(st::encode_entry({m->uid, "/", 3, st::broadcast_data(p, o)}), f);
}

TEST(redis_streams_codec, every_captured_channel_message_round_trips) {
    const auto capture = load_capture();
    ASSERT_EQ(capture["published"].size(), 7u);
    std::string requester;
    for (const auto& p : capture["published"]) {
        const auto bytes = unhex(p["payload_hex"].get<std::string>());
        auto m = st::decode_published(bytes);
        ASSERT_TRUE(m.has_value()) << p.dump();
        EXPECT_EQ(st::encode_published(*m), bytes) << p.dump();
        const auto channel = p["channel"].get<std::string>();
        if (channel == st::public_channel("socket.io", "/")) {
            requester = m->uid;  // requests: fetchSockets, serverSideEmit, broadcast with acks
            EXPECT_TRUE(m->type == 3 || m->type == 7 || m->type == 9) << m->type;
        } else {
            EXPECT_EQ(channel, st::private_channel("socket.io", "/", requester));
            EXPECT_TRUE(m->type == 8 || m->type >= 10) << m->type;
        }
    }
}

TEST(redis_streams_codec, the_captured_session_record_round_trips) {
    const auto capture = load_capture();
    ASSERT_EQ(capture["sessions"].size(), 1u);
    const auto& s = capture["sessions"][0];
    auto r = st::decode_session(s["value"].get<std::string>());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ("sio:session:" + r->pid, s["key"].get<std::string>());
    EXPECT_EQ(r->rooms.size(), 2u);
    EXPECT_TRUE(r->since.empty());
    EXPECT_EQ(st::encode_session(*r), s["value"].get<std::string>());
    r->since = "1700000000000-3";
    auto back = st::decode_session(st::encode_session(*r));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->since, "1700000000000-3");
}

TEST(redis_streams_codec, stream_ids) {
    EXPECT_TRUE(st::is_stream_id("0-0"));
    EXPECT_TRUE(st::is_stream_id("1700000000000-12"));
    for (const char* bad : {"", "-", "1-", "-1", "1", "a-1", "1-b", "1-2-3", "+1-2", "18446744073709551616-0"})
        EXPECT_FALSE(st::is_stream_id(bad)) << bad;
    EXPECT_EQ(st::next_id("5-7"), "5-8");
    EXPECT_EQ(st::next_id("5-18446744073709551615"), "6-0");
    EXPECT_FALSE(st::next_id("x").has_value());
    EXPECT_TRUE(st::id_less("5-9", "5-10"));
    EXPECT_TRUE(st::id_less("5-10", "6-0"));
    EXPECT_FALSE(st::id_less("6-0", "6-0"));
    EXPECT_FALSE(st::id_less("x", "6-0"));
}

TEST(redis_streams_codec, a_replayed_broadcast_reaches_the_rooms_the_node_adapter_says) {
    sio::adapter::redis::broadcast_opts all, room, but;
    room.rooms = {"r1", "r2"};
    but.except = {"x"};
    EXPECT_TRUE(st::reaches({"sid"}, all));
    EXPECT_TRUE(st::reaches({"sid", "r2"}, room));
    EXPECT_FALSE(st::reaches({"sid"}, room));
    EXPECT_TRUE(st::reaches({"sid"}, but));
    EXPECT_FALSE(st::reaches({"sid", "x"}, but));
}

TEST(redis_streams_codec, malformed_input_is_refused_with_a_reason) {
    const st::fields bad_entries[] = {
        {{"nsp", "/"}, {"type", "3"}},
        {{"uid", "u"}, {"type", "3"}},
        {{"uid", "u"}, {"nsp", "/"}},
        {{"uid", "u"}, {"nsp", "/"}, {"type", "three"}},
        {{"uid", "u"}, {"nsp", "/"}, {"type", "99999999999999999999"}},
        {{"uid", "u"}, {"nsp", "/"}, {"type", "3"}, {"data", "{not json"}},
        {{"uid", "u"}, {"nsp", "/"}, {"type", "3"}, {"data", "%%%"}},
        {{"uid", "u"}, {"nsp", "/"}, {"type", "3"}, {"data", "wQ=="}},  // msgpack 0xc1 (never used)
    };
    for (const auto& f : bad_entries) {
        auto m = st::decode_entry(f);
        ASSERT_FALSE(m.has_value());
        EXPECT_FALSE(m.err().reason.empty());
    }
    for (const std::string& bytes : {std::string("\xc1"), std::string("\x93\x01\x02\x03"), std::string("\x81\xa4type\x07"),
                                    std::string("\x83\xa4type\xa1x\xa3uid\xa1u\xa3nsp\xa1/"), std::string()}) {
        EXPECT_FALSE(st::decode_published(bytes).has_value());
    }
    for (const char* text : {"", "%%%", "kQ==", "gaNzaWQB"})  // "", not base64, [1], {sid: 1}
        EXPECT_FALSE(st::decode_session(text).has_value()) << text;
}

}  // namespace
