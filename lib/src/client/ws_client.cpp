// Raw WebSocket client: one reader and one writer coroutine on one strand, over the same
// connect path (proxy, TLS) as the Socket.IO client.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "sio/client.hpp"

#include "sio/codec/http.hpp"
#include "sio/transport/client_connect.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <algorithm>
#include <deque>
#include <variant>

namespace sio {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);
using ws_plain = websocket::stream<transport::plain_stream>;
using ws_tls = websocket::stream<transport::tls_stream>;
using ws_variant = std::variant<ws_plain, ws_tls>;

struct outgoing {
    enum class kind { data, ping, close } type = kind::data;
    std::string payload;
    bool binary = false;
    unsigned code = 1000;
};

class ws_client_impl final : public ws_client {
public:
    ws_client_impl(asio::any_io_executor ex, ws_client_options o)
        : strand_(o.own_strand ? asio::any_io_executor(asio::make_strand(std::move(ex))) : std::move(ex)),
          options_(std::move(o)), wake_(strand_) {}

    ~ws_client_impl() override = default;

    void on_open(std::function<void(const std::string&)> h) override {
        run([h = std::move(h)](ws_client_impl& s) mutable { s.on_open_ = std::move(h); });
    }
    void on_message(std::function<void(std::string, bool)> h) override {
        run([h = std::move(h)](ws_client_impl& s) mutable { s.on_message_ = std::move(h); });
    }
    void on_control(std::function<void(bool, std::string_view)> h) override {
        run([h = std::move(h)](ws_client_impl& s) mutable { s.on_control_ = std::move(h); });
    }
    void on_close(std::function<void(std::error_code, unsigned, const std::string&)> h) override {
        run([h = std::move(h)](ws_client_impl& s) mutable { s.on_close_ = std::move(h); });
    }

    void open() override {
        run([](ws_client_impl& s) {
            if (s.started_) return;
            s.started_ = true;
            auto self = std::static_pointer_cast<ws_client_impl>(s.shared_from_this());
            asio::co_spawn(s.strand_, connect_and_read(self), [w = s.weak_from_this()](std::exception_ptr e) {
                if (!e) return;
                if (auto p = w.lock()) {
                    auto& me = static_cast<ws_client_impl&>(*p);
                    me.finish(make_error_code(client_errc::protocol_error), 1006, "internal error");
                }
            });
        });
    }

    void send(std::string data, bool binary) override {
        run([data = std::move(data), binary](ws_client_impl& s) mutable {
            s.push(outgoing{outgoing::kind::data, std::move(data), binary, 0});
        });
    }
    void ping(std::string payload) override {
        run([payload = std::move(payload)](ws_client_impl& s) mutable {
            s.push(outgoing{outgoing::kind::ping, std::move(payload), false, 0});
        });
    }
    void close(unsigned code, std::string reason) override {
        run([code, reason = std::move(reason)](ws_client_impl& s) mutable {
            if (!s.open_ || s.done_) {  // not open yet: the attempt ends here
                if (!s.done_) s.finish({}, 1005, "");
                return;
            }
            s.push(outgoing{outgoing::kind::close, std::move(reason), false, code});
        });
    }

private:
    template <class F>
    void run(F f) {
        std::weak_ptr<ws_client> w = weak_from_this();
        asio::post(strand_, [w, f = std::move(f)]() mutable {
            if (auto s = w.lock()) f(static_cast<ws_client_impl&>(*s));
        });
    }

    void push(outgoing o) {
        if (done_ || closing_) return;
        queue_.push_back(std::move(o));
        wake_.cancel();
    }

    void finish(std::error_code ec, unsigned code, const std::string& reason) {
        if (done_) return;
        done_ = true;
        wake_.cancel();
        attempts_.cancel_all();  // a connection still being set up
        if (ws_) {
            boost::system::error_code ignored;
            auto& low = std::visit([](auto& w) -> transport::plain_stream& { return beast::get_lowest_layer(w); }, *ws_);
            low.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
            low.close();
        }
        if (on_close_) on_close_(ec, code, reason);
    }

