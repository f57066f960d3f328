// The Engine.IO server on loopback (port 0), driven by a small Beast client: handshake, polling
// both ways, batching, overlap, every handshake error, limits, WebSocket-only sessions, the
// upgrade, heartbeat timeouts, the non-Engine.IO path and bad input.
// GCC 12 at -O3 misreads Asio's coroutine frame recycling as a new/free mismatch (a false
// positive); off for this file only.

#include "sio/engine/server.hpp"

#include "sio/codec/engine_io.hpp"
#include "sio/codec/json.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <optional>
#include <functional>
#include <mutex>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace eio = sio::codec::eio;
namespace engine = sio::engine;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto wait_limit = 5s;  // for events that happen at once on a working server

// --- server side: a listener that records what it sees ----------------------------------------

class recorder : public engine::session_listener {
public:
    explicit recorder(engine::session_handle h) : handle(std::move(h)) {}

    void on_message(eio::packet message) override {
        if (on_message_hook) on_message_hook(*this, message);
        std::lock_guard lock{mutex_};
        messages_.push_back(std::move(message));
        cv_.notify_all();
    }
    void on_close(std::string_view reason) override {
        std::lock_guard lock{mutex_};
        closes_.emplace_back(reason);
        cv_.notify_all();
    }

    bool wait_messages(std::size_t n) {
        std::unique_lock lock{mutex_};
        return cv_.wait_for(lock, wait_limit, [&] { return messages_.size() >= n; });
    }
    std::vector<eio::packet> messages() {
        std::lock_guard lock{mutex_};
        return messages_;
    }
    // The close reason, once it came (empty string if it did not within `limit`).
    std::string wait_close(std::chrono::milliseconds limit = wait_limit) {
        std::unique_lock lock{mutex_};
        cv_.wait_for(lock, limit, [&] { return !closes_.empty(); });
        return closes_.empty() ? std::string{} : closes_.front();
    }
    std::size_t close_count() {
        std::lock_guard lock{mutex_};
        return closes_.size();
    }

    engine::session_handle handle;
    // Runs on the session's strand, before the message is recorded.
    std::function<void(recorder&, const eio::packet&)> on_message_hook;

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<eio::packet> messages_;
    std::vector<std::string> closes_;
};

class engine_server : public ::testing::Test {
protected:
    void start(engine::server_options options = {}) {
        server_ = two_loops_ ? engine::server::create({ioc_.get_executor(), ioc2_.get_executor()}, options)
                             : engine::server::create(ioc_.get_executor(), options);
        server_->set_open_handler([this](engine::session_handle h, const engine::handshake_request& r)
                                      -> std::shared_ptr<engine::session_listener> {
            if (refuse_) return nullptr;
            auto rec = std::make_shared<recorder>(std::move(h));
            if (hook_) rec->on_message_hook = hook_;
            std::lock_guard lock{mutex_};
            listeners_.push_back(rec);
            requests_.push_back(r);
            cv_.notify_all();
            return rec;
        });
        ASSERT_FALSE(server_->listen({asio::ip::make_address("127.0.0.1"), 0}));
        port_ = server_->local_endpoint().port();
        ASSERT_NE(port_, 0);
        thread_ = std::thread([this] { ioc_.run(); });
        if (two_threads_) thread2_ = std::thread([this] { ioc_.run(); });
        if (two_loops_) thread2_ = std::thread([this] { ioc2_.run(); });
    }

    void TearDown() override {
        if (server_) server_->stop();
        work_.reset();
        work2_.reset();
        // Sessions and connections end promptly after stop(); the bound keeps a bug from hanging.
        if (thread_.joinable()) {
            asio::post(ioc_, [] {});
            const auto end = std::chrono::steady_clock::now() + 5s;
            while (!ioc_.stopped() && std::chrono::steady_clock::now() < end)
                std::this_thread::sleep_for(10ms);
            ioc_.stop();
            ioc2_.stop();
            thread_.join();
            if (thread2_.joinable()) thread2_.join();
        }
    }

    std::shared_ptr<recorder> listener(std::size_t index) {
        std::unique_lock lock{mutex_};
        cv_.wait_for(lock, wait_limit, [&] { return listeners_.size() > index; });
        return listeners_.size() > index ? listeners_[index] : nullptr;
    }
    engine::handshake_request request(std::size_t index) {
        std::lock_guard lock{mutex_};
        return requests_.at(index);
    }

    asio::io_context ioc_;
    asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
    asio::io_context ioc2_;  // the second event loop, with two_loops_
    asio::executor_work_guard<asio::io_context::executor_type> work2_{ioc2_.get_executor()};
    std::shared_ptr<engine::server> server_;
    std::thread thread_;
    std::thread thread2_;
    bool two_threads_ = false;  // run the server's io_context on two threads
    bool two_loops_ = false;    // run the server on two event loops, a thread each
    unsigned short port_ = 0;
    bool refuse_ = false;
    std::function<void(recorder&, const eio::packet&)> hook_;

    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::shared_ptr<recorder>> listeners_;
    std::vector<engine::handshake_request> requests_;
};

// --- client side: coroutines on an io_context run by the test thread ----------------------------

using response = http::response<http::string_body>;
using fields = std::vector<std::pair<http::field, std::string>>;

// Runs the client coroutines to completion, or fails the test after `limit`.
void run_client(std::vector<std::function<asio::awaitable<void>()>> clients,
                std::chrono::seconds limit = 10s) {
    asio::io_context ioc;
    std::size_t done = 0;
    for (auto& c : clients) {
        asio::co_spawn(ioc, c(), [&](std::exception_ptr e) {
            ++done;
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                ADD_FAILURE() << "client failed: " << x.what();
            }
        });
    }
    ioc.run_for(limit);
    EXPECT_EQ(done, clients.size()) << "client coroutines did not finish in time";
}

void run_client(std::function<asio::awaitable<void>()> client, std::chrono::seconds limit = 10s) {
    run_client(std::vector<std::function<asio::awaitable<void>()>>{std::move(client)}, limit);
}

asio::awaitable<beast::tcp_stream> connect(unsigned short port) {
    beast::tcp_stream s{co_await asio::this_coro::executor};
    s.expires_after(wait_limit);
    co_await s.async_connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port},
                             asio::use_awaitable);
    co_return s;
}

asio::awaitable<response> roundtrip(beast::tcp_stream& s, http::verb method, std::string target,
                                    std::string body = {}, fields extra = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [f, v] : extra) req.set(f, v);
    if (!body.empty() || method == http::verb::post) {
        req.body() = std::move(body);
        req.set(http::field::content_type, "text/plain;charset=UTF-8");
    }
    req.prepare_payload();
    s.expires_after(wait_limit);
    co_await http::async_write(s, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    response res;
    s.expires_after(wait_limit);
    co_await http::async_read(s, buffer, res, asio::use_awaitable);
    co_return res;
}

// One request on a fresh connection.
asio::awaitable<response> fetch(unsigned short port, http::verb method, std::string target,
                                std::string body = {}, fields extra = {}) {
    auto s = co_await connect(port);
    co_return co_await roundtrip(s, method, std::move(target), std::move(body), std::move(extra));
}

// Header lists, built outside coroutines: GCC 12 rejects braced string-literal initialisers in
// coroutine temporaries.
fields hdr(http::field f, std::string v) { return fields{{f, std::move(v)}}; }
fields hdr(http::field f, std::string v, http::field g, std::string w) {
    return fields{{f, std::move(v)}, {g, std::move(w)}};
}

std::string eio_path(std::string_view query) { return "/socket.io/?EIO=4&" + std::string{query}; }

