// The per-loop structures of transport/event_loop.hpp: the timer queue (every deadline of a loop
// on one timer) and the cork (one flush per loop turn for every stream with frames to write).
#include "sio/transport/event_loop.hpp"
#include "sio/transport/ws_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <span>
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using sio::transport::deadline_client;
using sio::transport::timer_queue;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct client final : deadline_client {
    int id = 0;
    std::function<void(client&)> fired;
    void on_deadline() noexcept override { fired(*this); }
};

TEST(timer_queue, fires_each_deadline_once_in_order_and_leaves_the_loop_free) {
    asio::io_context io;
    auto q = std::make_shared<timer_queue>(io.get_executor());
    std::vector<int> order;
    std::vector<client> c(3);
    const auto now = clock_type::now();
    for (int i = 0; i < 3; ++i) {
        c[i].id = i;
        c[i].fired = [&](client& self) {
            EXPECT_FALSE(self.scheduled());
            EXPECT_LE(self.due(), clock_type::now());
            order.push_back(self.id);
        };
    }
    q->schedule(c[0], now + 30ms);
    q->schedule(c[1], now + 10ms);
    q->schedule(c[2], now + 20ms);
    EXPECT_EQ(q->size(), 3u);
    io.run();  // returns only once nothing is left to wait for
    EXPECT_EQ(order, (std::vector<int>{1, 2, 0}));
    EXPECT_EQ(q->size(), 0u);
}

TEST(timer_queue, moves_and_cancels_deadlines) {
    asio::io_context io;
    auto q = std::make_shared<timer_queue>(io.get_executor());
    std::vector<int> order;
    std::vector<client> c(4);
    for (int i = 0; i < 4; ++i) {
        c[i].id = i;
        c[i].fired = [&](client& self) { order.push_back(self.id); };
    }
    const auto now = clock_type::now();
    q->schedule(c[0], now + 2s);   // moved earlier below: the wait must follow it
    q->schedule(c[1], now + 20ms);
    q->schedule(c[2], now + 1ms);   // the first, then cancelled
    q->schedule(c[3], now + 10ms);  // moved later below
    q->schedule(c[0], now + 5ms);
    q->cancel(c[2]);
    q->cancel(c[2]);  // twice: nothing
    q->schedule(c[3], now + 40ms);
    EXPECT_FALSE(c[2].scheduled());
    EXPECT_TRUE(c[3].scheduled());
    const auto started = clock_type::now();
    io.run();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 3}));
    // Had the wait stayed on c[0]'s first deadline, the run would have taken two seconds.
    EXPECT_LT(clock_type::now() - started, 1500ms);
}

TEST(timer_queue, cancelling_the_last_deadline_lets_the_loop_end) {
    asio::io_context io;
    auto q = std::make_shared<timer_queue>(io.get_executor());
    client c;
    c.fired = [](client&) { ADD_FAILURE() << "a cancelled deadline fired"; };
    q->schedule(c, clock_type::now() + 1h);
    q->cancel(c);
    const auto started = clock_type::now();
    io.run();
    EXPECT_LT(clock_type::now() - started, 10s);
}

TEST(timer_queue, a_client_may_schedule_itself_again_from_its_deadline) {
    asio::io_context io;
    auto q = std::make_shared<timer_queue>(io.get_executor());
    int fired = 0;
    client c;
    c.fired = [&](client& self) {
        if (++fired < 3) q->schedule(self, clock_type::now() + 1ms);
    };
    q->schedule(c, clock_type::now());
    io.run();
    EXPECT_EQ(fired, 3);
}

// Many deadlines, set, moved and cancelled at random: every one left fires once, in the order of
// its deadline (all are due at once, past the number handled in one turn).
TEST(timer_queue, keeps_heap_order_over_many_random_changes) {
    asio::io_context io;
    auto q = std::make_shared<timer_queue>(io.get_executor());
    constexpr int n = 2000;
    std::vector<client> c(n);
    std::vector<clock_type::time_point> fired_at_due;
    std::vector<int> fired_id;
    std::mt19937 rng{12345};
    const auto base = clock_type::now() - 10s;  // every deadline is in the past: all due now
    for (int i = 0; i < n; ++i) {
        c[i].id = i;
        c[i].fired = [&](client& self) {
            fired_at_due.push_back(self.due());
            fired_id.push_back(self.id);
        };
        q->schedule(c[i], base + std::chrono::microseconds(rng() % 1'000'000));
    }
    std::vector<bool> alive(n, true);
    for (int k = 0; k < 3000; ++k) {
        const int i = static_cast<int>(rng() % n);
        if (rng() % 3 == 0) {
            q->cancel(c[i]);
            alive[i] = false;
        } else {
            q->schedule(c[i], base + std::chrono::microseconds(rng() % 1'000'000));
            alive[i] = true;
        }
    }
    const auto expected = static_cast<std::size_t>(std::count(alive.begin(), alive.end(), true));
    EXPECT_EQ(q->size(), expected);
    io.run();
    ASSERT_EQ(fired_id.size(), expected);
    EXPECT_TRUE(std::is_sorted(fired_at_due.begin(), fired_at_due.end()));
    std::sort(fired_id.begin(), fired_id.end());
    EXPECT_EQ(std::adjacent_find(fired_id.begin(), fired_id.end()), fired_id.end());
    for (int id : fired_id) EXPECT_TRUE(alive[id]) << id;
}

