// Raw WebSocket client: a transport::ws_stream (role client) on one strand, over the same
// connect path (proxy, TLS) and the same opening handshake (transport/ws_handshake) as the
// Socket.IO client. One coroutine connects and upgrades; from then on the stream reads and
// writes, and calls back here.
#include "sio/client.hpp"

#include "sio/codec/http.hpp"
#include "sio/transport/client_connect.hpp"
#include "sio/transport/ws_handshake.hpp"
#include "sio/transport/ws_stream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <deque>
#include <exception>

namespace sio {

namespace asio = boost::asio;
namespace ws = codec::ws;
using clock_type = std::chrono::steady_clock;

namespace {

// What is asked of the connection before it is open: sent in order once it is.
struct outgoing {
    enum class kind { data, ping } type = kind::data;
    std::string payload;
    bool binary = false;
};

class ws_client_impl;

// The stream's owner: hands its calls to the client while the client lives (the stream holds its
// owner; a weak link keeps the two from holding each other).
class ws_link final : public transport::ws_owner {
public:
    explicit ws_link(std::weak_ptr<ws_client_impl> client) : client_(std::move(client)) {}
    void on_ws_message(std::string_view data, bool binary) override;
    void on_ws_writable() override {}  // sends go straight into the stream's outbox
    void on_ws_end(const transport::ws_end& end) override;
    void on_ws_control(bool ping, std::string_view payload) override;

private:
    std::weak_ptr<ws_client_impl> client_;
};

class ws_client_impl final : public ws_client {
public:
    ws_client_impl(asio::any_io_executor ex, ws_client_options o)
        : strand_(o.own_strand ? asio::any_io_executor(asio::make_strand(std::move(ex))) : std::move(ex)),
          options_(std::move(o)) {}

