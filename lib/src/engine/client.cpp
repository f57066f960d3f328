// The Engine.IO client driver. One strand. Polling: a GET loop and a POST loop, each a coroutine
// on its own keep-alive connection. WebSocket: a transport::ws_stream (role client) that reads
// and writes the connection and calls back here; what send() queues waits in queue_ until the
// stream asks for more (on_ws_writable), then leaves in one gather write per flush. An upgrade
// opens a second ws_stream, the probe: once it answers the probe and polling has paused, it
// becomes the connection's stream.
#include "sio/engine/client.hpp"

#include "sio/codec/json.hpp"
#include "sio/transport/polling_client.hpp"
#include "sio/transport/ws_handshake.hpp"
#include "sio/transport/ws_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <exception>
#include <variant>

namespace sio::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace eio = codec::eio;
using transport::failure;
using clock_type = std::chrono::steady_clock;

class client_impl;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

// What one on_ws_writable moves from queue_ into the stream's outbox at most (payload bytes): a
// larger backlog stays in queue_ until the stream has written this.
constexpr std::size_t ws_outbox_bytes = 256u << 10;

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

// Queues one Engine.IO packet as one frame: the type digit (text), the type byte (v3 binary) or
// nothing (v4 binary) as the frame's prefix, then the data, not copied until the stream masks it.
void send_packet(transport::ws_stream& ws, eio::packet p, int version) {
    char prefix = 0;
    std::string_view prefix_view;
    if (!p.binary) {
        prefix = static_cast<char>('0' + static_cast<int>(p.type));
        prefix_view = {&prefix, 1};
    } else if (version == 3) {
        prefix = static_cast<char>(p.type);
        prefix_view = {&prefix, 1};
    }
    ws.send(p.binary, prefix_view, std::make_shared<const std::string>(std::move(p.data)));
}

// The owner of a ws_stream: hands its calls to the client while the client lives (the stream
// holds its owner; a weak link keeps the two from holding each other). `probe`: the stream is
// the upgrade's probe, not (yet) the connection's.
class ws_link final : public transport::ws_owner {
public:
    ws_link(std::weak_ptr<client_impl> client, bool is_probe) : probe(is_probe), client_(std::move(client)) {}
    void on_ws_message(std::string_view data, bool binary) override;
    void on_ws_writable() override;
    void on_ws_end(const transport::ws_end& end) override;

    bool probe;  // cleared when the probe becomes the connection's stream

private:
    std::weak_ptr<client_impl> client_;
};

}  // namespace

class client_impl final : public client, public std::enable_shared_from_this<client_impl> {
public:
    client_impl(asio::any_io_executor strand, client_config config, client_handlers handlers)
        : strand_(std::move(strand)), config_(std::move(config)), handlers_(std::move(handlers)),
          wake_(strand_), heartbeat_timer_(strand_), ping_timer_(strand_), probe_timer_(strand_), open_timer_(strand_) {
        if (config_.path.empty() || config_.path.front() != '/') config_.path.insert(config_.path.begin(), '/');
        if (config_.path.back() != '/') config_.path.push_back('/');
    }

    // Dropped without close() (finish() never ran): a stream still running would keep its
    // connection open with nobody listening; it is aborted on the strand.
    ~client_impl() override {
        if (stopped_) return;
        for (auto* ws : {&ws_, &probe_ws_})
            if (*ws) asio::post(strand_, [s = std::move(*ws)] { s->abort(); });
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
        queue_.push_back(std::move(p));
        if (websocket_active_ && ws_)
            ws_->wake();  // on_ws_writable takes it, with whatever else is queued by then
        else
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
        if (websocket_active_ && ws_) {
            // What is queued goes first: on_ws_writable sends the close frame once queue_ is in
            // the outbox (the close timeout counts from there); on_ws_end finishes.
            ws_->wake();
            return;
        }
        notify();  // the POST loop sends the close packet and ends the connection
    }

    bool is_open() const noexcept override { return open_ && !stopped_; }
    std::string_view transport_name() const noexcept override {
        if (!open_ || stopped_) return {};
        return websocket_active_ ? "websocket" : "polling";
    }
    bool upgraded() const noexcept override { return upgraded_; }

    // --- the ws_stream's calls (through ws_link) ------------------------------------------------

