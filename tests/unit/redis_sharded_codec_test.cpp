// The sharded adapter's wire format, as @socket.io/redis-adapter 8.3.0's createShardedAdapter
// writes and reads it: the channel each message goes on in each subscription mode, which rooms
// have a channel of their own, JSON or msgpack by content, and malformed input.
#include "sio/adapter/redis_sharded_codec.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

namespace rd = sio::adapter::redis;
namespace sh = rd::sharded;
using rd::subscription_mode;
using sio::codec::json;

sh::message broadcast_to(std::vector<std::string> rooms, bool with_ack = false) {
    rd::wire_packet p;
    p.data = json::array({"said", "x"});
    rd::broadcast_opts o;
    o.rooms = std::move(rooms);
    sh::message m{"u1", "/chat", 3, rd::streams::broadcast_data(p, o)};
    if (with_ack) m.data["requestId"] = "r1";
    return m;
}

TEST(sharded_channel, one_room_goes_on_its_channel_in_the_dynamic_modes) {
    const auto room = broadcast_to({"room1"});
    EXPECT_EQ(sh::channel_for("socket.io", subscription_mode::static_mode, room), "socket.io#/chat#");
    EXPECT_EQ(sh::channel_for("socket.io", subscription_mode::dynamic, room), "socket.io#/chat#room1#");
    EXPECT_EQ(sh::channel_for("socket.io", subscription_mode::dynamic_private, room), "socket.io#/chat#room1#");
}

TEST(sharded_channel, socket_ids_several_rooms_and_acks_stay_on_the_namespace_channel) {
    const auto sid = broadcast_to({"abcdefghij0123456789"});  // 20 characters: taken for a socket id
    EXPECT_EQ(sh::channel_for("p", subscription_mode::dynamic, sid), "p#/chat#");
    EXPECT_EQ(sh::channel_for("p", subscription_mode::dynamic_private, sid), "p#/chat#abcdefghij0123456789#");
    EXPECT_EQ(sh::channel_for("p", subscription_mode::dynamic, broadcast_to({"a", "b"})), "p#/chat#");
    EXPECT_EQ(sh::channel_for("p", subscription_mode::dynamic, broadcast_to({})), "p#/chat#");
    EXPECT_EQ(sh::channel_for("p", subscription_mode::dynamic, broadcast_to({"room1"}, true)), "p#/chat#");
    sh::message join{"u1", "/chat", 4, rd::streams::rooms_data(rd::broadcast_opts{{"room1"}, {}, json::object()}, {"x"})};
    EXPECT_EQ(sh::channel_for("p", subscription_mode::dynamic, join), "p#/chat#");
}

TEST(sharded_channel, own_channels_by_mode) {
    EXPECT_FALSE(sh::has_own_channel(subscription_mode::static_mode, false));
    EXPECT_TRUE(sh::has_own_channel(subscription_mode::dynamic, false));
    EXPECT_FALSE(sh::has_own_channel(subscription_mode::dynamic, true));
    EXPECT_TRUE(sh::has_own_channel(subscription_mode::dynamic_private, true));
    EXPECT_EQ(sh::room_channel("socket.io", "/", "r"), "socket.io#/#r#");
}

TEST(sharded_message, json_without_binary_msgpack_with_it) {
    auto m = broadcast_to({"room1"});
    const auto text = sh::encode(m);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.front(), '{');
    auto back = sh::decode(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->uid, "u1");
    EXPECT_EQ(back->nsp, "/chat");
    EXPECT_EQ(back->type, 3);
    EXPECT_EQ(back->data, m.data);

    m.data["packet"]["data"].push_back(json::binary({1, 2, 250}));
    const auto bytes = sh::encode(m);
    EXPECT_NE(bytes.front(), '{');
    auto bin = sh::decode(bytes);
    ASSERT_TRUE(bin);
    EXPECT_TRUE(bin->data["packet"]["data"][2].is_binary());

    // A type that never carries binary is JSON whatever its data holds.
    sh::message join{"u1", "/", 4, json::object({{"rooms", json::array({"r"})}})};
    EXPECT_EQ(sh::encode(join).front(), '{');
}

TEST(sharded_message, malformed_input_is_refused) {
    EXPECT_FALSE(sh::decode("{not json"));
    EXPECT_FALSE(sh::decode("\xc1"));
    EXPECT_FALSE(sh::decode(""));
    EXPECT_FALSE(sh::decode(R"({"type":3,"nsp":"/"})"));  // no uid
    EXPECT_FALSE(sh::decode("[1,2]"));
}

}  // namespace
