// Room math of the in-memory adapter: who a broadcast reaches, and that it reaches them once.
#include "sio/adapter/in_memory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using sio::adapter::broadcast_options;
using sio::adapter::frame;
using sio::adapter::in_memory;
using strings = std::vector<std::string>;

strings sorted(strings v) {
    std::sort(v.begin(), v.end());
    return v;
}

strings targets(const in_memory& a, std::set<std::string, std::less<>> rooms,
                std::set<std::string, std::less<>> except = {}) {
    broadcast_options o;
    o.rooms = std::move(rooms);
    o.except = std::move(except);
    return sorted(a.targets(o));
}

// A member that records what it was handed.
struct recorder : sio::adapter::member {
    std::mutex m;
    std::vector<std::shared_ptr<const std::string>> got;
    void deliver(const frame& f, const sio::adapter::broadcast_flags&) override {
        std::lock_guard lock(m);
        got.push_back(f.text);
        for (const auto& a : f.attachments) got.push_back(a);
    }
};

// Built by appending: GCC 12 warns falsely (-Wrestrict) on `"literal" + std::string`.
std::string socket_name(int thread, int index) {
    std::string id = "t";
    id += std::to_string(thread);
    id += 's';
    id += std::to_string(index);
    return id;
}

// Three sockets: a in {r1}, b in {r1, r2}, c in {r2}.
struct three_sockets : ::testing::Test {
    in_memory a;
    void SetUp() override {
        for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(a.add(id, {}));
        ASSERT_TRUE(a.join("a", "r1"));
        ASSERT_TRUE(a.join("b", "r1"));
        ASSERT_TRUE(a.join("b", "r2"));
        ASSERT_TRUE(a.join("c", "r2"));
    }
};

TEST(adapter, add_joins_the_sockets_own_id_room) {
    in_memory a;
    ASSERT_TRUE(a.add("s1", {}));
    EXPECT_EQ(a.rooms_of("s1"), strings{"s1"});
    EXPECT_EQ(a.members_of("s1"), strings{"s1"});
    EXPECT_TRUE(a.contains("s1"));
    EXPECT_FALSE(a.add("s1", {})) << "a second add of the same id must be refused";
}

TEST(adapter, join_of_unregistered_socket_is_refused) {
    in_memory a;
    EXPECT_FALSE(a.join("ghost", "r"));
    EXPECT_EQ(a.room_count(), 0u);
    EXPECT_EQ(a.socket_count(), 0u);
}

TEST(adapter, join_is_idempotent_and_leave_reports_membership) {
    in_memory a;
    a.add("s", {});
    a.join("s", "r");
    a.join("s", "r");
    EXPECT_EQ(a.members_of("r"), strings{"s"});
    EXPECT_TRUE(a.leave("s", "r"));
    EXPECT_FALSE(a.leave("s", "r"));
    EXPECT_TRUE(a.members_of("r").empty());
}

TEST(adapter, empty_rooms_are_deleted) {
    in_memory a;
    a.add("s", {});
    a.add("t", {});
    a.join("s", "r");
    a.join("t", "r");
    EXPECT_EQ(a.room_names(), (strings{"r", "s", "t"}));
    a.leave("s", "r");
    EXPECT_EQ(a.room_names(), (strings{"r", "s", "t"}));
    a.leave("t", "r");
    EXPECT_EQ(a.room_names(), (strings{"s", "t"}));
}

TEST(adapter, join_many_rooms_at_once) {
    in_memory a;
    a.add("s", {});
    strings rooms{"x", "y", "x"};
    EXPECT_TRUE(a.join("s", rooms));
    EXPECT_EQ(a.rooms_of("s"), (strings{"s", "x", "y"}));
}