// Handshakes over polling; returns the sid.
asio::awaitable<std::string> handshake(unsigned short port) {
    auto res = co_await fetch(port, http::verb::get, eio_path("transport=polling"));
    if (res.result() != http::status::ok || res.body().empty() || res.body()[0] != '0')
        throw std::runtime_error("handshake failed: " + res.body());
    auto hs = eio::decode_handshake(std::string_view{res.body()}.substr(1));
    if (!hs) throw std::runtime_error("bad open packet: " + res.body());
    co_return hs->sid;
}

std::string json_error(int code, std::string_view msg) {
    sio::codec::json j;
    j["code"] = code;
    j["message"] = std::string{msg};
    return j.dump();
}

using ws_stream = websocket::stream<beast::tcp_stream>;

asio::awaitable<ws_stream> ws_connect(unsigned short port, std::string target,
                                      std::string origin = {}) {
    ws_stream ws{co_await connect(port)};
    beast::get_lowest_layer(ws).expires_never();
    ws.set_option(websocket::stream_base::timeout{wait_limit, wait_limit, false});
    if (!origin.empty()) {
        ws.set_option(websocket::stream_base::decorator(
            [origin](websocket::request_type& r) { r.set(http::field::origin, origin); }));
    }
    co_await ws.async_handshake("127.0.0.1", target, asio::use_awaitable);
    co_return ws;
}

// True when the server refuses the WebSocket handshake.
asio::awaitable<bool> ws_refused(unsigned short port, std::string target, std::string origin = {}) {
    try {
        auto ws = co_await ws_connect(port, std::move(target), std::move(origin));
        co_return false;
    } catch (const boost::system::system_error&) {
    }
    co_return true;
}

struct frame {
    std::string data;
    bool binary = false;
};

asio::awaitable<frame> ws_read(ws_stream& ws) {
    beast::flat_buffer buffer;
    co_await ws.async_read(buffer, asio::use_awaitable);
    co_return frame{beast::buffers_to_string(buffer.data()), ws.got_binary()};
}

asio::awaitable<void> ws_write(ws_stream& ws, std::string data, bool binary = false) {
    ws.binary(binary);
    co_await ws.async_write(asio::buffer(data), asio::use_awaitable);
}

struct error_case {
    http::verb method;
    std::string target;
    std::string origin;
    http::status status;
    int code;
    std::string_view message;
};

std::vector<error_case> error_cases() {
    return {
        {http::verb::get, eio_path("transport=carrier-pigeon"), "", http::status::bad_request, 0, "Transport unknown"},
        {http::verb::get, eio_path("transport=polling&sid=nope"), "", http::status::bad_request, 1, "Session ID unknown"},
        {http::verb::post, eio_path("transport=polling"), "", http::status::bad_request, 2, "Bad handshake method"},
        {http::verb::get, eio_path("transport=websocket"), "", http::status::bad_request, 3, "Bad request"},
        {http::verb::get, eio_path("transport=polling"), "http://evil.example", http::status::forbidden, 4, "Forbidden"},
        {http::verb::get, "/socket.io/?EIO=3&transport=polling", "", http::status::bad_request, 5, "Unsupported protocol version"},
        {http::verb::get, "/socket.io/?transport=polling", "", http::status::bad_request, 5, "Unsupported protocol version"},
    };
}

// --- tests --------------------------------------------------------------------------------------

TEST(generate_sid, is_twenty_url_safe_characters_and_unique) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const auto sid = engine::generate_sid();
        ASSERT_EQ(sid.size(), 20u);
        for (char c : sid) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << sid;
        seen.insert(sid);
    }
    EXPECT_EQ(seen.size(), 1000u);
}

TEST(handshake_error, messages_and_statuses_match_the_reference) {
    EXPECT_EQ(engine::message(engine::handshake_error::unknown_transport), "Transport unknown");
    EXPECT_EQ(engine::message(engine::handshake_error::unknown_sid), "Session ID unknown");
    EXPECT_EQ(engine::message(engine::handshake_error::bad_handshake_method), "Bad handshake method");
    EXPECT_EQ(engine::message(engine::handshake_error::bad_request), "Bad request");
    EXPECT_EQ(engine::message(engine::handshake_error::forbidden), "Forbidden");
    EXPECT_EQ(engine::message(engine::handshake_error::unsupported_protocol_version),
              "Unsupported protocol version");
    EXPECT_EQ(engine::http_status(engine::handshake_error::forbidden), 403u);
    EXPECT_EQ(engine::http_status(engine::handshake_error::unknown_sid), 400u);
}

TEST_F(engine_server, polling_handshake_sends_the_open_packet) {
    engine::server_options o;
    o.session.ping_interval = 12345ms;
    o.session.ping_timeout = 6789ms;
    o.session.max_payload = 4242;
    start(o);
    run_client([&]() -> asio::awaitable<void> {
        auto res = co_await fetch(port_, http::verb::get, eio_path("transport=polling&t=abc"),
                                  {}, hdr(http::field::user_agent, "test-agent"));
        EXPECT_EQ(res.result(), http::status::ok);
        EXPECT_EQ(res[http::field::content_type], "text/plain; charset=UTF-8");
        EXPECT_EQ(res.body().substr(0, 1), "0");
        auto hs = eio::decode_handshake(std::string_view{res.body()}.substr(1));
        EXPECT_TRUE(hs.has_value()) << res.body();
        if (!hs) co_return;
        EXPECT_EQ(hs->sid.size(), 20u);
        EXPECT_EQ(hs->upgrades, (std::vector<std::string>{"websocket"}));
        EXPECT_EQ(hs->ping_interval_ms, 12345u);
        EXPECT_EQ(hs->ping_timeout_ms, 6789u);
        EXPECT_EQ(hs->max_payload, 4242u);
    });
    auto l = listener(0);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->handle.sid().size(), 20u);
    EXPECT_EQ(server_->session_count(), 1u);
    const auto r = request(0);
    EXPECT_EQ(r.transport, "polling");
    EXPECT_EQ(r.query.at("t"), "abc");
    EXPECT_EQ(r.query.at("EIO"), "4");
    EXPECT_EQ(r.headers.at("user-agent"), "test-agent");
    EXPECT_EQ(r.remote_address, "127.0.0.1");
}

TEST_F(engine_server, post_and_get_deliver_messages_both_ways_with_batching) {
    start();
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        auto l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        // Client -> server: one POST carrying three packets, one of them binary.
        auto s = co_await connect(port_);
        auto post = co_await roundtrip(s, http::verb::post, eio_path("transport=polling&sid=" + sid),
                                       "4hello\x1e" "4w\xc3\xb6rld\x1e" "bAQID");
        EXPECT_EQ(post.result(), http::status::ok);
        EXPECT_EQ(post.body(), "ok");
        EXPECT_EQ(post[http::field::content_type], "text/html");
        EXPECT_TRUE(l->wait_messages(3));
        const auto got = l->messages();
        EXPECT_EQ(got.size(), 3u);
        if (got.size() == 3) {
            EXPECT_EQ(got[0], (eio::packet{eio::packet_type::message, "hello", false}));
            EXPECT_EQ(got[1], (eio::packet{eio::packet_type::message, "w\xc3\xb6rld", false}));
            EXPECT_EQ(got[2], (eio::packet{eio::packet_type::message, "\x01\x02\x03", true}));
        }
        // Server -> client: three sends queued before the GET come back as one payload.
        EXPECT_TRUE(l->handle.send("one"));
        EXPECT_TRUE(l->handle.send(std::make_shared<const std::string>("two")));
        EXPECT_TRUE(l->handle.send(std::string("\x01\x02", 2), true));
        // Keep-alive: the same connection serves the GET.
        auto get = co_await roundtrip(s, http::verb::get, eio_path("transport=polling&sid=" + sid));
        EXPECT_EQ(get.result(), http::status::ok);
        EXPECT_EQ(get[http::field::content_type], "text/plain; charset=UTF-8");
        // The sends were posted to the session's strand; they may arrive over two GETs.
        std::string all = get.body();
        for (int i = 0; i < 3 && all.find("bAQI=") == std::string::npos; ++i) {
            get = co_await roundtrip(s, http::verb::get, eio_path("transport=polling&sid=" + sid));
            all += "\x1e" + get.body();
        }
        EXPECT_EQ(all, "4one\x1e" "4two\x1e" "bAQI=");
    });
}

