// The Engine.IO client driver. One strand; per transport exactly one reader and one writer
// coroutine (polling: the GET loop and the POST loop, each on its own keep-alive connection;
// WebSocket: a frame reader and a frame writer). A probe coroutine owns the WebSocket being
// tested until the upgrade completes, then hands it to a new reader while the writer switches.
// While the WebSocket writer is idle, send() writes a frame itself (write_now) instead of waking
// it; only one of the two writes at any time.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "sio/engine/client.hpp"

#include "sio/codec/json.hpp"
#include "sio/codec/ws_frame.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <exception>
#include <random>
#include <variant>

namespace sio::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace eio = codec::eio;
using transport::failure;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

using ws_plain = websocket::stream<transport::plain_stream>;
using ws_tls = websocket::stream<transport::tls_stream>;
using ws_variant = std::variant<ws_plain, ws_tls>;

transport::plain_stream& lowest(ws_variant& v) {
    return std::visit([](auto& ws) -> transport::plain_stream& { return beast::get_lowest_layer(ws); }, v);
}

// The message of an Engine.IO error body ({"code":1,"message":"Session ID unknown"}), else the
// body itself, cut short.
std::string describe_refusal(unsigned status, std::string_view reason, const std::string& body) {
    std::string out = std::to_string(status);
    if (!reason.empty()) out += " " + std::string{reason};
    const auto j = codec::json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        out += ": " + j["message"].get<std::string>();
    } else if (!body.empty()) {
        out += ": " + body.substr(0, 200);
    }
    return out;
}

// An alert from the peer's TLS layer after the handshake, e.g. TLS 1.3 refusing a missing or
// untrusted client certificate on the first read.
bool is_tls_alert(const boost::system::error_code& ec) {
    return ec.category() == asio::error::get_ssl_category();
}

struct http_reply {
    failure error = failure::none;
    std::string message;
    unsigned status = 0;
    std::string reason;
    std::string content_type;
    std::string body;
};

// One keep-alive HTTP connection used by one coroutine at a time.
struct http_conn {
    std::unique_ptr<transport::any_stream> stream;
    beast::flat_buffer buffer;
    void close() {
        if (stream) {
            boost::system::error_code ec;
            transport::lowest(*stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
            transport::lowest(*stream).close();
        }
    }
};

}  // namespace

class client_impl final : public client, public std::enable_shared_from_this<client_impl> {
public:
    client_impl(asio::any_io_executor strand, client_config config, client_handlers handlers)
        : strand_(std::move(strand)), config_(std::move(config)), handlers_(std::move(handlers)),
          wake_(strand_), heartbeat_timer_(strand_), ping_timer_(strand_) {
        if (config_.path.empty() || config_.path.front() != '/') config_.path.insert(config_.path.begin(), '/');
        if (config_.path.back() != '/') config_.path.push_back('/');
    }

    void open() override {
        if (started_) return;
        started_ = true;
        if (config_.url.secure) {
            std::string error;
            transport::tls_settings s = config_.tls;
            tls_ = transport::make_client_tls_context(s, error);
            if (!tls_) {
                finish(failure::tls_failed, error);
                return;
            }
        }
        spawn(run(self()));
    }

    void send(eio::packet p) override {
        if (stopped_ || closing_) return;
        if (queue_.empty() && writer_idle_ && write_now(p)) return;
        queue_.push_back(std::move(p));
        notify();
    }

    void close() override {
        if (stopped_ || closing_) return;
        closing_ = true;
        silent_ = true;
        if (!open_) {
            finish(failure::none, "forced close");
            return;
        }
        notify();  // the writer sends the close and ends the connection
    }

    bool is_open() const noexcept override { return open_ && !stopped_; }
    std::string_view transport_name() const noexcept override {
        if (!open_ || stopped_) return {};
        return websocket_active_ ? "websocket" : "polling";
    }
    bool upgraded() const noexcept override { return upgraded_; }

private:
    std::shared_ptr<client_impl> self() { return shared_from_this(); }

