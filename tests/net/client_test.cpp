// sio's Socket.IO client against sio's own server on loopback (port 0): many namespaces over one
// connection, ack timeouts and acks failed by a disconnect, emits buffered before the connection,
// a broadcast reaching every client, reconnection giving up after max_attempts, the bound of the
// send buffer, a server that speaks something else, and a client dropped while connected. The
// loopback tests run with the server on a strand per connection and, single_threaded, without.

#include "sio/client.hpp"
#include "sio/engine/server.hpp"
#include "sio/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using sio::json;
using namespace std::chrono_literals;

// Runs the loop until `done` holds or `limit` passes; returns whether `done` held.
bool run_until(asio::io_context& ioc, const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
        ioc.run_for(10ms);
        if (ioc.stopped()) ioc.restart();
    }
    return done();
}

struct loopback {
    asio::io_context ioc;
    std::shared_ptr<sio::engine::server> engine;
    std::shared_ptr<sio::server> io;
    unsigned short port = 0;

    explicit loopback(const std::function<void(sio::server&)>& setup, bool single_threaded = false) {
        sio::engine::server_options eo;
        eo.single_threaded = single_threaded;
        engine = sio::engine::server::create(ioc.get_executor(), eo);
        sio::server_options so;
        so.single_threaded = single_threaded;
        io = sio::server::create(ioc.get_executor(), engine, so);
        setup(*io);
        EXPECT_FALSE(engine->listen({asio::ip::make_address("127.0.0.1"), 0}));
        port = engine->local_endpoint().port();
    }
    ~loopback() {
        io->close();
        engine->stop();
        ioc.run_for(50ms);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

sio::client_options options_for(const std::string& url, sio::client_transport t) {
    sio::client_options o;
    o.url = url;
    o.transport = t;
    o.connect_timeout = 3000ms;
    o.reconnection.delay = 50ms;
    o.reconnection.delay_max = 200ms;
    return o;
}

void echo_on(sio::namespace_& nsp) {
    nsp.on_connection([](const std::shared_ptr<sio::socket>& s) {
        s->on("echo", [](json args, sio::ack_fn ack) {
            if (ack) ack(std::move(args));
        });
        std::weak_ptr<sio::socket> w = s;
        s->on("kick", [w](json, sio::ack_fn) {
            if (auto self = w.lock()) self->disconnect();
        });
    });
}

// The client's transport, and whether the server runs without strands (its io_context has one
// thread, as in these tests).
struct loopback_mode {
    sio::client_transport transport;
    bool single_threaded;
};

class client_loopback : public ::testing::TestWithParam<loopback_mode> {
protected:
    static sio::client_transport transport() { return GetParam().transport; }
    static bool single_threaded() { return GetParam().single_threaded; }
};

TEST_P(client_loopback, many_namespaces_share_one_connection) {
    constexpr int count = 25;
    loopback server([](sio::server& io) {
        for (int i = 0; i < count; ++i) echo_on(io.of("/n" + std::to_string(i)));
    }, single_threaded());
    auto client = sio::client::create(server.ioc.get_executor(), options_for(server.url(), transport()));
    auto acks = std::make_shared<std::vector<std::string>>();
    std::vector<std::shared_ptr<sio::client_socket>> sockets;
    for (int i = 0; i < count; ++i) {
        auto s = client->socket("/n" + std::to_string(i));
        std::weak_ptr<sio::client_socket> w = s;
        s->on_connect([w, acks, i] {
            auto self = w.lock();
            if (!self) return;
            self->emit_with_ack("echo", json::array({i, json::binary({std::uint8_t(i)})}),
                                [acks, i](std::error_code ec, json args) {
                                    EXPECT_FALSE(ec) << ec.message();
                                    EXPECT_EQ(args[0], i);
                                    EXPECT_EQ(static_cast<const std::vector<std::uint8_t>&>(args[1].get_binary()), std::vector<std::uint8_t>{std::uint8_t(i)});
                                    acks->push_back(std::to_string(i));
                                });
        });
        sockets.push_back(s);
    }
    client->open();
    ASSERT_TRUE(run_until(server.ioc, [&] { return acks->size() == count; }));
    EXPECT_EQ(server.io->connection_count(), 1u) << "one Engine.IO connection for every namespace";
    for (const auto& s : sockets) EXPECT_TRUE(s->connected());
    client->close();
    EXPECT_TRUE(run_until(server.ioc, [&] { return server.io->connection_count() == 0; }));
}

TEST_P(client_loopback, ack_times_out_and_disconnect_fails_pending_acks) {
    loopback server([](sio::server& io) { echo_on(io.of("/")); }, single_threaded());
    auto client = sio::client::create(server.ioc.get_executor(), options_for(server.url(), transport()));
    auto s = client->socket("/");
    auto timed_out = std::make_shared<std::error_code>();
    auto dropped = std::make_shared<std::error_code>();
    auto reason = std::make_shared<std::string>();
    std::weak_ptr<sio::client_socket> w = s;
    s->on_connect([w, timed_out, dropped] {
        auto self = w.lock();
        self->emit_with_ack("nobody-acks", json::array(), [timed_out](std::error_code ec, json) { *timed_out = ec; },
                            100ms);
        self->emit_with_ack("nobody-acks-either", json::array(), [dropped](std::error_code ec, json) { *dropped = ec; });
    });
    s->on_disconnect([reason](const std::string& r) { *reason = r; });
    client->open();
    ASSERT_TRUE(run_until(server.ioc, [&] { return bool(*timed_out); }));
    EXPECT_EQ(*timed_out, sio::socket_errc::ack_timeout);
    EXPECT_FALSE(*dropped);
    s->emit("kick");
    ASSERT_TRUE(run_until(server.ioc, [&] { return bool(*dropped); }));
    EXPECT_EQ(*dropped, sio::socket_errc::disconnected);
    EXPECT_EQ(*reason, "io server disconnect");
    EXPECT_FALSE(s->connected());
}

TEST_P(client_loopback, emits_before_the_connection_are_sent_in_order) {
    auto got = std::make_shared<std::vector<int>>();
    loopback server([got](sio::server& io) {
        io.of("/").on_connection([got](const std::shared_ptr<sio::socket>& s) {
            s->on("n", [got](json args, sio::ack_fn) { got->push_back(args[0].get<int>()); });
        });
    }, single_threaded());
    auto client = sio::client::create(server.ioc.get_executor(), options_for(server.url(), transport()));
    auto s = client->socket("/");
    for (int i = 0; i < 50; ++i) EXPECT_FALSE(s->emit("n", json::array({i})));
    EXPECT_EQ(s->emit("connect"), sio::socket_errc::reserved_event_name);
    EXPECT_EQ(s->emit("x", json::object()), sio::socket_errc::invalid_arguments);
    client->open();
    ASSERT_TRUE(run_until(server.ioc, [&] { return got->size() == 50; }));
    for (int i = 0; i < 50; ++i) EXPECT_EQ((*got)[static_cast<std::size_t>(i)], i);
}

// Extra headers: one of a name (the last) reaches the server, an Accept replaces the client's,
// and a Content-Length or Transfer-Encoding among them does not break the framing of the
// polling requests or the upgrade (acks of 2 KB emits still come back).
TEST_P(client_loopback, configured_headers_arrive_once_and_leave_the_framing_alone) {
    auto seen = std::make_shared<std::map<std::string, std::string>>();
    loopback server([seen](sio::server& io) {
        io.of("/").on_connection([seen](const std::shared_ptr<sio::socket>& s) {
            *seen = s->handshake().headers;
            s->on("echo", [](json args, sio::ack_fn ack) {
                if (ack) ack(std::move(args));
            });
        });
    }, single_threaded());
    auto o = options_for(server.url(), transport());
    o.headers = {{"X-Trace", "first"}, {"x-trace", "second"}, {"Accept", "application/x-test"},
                 {"Content-Length", "99"}, {"transfer-encoding", "chunked"}};
    auto client = sio::client::create(server.ioc.get_executor(), o);
    auto s = client->socket("/");
    auto acks = std::make_shared<int>(0);
    for (int i = 0; i < 5; ++i)
        s->emit_with_ack("echo", json::array({std::string(2000, 'x')}), [acks](std::error_code ec, json args) {
            if (!ec && args.size() == 1 && args[0].get<std::string>().size() == 2000) ++*acks;
        });
    client->open();
    ASSERT_TRUE(run_until(server.ioc, [&] { return *acks == 5; }));
    EXPECT_EQ((*seen)["x-trace"], "second");
    EXPECT_EQ((*seen)["accept"], "application/x-test");
    EXPECT_EQ(seen->count("content-length"), 0u);
    EXPECT_EQ(seen->count("transfer-encoding"), 0u);
}

// Emits made back to back, with the server unable to read meanwhile (it runs on the same thread):
// the socket's buffer fills, the client writes what it can at once and leaves the rest, down to
// part of a frame, to its writer; every message still arrives intact and in order.
TEST_P(client_loopback, large_emits_past_a_full_socket_buffer_arrive_intact_and_in_order) {
    constexpr int count = 60;
    auto text = [](int i) {
        std::string s(100000 + static_cast<std::size_t>(i), 'a');
        for (std::size_t k = 0; k < s.size(); ++k) s[k] = static_cast<char>('a' + (k * 7 + static_cast<std::size_t>(i)) % 26);
        return s;
    };
    auto got = std::make_shared<std::vector<std::pair<int, bool>>>();
    loopback server([got, text](sio::server& io) {
        io.of("/").on_connection([got, text](const std::shared_ptr<sio::socket>& s) {
            s->on("big", [got, text](json args, sio::ack_fn) {
                const int i = args[0].get<int>();
                got->emplace_back(i, args[1].is_string() && args[1].get<std::string>() == text(i));
            });
        });
    }, single_threaded());
    auto client = sio::client::create(server.ioc.get_executor(), options_for(server.url(), transport()));
    auto s = client->socket("/");
    client->open();
    // With upgrade, after the move to WebSocket (emits wait in the client's queue during it).
    const std::string want = transport() == sio::client_transport::polling ? "polling" : "websocket";
    ASSERT_TRUE(run_until(server.ioc, [&] { return s->connected() && client->status().transport == want; }));
    for (int i = 0; i < count; ++i) EXPECT_FALSE(s->emit("big", json::array({i, text(i)})));
    ASSERT_TRUE(run_until(server.ioc, [&] { return got->size() == count; }, 10000ms)) << got->size() << " arrived";
    for (int i = 0; i < count; ++i) {
        EXPECT_EQ((*got)[static_cast<std::size_t>(i)].first, i);
        EXPECT_TRUE((*got)[static_cast<std::size_t>(i)].second) << "message " << i << " differs";
    }
}

// Every client sends one "say"; the server broadcasts it to the others. Each client hears every
// other client's message exactly once, whatever connection the broadcast starts from.
TEST_P(client_loopback, a_broadcast_reaches_every_other_client_once) {
    constexpr int count = 8;
    loopback server([](sio::server& io) {
        io.of("/").on_connection([](const std::shared_ptr<sio::socket>& s) {
            std::weak_ptr<sio::socket> w = s;
            s->on("say", [w](json args, sio::ack_fn ack) {
                auto self = w.lock();
                if (!self) return;
                self->broadcast().emit("heard", std::move(args));
                if (ack) ack(json::array({"sent"}));
            });
        });
    }, single_threaded());
    struct peer {
        std::shared_ptr<sio::client> client;
        std::shared_ptr<sio::client_socket> socket;
        std::vector<int> heard;
        bool acked = false;
    };
    std::vector<std::shared_ptr<peer>> peers;
    for (int i = 0; i < count; ++i) {
        auto p = std::make_shared<peer>();
        p->client = sio::client::create(server.ioc.get_executor(), options_for(server.url(), transport()));
        p->socket = p->client->socket("/");
        std::weak_ptr<peer> w = p;
        p->socket->on("heard", [w](json args, sio::ack_fn) {
            if (auto self = w.lock()) self->heard.push_back(args[0].get<int>());
        });
        p->client->open();
        peers.push_back(p);
    }
    ASSERT_TRUE(run_until(server.ioc, [&] {
        for (const auto& p : peers)
            if (!p->socket->connected()) return false;
        return server.io->connection_count() == count;
    }));
    for (int i = 0; i < count; ++i) {
        std::weak_ptr<peer> w = peers[static_cast<std::size_t>(i)];
        peers[static_cast<std::size_t>(i)]->socket->emit_with_ack("say", json::array({i}), [w](std::error_code ec, json) {
            EXPECT_FALSE(ec) << ec.message();
            if (auto self = w.lock()) self->acked = true;
        });
    }
    ASSERT_TRUE(run_until(server.ioc, [&] {
        for (const auto& p : peers)
            if (!p->acked || p->heard.size() < count - 1) return false;
        return true;
    }));
    server.ioc.run_for(50ms);  // nothing more arrives
    for (int i = 0; i < count; ++i) {
        auto heard = peers[static_cast<std::size_t>(i)]->heard;
        std::sort(heard.begin(), heard.end());
        std::vector<int> expected;
        for (int j = 0; j < count; ++j)
            if (j != i) expected.push_back(j);
        EXPECT_EQ(heard, expected) << "client " << i;
    }
    for (const auto& p : peers) p->client->close();
    EXPECT_TRUE(run_until(server.ioc, [&] { return server.io->connection_count() == 0; }));
}

// An event handler that throws disconnects its own socket, with the reason in the log; the
// session's other namespace, and the server, go on; so does an ack callback that throws.
TEST_P(client_loopback, a_handler_that_throws_disconnects_its_socket_only) {
    auto lines = std::make_shared<std::vector<std::string>>();
    auto acked = std::make_shared<bool>(false);
    sio::engine::server_options eo;
    eo.single_threaded = single_threaded();
    asio::io_context ioc;
    auto engine = sio::engine::server::create(ioc.get_executor(), eo);
    sio::server_options so;
    so.single_threaded = single_threaded();
    so.log = [lines](std::string_view line) { lines->emplace_back(line); };
    auto io = sio::server::create(ioc.get_executor(), engine, so);
    auto asked = std::make_shared<bool>(false);
    io->of("/").on_connection([acked, asked](const std::shared_ptr<sio::socket>& s) {
        s->on("boom", [](json, sio::ack_fn) { throw std::runtime_error("the handler exploded"); });
        if (std::exchange(*asked, true)) return;
        // The client answers "ask" and this callback throws: the socket goes the same way.
        s->emit_with_ack("ask", json::array(), [acked](std::error_code, json) {
            *acked = true;
            throw std::logic_error("the ack callback exploded");
        });
    });
    echo_on(io->of("/other"));
    ASSERT_FALSE(engine->listen({asio::ip::make_address("127.0.0.1"), 0}));
    const auto url = "http://127.0.0.1:" + std::to_string(engine->local_endpoint().port());
    auto client = sio::client::create(ioc.get_executor(), options_for(url, transport()));
    auto root = client->socket("/");
    auto other = client->socket("/other");
    auto reason = std::make_shared<std::string>();
    root->on_disconnect([reason](const std::string& r) { *reason = r; });
    root->on("ask", [](json, sio::ack_fn ack) {
        if (ack) ack(json::array({"yes"}));
    });
    client->open();
    ASSERT_TRUE(run_until(ioc, [&] { return *acked && root->connected() == false; }));
    EXPECT_EQ(*reason, "io server disconnect");
    auto found = [&](std::string_view what) {
        return std::any_of(lines->begin(), lines->end(),
                           [&](const std::string& l) { return l.find(what) != std::string::npos; });
    };
    EXPECT_TRUE(found("the ack callback exploded")) << "log: " << (lines->empty() ? "" : lines->back());
    // The namespace's socket is gone; a new one is made by connecting again, and the boom
    // handler takes that one down the same way.
    root->connect();
    ASSERT_TRUE(run_until(ioc, [&] { return root->connected(); }));
    reason->clear();
    EXPECT_FALSE(root->emit("boom"));
    ASSERT_TRUE(run_until(ioc, [&] { return !reason->empty(); }));
    EXPECT_EQ(*reason, "io server disconnect");
    EXPECT_TRUE(found("threw: the handler exploded")) << "log: " << (lines->empty() ? "" : lines->back());
    EXPECT_TRUE(found("of event boom"));
    // The other namespace, on the same session, still answers.
    auto echoed = std::make_shared<bool>(false);
    ASSERT_TRUE(run_until(ioc, [&] { return other->connected(); }));
    other->emit_with_ack("echo", json::array({1}), [echoed](std::error_code ec, json) { *echoed = !ec; });
    ASSERT_TRUE(run_until(ioc, [&] { return *echoed; }));
    client->close();
    io->close();
    engine->stop();
    ioc.run_for(50ms);
}

INSTANTIATE_TEST_SUITE_P(transports, client_loopback,
                         ::testing::Values(loopback_mode{sio::client_transport::websocket, false},
                                           loopback_mode{sio::client_transport::polling, false},
                                           loopback_mode{sio::client_transport::upgrade, false},
                                           loopback_mode{sio::client_transport::websocket, true},
                                           loopback_mode{sio::client_transport::polling, true},
                                           loopback_mode{sio::client_transport::upgrade, true}),
                         [](const auto& p) {
                             return std::string{sio::to_string(p.param.transport)} +
                                    (p.param.single_threaded ? "_single_threaded" : "_strands");
                         });

// A port nobody listens on: found by binding one and closing it.
unsigned short closed_port(asio::io_context& ioc) {
    asio::ip::tcp::acceptor a{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
    const auto p = a.local_endpoint().port();
    a.close();
    return p;
}

TEST(client_reconnect, gives_up_after_max_attempts_with_bounded_delays) {
    asio::io_context ioc;
    auto o = options_for("http://127.0.0.1:" + std::to_string(closed_port(ioc)), sio::client_transport::websocket);
    o.reconnection.max_attempts = 3;
    o.reconnection.delay = 40ms;
    o.reconnection.delay_max = 60ms;
    o.reconnection.randomization = 0.5;
    auto client = sio::client::create(ioc.get_executor(), o);
    struct seen {
        std::vector<std::pair<unsigned, long>> attempts;
        int failed = 0;
        std::error_code open_failed;
        std::string message;
    };
    auto st = std::make_shared<seen>();
    client->on_event([st](const sio::client_event& e) {
        if (e.type == sio::client_event::kind::reconnect_attempt) st->attempts.emplace_back(e.attempt, e.delay.count());
        if (e.type == sio::client_event::kind::reconnect_failed) ++st->failed;
    });
    client->on_open_failed([st](std::error_code ec, const std::string& m) {
        st->open_failed = ec;
        st->message = m;
    });
    client->open();
    ASSERT_TRUE(run_until(ioc, [&] { return bool(st->open_failed); }));
    EXPECT_EQ(st->open_failed, sio::client_errc::connect_failed);
    EXPECT_NE(st->message.find("127.0.0.1"), std::string::npos) << st->message;
    ASSERT_EQ(st->attempts.size(), 3u);
    for (unsigned i = 0; i < 3; ++i) {
        EXPECT_EQ(st->attempts[i].first, i + 1);
        EXPECT_GE(st->attempts[i].second, 20);  // 40 ms less at most half
        EXPECT_LE(st->attempts[i].second, 60);  // delay_max
    }
    EXPECT_EQ(st->failed, 1);
    EXPECT_EQ(client->status().state, sio::client_state::closed);
}

TEST(client_buffer, is_bounded_while_never_connected) {
    asio::io_context ioc;
    auto o = options_for("http://127.0.0.1:1", sio::client_transport::websocket);
    auto client = sio::client::create(ioc.get_executor(), o);  // never opened
    auto s = client->socket("/");
    auto refused = std::make_shared<int>(0);
    for (int i = 0; i < 10'005; ++i)
        s->emit_with_ack("e", json::array({i}), [refused](std::error_code ec, json) {
            if (ec == sio::socket_errc::not_connected) ++*refused;
        });
    ASSERT_TRUE(run_until(ioc, [&] { return *refused == 5; }, 5000ms));
}

TEST(client_errors, a_server_that_is_not_engine_io_is_a_protocol_error) {
    asio::io_context ioc;
    asio::ip::tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
    const auto port = acceptor.local_endpoint().port();
    // A peer answering every request with 200 and a body that is no Engine.IO payload.
    std::thread peer([&acceptor] {
        for (int i = 0; i < 1; ++i) {
            boost::system::error_code ec;
            asio::ip::tcp::socket sock{acceptor.get_executor()};
            acceptor.accept(sock, ec);
            if (ec) return;
            asio::streambuf buf;
            asio::read_until(sock, buf, "\r\n\r\n", ec);
            const std::string body = "9{not engine.io";
            const std::string res = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                    std::to_string(body.size()) + "\r\n\r\n" + body;
            asio::write(sock, asio::buffer(res), ec);
        }
    });
    auto o = options_for("http://127.0.0.1:" + std::to_string(port), sio::client_transport::polling);
    o.reconnection.enabled = false;
    auto client = sio::client::create(ioc.get_executor(), o);
    auto failed = std::make_shared<std::error_code>();
    auto message = std::make_shared<std::string>();
    client->on_open_failed([failed, message](std::error_code ec, const std::string& m) {
        *failed = ec;
        *message = m;
    });
    client->open();
    const bool done = run_until(ioc, [&] { return bool(*failed); });
    peer.join();
    ASSERT_TRUE(done);
    EXPECT_EQ(*failed, sio::client_errc::protocol_error);
    EXPECT_NE(message->find("packet"), std::string::npos) << *message;
}

TEST(client_lifetime, dropping_the_client_closes_the_connection) {
    loopback server([](sio::server& io) { echo_on(io.of("/")); });
    auto client = sio::client::create(server.ioc.get_executor(), options_for(server.url(), sio::client_transport::websocket));
    auto s = client->socket("/");
    client->open();
    ASSERT_TRUE(run_until(server.ioc, [&] { return s->connected() && server.io->connection_count() == 1; }));
    client.reset();  // does not block; the connection ends
    EXPECT_TRUE(run_until(server.ioc, [&] { return server.io->connection_count() == 0; }));
    EXPECT_EQ(s->emit("echo"), std::error_code{});  // a socket outliving its client is harmless
    server.ioc.run_for(20ms);
}

// A peer that accepts connections and never says a word: whatever a client waits for from it
// (the TLS handshake, the WebSocket upgrade, the Engine.IO open) waits for its deadline.
struct silent_peer {
    asio::io_context ioc;
    asio::ip::tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
    std::vector<asio::ip::tcp::socket> held;
    std::atomic<int> accepted{0};
    std::thread thread;

    silent_peer() {
        accept();
        thread = std::thread([this] { ioc.run(); });
    }
    ~silent_peer() {
        ioc.stop();
        thread.join();
    }
    void accept() {
        acceptor.async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket s) {
            if (ec) return;
            held.push_back(std::move(s));
            ++accepted;
            accept();
        });
    }
    unsigned short port() const { return acceptor.local_endpoint().port(); }
};

// Closing a client while it connects ends the attempt at once: nothing is left waiting for the
// 30 s connect timeout (the event loop runs out of work), and over TLS the attempt is still in
// the handshake when it is closed.
TEST(client_lifetime, closing_while_connecting_ends_the_attempt_at_once) {
    struct attempt {
        std::string scheme;
        sio::client_transport transport;
    };
    for (const auto& a : {attempt{"http", sio::client_transport::websocket}, attempt{"http", sio::client_transport::polling},
                          attempt{"https", sio::client_transport::websocket}, attempt{"https", sio::client_transport::upgrade}}) {
        SCOPED_TRACE(a.scheme + " " + std::string{sio::to_string(a.transport)});
        silent_peer peer;
        asio::io_context ioc;
        auto o = options_for(a.scheme + "://127.0.0.1:" + std::to_string(peer.port()), a.transport);
        o.connect_timeout = 30s;
        o.reconnection.enabled = false;
        o.tls.verify = false;
        auto client = sio::client::create(ioc.get_executor(), o);
        auto s = client->socket("/");
        client->open();
        ASSERT_TRUE(run_until(ioc, [&] { return peer.accepted == 1; }));
        ioc.run_for(50ms);  // the request, upgrade or ClientHello is out
        client->close();
        const auto start = std::chrono::steady_clock::now();
        ioc.restart();
        ioc.run_for(10s);  // returns early once nothing waits
        EXPECT_TRUE(ioc.stopped());
        EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
        EXPECT_FALSE(s->connected());
    }
}

TEST(ws_client_lifetime, closing_while_connecting_ends_the_attempt_at_once) {
    for (const std::string scheme : {"ws", "wss"}) {
        SCOPED_TRACE(scheme);
        silent_peer peer;
        asio::io_context ioc;
        sio::ws_client_options o;
        o.url = scheme + "://127.0.0.1:" + std::to_string(peer.port()) + "/";
        o.connect_timeout = 30s;
        o.tls.verify = false;
        auto client = sio::ws_client::create(ioc.get_executor(), o);
        auto closed = std::make_shared<bool>(false);
        client->on_close([closed](std::error_code, unsigned, const std::string&) { *closed = true; });
        client->open();
        ASSERT_TRUE(run_until(ioc, [&] { return peer.accepted == 1; }));
        ioc.run_for(50ms);
        client->close();
        const auto start = std::chrono::steady_clock::now();
        ioc.restart();
        ioc.run_for(10s);
        EXPECT_TRUE(ioc.stopped());
        EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
        EXPECT_TRUE(*closed);
    }
}

// An extra header that would split the request (CR or LF in its value) or is not a header at
// all fails open() with bad_url and a sentence naming it, before anything is sent: the server
// never sees a connection.
TEST(client_options_check, a_header_that_cannot_be_sent_fails_open_before_connecting) {
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"X-A", "a\r\nX-Injected: 1"}, {"X B", "v"}, {"X-A", std::string("a\0b", 3)}}) {
        SCOPED_TRACE(name);
        silent_peer peer;
        asio::io_context ioc;
        auto o = options_for("http://127.0.0.1:" + std::to_string(peer.port()), sio::client_transport::polling);
        o.reconnection.enabled = false;
        o.headers = {{"X-Fine", "ok"}, {name, value}};
        auto client = sio::client::create(ioc.get_executor(), o);
        auto failed = std::make_shared<std::error_code>();
        auto message = std::make_shared<std::string>();
        client->on_open_failed([failed, message](std::error_code ec, const std::string& m) {
            *failed = ec;
            *message = m;
        });
        client->open();
        ASSERT_TRUE(run_until(ioc, [&] { return bool(*failed); }));
        EXPECT_EQ(*failed, sio::client_errc::bad_url);
        EXPECT_NE(message->find(name == "X B" ? "'X B' is not an HTTP token" : "header 'X-A' holds CR, LF or NUL"),
                  std::string::npos)
            << *message;

        sio::ws_client_options wo;
        wo.url = "ws://127.0.0.1:" + std::to_string(peer.port()) + "/";
        wo.headers = o.headers;
        auto ws = sio::ws_client::create(ioc.get_executor(), wo);
        auto ws_failed = std::make_shared<std::error_code>();
        ws->on_close([ws_failed](std::error_code ec, unsigned, const std::string&) { *ws_failed = ec; });
        ws->open();
        ASSERT_TRUE(run_until(ioc, [&] { return bool(*ws_failed); }));
        EXPECT_EQ(*ws_failed, sio::client_errc::bad_url);
        ioc.run_for(50ms);
        EXPECT_EQ(peer.accepted, 0) << "a client with an unusable header connected";
    }
}

}  // namespace