TEST_F(engine_server, a_get_parked_until_a_message_is_sent) {
    start();
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        auto l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        // The sender waits for the first message, which the client posts once its GET is sent.
        l->on_message_hook = [](recorder& r, const eio::packet& p) {
            if (p.data == "wake") r.handle.send("woken");
        };
        auto get_conn = co_await connect(port_);
        http::request<http::string_body> req{http::verb::get, eio_path("transport=polling&sid=" + sid), 11};
        req.set(http::field::host, "127.0.0.1");
        co_await http::async_write(get_conn, req, asio::use_awaitable);
        auto post = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid), "4wake");
        EXPECT_EQ(post.result(), http::status::ok);
        beast::flat_buffer buffer;
        response res;
        get_conn.expires_after(wait_limit);
        co_await http::async_read(get_conn, buffer, res, asio::use_awaitable);
        EXPECT_EQ(res.body(), "4woken");
    });
}

TEST_F(engine_server, listener_sending_from_on_message_does_not_recurse) {
    // Every message is answered with three from inside on_message, on the session's strand.
    hook_ = [](recorder& r, const eio::packet& p) {
        for (int i = 0; i < 3; ++i) EXPECT_TRUE(r.handle.send(p.data + "/" + std::to_string(i)));
    };
    start();
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        std::string body;
        for (int i = 0; i < 50; ++i) body += (i ? "\x1e" : "") + std::string("4m") + std::to_string(i);
        auto s = co_await connect(port_);
        auto post = co_await roundtrip(s, http::verb::post, eio_path("transport=polling&sid=" + sid), body);
        EXPECT_EQ(post.result(), http::status::ok);
        std::vector<eio::packet> received;
        for (int i = 0; i < 20 && received.size() < 150; ++i) {
            auto get = co_await roundtrip(s, http::verb::get, eio_path("transport=polling&sid=" + sid));
            auto packets = eio::decode_payload(get.body());
            if (!packets) throw std::runtime_error("bad payload " + get.body());
            for (auto& p : *packets) received.push_back(std::move(p));
        }
        EXPECT_EQ(received.size(), 150u);
        if (received.size() == 150) {
            EXPECT_EQ(received[0].data, "m0/0");
            EXPECT_EQ(received[149].data, "m49/2");
        }
    });
}

TEST_F(engine_server, second_concurrent_get_is_refused_and_closes_the_session) {
    start();
    std::string sid;
    run_client([&]() -> asio::awaitable<void> { sid = co_await handshake(port_); });
    ASSERT_FALSE(sid.empty());
    std::vector<response> results;
    auto one_get = [&]() -> asio::awaitable<void> {
        results.push_back(co_await fetch(port_, http::verb::get, eio_path("transport=polling&sid=" + sid)));
    };
    run_client({one_get, one_get});
    ASSERT_EQ(results.size(), 2u);
    // Whichever arrived second is the overlap: 400 with an empty body; the parked one gets the
    // close packet.
    const auto& refused = results[0].result() == http::status::bad_request ? results[0] : results[1];
    const auto& parked = results[0].result() == http::status::bad_request ? results[1] : results[0];
    EXPECT_EQ(refused.result(), http::status::bad_request);
    EXPECT_EQ(refused.body(), "");
    EXPECT_EQ(parked.result(), http::status::ok);
    EXPECT_EQ(parked.body(), "1");
    auto l = listener(0);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->wait_close(), "transport error");
    EXPECT_EQ(server_->session_count(), 0u);
}

TEST_F(engine_server, handshake_errors_have_the_reference_codes) {
    engine::server_options o;
    o.allowed_origins = {"http://good.example"};
    o.cors_origins = {"http://good.example"};
    start(o);
    run_client([&]() -> asio::awaitable<void> {
        const auto cases = error_cases();
        for (const auto& c : cases) {
            fields extra;
            if (!c.origin.empty()) extra.emplace_back(http::field::origin, c.origin);
            auto res = co_await fetch(port_, c.method, c.target, c.method == http::verb::post ? "4x" : "", extra);
            EXPECT_EQ(res.result(), c.status) << c.target;
            EXPECT_EQ(res[http::field::content_type], "application/json") << c.target;
            EXPECT_EQ(res.body(), json_error(c.code, c.message)) << c.target;
        }
        // An allowed origin gets its CORS headers.
        auto ok = co_await fetch(port_, http::verb::get, eio_path("transport=polling"), {},
                                 hdr(http::field::origin, "http://good.example"));
        EXPECT_EQ(ok.result(), http::status::ok);
        EXPECT_EQ(ok[http::field::access_control_allow_origin], "http://good.example");
        EXPECT_EQ(ok[http::field::access_control_allow_credentials], "true");
        // Preflight.
        auto pre = co_await fetch(port_, http::verb::options, eio_path("transport=polling"), {},
                                  hdr(http::field::origin, "http://good.example",
                                      http::field::access_control_request_headers, "content-type"));
        EXPECT_EQ(pre.result(), http::status::no_content);
        EXPECT_EQ(pre[http::field::access_control_allow_origin], "http://good.example");
        EXPECT_NE(pre[http::field::access_control_allow_methods].find("POST"), std::string_view::npos);
        EXPECT_EQ(pre[http::field::access_control_allow_headers], "content-type");
        auto bad_pre = co_await fetch(port_, http::verb::options, eio_path("transport=polling"), {},
                                      hdr(http::field::origin, "http://evil.example"));
        EXPECT_EQ(bad_pre.result(), http::status::forbidden);
        // A WebSocket from a forbidden origin is refused before the upgrade.
        EXPECT_TRUE(co_await ws_refused(port_, eio_path("transport=websocket"), "http://evil.example"))
            << "a WebSocket from a forbidden origin was accepted";
    });
    EXPECT_EQ(server_->session_count(), 1u);  // only the allowed polling handshake
}

TEST_F(engine_server, refused_by_the_open_handler_answers_forbidden) {
    refuse_ = true;
    start();
    run_client([&]() -> asio::awaitable<void> {
        auto res = co_await fetch(port_, http::verb::get, eio_path("transport=polling"));
        EXPECT_EQ(res.result(), http::status::forbidden);
        EXPECT_EQ(res.body(), json_error(4, "Forbidden"));
        EXPECT_TRUE(co_await ws_refused(port_, eio_path("transport=websocket")));
    });
    EXPECT_EQ(server_->session_count(), 0u);
}

TEST_F(engine_server, oversized_post_is_413_and_the_session_lives_on) {
    engine::server_options o;
    o.session.max_payload = 100;
    start(o);
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        auto big = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid),
                                  "4" + std::string(200, 'x'));
        EXPECT_EQ(big.result(), http::status::payload_too_large);
        auto small = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid), "4fits");
        EXPECT_EQ(small.result(), http::status::ok);
    });
    auto l = listener(0);
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->wait_messages(1));
    EXPECT_EQ(l->messages().at(0).data, "fits");
    EXPECT_EQ(server_->session_count(), 1u);
}