    void on_ws_message(const ws_link& link, std::string_view data, bool binary) {
        if (stopped_) return;
        auto p = binary ? eio::decode_binary_frame(data, version()) : eio::decode_text(data, version());
        if (link.probe) {
            // The probe's answer: "3probe", or the upgrade is given up.
            if (probe_state_ != probe_state::waiting) return;
            probe_state_ = p && p->type == eio::packet_type::pong && p->data == "probe" ? probe_state::answered
                                                                                        : probe_state::failed;
            notify_probe();
            return;
        }
        if (!open_) {
            // WebSocket only: the first packet opens the session.
            open_timer_.cancel();
            if (!p || p->type != eio::packet_type::open) {
                finish(failure::protocol_error, p ? "the server's first packet is not an Engine.IO open packet"
                                                  : "bad Engine.IO packet from the server: " + p.err().reason);
                return;
            }
            websocket_active_ = true;
            if (!handle_open(p->data)) return;
            start_heartbeat();
            if (!queue_.empty()) ws_->wake();  // sent before the open packet came
            return;
        }
        if (!p) {
            finish(failure::protocol_error, "bad Engine.IO packet from the server: " + p.err().reason);
            return;
        }
        handle(*p);
    }

    // The outbox is empty: what waits in queue_ goes, up to ws_outbox_bytes; after the last of
    // it, the close frame of close().
    void on_ws_writable(const ws_link& link) {
        if (link.probe || stopped_ || !websocket_active_ || !ws_) return;
        std::size_t bytes = 0;
        while (!queue_.empty() && bytes < ws_outbox_bytes) {
            bytes += queue_.front().data.size() + 1;
            send_packet(*ws_, std::move(queue_.front()), version());
            queue_.pop_front();
        }
        if (closing_ && queue_.empty()) ws_->close(codec::ws::close_code::normal);
    }

    void on_ws_end(const ws_link& link, const transport::ws_end& end) {
        if (stopped_) return;
        if (link.probe) {
            if (&link != probe_link_.get()) return;
            probe_state_ = probe_state::failed;
            probe_end_ = end.reason;
            notify_probe();
            return;
        }
        if (closing_) {
            finish(failure::none, "forced close");
        } else if (!open_) {
            finish(failure::transport_closed, "no Engine.IO open packet: " + end.reason);
        } else if (end.how == transport::ws_end::kind::failed && end.code == codec::ws::close_code::abnormal) {
            // A read or write that failed.
            finish(failure::transport_closed, "transport error: " + end.reason);
        } else if (end.how == transport::ws_end::kind::failed) {
            // The server broke the WebSocket protocol (the stream told it so with `code`): the
            // transport is closed, as when Beast's stream read such a frame, and the detail kept.
            finish(failure::transport_closed, "transport close: the server broke the WebSocket protocol: " + end.reason +
                                                  " (close code " + std::to_string(end.code) + ")");
        } else {
            finish(failure::transport_closed, "transport close");
        }
    }

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
                    // Not a std::exception: reported as the bare "internal error" below.
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
        if (with_sid) t.append("&sid=").append(transport::url_encode(handshake_.sid));
        for (const auto& [k, v] : config_.query)
            t.append("&").append(transport::url_encode(k)).append("=").append(transport::url_encode(v));
        if (!config_.url.query.empty()) t.append("&").append(config_.url.query);
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

    // One polling request and its answer on `conn` (transport/polling_client), counted.
    static asio::awaitable<transport::http_reply> request(std::shared_ptr<client_impl> self,
                                                          transport::http_client_connection& conn, http::verb verb,
                                                          std::string target, std::string body,
                                                          std::optional<clock_type::time_point> deadline) {
        transport::http_exchange x;
        x.head = transport::polling_request_head(http::to_string(verb), target, self->host_header(),
                                                 self->config_.headers, verb == http::verb::post, body.size());
        x.body = std::move(body);
        x.deadline = deadline;
        x.body_limit = self->config_.limits.max_payload + 1024;
        auto out = co_await transport::exchange(conn, x, self->attempts_, self->connect_request({}),  // its deadline: the exchange sets it
                                                self->config_.connect_timeout, self->stopped_);
        if (auto* c = self->config_.counters.get()) {
            c->http_requests.fetch_add(out.requests, std::memory_order_relaxed);
            c->http_header_bytes.fetch_add(out.header_bytes, std::memory_order_relaxed);
        }
        co_return out;
    }