TEST_F(three_sockets, remove_leaves_every_room_and_forgets_the_socket) {
    a.remove("b");
    EXPECT_FALSE(a.contains("b"));
    EXPECT_TRUE(a.rooms_of("b").empty());
    EXPECT_EQ(a.members_of("r1"), strings{"a"});
    EXPECT_EQ(a.members_of("r2"), strings{"c"});
    EXPECT_TRUE(a.members_of("b").empty());
    EXPECT_EQ(a.socket_count(), 2u);
    EXPECT_FALSE(a.join("b", "r1")) << "a removed socket must not come back through join";
    a.remove("b");  // twice is harmless
}

TEST_F(three_sockets, no_rooms_reaches_everyone) {
    EXPECT_EQ(targets(a, {}), (strings{"a", "b", "c"}));
}

TEST_F(three_sockets, one_room) {
    EXPECT_EQ(targets(a, {"r1"}), (strings{"a", "b"}));
    EXPECT_EQ(targets(a, {"r2"}), (strings{"b", "c"}));
}

TEST_F(three_sockets, socket_in_several_rooms_is_targeted_once) {
    EXPECT_EQ(targets(a, {"r1", "r2"}), (strings{"a", "b", "c"}));
}

TEST_F(three_sockets, unknown_room_reaches_nobody) {
    EXPECT_TRUE(targets(a, {"nope"}).empty());
    EXPECT_EQ(targets(a, {"nope", "r1"}), (strings{"a", "b"}));
}

TEST_F(three_sockets, own_id_room_targets_one_socket) {
    EXPECT_EQ(targets(a, {"c"}), strings{"c"});
}

TEST_F(three_sockets, except_own_id_is_broadcast_to_others) {
    EXPECT_EQ(targets(a, {}, {"a"}), (strings{"b", "c"}));
}

TEST_F(three_sockets, except_room_wins_over_rooms) {
    EXPECT_EQ(targets(a, {"r1"}, {"r2"}), strings{"a"});
    EXPECT_EQ(targets(a, {"r1", "r2"}, {"r1"}), strings{"c"});
    EXPECT_TRUE(targets(a, {"r1"}, {"r1"}).empty());
    EXPECT_EQ(targets(a, {}, {"r1", "r2"}), strings{});
    EXPECT_EQ(targets(a, {"r2"}, {"b"}), strings{"c"});
}

TEST(adapter, broadcast_hands_the_same_buffers_to_each_live_target_once) {
    in_memory a;
    auto m1 = std::make_shared<recorder>();
    auto m2 = std::make_shared<recorder>();
    auto gone = std::make_shared<recorder>();
    a.add("m1", m1);
    a.add("m2", m2);
    a.add("gone", gone);
    for (const char* id : {"m1", "m2", "gone"}) {
        a.join(id, "x");
        a.join(id, "y");
    }
    gone.reset();  // a socket that died without remove() is skipped, not crashed on

    frame f;
    f.text = std::make_shared<const std::string>("451-[\"e\",{\"_placeholder\":true,\"num\":0}]");
    f.attachments.push_back(std::make_shared<const std::string>("\x01\x02"));
    broadcast_options o;
    o.rooms = {"x", "y"};
    EXPECT_EQ(a.broadcast(f, o), 2u);
    for (auto* m : {m1.get(), m2.get()}) {
        ASSERT_EQ(m->got.size(), 2u) << "one copy per target, text then attachment";
        EXPECT_EQ(m->got[0].get(), f.text.get()) << "the frame must be shared, not copied";
        EXPECT_EQ(m->got[1].get(), f.attachments[0].get());
    }
}