    // Dropped while connected (finish() never ran): the stream, which would keep the connection
    // open with nobody listening, is aborted on its strand.
    ~ws_client_impl() override {
        if (ws_ && !done_) asio::post(strand_, [ws = std::move(ws_)] { ws->abort(); });
    }

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
            asio::co_spawn(s.strand_, connect(self), [w = s.weak_from_this()](std::exception_ptr e) {
                if (!e) return;
                std::string what = "internal error";
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    what = std::string{"internal error: "} + ex.what();
                } catch (...) {
                    // Not a std::exception: reported as the bare "internal error" below.
                }
                if (auto p = w.lock())
                    static_cast<ws_client_impl&>(*p).finish(make_error_code(client_errc::protocol_error), 1006, what);
            });
        });
    }

    void send(std::string data, bool binary) override {
        run([data = std::move(data), binary](ws_client_impl& s) mutable {
            s.push(outgoing{outgoing::kind::data, std::move(data), binary});
        });
    }
    void ping(std::string payload) override {
        run([payload = std::move(payload)](ws_client_impl& s) mutable {
            s.push(outgoing{outgoing::kind::ping, std::move(payload), false});
        });
    }
    void close(unsigned code, std::string reason) override {
        run([code, reason = std::move(reason)](ws_client_impl& s) mutable {
            if (!s.open_ || s.done_) {  // not open yet: the attempt ends here
                if (!s.done_) s.finish({}, 1005, "");
                return;
            }
            if (s.closing_) return;
            s.closing_ = true;
            // After what is queued; the peer's answer (or its absence) ends the stream.
            s.ws_->close(static_cast<std::uint16_t>(code), reason);
        });
    }

    // --- the stream's calls (through ws_link) ---------------------------------------------------

    void stream_message(std::string_view data, bool binary) {
        if (!done_ && on_message_) on_message_(std::string{data}, binary);
    }

    void stream_control(bool ping, std::string_view payload) {
        if (!done_ && on_control_) on_control_(ping, payload);
    }

    void stream_end(const transport::ws_end& end) {
        using kind = transport::ws_end::kind;
        if (end.how == kind::closed) {
            // Our close: the peer's answer, as it gave it.
            if (const auto* answer = ws_ ? ws_->close_answer() : nullptr) {
                const auto copy = *answer;  // finish() may let the stream go
                finish({}, copy.code, copy.reason);
            } else
                finish(make_error_code(client_errc::transport_closed), ws::close_code::abnormal,
                       end.reason.empty() ? "no answer to the close frame" : "no answer to the close frame (" + end.reason + ")");
        } else if (end.how == kind::peer_closed && end.code != ws::close_code::abnormal) {
            finish({}, end.code, end.reason);  // the peer's close frame
        } else if (end.how == kind::failed && end.code != ws::close_code::abnormal) {
            // The server broke the protocol; the close frame sent says so with this code.
            finish(make_error_code(client_errc::protocol_error), end.code, end.reason);
        } else {
            finish(make_error_code(client_errc::transport_closed), ws::close_code::abnormal, end.reason);
        }
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
        if (!open_) {
            early_.push_back(std::move(o));
            return;
        }
        write(std::move(o));
    }

    void write(outgoing o) {
        if (o.type == outgoing::kind::ping)
            ws_->ping(o.payload);
        else
            ws_->send(o.binary, {}, std::make_shared<const std::string>(std::move(o.payload)));
    }

    void finish(std::error_code ec, unsigned code, const std::string& reason) {
        if (done_) return;
        done_ = true;
        attempts_.cancel_all();  // a connection still being set up
        early_.clear();
        if (ws_) ws_->abort();  // nothing when it has ended already
        if (on_close_) on_close_(ec, code, reason);
    }

    static asio::awaitable<void> connect(std::shared_ptr<ws_client_impl> self) {
        std::string error;
        auto u = transport::parse_url(self->options_.url, error);
        if (!u) {
            self->finish(make_error_code(client_errc::bad_url), 1006, "URL '" + self->options_.url + "': " + error);
            co_return;
        }
        transport::connect_request req;
        req.target = *u;
        req.deadline = clock_type::now() + self->options_.connect_timeout;
        if (!self->options_.proxy.empty()) {
            auto p = transport::parse_url(self->options_.proxy, error);
            if (!p) {
                self->finish(make_error_code(client_errc::bad_url), 1006, "proxy URL '" + self->options_.proxy + "': " + error);
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
        const std::string host = !u->default_port()                 ? u->authority()
                                 : u->host.find(':') != std::string::npos ? "[" + u->host + "]"
                                                                          : u->host;
        const std::string target = u->path + (u->query.empty() ? "" : "?" + u->query);
        auto r = co_await self->attempts_.run(upgrade(req, transport::make_ws_upgrade_request(
                                                               host, target, self->options_.headers,
                                                               self->options_.subprotocols),
                                                      self->options_.subprotocols, self->strand_));
        if (self->done_) co_return;
        if (r.error != transport::failure::none) {
            self->finish(make_error_code(static_cast<client_errc>(static_cast<int>(r.error))), 1006, r.message);
            co_return;
        }
        self->ws_ = r.ws;
        self->open_ = true;
        r.ws->start(std::make_shared<ws_link>(self), std::move(r.pending));
        if (self->done_) co_return;
        if (self->on_open_) self->on_open_(r.subprotocol);
        // What was asked before the connection was open, in order.
        while (!self->done_ && !self->closing_ && !self->early_.empty()) {
            outgoing o = std::move(self->early_.front());
            self->early_.pop_front();
            self->write(std::move(o));
        }
    }

    // Connects and upgrades: one attempt, which closing the client cancels.
    static asio::awaitable<transport::ws_client_handshake_result> upgrade(transport::connect_request req,
                                                                          transport::ws_upgrade_request request,
                                                                          std::vector<std::string> offered,
                                                                          asio::any_io_executor executor) {
        transport::ws_client_handshake_result out;
        auto c = co_await transport::connect(std::move(req));
        if (c.error != transport::failure::none) {
            out.error = c.error;
            out.message = c.message;
            co_return out;
        }
        transport::ws_stream_options options;
        options.limits.max_message = 64u << 20;
        options.close_timeout = std::chrono::seconds(10);
        co_return co_await transport::ws_client_handshake(std::move(c.stream), std::move(request), std::move(offered),
                                                          std::move(executor), std::move(options));
    }

    asio::any_io_executor strand_;
    ws_client_options options_;
    transport::attempts attempts_;  // the connection being set up
    std::shared_ptr<transport::ws_stream> ws_;
    std::deque<outgoing> early_;  // asked for before the connection was open
    bool started_ = false;
    bool open_ = false;  // the handshake is done
    bool done_ = false;
    bool closing_ = false;
    std::function<void(const std::string&)> on_open_;
    std::function<void(std::string, bool)> on_message_;
    std::function<void(bool, std::string_view)> on_control_;
    std::function<void(std::error_code, unsigned, const std::string&)> on_close_;
};

void ws_link::on_ws_message(std::string_view data, bool binary) {
    if (auto c = client_.lock()) c->stream_message(data, binary);
}

void ws_link::on_ws_end(const transport::ws_end& end) {
    if (auto c = client_.lock()) c->stream_end(end);
}

void ws_link::on_ws_control(bool ping, std::string_view payload) {
    if (auto c = client_.lock()) c->stream_control(ping, payload);
}

}  // namespace

std::shared_ptr<ws_client> ws_client::create(boost::asio::any_io_executor executor, ws_client_options options) {
    return std::make_shared<ws_client_impl>(std::move(executor), std::move(options));
}

}  // namespace sio