TEST_F(engine_server, websocket_only_session) {
    start();
    run_client([&]() -> asio::awaitable<void> {
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        auto open = co_await ws_read(ws);
        EXPECT_FALSE(open.binary);
        EXPECT_EQ(open.data.substr(0, 1), "0");
        auto hs = eio::decode_handshake(std::string_view{open.data}.substr(1));
        EXPECT_TRUE(hs && hs->upgrades.empty()) << open.data;
        auto l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        EXPECT_EQ(request(0).transport, "websocket");

        co_await ws_write(ws, "4hi \xf0\x9f\x9a\x80");
        co_await ws_write(ws, std::string("\x00\xff", 2), true);
        EXPECT_TRUE(l->wait_messages(2));
        const auto got = l->messages();
        if (got.size() == 2) {
            EXPECT_EQ(got[0], (eio::packet{eio::packet_type::message, "hi \xf0\x9f\x9a\x80", false}));
            EXPECT_EQ(got[1], (eio::packet{eio::packet_type::message, std::string("\x00\xff", 2), true}));
        }
        EXPECT_TRUE(l->handle.send("back"));
        EXPECT_TRUE(l->handle.send(std::string("\x01\x02", 2), true));
        // A record separator is fine on a WebSocket.
        EXPECT_TRUE(l->handle.send("a\x1e" "b"));
        auto f1 = co_await ws_read(ws);
        auto f2 = co_await ws_read(ws);
        auto f3 = co_await ws_read(ws);
        EXPECT_EQ(f1.data, "4back");
        EXPECT_FALSE(f1.binary);
        EXPECT_EQ(f2.data, std::string("\x01\x02", 2));
        EXPECT_TRUE(f2.binary);
        EXPECT_EQ(f3.data, "4a\x1e" "b");
        // Polling requests for a WebSocket session are a bad request.
        auto get = co_await fetch(port_, http::verb::get, eio_path("transport=polling&sid=" + l->handle.sid()));
        EXPECT_EQ(get.result(), http::status::bad_request);
        EXPECT_EQ(get.body(), json_error(3, "Bad request"));
        co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
        EXPECT_EQ(l->wait_close(), "transport close");
    });
    EXPECT_EQ(server_->session_count(), 0u);
}

TEST_F(engine_server, record_separator_in_text_is_refused_on_polling) {
    start();
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        auto l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        EXPECT_FALSE(l->handle.send("a\x1e" "b"));
        EXPECT_TRUE(l->handle.send("a\x1e" "b", true));  // as binary it travels base64-encoded
        auto get = co_await fetch(port_, http::verb::get, eio_path("transport=polling&sid=" + sid));
        EXPECT_EQ(get.body(), "bYR5i");
    });
}

TEST_F(engine_server, upgrade_from_polling_to_websocket) {
    start();
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        auto l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        const auto poll = eio_path("transport=polling&sid=" + sid);

        // A GET waits while the probe runs; it is released with a noop once the probe succeeded.
        bool get_done = false;
        response parked;
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            parked = co_await fetch(port_, http::verb::get, poll);
            get_done = true;
        }, asio::detached);

        auto ws = co_await ws_connect(port_, eio_path("transport=websocket&sid=" + sid));
        co_await ws_write(ws, "2probe");
        auto pong = co_await ws_read(ws);
        EXPECT_EQ(pong.data, "3probe");
        asio::steady_timer t{ex};
        for (int i = 0; i < 500 && !get_done; ++i) {  // bounded: up to 5 s
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        EXPECT_TRUE(get_done);
        EXPECT_EQ(parked.result(), http::status::ok);
        EXPECT_EQ(parked.body(), "6");
        co_await ws_write(ws, "5");
        co_await ws_write(ws, "4over websocket");
        EXPECT_TRUE(l->wait_messages(1));
        EXPECT_EQ(l->messages().at(0).data, "over websocket");
        EXPECT_TRUE(l->handle.send("down"));
        auto f = co_await ws_read(ws);
        EXPECT_EQ(f.data, "4down");
        // Polling is over for this session.
        auto late = co_await fetch(port_, http::verb::get, poll);
        EXPECT_EQ(late.result(), http::status::bad_request);
        // A second WebSocket for the same sid completes its handshake and is then closed, as
        // engine.io does; the first one is unaffected.
        {
            auto second = co_await ws_connect(port_, eio_path("transport=websocket&sid=" + sid));
            beast::flat_buffer b;
            auto [ec, n] = co_await second.async_read(b, asio::as_tuple(asio::use_awaitable));
            (void)n;
            EXPECT_EQ(ec, websocket::error::closed) << ec.message();
            EXPECT_EQ(second.reason().code, websocket::close_code::normal);
            EXPECT_EQ(b.size(), 0u);  // no Engine.IO packet before the close
        }
        EXPECT_TRUE(l->handle.send("still"));
        auto f2 = co_await ws_read(ws);
        EXPECT_EQ(f2.data, "4still");
        l->handle.close();
        auto bye = co_await ws_read(ws);
        EXPECT_EQ(bye.data, "1");
        EXPECT_EQ(l->wait_close(), "forced close");
    });
}

TEST_F(engine_server, ping_timeout_closes_a_silent_session) {
    engine::server_options o;
    o.session.ping_interval = 100ms;
    o.session.ping_timeout = 100ms;
    start(o);
    run_client([&]() -> asio::awaitable<void> { co_await handshake(port_); });
    auto l = listener(0);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->wait_close(), "ping timeout");
    EXPECT_EQ(l->close_count(), 1u);
    EXPECT_EQ(server_->session_count(), 0u);
}

TEST_F(engine_server, pongs_keep_a_websocket_session_alive) {
    engine::server_options o;
    o.session.ping_interval = 100ms;
    o.session.ping_timeout = 200ms;
    start(o);
    run_client([&]() -> asio::awaitable<void> {
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        auto open = co_await ws_read(ws);
        EXPECT_EQ(open.data.substr(0, 1), "0");
        for (int i = 0; i < 4; ++i) {  // four heartbeats: longer than one ping timeout
            auto ping = co_await ws_read(ws);
            EXPECT_EQ(ping.data, "2");
            co_await ws_write(ws, "3");
        }
        auto l = listener(0);
        EXPECT_TRUE(l && l->close_count() == 0);
        co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
    });
}

TEST_F(engine_server, other_paths_go_to_the_http_handler_or_404) {
    start();
    run_client([&]() -> asio::awaitable<void> {
        auto res = co_await fetch(port_, http::verb::get, "/health");
        EXPECT_EQ(res.result(), http::status::not_found);
    });
    server_->set_http_handler([](const http::request<http::string_body>& req) {
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "text/plain");
        res.body() = "path " + std::string(req.target()) + " body " + req.body();
        return res;
    });
    run_client([&]() -> asio::awaitable<void> {
        auto s = co_await connect(port_);
        auto res = co_await roundtrip(s, http::verb::post, "/health?x=1", "payload");
        EXPECT_EQ(res.result(), http::status::ok);
        EXPECT_EQ(res.body(), "path /health?x=1 body payload");
        auto again = co_await roundtrip(s, http::verb::get, "/index.html");  // keep-alive
        EXPECT_EQ(again.body(), "path /index.html body ");
    });
}