    static asio::awaitable<void> connect_and_read(std::shared_ptr<ws_client_impl> self) {
        std::string error;
        auto u = transport::parse_url(self->options_.url, error);
        if (!u) {
            self->finish(make_error_code(client_errc::bad_url), 1006, error);
            co_return;
        }
        transport::connect_request req;
        req.target = *u;
        req.deadline = clock_type::now() + self->options_.connect_timeout;
        if (!self->options_.proxy.empty()) {
            auto p = transport::parse_url(self->options_.proxy, error);
            if (!p) {
                self->finish(make_error_code(client_errc::bad_url), 1006, "bad proxy URL: " + error);
                co_return;
            }
            req.proxy = *p;
        }
        for (const auto& header : self->options_.headers) {
            if (auto why = codec::check_header(header.first, header.second); !why.empty()) {
                self->finish(make_error_code(client_errc::bad_url), 1006, why);
                co_return;
            }
        }
        if (u->secure) {
            transport::tls_settings t{self->options_.tls.verify, self->options_.tls.ca_file, self->options_.tls.cert_file,
                                      self->options_.tls.key_file, self->options_.tls.server_name};
            req.tls = transport::make_client_tls_context(t, error);
            if (!req.tls) {
                self->finish(make_error_code(client_errc::tls_failed), 1006, error);
                co_return;
            }
            req.server_name = t.server_name;
            req.verify = t.verify;
        }
        auto r = co_await self->attempts_.run(transport::connect(req));
        if (self->done_) co_return;
        if (r.error != transport::failure::none) {
            self->finish(make_error_code(static_cast<client_errc>(static_cast<int>(r.error))), 1006, r.message);
            co_return;
        }
        if (std::holds_alternative<transport::plain_stream>(*r.stream))
            self->ws_ = std::make_unique<ws_variant>(std::in_place_type<ws_plain>,
                                                     std::get<transport::plain_stream>(std::move(*r.stream)));
        else
            self->ws_ = std::make_unique<ws_variant>(std::in_place_type<ws_tls>,
                                                     std::get<transport::tls_stream>(std::move(*r.stream)));
        const auto headers = self->options_.headers;
        std::string protocols;
        for (const auto& p : self->options_.subprotocols) protocols += (protocols.empty() ? "" : ", ") + p;
        const std::string host = u->default_port() ? u->host : u->authority();
        std::string target = u->path + (u->query.empty() ? "" : "?" + u->query);
        websocket::response_type res;
        std::weak_ptr<ws_client> w = self->weak_from_this();
        auto [ec] = co_await std::visit(
            [&](auto& ws) {
                ws.set_option(websocket::stream_base::decorator([headers, protocols](websocket::request_type& rq) {
                    for (const auto& [k, v] : headers)
                        if (!transport::is_framing_header(k)) rq.set(k, v);
                    if (!protocols.empty()) rq.set(beast::http::field::sec_websocket_protocol, protocols);
                }));
                ws.control_callback([w](websocket::frame_type kind, beast::string_view payload) {
                    auto s = w.lock();
                    if (!s) return;
                    auto& me = static_cast<ws_client_impl&>(*s);
                    if (kind == websocket::frame_type::close) return;
                    if (me.on_control_) me.on_control_(kind == websocket::frame_type::ping, std::string_view{payload});
                });
                ws.read_message_max(64ull << 20);
                return ws.async_handshake(res, host, target, tok);
            },
            *self->ws_);
        if (self->done_) co_return;
        if (ec) {
            std::string msg = ec == websocket::error::upgrade_declined || res.result_int() != 0
                                  ? "server refused the WebSocket upgrade: " + std::to_string(res.result_int()) + " " +
                                        std::string{res.reason()}
                                  : "WebSocket handshake failed: " + ec.message();
            self->finish(make_error_code(res.result_int() != 0 ? client_errc::handshake_failed : client_errc::transport_closed),
                         1006, msg);
            co_return;
        }
        std::visit([](auto& ws) {
            beast::get_lowest_layer(ws).expires_never();
            ws.set_option(websocket::stream_base::timeout{std::chrono::seconds(10), websocket::stream_base::none(), false});
        }, *self->ws_);
        const std::string subprotocol{res[beast::http::field::sec_websocket_protocol]};
        self->open_ = true;
        if (self->on_open_) self->on_open_(subprotocol);
        asio::co_spawn(self->strand_, writer(self), asio::detached_t{});
        beast::flat_buffer buf;
        while (!self->done_) {
            auto [rec, n] = co_await std::visit([&](auto& ws) { return ws.async_read(buf, tok); }, *self->ws_);
            (void)n;
            if (self->done_) co_return;
            if (rec) {
                if (rec == websocket::error::closed) {
                    const auto reason = std::visit([](auto& ws) { return ws.reason(); }, *self->ws_);
                    const unsigned code = reason.code == websocket::close_code::none ? 1005u : static_cast<unsigned>(reason.code);
                    self->finish({}, code, std::string{reason.reason.c_str()});
                } else {
                    self->finish(make_error_code(client_errc::transport_closed), 1006, rec.message());
                }
                co_return;
            }
            const bool text = std::visit([](auto& ws) { return ws.got_text(); }, *self->ws_);
            std::string data{static_cast<const char*>(buf.data().data()), buf.size()};
            buf.consume(buf.size());
            if (self->on_message_) self->on_message_(std::move(data), !text);
        }
    }