    template <class Awaitable>
    void spawn(Awaitable a) {
        asio::co_spawn(strand_, std::move(a), [w = weak_from_this()](std::exception_ptr e) {
            if (!e) return;
            if (auto s = w.lock()) {
                std::string what = "internal error";
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    what = std::string{"internal error: "} + ex.what();
                } catch (...) {
                }
                s->finish(failure::protocol_error, what);
            }
        });
    }

    void notify() { wake_.cancel(); }

    int version() const noexcept { return config_.eio_version == 3 ? 3 : 4; }

    std::string target(std::string_view transport_name, bool with_sid) {
        std::string t = config_.path + "?EIO=" + std::to_string(version()) + "&transport=" + std::string{transport_name};
        if (transport_name == "polling") {
            t += "&t=" + std::to_string(++request_counter_) + "x" +
                 std::to_string(clock_type::now().time_since_epoch().count() % 1000000007);
            if (version() == 3) t += "&b64=1";
        }
        if (with_sid) t += "&sid=" + transport::url_encode(handshake_.sid);
        for (const auto& [k, v] : config_.query) t += "&" + transport::url_encode(k) + "=" + transport::url_encode(v);
        if (!config_.url.query.empty()) t += "&" + config_.url.query;
        return t;
    }

    std::string host_header() const {
        return config_.url.default_port() ? (config_.url.host.find(':') != std::string::npos ? "[" + config_.url.host + "]"
                                                                                             : config_.url.host)
                                          : config_.url.authority();
    }

    transport::connect_request connect_request(clock_type::time_point deadline) const {
        transport::connect_request r;
        r.target = config_.url;
        r.proxy = config_.proxy;
        r.tls = tls_;
        r.server_name = config_.tls.server_name;
        r.verify = config_.tls.verify;
        r.deadline = deadline;
        return r;
    }

    // --- polling -----------------------------------------------------------------------------

    static asio::awaitable<http_reply> request(std::shared_ptr<client_impl> self, http_conn& conn, http::verb verb,
                                               std::string target, std::string body,
                                               std::optional<clock_type::time_point> deadline) {
        http_reply out;
        for (int attempt = 0; attempt < 2; ++attempt) {
            const bool reused = conn.stream != nullptr;
            if (!conn.stream) {
                auto r = co_await self->attempts_.run(transport::connect(
                    self->connect_request(deadline ? *deadline : clock_type::now() + self->config_.connect_timeout)));
                if (r.error != failure::none) {
                    out.error = r.error;
                    out.message = r.message;
                    co_return out;
                }
                conn.stream = std::move(r.stream);
                conn.buffer.clear();
            }
            if (self->stopped_) {
                out.error = failure::transport_closed;
                out.message = "closed";
                co_return out;
            }
            auto& low = transport::lowest(*conn.stream);
            if (deadline)
                low.expires_at(*deadline);
            else
                low.expires_never();
            // The head is written as one string and the body beside it in one gather write: Beast's
            // serializer walks the fields as many small buffers, which was the largest user-space
            // cost of a polling load generator.
            const std::string head = self->request_head(verb, target, verb == http::verb::post, body.size());
            http::response_parser<http::string_body> parser;
            parser.body_limit(self->config_.limits.max_payload + 1024);
            const std::array<asio::const_buffer, 2> request_bytes{asio::buffer(head), asio::buffer(body)};
            auto [wec, wn] = co_await std::visit(
                [&](auto& s) { return asio::async_write(s, request_bytes, tok); }, *conn.stream);
            (void)wn;
            boost::system::error_code ec = wec;
            std::size_t read_bytes = 0;
            if (!ec) {
                auto [rec, rn] = co_await std::visit(
                    [&](auto& s) { return http::async_read(s, conn.buffer, parser, tok); }, *conn.stream);
                read_bytes = rn;
                ec = rec;
            }
            if (auto* c = self->config_.counters.get()) {
                c->http_requests.fetch_add(1, std::memory_order_relaxed);
                const std::size_t out_headers = wec ? 0 : head.size();
                const std::size_t in_body = parser.get().body().size();
                const std::size_t in_headers = read_bytes > in_body ? read_bytes - in_body : 0;
                c->http_header_bytes.fetch_add(out_headers + in_headers, std::memory_order_relaxed);
            }
            if (ec) {
                conn.close();
                conn.stream.reset();
                // A kept-alive connection the server closed meanwhile: try once on a new one.
                if (reused && !self->stopped_ && (ec == http::error::end_of_stream || ec == asio::error::eof ||
                                                  ec == asio::error::connection_reset || ec == asio::error::broken_pipe))
                    continue;
                out.error = ec == beast::error::timeout ? failure::timeout
                            : is_tls_alert(ec)              ? failure::tls_failed
                                                            : failure::transport_closed;
                out.message = ec == beast::error::timeout ? "timed out waiting for the server" : ec.message();
                co_return out;
            }
            auto res = parser.release();
            out.status = res.result_int();
            out.reason = std::string{res.reason()};
            out.content_type = std::string{res[http::field::content_type]};
            out.body = std::move(res.body());
            if (!res.keep_alive()) {
                conn.close();
                conn.stream.reset();
            }
            co_return out;
        }
        out.error = failure::transport_closed;
        out.message = "connection closed by the server";
        co_return out;
    }

    // "VERB TARGET HTTP/1.1", Host, Accept, the configured headers, and for a POST its
    // Content-Type and Content-Length; HTTP/1.1 keeps the connection alive without a header. A
    // configured header replaces Host or Accept, and of two configured headers of one name the
    // later wins (as setting them on a Beast request did); the body's framing is never replaced.
    std::string request_head(http::verb verb, std::string_view target, bool with_body, std::size_t body_size) const {
        const auto& extra = config_.headers;
        const auto named = [](std::string_view a, std::string_view b) { return beast::iequals(a, b); };
        const auto overridden = [&](std::string_view name) {
            return std::any_of(extra.begin(), extra.end(), [&](const auto& h) { return named(h.first, name); });
        };
        const std::string_view method = http::to_string(verb);
        std::string head;
        head.reserve(160 + target.size());
        head.append(method.data(), method.size()).append(" ").append(target).append(" HTTP/1.1\r\n");
        if (!overridden("Host")) head.append("Host: ").append(host_header()).append("\r\n");
        if (!overridden("Accept")) head.append("Accept: */*\r\n");
        for (auto it = extra.begin(); it != extra.end(); ++it) {
            const std::string& k = it->first;  // not a structured binding: clang 14 cannot capture one
            const std::string& v = it->second;
            if (transport::is_framing_header(k) || (with_body && named(k, "Content-Type"))) continue;  // the body's are ours
            if (std::any_of(std::next(it), extra.end(), [&](const auto& h) { return named(h.first, k); })) continue;
            head.append(k).append(": ").append(v).append("\r\n");
        }
        if (with_body) {
            head.append("Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ")
                .append(std::to_string(body_size))
                .append("\r\n");
        }
        head.append("\r\n");
        return head;
    }

    codec::result<std::vector<eio::packet>> decode_poll_body(const http_reply& r) const {
        if (version() == 3) {
            if (r.content_type.find("octet-stream") != std::string::npos)
                return eio::v3::decode_binary_payload(r.body, config_.limits);
            return eio::v3::decode_text_payload(r.body, config_.limits);
        }
        return eio::decode_payload(r.body, config_.limits);
    }

    std::string encode_poll_body(const std::vector<eio::packet>& packets) const {
        if (version() == 3) return eio::v3::encode_text_payload(packets);
        return eio::encode_payload(packets);
    }

    // --- WebSocket -----------------------------------------------------------------------------

    struct ws_open_result {
        failure error = failure::none;
        std::string message;
        std::unique_ptr<ws_variant> ws;
    };

    static asio::awaitable<ws_open_result> open_websocket(std::shared_ptr<client_impl> self, bool with_sid,
                                                          clock_type::time_point deadline) {
        ws_open_result out;
        auto r = co_await transport::connect(self->connect_request(deadline));
        if (r.error != failure::none) {
            out.error = r.error;
            out.message = r.message;
            co_return out;
        }
        if (std::holds_alternative<transport::plain_stream>(*r.stream))
            out.ws = std::make_unique<ws_variant>(std::in_place_type<ws_plain>, std::get<transport::plain_stream>(std::move(*r.stream)));
        else
            out.ws = std::make_unique<ws_variant>(std::in_place_type<ws_tls>, std::get<transport::tls_stream>(std::move(*r.stream)));
        const auto headers = self->config_.headers;
        const std::string target = self->target("websocket", with_sid);
        const std::string host = self->host_header();
        websocket::response_type res;
        auto [ec] = co_await std::visit(
            [&](auto& ws) {
                ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
                    for (const auto& [k, v] : headers)
                        if (!transport::is_framing_header(k)) req.set(k, v);
                }));
                ws.read_message_max(self->config_.limits.max_payload);
                ws.control_callback([w = self->weak_from_this()](websocket::frame_type kind, beast::string_view) {
                    if (kind != websocket::frame_type::ping) return;
                    if (auto s = w.lock()) s->server_pinged_ = true;
                });
                return ws.async_handshake(res, host, target, tok);
            },
            *out.ws);
        if (ec && is_tls_alert(ec)) {
            out.error = failure::tls_failed;
            out.message = "TLS: " + ec.message();
            out.ws.reset();
            co_return out;
        }
        if (ec) {
            if (ec == websocket::error::upgrade_declined || res.result_int() != 0) {
                out.error = failure::handshake_failed;
                out.message = "server refused the WebSocket upgrade: " +
                              describe_refusal(res.result_int(), res.reason(), res.body());
            } else {
                out.error = ec == beast::error::timeout ? failure::timeout : failure::transport_closed;
                out.message = "WebSocket handshake failed: " + ec.message();
            }
            out.ws.reset();
            co_return out;
        }
        co_return out;
    }

    codec::result<eio::packet> decode_frame(ws_variant& ws, beast::flat_buffer& buf) const {
        const bool text = std::visit([](auto& w) { return w.got_text(); }, ws);
        const std::string_view data{static_cast<const char*>(buf.data().data()), buf.size()};
        return text ? eio::decode_text(data, version()) : eio::decode_binary_frame(data, version());
    }

    static asio::awaitable<boost::system::error_code> write_frame(ws_variant& ws, eio::packet p, int v) {
        const bool binary = p.binary;
        std::string frame = binary ? eio::encode_binary_frame(p, v) : eio::encode_text(p, v);
        auto [ec, n] = co_await std::visit(
            [&](auto& w) {
                w.binary(binary);
                return w.async_write(asio::buffer(frame), tok);
            },
            ws);
        (void)n;
        co_return ec;
    }

    // --- the driver ----------------------------------------------------------------------------

    static asio::awaitable<void> run(std::shared_ptr<client_impl> self) {
        const auto deadline = clock_type::now() + self->config_.connect_timeout;
        if (self->config_.mode == client_mode::websocket) {
            auto r = co_await self->attempts_.run(open_websocket(self, false, deadline));
            if (self->stopped_) co_return;
            if (r.error != failure::none) {
                self->finish(r.error, r.message);
                co_return;
            }
            self->ws_ = std::move(r.ws);
            lowest(*self->ws_).expires_at(deadline);
            auto [ec, n] = co_await std::visit([&](auto& w) { return w.async_read(self->ws_buffer_, tok); }, *self->ws_);
            (void)n;
            if (self->stopped_) co_return;
            if (ec) {
                self->finish(ec == beast::error::timeout ? failure::timeout : failure::transport_closed,
                             "no Engine.IO open packet: " + ec.message());
                co_return;
            }
            auto p = self->decode_frame(*self->ws_, self->ws_buffer_);
            self->ws_buffer_.consume(self->ws_buffer_.size());
            if (!p || p->type != eio::packet_type::open) {
                self->finish(failure::protocol_error,
                             p ? "the server's first packet is not an Engine.IO open packet"
                               : "bad Engine.IO packet from the server: " + p.err().reason);
                co_return;
            }
            self->websocket_active_ = true;
            lowest(*self->ws_).expires_never();
            if (!self->handle_open(p->data)) co_return;
            self->spawn(ws_reader(self));
            self->spawn(writer(self));
            self->start_heartbeat();
            co_return;
        }

        // Polling handshake.
        auto r = co_await request(self, self->get_conn_, http::verb::get, self->target("polling", false), {}, deadline);
        if (self->stopped_) co_return;
        if (r.error != failure::none) {
            self->finish(r.error, r.message);
            co_return;
        }
        if (r.status != 200) {
            self->finish(failure::handshake_failed,
                         "server refused the Engine.IO handshake: " + describe_refusal(r.status, r.reason, r.body));
            co_return;
        }
        auto packets = self->decode_poll_body(r);
        if (!packets || packets->empty() || packets->front().type != eio::packet_type::open) {
            self->finish(failure::protocol_error, packets ? "the server's first packet is not an Engine.IO open packet"
                                                          : "bad Engine.IO handshake payload: " + packets.err().reason);
            co_return;
        }
        if (!self->handle_open(packets->front().data)) co_return;
        for (std::size_t i = 1; i < packets->size() && !self->stopped_; ++i) self->handle((*packets)[i]);
        if (self->stopped_) co_return;
        self->spawn(poll_reader(self));
        self->spawn(writer(self));
        self->start_heartbeat();
        if (self->config_.mode == client_mode::upgrade &&
            std::find(self->handshake_.upgrades.begin(), self->handshake_.upgrades.end(), "websocket") !=
                self->handshake_.upgrades.end())
            self->spawn(probe(self));
    }

    bool handle_open(const std::string& json_text) {
        auto hs = eio::decode_handshake(json_text);
        if (!hs) {
            finish(failure::protocol_error, "bad Engine.IO open packet: " + hs.err().reason);
            return false;
        }
        handshake_ = std::move(*hs);
        open_ = true;
        last_activity_ = clock_type::now();
        if (handlers_.on_open) handlers_.on_open(handshake_, transport_name(), json_text);
        return !stopped_;
    }

    void handle(const eio::packet& p) {
        if (stopped_) return;
        last_activity_ = clock_type::now();
        switch (p.type) {
        case eio::packet_type::ping:
            if (handlers_.on_heartbeat) handlers_.on_heartbeat(eio::packet_type::ping, std::nullopt);
            if (stopped_) return;
            send(eio::packet{eio::packet_type::pong, p.data, false});
            if (handlers_.on_heartbeat) handlers_.on_heartbeat(eio::packet_type::pong, std::nullopt);
            break;
        case eio::packet_type::pong:
            if (version() == 3 && ping_sent_) {
                const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - *ping_sent_);
                ping_sent_.reset();
                if (handlers_.on_heartbeat) handlers_.on_heartbeat(eio::packet_type::pong, rtt);
            }
            break;
        case eio::packet_type::message:
            if (handlers_.on_message) handlers_.on_message(p);
            break;
        case eio::packet_type::close:
            finish(failure::transport_closed, "transport close");
            break;
        case eio::packet_type::open:
            finish(failure::protocol_error, "unexpected Engine.IO open packet on an open session");
            break;
        default: break;  // noop, upgrade
        }
    }

    void start_heartbeat() {
        spawn(heartbeat(self()));
        if (version() == 3) spawn(pinger(self()));
    }

    // A silent server: nothing received for pingInterval + pingTimeout.
    static asio::awaitable<void> heartbeat(std::shared_ptr<client_impl> self) {
        const auto limit = std::chrono::milliseconds(self->handshake_.ping_interval_ms + self->handshake_.ping_timeout_ms);
        while (!self->stopped_) {
            const auto due = self->last_activity_ + limit;
            if (clock_type::now() >= due) {
                self->finish(failure::ping_timeout, "ping timeout");
                co_return;
            }
            self->heartbeat_timer_.expires_at(due);
            co_await self->heartbeat_timer_.async_wait(tok);
        }
    }

    // v3: the client pings every pingInterval.
    static asio::awaitable<void> pinger(std::shared_ptr<client_impl> self) {
        while (!self->stopped_) {
            self->ping_timer_.expires_after(std::chrono::milliseconds(self->handshake_.ping_interval_ms));
            auto [ec] = co_await self->ping_timer_.async_wait(tok);
            if (ec || self->stopped_ || self->closing_) co_return;
            self->ping_sent_ = clock_type::now();
            self->send(eio::packet{eio::packet_type::ping, {}, false});
            if (self->handlers_.on_heartbeat) self->handlers_.on_heartbeat(eio::packet_type::ping, std::nullopt);
        }
    }

    static asio::awaitable<void> poll_reader(std::shared_ptr<client_impl> self) {
        while (!self->stopped_ && !self->websocket_active_ && !self->upgrading_) {
            self->poll_in_flight_ = true;
            auto r = co_await request(self, self->get_conn_, http::verb::get, self->target("polling", true), {},
                                      std::nullopt);
            self->poll_in_flight_ = false;
            self->notify_probe();  // an upgrade waits for this GET to end
            if (self->stopped_) co_return;
            if (r.error != failure::none) {
                self->finish(failure::transport_closed, "transport error: " + r.message);
                co_return;
            }
            if (r.status != 200) {
                self->finish(failure::transport_closed, "transport error: poll answered " +
                                                            describe_refusal(r.status, r.reason, r.body));
                co_return;
            }
            auto packets = self->decode_poll_body(r);
            if (!packets) {
                self->finish(failure::protocol_error, "bad Engine.IO payload from the server: " + packets.err().reason);
                co_return;
            }
            for (const auto& p : *packets) {
                self->handle(p);
                if (self->stopped_) co_return;
            }
        }
        self->notify();  // the probe may be waiting for the poll to end
    }

    static asio::awaitable<void> ws_reader(std::shared_ptr<client_impl> self) {
        while (!self->stopped_ && self->ws_) {
            auto [ec, n] = co_await std::visit([&](auto& w) { return w.async_read(self->ws_buffer_, tok); }, *self->ws_);
            (void)n;
            if (self->stopped_) co_return;
            if (ec) {
                self->finish(failure::transport_closed, "transport close");
                co_return;
            }
            auto p = self->decode_frame(*self->ws_, self->ws_buffer_);
            self->ws_buffer_.consume(self->ws_buffer_.size());
            if (!p) {
                self->finish(failure::protocol_error, "bad Engine.IO packet from the server: " + p.err().reason);
                co_return;
            }
            self->handle(*p);
        }
    }

    static asio::awaitable<void> writer(std::shared_ptr<client_impl> self) {
        while (!self->stopped_) {
            const bool can_write = self->websocket_active_ || !self->upgrading_;
            if (!self->unsent_.empty() && self->websocket_active_) {
                // The rest of a frame that write_now could not finish, before anything else.
                auto [ec, n] = co_await asio::async_write(lowest(*self->ws_), asio::buffer(self->unsent_), tok);
                (void)n;
                std::string().swap(self->unsent_);
                if (self->stopped_) co_return;
                if (ec) {
                    self->finish(failure::transport_closed, "transport error: " + ec.message());
                    co_return;
                }
                continue;
            }
            if ((self->queue_.empty() || !can_write) && !self->closing_) {
                self->wake_.expires_at(clock_type::time_point::max());
                self->writer_idle_ = true;
                co_await self->wake_.async_wait(tok);
                self->writer_idle_ = false;
                continue;
            }
            if (self->closing_ && (self->queue_.empty() || !can_write)) {
                co_await close_transport(self);
                co_return;
            }
            if (self->websocket_active_) {
                eio::packet p = std::move(self->queue_.front());
                self->queue_.pop_front();
                auto ec = co_await write_frame(*self->ws_, std::move(p), self->version());
                if (self->stopped_) co_return;
                if (ec) {
                    self->finish(failure::transport_closed, "transport error: " + ec.message());
                    co_return;
                }
            } else {
                // One POST carries what fits in the server's maxPayload (from its open packet),
                // as socket.io-client does: a larger body would be refused with 413 and end
                // the session. A single larger packet still goes alone (and fails loudly).
                std::vector<eio::packet> batch;
                const std::uint64_t limit = self->handshake_.max_payload.value_or(UINT64_MAX);
                std::uint64_t bytes = 0;
                while (!self->queue_.empty()) {
                    const eio::packet& next = self->queue_.front();
                    // Encoded: the type digit (or "b" and base64) and the record separator.
                    const std::uint64_t size = 2 + (next.binary ? (next.data.size() + 2) / 3 * 4 : next.data.size());
                    if (!batch.empty() && bytes + size > limit) break;
                    bytes += size;
                    batch.push_back(std::move(self->queue_.front()));
                    self->queue_.pop_front();
                }
                self->post_in_flight_ = true;
                auto r = co_await request(self, self->post_conn_, http::verb::post, self->target("polling", true),
                                          self->encode_poll_body(batch), std::nullopt);
                self->post_in_flight_ = false;
                self->notify_probe();
                if (self->stopped_) co_return;
                if (r.error != failure::none || r.status != 200) {
                    self->finish(failure::transport_closed,
                                 "transport error: " + (r.error != failure::none
                                                            ? r.message
                                                            : "POST answered " + describe_refusal(r.status, r.reason, r.body)));
                    co_return;
                }
            }
        }
    }

    // With the writer idle and nothing queued, a packet for a plain WebSocket is framed here
    // (masked, as a client must) and written at once by a non-blocking write: no wake-up of the
    // writer, no write operation and no completion to wait for, which is much of a load
    // generator's cost per message. What the socket does not take is left to the writer: the
    // rest of the frame as bytes (unsent_), or the whole packet through the queue. Never once the
    // server has sent a WebSocket ping (Beast's pong must not land inside a frame of ours).
    bool write_now(const eio::packet& p) {
        if (!websocket_active_ || upgrading_ || !ws_ || server_pinged_ || !unsent_.empty()) return false;
        auto* plain = std::get_if<ws_plain>(ws_.get());
        if (plain == nullptr || !plain->is_open()) return false;
        auto& socket = beast::get_lowest_layer(*plain).socket();
        if (direct_socket_ != &socket) {
            boost::system::error_code ec;
            socket.non_blocking(true, ec);
            if (ec) return false;
            direct_socket_ = &socket;
        }
        const std::string payload = p.binary ? eio::encode_binary_frame(p, version()) : eio::encode_text(p, version());
        const std::size_t size = payload.size();
        // A fresh masking key per frame (xorshift, seeded from std::random_device: Beast's own
        // default generator is not a cryptographic one either).
        if (mask_state_ == 0) mask_state_ = std::random_device{}() | 1u;
        mask_state_ ^= mask_state_ << 13;
        mask_state_ ^= mask_state_ >> 17;
        mask_state_ ^= mask_state_ << 5;
        std::array<char, 4> key{};
        for (int i = 0; i < 4; ++i) key[static_cast<std::size_t>(i)] = static_cast<char>((mask_state_ >> (8 * i)) & 0xff);
        codec::ws_frame_header_bytes header{};
        const std::size_t header_size = codec::ws_frame_header(p.binary, size, header, &key);
        std::string frame;
        frame.reserve(header_size + size);
        frame.append(header.data(), header_size);
        const std::size_t start = frame.size();
        frame.append(payload);
        for (std::size_t i = 0; i < size; ++i) frame[start + i] = static_cast<char>(frame[start + i] ^ key[i & 3]);
        boost::system::error_code ec;
        const std::size_t n = socket.write_some(asio::buffer(frame), ec);
        if (ec || n == 0) return false;  // would block: queued for the writer; a failure: its write fails
        if (n < frame.size()) {
            unsent_.assign(frame, n);
            notify();
        }
        return true;
    }

    // The user's close: a close packet over polling, a close frame over WebSocket, then done.
    static asio::awaitable<void> close_transport(std::shared_ptr<client_impl> self) {
        if (self->websocket_active_ && self->ws_) {
            lowest(*self->ws_).expires_after(std::chrono::seconds(2));
            co_await std::visit([&](auto& w) { return w.async_close(websocket::close_code::normal, tok); }, *self->ws_);
        } else {
            std::vector<eio::packet> bye;
            bye.push_back(eio::packet{eio::packet_type::close, {}, false});
            std::string body = self->encode_poll_body(bye);
            std::string target = self->target("polling", true);
            const auto until = clock_type::now() + std::chrono::seconds(2);
            co_await request(self, self->post_conn_, http::verb::post, std::move(target), std::move(body), until);
        }
        self->finish(failure::none, "forced close");
    }

    void notify_probe() {
        if (probe_timer_) probe_timer_->cancel();
    }

    // Polling then WebSocket: "2probe" / "3probe", pause polling, "5", switch.
    static asio::awaitable<void> probe(std::shared_ptr<client_impl> self) {
        auto r = co_await self->attempts_.run(open_websocket(self, true, clock_type::now() + self->config_.connect_timeout));
        if (self->stopped_ || self->closing_ || r.error != failure::none) co_return;  // stay on polling
        auto& ws = *r.ws;
        self->probe_ws_ = r.ws.get();  // closed by finish() until it is ours
        struct forget {
            client_impl& c;
            ~forget() { c.probe_ws_ = nullptr; }
        } forget_probe{*self};
        lowest(ws).expires_after(self->config_.connect_timeout);
        eio::packet probe_packet{eio::packet_type::ping, "probe", false};
        auto ec = co_await write_frame(ws, std::move(probe_packet), self->version());
        if (ec || self->stopped_) co_return;
        beast::flat_buffer buf;
        auto [rec, n] = co_await std::visit([&](auto& w) { return w.async_read(buf, tok); }, ws);
        (void)n;
        if (rec || self->stopped_ || self->closing_) co_return;
        auto p = self->decode_frame(ws, buf);
        if (!p || p->type != eio::packet_type::pong || p->data != "probe") co_return;  // stay on polling

        // Pause polling: no new GET or POST; wait for those in flight.
        self->upgrading_ = true;
        asio::steady_timer waiter{self->strand_};
        self->probe_timer_ = &waiter;
        while (!self->stopped_ && (self->poll_in_flight_ || self->post_in_flight_)) {
            waiter.expires_after(std::chrono::milliseconds(50));
            co_await waiter.async_wait(tok);
        }
        self->probe_timer_ = nullptr;
        if (self->stopped_ || self->closing_) co_return;  // closing over polling: no upgrade
        eio::packet upgrade_packet{eio::packet_type::upgrade, {}, false};
        ec = co_await write_frame(ws, std::move(upgrade_packet), self->version());
        if (self->stopped_) co_return;
        if (ec) {
            self->finish(failure::transport_closed, "transport error during upgrade: " + ec.message());
            co_return;
        }
        lowest(ws).expires_never();
        self->ws_ = std::move(r.ws);
        // Anything the server sent after 3probe is still in our buffer.
        self->ws_buffer_ = std::move(buf);
        self->ws_buffer_.consume(self->ws_buffer_.size());
        self->websocket_active_ = true;
        self->upgraded_ = true;
        self->upgrading_ = false;
        // Closed, not reset: a request still in flight on them (the close POST) holds them.
        self->get_conn_.close();
        self->post_conn_.close();
        self->spawn(ws_reader(self));
        self->notify();
        if (self->handlers_.on_upgrade) self->handlers_.on_upgrade();
    }

    void finish(failure f, std::string reason) {
        if (stopped_) return;
        stopped_ = true;
        const bool was_silent = silent_;
        heartbeat_timer_.cancel();
        ping_timer_.cancel();
        wake_.cancel();
        notify_probe();
        attempts_.cancel_all();  // a connection or upgrade still being set up
        get_conn_.close();
        post_conn_.close();
        for (ws_variant* ws : {ws_.get(), probe_ws_}) {
            if (!ws) continue;
            boost::system::error_code ec;
            lowest(*ws).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
            lowest(*ws).close();
        }
        queue_.clear();
        if (handlers_.on_close) {
            // Reported after the current handler chain has unwound.
            asio::post(strand_, [h = handlers_.on_close, f, reason = std::move(reason), was_silent]() {
                (void)was_silent;
                h(f, reason);
            });
        }
    }

    asio::any_io_executor strand_;
    client_config config_;
    client_handlers handlers_;
    std::shared_ptr<asio::ssl::context> tls_;
    eio::handshake handshake_;

    http_conn get_conn_;   // the reader's GETs (and the handshake)
    http_conn post_conn_;  // the writer's POSTs
    std::unique_ptr<ws_variant> ws_;
    ws_variant* probe_ws_ = nullptr;  // the upgrade probe's WebSocket while it is the probe's
    transport::attempts attempts_;    // connections being set up
    beast::flat_buffer ws_buffer_;

    std::deque<eio::packet> queue_;
    asio::steady_timer wake_;
    asio::steady_timer heartbeat_timer_;
    asio::steady_timer ping_timer_;
    asio::steady_timer* probe_timer_ = nullptr;
    clock_type::time_point last_activity_{};
    std::optional<clock_type::time_point> ping_sent_;
    std::uint64_t request_counter_ = 0;

    bool started_ = false;
    bool open_ = false;
    bool stopped_ = false;
    bool closing_ = false;
    bool silent_ = false;
    bool websocket_active_ = false;
    bool upgrading_ = false;
    bool upgraded_ = false;
    bool poll_in_flight_ = false;
    bool post_in_flight_ = false;
    // write_now: the writer waits for work; the bytes of a frame it left; the socket it made
    // non-blocking; the server has pinged; the masking key generator's state.
    bool writer_idle_ = false;
    std::string unsent_;
    const void* direct_socket_ = nullptr;
    bool server_pinged_ = false;
    std::uint32_t mask_state_ = 0;
};

std::shared_ptr<client> client::create(asio::any_io_executor strand, client_config config, client_handlers handlers) {
    return std::make_shared<client_impl>(std::move(strand), std::move(config), std::move(handlers));
}

}  // namespace sio::engine