TEST_F(engine_server, garbage_and_huge_headers_are_refused_and_others_still_served) {
    engine::server_options o;
    o.max_header_bytes = 1024;
    start(o);
    run_client([&]() -> asio::awaitable<void> {
        {
            auto s = co_await connect(port_);
            co_await asio::async_write(s, asio::buffer(std::string_view{"\x01\x02 garbage \xff\r\n\r\n"}),
                                       asio::use_awaitable);
            beast::flat_buffer buffer;
            response res;
            co_await http::async_read(s, buffer, res, asio::use_awaitable);
            EXPECT_EQ(res.result(), http::status::bad_request);
        }
        {
            auto res = co_await fetch(port_, http::verb::get, "/x", {},
                                      hdr(http::field::cookie, std::string(4000, 'c')));
            EXPECT_EQ(res.result(), http::status::request_header_fields_too_large);
        }
        {
            // Bad Engine.IO payloads close only their own session.
            const auto sid = co_await handshake(port_);
            auto res = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid), "9what");
            EXPECT_EQ(res.result(), http::status::ok);
            auto l = listener(0);
            EXPECT_TRUE(l && l->wait_close() == "parse error");
        }
        const auto sid = co_await handshake(port_);
        EXPECT_EQ(sid.size(), 20u);
    });
    EXPECT_EQ(server_->session_count(), 1u);
}

TEST_F(engine_server, client_dropping_a_parked_get_closes_the_session) {
    start();  // default heartbeat: 25 s, far beyond the wait below
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        auto s = co_await connect(port_);
        http::request<http::string_body> req{http::verb::get, eio_path("transport=polling&sid=" + sid), 11};
        req.set(http::field::host, "127.0.0.1");
        co_await http::async_write(s, req, asio::use_awaitable);
        // The POST is answered after the GET was read, so the GET is parked by then.
        auto post = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid), "4x");
        EXPECT_EQ(post.result(), http::status::ok);
        s.close();
    });
    auto l = listener(0);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->wait_close(), "transport error");
}

// Frames queued together leave in one gather write framed by the server itself (past Beast);
// sizes around every length encoding, text and binary, must arrive intact and in order. After
// the client's WebSocket ping the frames go one by one through Beast again: same result.
TEST_F(engine_server, a_burst_of_frames_arrives_intact_before_and_after_a_ping) {
    const std::vector<std::size_t> sizes{0, 1, 124, 125, 126, 127, 65534, 65535, 65536, 70000, 3};
    auto payload = [](std::size_t size, std::size_t i, bool binary) {
        std::string s(size, '\0');
        for (std::size_t k = 0; k < size; ++k) {
            s[k] = binary ? static_cast<char>((k * 7 + i) & 0xff) : static_cast<char>('a' + (k + i) % 26);
        }
        if (!binary && size > 2) s[size / 2] = '\x1e';
        return s;
    };
    hook_ = [&](recorder& r, const eio::packet& p) {
        if (p.data != "go") return;
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            const bool binary = i % 2 == 1;
            EXPECT_TRUE(r.handle.send(payload(sizes[i], i, binary), binary));
        }
    };
    start();
    run_client([&]() -> asio::awaitable<void> {
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        (void)co_await ws_read(ws);
        for (int round = 0; round < 2; ++round) {
            if (round == 1) co_await ws.async_ping({}, asio::use_awaitable);
            co_await ws_write(ws, "4go");
            for (std::size_t i = 0; i < sizes.size(); ++i) {
                const bool binary = i % 2 == 1;
                auto f = co_await ws_read(ws);
                EXPECT_EQ(f.binary, binary) << "round " << round << " frame " << i;
                EXPECT_EQ(f.data, (binary ? "" : "4") + payload(sizes[i], i, binary))
                    << "round " << round << " frame " << i << " of " << sizes[i] << " bytes";
            }
        }
        co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
    });
}

// The server reads a message a piece at a time (a small first read, then the rest): messages of
// every size around those pieces, whole and in fragments, back to back, arrive intact and in order.
TEST_F(engine_server, messages_of_every_size_and_fragmented_arrive_intact) {
    const std::vector<std::size_t> sizes{1, 254, 255, 256, 257, 1023, 1536, 4000, 70000, 3, 300000, 2};
    auto payload = [](std::size_t size, std::size_t i, bool binary) {
        std::string s(size, '\0');
        for (std::size_t k = 0; k < size; ++k)
            s[k] = binary ? static_cast<char>((k * 13 + i) & 0xff) : static_cast<char>('a' + (k * 3 + i) % 26);
        return s;
    };
    start();
    std::shared_ptr<recorder> l;
    run_client([&]() -> asio::awaitable<void> {
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        (void)co_await ws_read(ws);
        l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        for (int round = 0; round < 2; ++round) {
            // The second round in fragments of 1000 bytes: one message, many frames.
            ws.auto_fragment(round == 1);
            ws.write_buffer_bytes(1000);
            for (std::size_t i = 0; i < sizes.size(); ++i) {
                const bool binary = i % 2 == 1;
                co_await ws_write(ws, (binary ? "" : "4") + payload(sizes[i], i, binary), binary);
            }
        }
        EXPECT_TRUE(l->wait_messages(2 * sizes.size()));
        const auto got = l->messages();
        EXPECT_EQ(got.size(), 2 * sizes.size());
        for (std::size_t n = 0; n < got.size() && n < 2 * sizes.size(); ++n) {
            const std::size_t i = n % sizes.size();
            const bool binary = i % 2 == 1;
            const eio::packet want{eio::packet_type::message, payload(sizes[i], i, binary), binary};
            EXPECT_TRUE(got[n] == want) << "message " << n << " of " << sizes[i] << " bytes: got "
                                        << got[n].data.size() << " bytes, binary " << got[n].binary;
        }
        // Still served after all of it.
        EXPECT_TRUE(l->handle.send("after"));
        auto f = co_await ws_read(ws);
        EXPECT_EQ(f.data, "4after");
        co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
    });
}

// The server writes a WebSocket's frames at once while the socket takes them and leaves the
// rest, down to part of a frame, to its writer: with a client that does not read for a while
// (megabytes pile up in both socket buffers), large and small frames still arrive intact and in
// order, and the session goes on.
TEST_F(engine_server, frames_past_a_full_socket_buffer_arrive_intact_and_in_order) {
    constexpr std::size_t count = 120;
    auto payload = [](std::size_t i) {
        const std::size_t size = i % 2 == 0 ? 150000 + i : 5;
        std::string s(size, '\0');
        for (std::size_t k = 0; k < size; ++k) s[k] = static_cast<char>('a' + (k * 7 + i) % 26);
        return s;
    };
    hook_ = [&](recorder& r, const eio::packet& p) {
        if (p.data != "go") return;
        for (std::size_t i = 0; i < count; ++i) EXPECT_TRUE(r.handle.send(payload(i), i % 3 == 0));
    };
    start();
    run_client([&]() -> asio::awaitable<void> {
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        (void)co_await ws_read(ws);
        co_await ws_write(ws, "4go");
        asio::steady_timer pause{co_await asio::this_coro::executor, 300ms};
        co_await pause.async_wait(asio::use_awaitable);
        for (std::size_t i = 0; i < count; ++i) {
            auto f = co_await ws_read(ws);
            const bool binary = i % 3 == 0;
            EXPECT_EQ(f.binary, binary) << "frame " << i;
            EXPECT_TRUE(f.data == (binary ? "" : "4") + payload(i))
                << "frame " << i << ": " << f.data.size() << " bytes";
        }
        co_await ws_write(ws, "4again");
        auto l = listener(0);
        EXPECT_TRUE(l && l->wait_messages(2));
        EXPECT_TRUE(l && l->handle.send("after"));
        auto f = co_await ws_read(ws);
        EXPECT_EQ(f.data, "4after");
        co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
    });
}