    codec::result<std::vector<eio::packet>> decode_poll_body(const transport::http_reply& r) const {
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

    // Connects, upgrades and hands the connection to a ws_stream (not started yet).
    static asio::awaitable<transport::ws_client_handshake_result> open_websocket(std::shared_ptr<client_impl> self,
                                                                                 bool with_sid,
                                                                                 clock_type::time_point deadline) {
        transport::ws_client_handshake_result out;
        auto r = co_await transport::connect(self->connect_request(deadline));
        if (r.error != failure::none) {
            out.error = r.error;
            out.message = r.message;
            co_return out;
        }
        auto request = transport::make_ws_upgrade_request(self->host_header(), self->target("websocket", with_sid),
                                                          self->config_.headers);
        transport::ws_stream_options options;
        options.limits.max_message = self->config_.limits.max_payload;
        options.close_timeout = std::chrono::seconds(2);  // close(): how long the server has to answer
        out = co_await transport::ws_client_handshake(std::move(r.stream), std::move(request), {}, self->strand_,
                                                      std::move(options));
        if (out.error == failure::handshake_failed && out.status != 0) {
            // An Engine.IO server says why in a JSON body.
            out.message = "server refused the WebSocket upgrade: " + describe_refusal(out.status, out.status_reason, out.body);
        }
        co_return out;
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
            // The open packet must come by the deadline; on_ws_message takes it.
            self->open_timer_.expires_at(deadline);
            self->open_timer_.async_wait([w = self->weak_from_this()](boost::system::error_code ec) {
                if (ec) return;
                if (auto s = w.lock(); s && !s->open_) s->finish(failure::timeout, "no Engine.IO open packet: timed out");
            });
            self->ws_ = r.ws;
            r.ws->start(std::make_shared<ws_link>(self->weak_from_this(), false), std::move(r.pending));
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
        self->spawn(poll_writer(self));
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

    // The POST loop: batches of queue_ until the connection is closed or moves to WebSocket.
    static asio::awaitable<void> poll_writer(std::shared_ptr<client_impl> self) {
        while (!self->stopped_ && !self->websocket_active_) {
            // Nothing is posted while an upgrade pauses polling; what is queued then goes over
            // the WebSocket.
            const bool can_write = !self->upgrading_;
            if (self->closing_ && (self->queue_.empty() || !can_write)) {
                co_await close_polling(self);
                co_return;
            }
            if (self->queue_.empty() || !can_write) {
                self->wake_.expires_at(clock_type::time_point::max());
                co_await self->wake_.async_wait(tok);
                continue;
            }
            // One POST carries what fits in the server's maxPayload (from its open packet), as
            // socket.io-client does: a larger body would be refused with 413 and end the session.
            // A single larger packet still goes alone (and fails loudly).
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

    // The user's close over polling: a close packet, then done.
    static asio::awaitable<void> close_polling(std::shared_ptr<client_impl> self) {
        std::vector<eio::packet> bye;
        bye.push_back(eio::packet{eio::packet_type::close, {}, false});
        std::string body = self->encode_poll_body(bye);
        std::string target = self->target("polling", true);
        const auto until = clock_type::now() + std::chrono::seconds(2);
        co_await request(self, self->post_conn_, http::verb::post, std::move(target), std::move(body), until);
        self->finish(failure::none, "forced close");
    }

    void notify_probe() { probe_timer_.cancel(); }

    // Polling then WebSocket: "2probe" / "3probe", pause polling, "5", switch.
    static asio::awaitable<void> probe(std::shared_ptr<client_impl> self) {
        const auto deadline = clock_type::now() + self->config_.connect_timeout;
        auto r = co_await self->attempts_.run(open_websocket(self, true, deadline));
        if (self->stopped_ || self->closing_ || r.error != failure::none) co_return;  // stay on polling
        auto link = std::make_shared<ws_link>(self->weak_from_this(), true);
        self->probe_ws_ = r.ws;
        self->probe_link_ = link;
        self->probe_state_ = probe_state::waiting;
        r.ws->start(link, std::move(r.pending));
        send_packet(*r.ws, eio::packet{eio::packet_type::ping, "probe", false}, self->version());
        while (!self->stopped_ && self->probe_state_ == probe_state::waiting && clock_type::now() < deadline) {
            self->probe_timer_.expires_at(deadline);
            co_await self->probe_timer_.async_wait(tok);
        }
        if (self->stopped_ || self->closing_ || self->probe_state_ != probe_state::answered) {
            self->drop_probe();  // stay on polling
            co_return;
        }

        // Pause polling: no new GET or POST; wait for those in flight.
        self->upgrading_ = true;
        while (!self->stopped_ && (self->poll_in_flight_ || self->post_in_flight_)) {
            self->probe_timer_.expires_after(std::chrono::milliseconds(50));
            co_await self->probe_timer_.async_wait(tok);
        }
        if (self->stopped_) co_return;
        if (self->closing_) {  // closing over polling: no upgrade
            self->drop_probe();
            co_return;
        }
        if (self->probe_state_ != probe_state::answered) {
            // The probe's WebSocket ended during the pause, and polling is paused.
            self->finish(failure::transport_closed, "transport error during upgrade: " + self->probe_end_);
            co_return;
        }
        send_packet(*r.ws, eio::packet{eio::packet_type::upgrade, {}, false}, self->version());
        // The probe is the connection's stream now: what the server sends from here on is handled.
        link->probe = false;
        self->ws_ = std::move(self->probe_ws_);
        self->probe_link_.reset();
        self->websocket_active_ = true;
        self->upgraded_ = true;
        self->upgrading_ = false;
        // Closed, not reset: a request still in flight on them (the close POST) holds them.
        self->get_conn_.close();
        self->post_conn_.close();
        self->notify();     // the POST loop ends
        self->ws_->wake();  // what was queued during the pause follows the "5"
        if (self->handlers_.on_upgrade) self->handlers_.on_upgrade();
    }

    void drop_probe() {
        if (probe_ws_) probe_ws_->abort();
        probe_ws_.reset();
        probe_link_.reset();
    }

    void finish(failure f, std::string reason) {
        if (stopped_) return;
        stopped_ = true;
        const bool was_silent = silent_;
        heartbeat_timer_.cancel();
        ping_timer_.cancel();
        open_timer_.cancel();
        wake_.cancel();
        notify_probe();
        attempts_.cancel_all();  // a connection or upgrade still being set up
        get_conn_.close();
        post_conn_.close();
        if (ws_) ws_->abort();  // nothing when it has ended already
        drop_probe();
        queue_.clear();
        if (handlers_.on_close) {
            // Reported after the current handler chain has unwound.
            asio::post(strand_, [h = handlers_.on_close, f, reason = std::move(reason), was_silent]() {
                (void)was_silent;
                h(f, reason);
            });
        }
    }

    enum class probe_state : std::uint8_t { none, waiting, answered, failed };

    asio::any_io_executor strand_;
    client_config config_;
    client_handlers handlers_;
    std::shared_ptr<asio::ssl::context> tls_;
    eio::handshake handshake_;

    transport::http_client_connection get_conn_;   // the GET loop's (and the handshake's)
    transport::http_client_connection post_conn_;  // the POST loop's
    std::shared_ptr<transport::ws_stream> ws_;  // the connection's WebSocket
    // The upgrade's probe until it becomes ws_: its stream, its link, how far it got, and why its
    // stream ended (if it did).
    std::shared_ptr<transport::ws_stream> probe_ws_;
    std::shared_ptr<ws_link> probe_link_;
    probe_state probe_state_ = probe_state::none;
    std::string probe_end_;
    transport::attempts attempts_;  // connections being set up

    std::deque<eio::packet> queue_;
    asio::steady_timer wake_;             // the POST loop waits on it
    asio::steady_timer heartbeat_timer_;
    asio::steady_timer ping_timer_;
    asio::steady_timer probe_timer_;      // the probe waits on it for its answer, then for polling to pause
    asio::steady_timer open_timer_;       // WebSocket only: the deadline of the open packet
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
};

namespace {

void ws_link::on_ws_message(std::string_view data, bool binary) {
    if (auto c = client_.lock()) c->on_ws_message(*this, data, binary);
}

void ws_link::on_ws_writable() {
    if (auto c = client_.lock()) c->on_ws_writable(*this);
}

void ws_link::on_ws_end(const transport::ws_end& end) {
    if (auto c = client_.lock()) c->on_ws_end(*this, end);
}

}  // namespace

std::shared_ptr<client> client::create(asio::any_io_executor strand, client_config config, client_handlers handlers) {
    return std::make_shared<client_impl>(std::move(strand), std::move(config), std::move(handlers));
}

}  // namespace sio::engine
