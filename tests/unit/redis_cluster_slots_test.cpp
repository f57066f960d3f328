// What the sharded adapter knows of a Redis Cluster: a channel's slot (CRC16/XMODEM mod 16384,
// with the {hash tag} rules of the Redis Cluster specification), the slot map of a CLUSTER SLOTS
// reply, and the MOVED and ASK redirections.
#include "sio/adapter/redis_cluster_slots.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

namespace {

namespace sl = sio::adapter::redis::slots;

struct reply_deleter {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

// The reply tree of RESP bytes, as the adapter's connection reads it.
reply_ptr reply_of(const std::string& resp) {
    std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(), redisReaderFree);
    EXPECT_EQ(redisReaderFeed(reader.get(), resp.data(), resp.size()), REDIS_OK);
    void* raw = nullptr;
    EXPECT_EQ(redisReaderGetReply(reader.get(), &raw), REDIS_OK);
    EXPECT_NE(raw, nullptr);
    return reply_ptr(static_cast<redisReply*>(raw));
}

std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }
std::string node_entry(const std::string& host, int port, const std::string& id) {
    return "*3\r\n" + bulk(host) + ":" + std::to_string(port) + "\r\n" + bulk(id);
}

TEST(cluster_slot, crc16_is_xmodem) {
    EXPECT_EQ(sl::crc16("123456789"), 0x31C3);
    EXPECT_EQ(sl::crc16(""), 0);
    EXPECT_EQ(sl::crc16("A"), 0x58E5);
}

TEST(cluster_slot, of_keys_as_redis_computes_them) {
    // CLUSTER KEYSLOT on Redis 7.
    EXPECT_EQ(sl::key_slot("123456789"), 12739);
    EXPECT_EQ(sl::key_slot("foo"), 12182);
    EXPECT_EQ(sl::key_slot("bar"), 5061);
    EXPECT_EQ(sl::key_slot("socket.io#/#"), sl::crc16("socket.io#/#") % 16384);
    EXPECT_LT(sl::key_slot(std::string(1000, 'x')), 16384);
}

TEST(cluster_slot, hash_tag_is_the_first_braced_part_when_not_empty) {
    EXPECT_EQ(sl::key_slot("{user1000}.following"), sl::key_slot("user1000"));
    EXPECT_EQ(sl::key_slot("{user1000}.followers"), sl::key_slot("{user1000}.following"));
    EXPECT_EQ(sl::key_slot("foo{bar}{zap}"), sl::key_slot("bar"));
    EXPECT_EQ(sl::key_slot("foo{{bar}}zap"), sl::key_slot("{bar"));
    // An empty tag, or an unclosed one: the whole key.
    EXPECT_EQ(sl::key_slot("foo{}{bar}"), sl::crc16("foo{}{bar}") % 16384);
    EXPECT_EQ(sl::key_slot("foo{bar"), sl::crc16("foo{bar") % 16384);
    EXPECT_EQ(sl::key_slot("p#/#{room}#"), sl::key_slot("room"));
}

TEST(cluster_slot_map, parses_cluster_slots_with_replicas_and_unknown_hosts) {
    const auto resp = "*2\r\n"
                      "*4\r\n:5461\r\n:10922\r\n" + node_entry("127.0.0.1", 7001, "b") + node_entry("127.0.0.1", 7004, "e") +
                      "*4\r\n:0\r\n:5460\r\n" + node_entry("", 7000, "a") + node_entry("?", 7003, "d");
    auto r = reply_of(resp);
    auto m = sl::parse_cluster_slots(r.get(), "10.0.0.9");
    ASSERT_TRUE(m) << m.err().reason;
    ASSERT_EQ(m->ranges.size(), 2u);
    EXPECT_EQ(m->ranges[0].first, 0);  // sorted
    EXPECT_EQ(m->ranges[0].primary, (sl::node{"10.0.0.9", 7000}));
    EXPECT_EQ(m->ranges[0].replicas.at(0), (sl::node{"10.0.0.9", 7003}));
    EXPECT_EQ(m->ranges[1].primary.address(), "127.0.0.1:7001");
    EXPECT_EQ(m->owner(0)->port, 7000);
    EXPECT_EQ(m->owner(5460)->port, 7000);
    EXPECT_EQ(m->owner(5461)->port, 7001);
    EXPECT_EQ(m->owner(10922)->port, 7001);
    EXPECT_EQ(m->owner(10923), nullptr);
    EXPECT_FALSE(m->complete());
    EXPECT_EQ(m->primaries().size(), 2u);
    EXPECT_EQ(m->nodes().size(), 4u);
    EXPECT_EQ(m->describe(), "10.0.0.9:7000 (0-5460), 127.0.0.1:7001 (5461-10922)");
}