TEST_F(engine_server, sends_from_many_threads_arrive_in_order_per_thread) {
    two_threads_ = true;
    start();
    constexpr int senders = 4;
    constexpr int per_sender = 200;
    run_client([&]() -> asio::awaitable<void> {
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        (void)co_await ws_read(ws);
        auto l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        std::vector<std::thread> threads;
        for (int t = 0; t < senders; ++t) {
            threads.emplace_back([h = l->handle, t] {
                for (int i = 0; i < per_sender; ++i) h.send(std::to_string(t) + ":" + std::to_string(i));
            });
        }
        for (auto& t : threads) t.join();
        std::vector<int> next(senders, 0);
        for (int n = 0; n < senders * per_sender; ++n) {
            auto f = co_await ws_read(ws);
            const auto colon = f.data.find(':');
            const int t = std::stoi(f.data.substr(1, colon - 1));
            const int i = std::stoi(f.data.substr(colon + 1));
            EXPECT_EQ(i, next.at(static_cast<std::size_t>(t))) << f.data;
            next.at(static_cast<std::size_t>(t)) = i + 1;
        }
        for (int t = 0; t < senders; ++t) EXPECT_EQ(next[static_cast<std::size_t>(t)], per_sender);
    });
}

// Two event loops: connections are spread over both; each session runs on the loop (the
// thread) of the connection that opened it, whatever loop its later requests are read on.
TEST_F(engine_server, on_two_loops_each_session_runs_on_one_thread) {
    two_loops_ = true;
    std::mutex m;
    std::map<std::string, std::set<std::thread::id>> threads_of;  // first message's text -> threads
    hook_ = [&](recorder& r, const eio::packet&) {
        std::lock_guard lock{m};
        threads_of[r.handle.sid()].insert(std::this_thread::get_id());
    };
    engine::server_options o;
    o.single_threaded = false;  // implied by the loops
    start(o);
    constexpr int sessions = 4;
    constexpr int posts = 5;
    run_client([&]() -> asio::awaitable<void> {
        std::vector<std::string> sids;
        for (int i = 0; i < sessions; ++i) sids.push_back(co_await handshake(port_));
        // Every POST on a fresh connection: the acceptor hands them to the loops in turn, so
        // half of them are read on the other loop than their session's.
        for (int k = 0; k < posts; ++k) {
            for (const auto& sid : sids) {
                auto res = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid),
                                          "4m" + std::to_string(k));
                EXPECT_EQ(res.result(), http::status::ok) << res.body();
            }
        }
        // A parked GET on one connection, its answer sent from another thread.
        auto l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        std::thread([h = l->handle] { h.send("from afar"); }).join();
        auto get = co_await fetch(port_, http::verb::get, eio_path("transport=polling&sid=" + sids[0]));
        EXPECT_EQ(get.body(), "4from afar");
    });
    std::set<std::thread::id> all;
    for (int i = 0; i < sessions; ++i) {
        auto l = listener(static_cast<std::size_t>(i));
        ASSERT_TRUE(l);
        ASSERT_TRUE(l->wait_messages(posts));
        const auto msgs = l->messages();
        for (int k = 0; k < posts; ++k) EXPECT_EQ(msgs[static_cast<std::size_t>(k)].data, "m" + std::to_string(k));
        std::lock_guard lock{m};
        const auto& t = threads_of[l->handle.sid()];
        EXPECT_EQ(t.size(), 1u) << "session " << i << " ran on " << t.size() << " threads";
        all.insert(t.begin(), t.end());
    }
    EXPECT_EQ(all.size(), 2u) << "the sessions did not spread over both loops";
}

// A plain keep-alive connection accepted on the other loop than a session's moves to the
// session's loop at its first request for it: its later requests are read there too.
TEST_F(engine_server, a_connection_moves_to_the_loop_of_the_session_it_serves) {
    two_loops_ = true;
    std::mutex m;
    std::thread::id session_thread, handler_thread;
    hook_ = [&](recorder&, const eio::packet&) {
        std::lock_guard lock{m};
        session_thread = std::this_thread::get_id();
    };
    start();
    server_->set_http_handler([&](const http::request<http::string_body>& req) {
        {
            std::lock_guard lock{m};
            handler_thread = std::this_thread::get_id();
        }
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.body() = "here";
        return res;
    });
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);  // the first connection: one loop
        auto s = co_await connect(port_);            // the next one: the other loop
        auto post = co_await roundtrip(s, http::verb::post, eio_path("transport=polling&sid=" + sid), "4moved");
        EXPECT_EQ(post.result(), http::status::ok);
        auto other = co_await roundtrip(s, http::verb::get, "/where");
        EXPECT_EQ(other.body(), "here");
        // And the connection still serves the session after its move.
        auto again = co_await roundtrip(s, http::verb::post, eio_path("transport=polling&sid=" + sid), "4again");
        EXPECT_EQ(again.result(), http::status::ok);
    });
    auto l = listener(0);
    ASSERT_TRUE(l && l->wait_messages(2));
    EXPECT_EQ(l->messages().at(1).data, "again");
    std::lock_guard lock{m};
    EXPECT_NE(session_thread, std::thread::id{});
    EXPECT_EQ(handler_thread, session_thread) << "the connection's later request was read on another loop";
}

// A batch of sends and a close made on a thread outside the loops, for sessions on both loops:
// each session gets its messages in order, then its close; nothing is sent before the batch ends.
TEST_F(engine_server, a_send_batch_hands_over_in_order_when_it_ends) {
    two_loops_ = true;
    start();
    constexpr int sessions = 4;
    constexpr int messages = 50;
    run_client([&]() -> asio::awaitable<void> {
        std::vector<ws_stream> sockets;
        for (int i = 0; i < sessions; ++i) {
            sockets.push_back(co_await ws_connect(port_, eio_path("transport=websocket")));
            (void)co_await ws_read(sockets.back());
        }
        std::vector<engine::session_handle> handles;
        for (int i = 0; i < sessions; ++i) {
            auto l = listener(static_cast<std::size_t>(i));
            if (!l) throw std::runtime_error("no listener");
            handles.push_back(l->handle);
        }
        std::thread([&] {
            engine::send_batch batch;
            {
                engine::send_batch inner;  // nested: only the outermost hands over
                for (int k = 0; k < messages; ++k)
                    for (auto& h : handles) EXPECT_TRUE(h.send("m" + std::to_string(k)));
            }
            for (auto& h : handles) h.close("done");
            // Nothing has left yet: the sessions have not even seen the sends.
            EXPECT_EQ(server_->queued_bytes(), 0u);
        }).join();
        for (auto& ws : sockets) {
            for (int k = 0; k < messages; ++k) {
                auto f = co_await ws_read(ws);
                EXPECT_EQ(f.data, "4m" + std::to_string(k));
            }
            auto bye = co_await ws_read(ws);
            EXPECT_EQ(bye.data, "1");
        }
    });
    for (int i = 0; i < sessions; ++i) {
        auto l = listener(static_cast<std::size_t>(i));
        ASSERT_TRUE(l);
        EXPECT_EQ(l->wait_close(), "done");
    }
}

TEST_F(engine_server, stop_closes_every_session) {
    start();
    run_client([&]() -> asio::awaitable<void> {
        co_await handshake(port_);
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        (void)co_await ws_read(ws);
        auto l0 = listener(0);
        auto l1 = listener(1);
        EXPECT_EQ(server_->session_count(), 2u);
        server_->stop();
        auto bye = co_await ws_read(ws);
        EXPECT_EQ(bye.data, "1");
        EXPECT_TRUE(l0 && l0->wait_close() == "forced server close");
        EXPECT_TRUE(l1 && l1->wait_close() == "forced server close");
    });
    EXPECT_EQ(server_->session_count(), 0u);
}

// --- operations: metrics, CORS, events ---------------------------------------------------------

