// The connection state recovery store: offsets, which stored packets a returning session gets,
// the window, the bounds, and the two cases the reference cannot recover.
#include "sio/adapter/recovery.hpp"

#include <gtest/gtest.h>

#include <thread>

using sio::adapter::broadcast_options;
using sio::adapter::persisted_session;
using sio::adapter::recovery_options;
using sio::adapter::recovery_store;
using json = sio::codec::json;
using namespace std::chrono_literals;

namespace {

recovery_options opts(std::chrono::milliseconds window = 10s, std::size_t max_packets = 100) {
    recovery_options o;
    o.window = window;
    o.grace = 0ms;
    o.max_packets = max_packets;
    o.max_sessions = 10;
    return o;
}

broadcast_options to(std::initializer_list<const char*> rooms, std::initializer_list<const char*> except = {}) {
    broadcast_options b;
    for (auto r : rooms) b.rooms.insert(r);
    for (auto r : except) b.except.insert(r);
    return b;
}

// Broadcasts ["ev", n] and returns the offset it was given.
std::string send(recovery_store& store, int n, const broadcast_options& targets = {}) {
    json data = json::array({"ev", n});
    json delivered;
    store.broadcast(data, targets, [&](const json& d) { delivered = d; });
    EXPECT_EQ(delivered, data) << "the delivered packet carries the offset too";
    EXPECT_EQ(data.size(), 3u);
    return data.back().get<std::string>();
}

std::vector<int> replayed(recovery_store& store, const persisted_session& s) {
    std::vector<int> out;
    bool attached = false;
    store.replay(s, [&](const json& d) {
        EXPECT_FALSE(attached) << "replayed after attach";
        out.push_back(d[1].get<int>());
    }, [&] { attached = true; });
    EXPECT_TRUE(attached);
    return out;
}

persisted_session session(std::string pid, std::vector<std::string> rooms, std::uint64_t first_seq) {
    persisted_session s;
    s.sid = "sid-" + pid;
    s.pid = std::move(pid);
    s.rooms = std::move(rooms);
    s.first_seq = first_seq;
    return s;
}

}  // namespace

TEST(recovery_offsets, round_trip_and_refuse_foreign_text) {
    for (std::uint64_t seq : {0ull, 1ull, 15ull, 16ull, 255ull, 0xdeadbeefull, ~0ull}) {
        auto text = recovery_store::offset_of(seq);
        EXPECT_EQ(recovery_store::seq_of(text), seq) << text;
    }
    EXPECT_FALSE(recovery_store::seq_of(""));
    EXPECT_FALSE(recovery_store::seq_of("12g"));
    EXPECT_FALSE(recovery_store::seq_of("ABC"));
    EXPECT_FALSE(recovery_store::seq_of("11111111111111111"));  // 17 digits: over 64 bits
}

TEST(recovery_store, offsets_increase_and_the_packet_gets_its_own) {
    recovery_store store(opts());
    auto a = send(store, 1), b = send(store, 2);
    EXPECT_LT(*recovery_store::seq_of(a), *recovery_store::seq_of(b));
    EXPECT_EQ(store.packet_count(), 2u);
}

TEST(recovery_store, replays_after_the_offset_only_what_targets_the_rooms) {
    recovery_store store(opts());
    const auto start = store.attach_fresh([] {});
    auto first = send(store, 1);
    send(store, 2, to({"room"}));
    send(store, 3, to({"other"}));
    send(store, 4, to({}, {"room"}));    // everyone except room members
    send(store, 5, to({"sid-p"}));       // the socket's own room
    send(store, 6);
    store.persist(session("p", {"sid-p", "room"}, start));
    auto s = store.take("p", first);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->sid, "sid-p");
    EXPECT_EQ(replayed(store, *s), (std::vector<int>{2, 5, 6}));
    EXPECT_FALSE(store.take("p", first)) << "a session is taken once";
}

TEST(recovery_store, no_offset_replays_since_the_first_connection) {
    // The client received nothing stored before it dropped, so it has no offset to send.
    recovery_store store(opts());
    send(store, 1);  // before the socket connected: not its business
    const auto start = store.attach_fresh([] {});
    send(store, 2);
    send(store, 3);
    store.persist(session("p", {"sid-p"}, start));
    auto s = store.take("p", "");
    ASSERT_TRUE(s);
    EXPECT_EQ(replayed(store, *s), (std::vector<int>{2, 3}));
}

TEST(recovery_store, recovers_the_same_session_again_and_again) {
    recovery_store store(opts());
    const auto start = store.attach_fresh([] {});
    std::string last;
    for (int round = 0; round < 3; ++round) {
        store.persist(session("p", {"sid-p"}, start));
        last = send(store, round);
        auto s = store.take("p", round == 0 ? "" : recovery_store::offset_of(*recovery_store::seq_of(last) - 1));
        ASSERT_TRUE(s) << "round " << round;
        EXPECT_EQ(replayed(store, *s), (std::vector<int>{round}));
    }
}