TEST(cluster_slot_map, one_primary_with_several_ranges_and_a_complete_map) {
    const auto resp = "*3\r\n"
                      "*3\r\n:0\r\n:99\r\n" + node_entry("h", 1, "a") +
                      "*3\r\n:100\r\n:199\r\n" + node_entry("g", 2, "b") +
                      "*3\r\n:200\r\n:16383\r\n" + node_entry("h", 1, "a");
    auto r = reply_of(resp);
    auto m = sl::parse_cluster_slots(r.get(), "x");
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->complete());
    EXPECT_EQ(m->primaries().size(), 2u);
    EXPECT_EQ(m->describe(), "h:1 (0-99 200-16383), g:2 (100-199)");
    EXPECT_TRUE(m->same_owners(*m));
    EXPECT_FALSE(m->same_owners(sl::single_node({"h", 1})));
    EXPECT_TRUE(sl::single_node({"h", 1}).complete());
    EXPECT_EQ(sl::node({"::1", 7000}).address(), "[::1]:7000");
}

TEST(cluster_slot_map, a_moved_slot_is_assigned_alone) {
    auto m = sl::single_node({"a", 1});
    m.assign(100, {"b", 2});
    ASSERT_EQ(m.ranges.size(), 3u);
    EXPECT_TRUE(m.complete());
    EXPECT_EQ(m.owner(99)->host, "a");
    EXPECT_EQ(m.owner(100)->host, "b");
    EXPECT_EQ(m.owner(101)->host, "a");
    m.assign(0, {"c", 3});
    m.assign(16383, {"c", 3});
    EXPECT_TRUE(m.complete());
    EXPECT_EQ(m.owner(0)->host, "c");
    EXPECT_EQ(m.owner(1)->host, "a");
    EXPECT_EQ(m.owner(16383)->host, "c");
    EXPECT_EQ(m.describe(), "c:3 (0-0 16383-16383), a:1 (1-99 101-16382), b:2 (100-100)");
    sl::slot_map partial;
    partial.assign(7, {"d", 4});  // a slot nobody served
    EXPECT_EQ(partial.owner(7)->host, "d");
    EXPECT_EQ(partial.owner(8), nullptr);
}

TEST(cluster_slot_map, refuses_malformed_replies) {
    const std::vector<std::string> cases{
             "-ERR This instance has cluster support disabled\r\n",
             "+OK\r\n",
             "*1\r\n*2\r\n:0\r\n:5\r\n",                               // no node
             "*1\r\n*3\r\n:7\r\n:5\r\n" + node_entry("h", 1, "a"),      // last < first
             "*1\r\n*3\r\n:0\r\n:16384\r\n" + node_entry("h", 1, "a"),  // past the last slot
             "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:0\r\n",          // port 0
             "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:70000\r\n",      // port out of range
             "*2\r\n*3\r\n:0\r\n:10\r\n" + node_entry("h", 1, "a") + "*3\r\n:10\r\n:20\r\n" + node_entry("g", 2, "b"),
    };
    for (const auto& resp : cases) {
        auto r = reply_of(resp);
        EXPECT_FALSE(sl::parse_cluster_slots(r.get(), "x")) << resp;
    }
    EXPECT_FALSE(sl::parse_cluster_slots(nullptr, "x"));
}

TEST(cluster_redirect, moved_and_ask) {
    auto moved = sl::parse_redirect("MOVED 3999 127.0.0.1:6381", "seed");
    ASSERT_TRUE(moved);
    EXPECT_FALSE(moved->ask);
    EXPECT_EQ(moved->slot, 3999);
    EXPECT_EQ(moved->to, (sl::node{"127.0.0.1", 6381}));
    auto ask = sl::parse_redirect("ASK 16383 10.1.2.3:7002", "seed");
    ASSERT_TRUE(ask);
    EXPECT_TRUE(ask->ask);
    EXPECT_EQ(ask->slot, 16383);
    EXPECT_EQ(ask->to.address(), "10.1.2.3:7002");
    // An unknown endpoint: the host of the node that answered; IPv6 with or without brackets.
    EXPECT_EQ(sl::parse_redirect("MOVED 1 :7000", "seed")->to, (sl::node{"seed", 7000}));
    EXPECT_EQ(sl::parse_redirect("MOVED 1 ::1:7000", "seed")->to, (sl::node{"::1", 7000}));
    EXPECT_EQ(sl::parse_redirect("MOVED 1 [::1]:7000", "seed")->to, (sl::node{"::1", 7000}));
}

TEST(cluster_redirect, anything_else_is_not_one) {
    for (const char* e : {"ERR unknown command", "MOVED", "MOVED 3999", "MOVED x 127.0.0.1:1", "MOVED 16384 h:1",
                          "MOVED 1 h:0", "MOVED 1 h:65536", "MOVED 1 h", "ASK -1 h:1", "MOVED 1 h:1 extra", "moved 1 h:1"}) {
        EXPECT_FALSE(sl::parse_redirect(e, "seed")) << e;
    }
}

}  // namespace