// Waits (bounded) for a condition another thread makes true.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = wait_limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

std::uint64_t get(const std::atomic<std::uint64_t>& c) { return c.load(); }
std::int64_t get(const std::atomic<std::int64_t>& c) { return c.load(); }

// An owned copy of a server_event (whose views last only for the call).
struct recorded_event {
    engine::server_event::kind type;
    std::string sid, transport, reason, detail;
    std::optional<engine::handshake_error> error;
    unsigned http_status = 0;
};

// Records the server's events. The records are shared with the handler, because the server
// (stopped in TearDown, after the test body's locals are gone) may still report a close.
class event_log {
public:
    engine::event_handler handler() {
        return [state = state_](const engine::server_event& e) {
            std::lock_guard lock{state->mutex};
            state->events.push_back({e.type, std::string{e.sid}, std::string{e.transport},
                                     std::string{e.reason}, e.detail, e.error, e.http_status});
        };
    }
    std::optional<recorded_event> find(const std::function<bool(const recorded_event&)>& pred) {
        std::optional<recorded_event> found;
        eventually([&] {
            std::lock_guard lock{state_->mutex};
            for (const auto& e : state_->events)
                if (pred(e)) found = e;
            return found.has_value();
        });
        return found;
    }

private:
    struct state {
        std::mutex mutex;
        std::vector<recorded_event> events;
    };
    std::shared_ptr<state> state_ = std::make_shared<state>();
};

TEST_F(engine_server, metrics_count_handshake_errors_by_code) {
    engine::server_options o;
    o.allowed_origins = {"http://good.example"};
    start(o);
    run_client([&]() -> asio::awaitable<void> {
        const auto cases = error_cases();
        for (const auto& c : cases) {
            fields extra;
            if (!c.origin.empty()) extra.emplace_back(http::field::origin, c.origin);
            (void)co_await fetch(port_, c.method, c.target, c.method == http::verb::post ? "4x" : "", extra);
        }
    });
    const auto& m = server_->metrics();
    // One case per code, two for code 5 (EIO=3 and no EIO at all).
    const std::array<std::uint64_t, 6> want{1, 1, 1, 1, 1, 2};
    for (std::size_t code = 0; code < want.size(); ++code)
        EXPECT_EQ(get(m.handshake_errors[code]), want[code]) << "code " << code;
    EXPECT_EQ(get(m.sessions_opened), 0u);
}

TEST_F(engine_server, metrics_count_messages_bytes_upgrades_and_transports) {
    start();
    const auto& m = server_->metrics();
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        EXPECT_TRUE(eventually([&] { return get(m.polling_sessions) == 1; }));
        EXPECT_EQ(get(m.websocket_sessions), 0);
        auto l = listener(0);
        if (!l) throw std::runtime_error("no listener");
        const auto poll = eio_path("transport=polling&sid=" + sid);
        // In: two messages of 5 and 3 bytes; a ping-free body, control packets are not counted.
        auto post = co_await fetch(port_, http::verb::post, poll, "4hello\x1e" "4abc");
        EXPECT_EQ(post.result(), http::status::ok);
        EXPECT_TRUE(l->wait_messages(2));
        EXPECT_EQ(get(m.packets_in), 2u);
        EXPECT_EQ(get(m.bytes_in), 8u);
        // Out: one message of 3 bytes.
        EXPECT_TRUE(l->handle.send("one"));
        auto got = co_await fetch(port_, http::verb::get, poll);
        EXPECT_EQ(got.body(), "4one");
        EXPECT_EQ(get(m.packets_out), 1u);
        EXPECT_EQ(get(m.bytes_out), 3u);

        // The upgrade moves the session from one gauge to the other.
        bool get_done = false;
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            (void)co_await fetch(port_, http::verb::get, poll);
            get_done = true;
        }, asio::detached);
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket&sid=" + sid));
        co_await ws_write(ws, "2probe");
        (void)co_await ws_read(ws);
        asio::steady_timer t{ex};
        for (int i = 0; i < 500 && !get_done; ++i) {
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        EXPECT_EQ(get(m.upgrades), 0u);  // probing is not upgrading yet
        co_await ws_write(ws, "5");
        co_await ws_write(ws, "4xy");
        EXPECT_TRUE(l->wait_messages(3));
        EXPECT_EQ(get(m.upgrades), 1u);
        EXPECT_EQ(get(m.polling_sessions), 0);
        EXPECT_EQ(get(m.websocket_sessions), 1);
        EXPECT_EQ(get(m.packets_in), 3u);
        EXPECT_EQ(get(m.bytes_in), 10u);

        // A WebSocket-only session counts there too, and closing sessions lowers the gauge.
        auto ws2 = co_await ws_connect(port_, eio_path("transport=websocket"));
        (void)co_await ws_read(ws2);
        EXPECT_TRUE(eventually([&] { return get(m.websocket_sessions) == 2; }));
        EXPECT_EQ(get(m.sessions_opened), 2u);
        co_await ws2.async_close(websocket::close_code::normal, asio::use_awaitable);
        EXPECT_TRUE(eventually([&] { return get(m.websocket_sessions) == 1; }));
        l->handle.close();
        (void)co_await ws_read(ws);  // the close packet
        EXPECT_TRUE(eventually([&] { return get(m.websocket_sessions) == 0; }));
        EXPECT_EQ(get(m.polling_sessions), 0);
        EXPECT_EQ(get(m.upgrades), 1u);
    });
}

TEST_F(engine_server, no_cors_headers_without_cors_origins) {
    start();  // any origin served, none given CORS headers: browsers elsewhere are refused
    run_client([&]() -> asio::awaitable<void> {
        auto res = co_await fetch(port_, http::verb::get, eio_path("transport=polling"), {},
                                  hdr(http::field::origin, "http://other.example"));
        EXPECT_EQ(res.result(), http::status::ok);
        EXPECT_EQ(res.count(http::field::access_control_allow_origin), 0u);
        EXPECT_EQ(res.count(http::field::access_control_allow_credentials), 0u);
        auto pre = co_await fetch(port_, http::verb::options, eio_path("transport=polling"), {},
                                  hdr(http::field::origin, "http://other.example",
                                      http::field::access_control_request_headers, "content-type"));
        EXPECT_EQ(pre.result(), http::status::no_content);
        EXPECT_EQ(pre.count(http::field::access_control_allow_origin), 0u);
        EXPECT_EQ(pre.count(http::field::access_control_allow_methods), 0u);
        EXPECT_EQ(pre.count(http::field::access_control_allow_headers), 0u);
    });
}