TEST(adapter, concurrent_join_leave_remove_and_broadcast_stay_consistent) {
    in_memory a;
    constexpr int threads = 4;
    constexpr int sockets_per_thread = 50;
    constexpr int rounds = 20;
    std::atomic<bool> stop{false};
    auto member = std::make_shared<recorder>();
    frame f;
    f.text = std::make_shared<const std::string>("42[\"tick\"]");

    // A reader broadcasting while the writers churn: it must only ever see a consistent state.
    std::thread reader([&] {
        broadcast_options o;
        o.rooms = {"shared", "even"};
        while (!stop.load()) {
            a.broadcast(f, o);
            (void)a.targets(o);
            (void)a.room_names();
        }
    });
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
        writers.emplace_back([&, t] {
            for (int r = 0; r < rounds; ++r) {
                for (int i = 0; i < sockets_per_thread; ++i) {
                    const auto id = socket_name(t, i);
                    a.add(id, member);
                    a.join(id, "shared");
                    if (i % 2 == 0) a.join(id, "even");
                }
                for (int i = 0; i < sockets_per_thread; ++i) {
                    const auto id = socket_name(t, i);
                    if (i % 3 == 0) a.leave(id, "shared");
                    a.remove(id);
                }
            }
        });
    }
    for (auto& w : writers) w.join();
    stop = true;
    reader.join();

    EXPECT_EQ(a.socket_count(), 0u);
    EXPECT_EQ(a.room_count(), 0u) << "every room must be gone once its last member left";
}

}  // namespace

// The room listener hears every change of membership, once, after it was made (it may read the
// adapter), and nothing that changed nothing.
TEST(in_memory_room_listener, reports_joins_and_leaves_once) {
    in_memory a;
    std::vector<std::string> heard;
    a.set_room_listener([&](std::string_view id, std::string_view room, bool joined) {
        heard.push_back(std::string(joined ? "+" : "-") + std::string(id) + ":" + std::string(room));
        // Called outside the lock: reading the adapter from here does not deadlock.
        if (joined) {
            EXPECT_TRUE(a.contains(id));
        }
    });
    ASSERT_TRUE(a.add("s", {}));
    ASSERT_TRUE(a.join("s", "r1"));
    ASSERT_TRUE(a.join("s", "r1"));  // already in it: not reported again
    const std::vector<std::string> two{"r2", "r1"};
    ASSERT_TRUE(a.join("s", std::span<const std::string>(two)));
    ASSERT_TRUE(a.leave("s", "r2"));
    EXPECT_FALSE(a.leave("s", "r2"));
    EXPECT_FALSE(a.join("nobody", "r1"));
    a.remove("s");
    const std::vector<std::string> expected_start{"+s:s", "+s:r1", "+s:r2", "-s:r2"};
    ASSERT_EQ(heard.size(), 6u);
    EXPECT_EQ(std::vector<std::string>(heard.begin(), heard.begin() + 4), expected_start);
    // remove(): each room it was in, in no particular order.
    EXPECT_EQ(sorted({heard[4], heard[5]}), (strings{"-s:r1", "-s:s"}));

    a.set_room_listener({});
    ASSERT_TRUE(a.add("t", {}));
    EXPECT_EQ(heard.size(), 6u);
}

// The room watch hears a room created by its first member and deleted by its last, once each.
TEST(in_memory_room_watch, reports_creation_and_deletion_once) {
    in_memory a;
    strings heard;
    a.set_room_watch([&](std::string_view room, bool exists) {
        heard.push_back(std::string(exists ? "+" : "-") + std::string(room));
    });
    ASSERT_TRUE(a.add("s", {}));
    ASSERT_TRUE(a.add("t", {}));
    ASSERT_TRUE(a.join("s", "r1"));
    ASSERT_TRUE(a.join("t", "r1"));  // r1 exists already
    ASSERT_TRUE(a.leave("s", "r1"));  // t is still in it
    EXPECT_EQ(heard, (strings{"+s", "+t", "+r1"}));
    a.remove("t");  // deletes t's own room and r1
    ASSERT_EQ(heard.size(), 5u);
    EXPECT_EQ(sorted({heard[3], heard[4]}), (strings{"-r1", "-t"}));
    a.set_room_watch({});
    a.remove("s");
    EXPECT_EQ(heard.size(), 5u);
}