TEST(recovery_store, refuses_unknown_sessions_and_offsets_it_never_gave_saying_which) {
    recovery_store store(opts());
    const auto start = store.attach_fresh([] {});
    send(store, 1);
    store.persist(session("p", {"sid-p"}, start));
    std::string why;
    EXPECT_FALSE(store.take("nope", "", &why));
    EXPECT_EQ(why, "unknown or expired session");
    EXPECT_FALSE(store.take("p", "ffffff", &why)) << "an offset from the future";
    EXPECT_EQ(why, "the offset it sent is not one this server gave");
    store.persist(session("q", {"sid-q"}, start));
    why.clear();
    // What socket.io-client sends when an event's last argument was a string but no offset.
    EXPECT_FALSE(store.take("q", "hello", &why));
    EXPECT_EQ(why, "the offset it sent is not one this server gave");
}

TEST(recovery_store, sessions_expire_after_the_window) {
    recovery_store store(opts(50ms));
    const auto start = store.attach_fresh([] {});
    store.persist(session("p", {"sid-p"}, start));
    store.persist(session("q", {"sid-q"}, start));
    EXPECT_EQ(store.session_count(), 2u);
    ASSERT_TRUE(store.take("q", ""));
    std::this_thread::sleep_for(120ms);
    EXPECT_FALSE(store.take("p", ""));
    EXPECT_EQ(store.session_count(), 0u);
}

TEST(recovery_store, packets_outlive_the_window_by_the_grace) {
    auto o = opts(30ms);
    o.grace = 10s;
    recovery_store store(o);
    const auto start = store.attach_fresh([] {});
    send(store, 1);
    std::this_thread::sleep_for(60ms);
    store.persist(session("p", {"sid-p"}, start));
    auto s = store.take("p", "");
    ASSERT_TRUE(s);
    EXPECT_EQ(replayed(store, *s), (std::vector<int>{1})) << "older than the window, within the grace";
}

TEST(recovery_store, the_packet_bound_refuses_rather_than_leaving_a_hole) {
    recovery_store store(opts(10s, 3));
    const auto start = store.attach_fresh([] {});
    auto first = send(store, 1);
    for (int i = 2; i <= 5; ++i) send(store, i);
    EXPECT_EQ(store.packet_count(), 3u);
    store.persist(session("p", {"sid-p"}, start));
    std::string why;
    EXPECT_FALSE(store.take("p", first, &why)) << "packets 2 and 3 are gone";
    EXPECT_EQ(why, "packets it missed were already dropped by the packet bound");
    // A client that had seen up to 3 missed only what is still stored.
    store.persist(session("p", {"sid-p"}, start));
    auto s = store.take("p", recovery_store::offset_of(*recovery_store::seq_of(first) + 2));
    ASSERT_TRUE(s);
    EXPECT_EQ(replayed(store, *s), (std::vector<int>{4, 5}));
}

TEST(recovery_store, the_session_bound_forgets_the_oldest) {
    recovery_store store(opts());
    for (int i = 0; i < 12; ++i) store.persist(session("p" + std::to_string(i), {}, 0));
    EXPECT_EQ(store.session_count(), 10u);
    EXPECT_FALSE(store.take("p0", ""));
    EXPECT_FALSE(store.take("p1", ""));
    EXPECT_TRUE(store.take("p11", ""));
}

TEST(recovery_store, a_broadcast_racing_the_replay_is_delivered_exactly_once) {
    // Replay and attach happen under the store's lock: a concurrent broadcast either is replayed
    // (stored before) or delivered live (after the attach), never both, never neither.
    for (int trial = 0; trial < 50; ++trial) {
        recovery_store store(opts(10s, 10000));
        const auto start = store.attach_fresh([] {});
        store.persist(session("p", {"sid-p"}, start));
        auto s = store.take("p", "");
        ASSERT_TRUE(s);
        std::atomic<bool> attached{false};
        std::vector<int> got;
        std::mutex got_mutex;
        std::thread sender([&] {
            for (int i = 0; i < 200; ++i) {
                json data = json::array({"ev", i});
                store.broadcast(data, {}, [&](const json& d) {
                    if (attached.load()) {
                        std::lock_guard lock(got_mutex);
                        got.push_back(d[1].get<int>());
                    }
                });
            }
        });
        store.replay(*s, [&](const json& d) {
            std::lock_guard lock(got_mutex);
            got.push_back(d[1].get<int>());
        }, [&] { attached = true; });
        sender.join();
        ASSERT_EQ(got.size(), 200u) << "trial " << trial;
        for (int i = 0; i < 200; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i) << "trial " << trial;
    }
}