TEST_F(engine_server, cors_headers_for_listed_origins_only) {
    engine::server_options o;
    o.cors_origins = {"http://good.example"};
    start(o);
    run_client([&]() -> asio::awaitable<void> {
        auto good = co_await fetch(port_, http::verb::get, eio_path("transport=polling"), {},
                                   hdr(http::field::origin, "http://good.example"));
        EXPECT_EQ(good.result(), http::status::ok);
        EXPECT_EQ(good[http::field::access_control_allow_origin], "http://good.example");
        EXPECT_EQ(good[http::field::access_control_allow_credentials], "true");
        EXPECT_EQ(good[http::field::vary], "Origin");
        // Not listed: served (no allowed_origins), but without CORS headers.
        auto other = co_await fetch(port_, http::verb::get, eio_path("transport=polling"), {},
                                    hdr(http::field::origin, "http://other.example"));
        EXPECT_EQ(other.result(), http::status::ok);
        EXPECT_EQ(other.count(http::field::access_control_allow_origin), 0u);
        EXPECT_EQ(other[http::field::vary], "Origin");
        // Error answers carry them too, so a browser can read the error.
        auto err = co_await fetch(port_, http::verb::get, eio_path("transport=polling&sid=nope"), {},
                                  hdr(http::field::origin, "http://good.example"));
        EXPECT_EQ(err.result(), http::status::bad_request);
        EXPECT_EQ(err[http::field::access_control_allow_origin], "http://good.example");
        auto pre = co_await fetch(port_, http::verb::options, eio_path("transport=polling"), {},
                                  hdr(http::field::origin, "http://good.example",
                                      http::field::access_control_request_headers, "content-type"));
        EXPECT_EQ(pre.result(), http::status::no_content);
        EXPECT_EQ(pre[http::field::access_control_allow_origin], "http://good.example");
        EXPECT_EQ(pre[http::field::access_control_allow_credentials], "true");
        EXPECT_NE(pre[http::field::access_control_allow_methods].find("POST"), std::string_view::npos);
        EXPECT_EQ(pre[http::field::access_control_allow_headers], "content-type");
        auto bad_pre = co_await fetch(port_, http::verb::options, eio_path("transport=polling"), {},
                                      hdr(http::field::origin, "http://other.example"));
        EXPECT_EQ(bad_pre.result(), http::status::no_content);
        EXPECT_EQ(bad_pre.count(http::field::access_control_allow_origin), 0u);
        EXPECT_EQ(bad_pre.count(http::field::access_control_allow_methods), 0u);
    });
}

TEST_F(engine_server, cors_star_echoes_any_origin_with_credentials) {
    engine::server_options o;
    o.cors_origins = {"*"};
    start(o);
    run_client([&]() -> asio::awaitable<void> {
        auto res = co_await fetch(port_, http::verb::get, eio_path("transport=polling"), {},
                                  hdr(http::field::origin, "http://anywhere.example"));
        EXPECT_EQ(res[http::field::access_control_allow_origin], "http://anywhere.example");
        EXPECT_EQ(res[http::field::access_control_allow_credentials], "true");
        auto pre = co_await fetch(port_, http::verb::options, eio_path("transport=polling"), {},
                                  hdr(http::field::origin, "http://anywhere.example"));
        EXPECT_EQ(pre.result(), http::status::no_content);
        EXPECT_EQ(pre[http::field::access_control_allow_origin], "http://anywhere.example");
        EXPECT_EQ(pre[http::field::access_control_allow_credentials], "true");
        // No Origin (not a browser, or same-origin): nothing to echo.
        auto plain = co_await fetch(port_, http::verb::get, eio_path("transport=polling"));
        EXPECT_EQ(plain.count(http::field::access_control_allow_origin), 0u);
    });
}

TEST_F(engine_server, events_report_sessions_unknown_sids_and_oversized_payloads) {
    beast::flat_buffer close_buffer;
    event_log events;
    engine::server_options o;
    o.session.max_payload = 100;
    o.on_event = events.handler();
    start(o);
    using k = engine::server_event::kind;
    run_client([&]() -> asio::awaitable<void> {
        const auto sid = co_await handshake(port_);
        auto unknown = co_await fetch(port_, http::verb::get, eio_path("transport=polling&sid=nope"));
        EXPECT_EQ(unknown.result(), http::status::bad_request);
        auto big = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid),
                                  "4" + std::string(200, 'x'));
        EXPECT_EQ(big.result(), http::status::payload_too_large);
        // Over a WebSocket: the session ends.
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        (void)co_await ws_read(ws);
        co_await ws_write(ws, "4" + std::string(300, 'y'));
        // The server closes this WebSocket (close code 1009); wait for that.
        auto [ec, n] = co_await ws.async_read(close_buffer, asio::as_tuple(asio::use_awaitable));
        (void)n;
        EXPECT_TRUE(ec);
    });
    auto open = events.find([](const recorded_event& e) { return e.type == k::session_open && e.transport == "polling"; });
    ASSERT_TRUE(open);
    EXPECT_EQ(open->sid.size(), 20u);
    auto unknown = events.find([](const recorded_event& e) { return e.type == k::request_refused && e.sid == "nope"; });
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->error, engine::handshake_error::unknown_sid);
    EXPECT_EQ(unknown->http_status, 400u);
    EXPECT_NE(unknown->detail.find("load balancer"), std::string::npos) << unknown->detail;
    auto big = events.find([](const recorded_event& e) { return e.type == k::request_refused && e.http_status == 413; });
    ASSERT_TRUE(big);
    EXPECT_EQ(big->sid, open->sid);
    EXPECT_NE(big->detail.find("201 bytes"), std::string::npos) << big->detail;  // the size
    EXPECT_NE(big->detail.find("maxPayload (100 bytes)"), std::string::npos) << big->detail;  // the limit
    auto ws_big = events.find([](const recorded_event& e) {
        return e.type == k::request_refused && e.transport == "websocket";
    });
    ASSERT_TRUE(ws_big);
    EXPECT_NE(ws_big->detail.find("maxPayload (100 bytes)"), std::string::npos) << ws_big->detail;
    auto closed = events.find([&](const recorded_event& e) { return e.type == k::session_close && e.sid == ws_big->sid; });
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->reason, "transport error");
}

// An event callback (the operator's logger) that throws takes nothing down, and what it threw
// is still said, on standard error.
TEST_F(engine_server, an_event_callback_that_throws_is_reported_and_harms_nothing) {
    engine::server_options o;
    o.on_event = [](const engine::server_event&) { throw std::runtime_error("the log disk is full"); };
    start(o);
    testing::internal::CaptureStderr();
    std::string sid;
    run_client([&]() -> asio::awaitable<void> {
        sid = co_await handshake(port_);
        auto post = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid), "4hello");
        EXPECT_EQ(post.result(), http::status::ok);
    });
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(sid.size(), 20u);
    EXPECT_NE(err.find("event callback threw: the log disk is full"), std::string::npos) << err;
}

TEST_F(engine_server, a_listener_that_throws_ends_its_own_session_and_says_why) {
    event_log events;
    engine::server_options o;
    o.on_event = events.handler();
    hook_ = [](recorder&, const eio::packet& p) {
        if (p.data == "boom") throw std::runtime_error("the handler exploded");
    };
    start(o);
    using k = engine::server_event::kind;
    run_client([&]() -> asio::awaitable<void> {
        auto ws = co_await ws_connect(port_, eio_path("transport=websocket"));
        (void)co_await ws_read(ws);
        // A second session, on polling, which must not notice.
        const auto sid = co_await handshake(port_);
        co_await ws_write(ws, "4boom");
        beast::flat_buffer b;
        for (;;) {  // the session's close packet, then the close frame
            auto [ec, n] = co_await ws.async_read(b, asio::as_tuple(asio::use_awaitable));
            (void)n;
            if (ec) break;
            b.consume(b.size());
        }
        auto post = co_await fetch(port_, http::verb::post, eio_path("transport=polling&sid=" + sid), "4fine");
        EXPECT_EQ(post.result(), http::status::ok);
    });
    auto thrower = listener(0);
    ASSERT_TRUE(thrower);
    EXPECT_EQ(thrower->wait_close(), "transport error");
    auto other = listener(1);
    ASSERT_TRUE(other);
    EXPECT_TRUE(other->wait_messages(1));
    EXPECT_EQ(other->close_count(), 0u);
    auto failure = events.find([](const recorded_event& e) { return e.type == k::failure; });
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->transport, "websocket");
    EXPECT_NE(failure->detail.find("the handler exploded"), std::string::npos) << failure->detail;
    EXPECT_NE(failure->detail.find("handling a message"), std::string::npos) << failure->detail;
}

}  // namespace