    static asio::awaitable<void> writer(std::shared_ptr<ws_client_impl> self) {
        while (!self->done_) {
            if (self->queue_.empty()) {
                self->wake_.expires_at(clock_type::time_point::max());
                co_await self->wake_.async_wait(tok);
                continue;
            }
            outgoing o = std::move(self->queue_.front());
            self->queue_.pop_front();
            boost::system::error_code ec;
            if (o.type == outgoing::kind::data) {
                auto [e, n] = co_await std::visit(
                    [&](auto& ws) {
                        ws.binary(o.binary);
                        return ws.async_write(asio::buffer(o.payload), tok);
                    },
                    *self->ws_);
                (void)n;
                ec = e;
            } else if (o.type == outgoing::kind::ping) {
                auto [e] = co_await std::visit(
                    [&](auto& ws) { return ws.async_ping(websocket::ping_data{o.payload.substr(0, 125)}, tok); }, *self->ws_);
                ec = e;
            } else {
                self->closing_ = true;
                websocket::close_reason cr{static_cast<websocket::close_code>(o.code), beast::string_view{o.payload.data(), std::min<std::size_t>(o.payload.size(), 123)}};
                auto [e] = co_await std::visit([&](auto& ws) { return ws.async_close(cr, tok); }, *self->ws_);
                // The reader sees the peer's close frame (or the error) and reports it.
                (void)e;
                co_return;
            }
            if (ec && !self->done_) {
                self->finish(make_error_code(client_errc::transport_closed), 1006, ec.message());
                co_return;
            }
        }
    }

    asio::any_io_executor strand_;
    ws_client_options options_;
    asio::steady_timer wake_;
    transport::attempts attempts_;  // the connection being set up
    std::unique_ptr<ws_variant> ws_;
    std::deque<outgoing> queue_;
    bool started_ = false;
    bool open_ = false;  // the handshake is done
    bool done_ = false;
    bool closing_ = false;
    std::function<void(const std::string&)> on_open_;
    std::function<void(std::string, bool)> on_message_;
    std::function<void(bool, std::string_view)> on_control_;
    std::function<void(std::error_code, unsigned, const std::string&)> on_close_;
};

}  // namespace

std::shared_ptr<ws_client> ws_client::create(boost::asio::any_io_executor executor, ws_client_options options) {
    return std::make_shared<ws_client_impl>(std::move(executor), std::move(options));
}

}  // namespace sio