// A loop's shared queue can outlive its io_context (a session of that loop kept by a handler of
// another loop): it lets its timer go when the io_context shuts down, and takes calls after.
TEST(timer_queue, a_loop_queue_outlives_its_io_context) {
    std::shared_ptr<timer_queue> q;
    client c;
    c.fired = [](client&) { ADD_FAILURE() << "fired after its loop was gone"; };
    {
        asio::io_context io;
        q = timer_queue::for_loop(io.get_executor());
        q->schedule(c, clock_type::now() + 1h);
        io.poll();
    }
    EXPECT_TRUE(c.scheduled());
    q->schedule(c, clock_type::now() + 2h);
    q->cancel(c);
    EXPECT_FALSE(c.scheduled());
    q.reset();  // the sanitizer builds see any use of the destroyed timer service here
}

// --- the cork ------------------------------------------------------------------------------------

struct quiet_owner final : sio::transport::ws_owner {
    void on_ws_message(std::string_view, bool) override {}
    void on_ws_writable() override { ++writable; }
    void on_ws_end(const sio::transport::ws_end&) override {}
    int writable = 0;
};

// Frames queued on two streams of a loop leave in the one flush the cork posts: after the one
// handler has run, both peers can read their frame.
TEST(write_cork, one_posted_flush_writes_every_stream_of_the_loop) {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    auto cork = std::make_shared<sio::transport::write_cork>(io.get_executor());
    std::vector<asio::ip::tcp::socket> peers;
    std::vector<std::shared_ptr<sio::transport::ws_stream>> streams;
    auto owner = std::make_shared<quiet_owner>();
    for (int i = 0; i < 2; ++i) {
        asio::ip::tcp::socket peer{io};
        peer.connect(acceptor.local_endpoint());
        auto mine = acceptor.accept();
        sio::transport::ws_stream_options o;
        o.cork = cork;
        auto s = std::make_shared<sio::transport::ws_stream>(std::move(mine), io.get_executor(), o);
        s->start(owner);
        peers.push_back(std::move(peer));
        streams.push_back(s);
    }
    // start() asks each owner for what waits: both streams are on the list, one flush is posted.
    EXPECT_EQ(cork->size(), 2u);
    ASSERT_EQ(io.poll_one(), 1u);
    EXPECT_EQ(cork->size(), 0u);
    EXPECT_EQ(owner->writable, 2);

    auto text = std::make_shared<const std::string>("hello");
    for (auto& s : streams) ASSERT_TRUE(s->send(false, "4", text));
    EXPECT_EQ(cork->size(), 2u);
    ASSERT_EQ(io.poll_one(), 1u);  // the one flush: both frames are written now
    for (auto& peer : peers) {
        // On loopback a write lands in the peer's buffer before it returns.
        ASSERT_EQ(peer.available(), 8u);
        std::string got(8, '\0');
        asio::read(peer, asio::buffer(got));
        EXPECT_EQ(got, std::string("\x81\x06") + "4hello");
    }
    for (auto& s : streams) s->abort();
}

}  // namespace

// --- a paused stream (a relay's backpressure) ----------------------------------------------------

struct counting_owner final : sio::transport::ws_owner {
    std::shared_ptr<sio::transport::ws_stream> stream;
    std::vector<std::string> messages;
    void on_ws_message(std::string_view data, bool) override {
        messages.emplace_back(data);
        if (messages.size() == 1) stream->pause_reading(true);
    }
    void on_ws_writable() override {}
    void on_ws_end(const sio::transport::ws_end&) override {}
};

std::string masked_text_frame(std::string_view text) {
    namespace ws = sio::codec::ws;
    const std::array<char, 4> key{'\x01', '\x02', '\x03', '\x04'};
    sio::codec::ws_frame_header_bytes h{};
    const std::size_t n = ws::frame_header(ws::opcode::text, true, text.size(), h, &key);
    std::string payload{text};
    ws::mask(std::span<char>(payload.data(), payload.size()), key);
    return std::string(h.data(), n) + payload;
}

TEST(ws_stream, a_paused_stream_reads_nothing_until_resumed) {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    asio::ip::tcp::socket peer{io};
    peer.connect(acceptor.local_endpoint());
    auto owner = std::make_shared<counting_owner>();
    owner->stream = std::make_shared<sio::transport::ws_stream>(acceptor.accept(), io.get_executor(),
                                                                sio::transport::ws_stream_options{});
    owner->stream->start(owner);
    asio::write(peer, asio::buffer(masked_text_frame("one")));
    while (owner->messages.empty()) ASSERT_EQ(io.run_one(), 1u);
    // The first message paused the stream: the second, already in the socket, is not read.
    asio::write(peer, asio::buffer(masked_text_frame("two")));
    for (int i = 0; i < 20; ++i) io.poll();
    EXPECT_EQ(owner->messages.size(), 1u);
    EXPECT_TRUE(io.stopped());  // nothing pending at all: not even a wait for the socket
    io.restart();
    owner->stream->pause_reading(false);
    while (owner->messages.size() < 2) ASSERT_EQ(io.run_one(), 1u);
    EXPECT_EQ(owner->messages, (std::vector<std::string>{"one", "two"}));
    owner->stream->abort();
}
