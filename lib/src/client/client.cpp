// The Socket.IO client: a manager owning one Engine.IO client connection at a time and the
// namespace sockets multiplexed over it; reconnection with backoff; connection state recovery.
//
// Every piece of state below lives on the manager's strand, except what status(), id(),
// connected() and recovered() read from other threads (under a mutex or atomic).
#include "sio/client.hpp"

#include "sio/codec/http.hpp"
#include "sio/engine/client.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <random>

namespace sio {

namespace asio = boost::asio;
namespace sp = codec::socketio;
namespace eio = codec::eio;
using clock_type = std::chrono::steady_clock;

// --- names and the error category --------------------------------------------------------------

std::string_view to_string(client_transport t) noexcept {
    switch (t) {
    case client_transport::polling: return "polling";
    case client_transport::websocket: return "websocket";
    case client_transport::upgrade: return "upgrade";
    }
    return "upgrade";
}

std::string_view to_string(client_parser p) noexcept {
    return p == client_parser::msgpack ? "msgpack" : "json";
}

std::string_view to_string(client_state s) noexcept {
    switch (s) {
    case client_state::closed: return "closed";
    case client_state::opening: return "opening";
    case client_state::open: return "open";
    case client_state::reconnecting: return "reconnecting";
    }
    return "closed";
}

namespace {

class client_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "sio.client"; }
    std::string message(int ev) const override {
        switch (static_cast<client_errc>(ev)) {
        case client_errc::ok: return "success";
        case client_errc::bad_url: return "bad URL";
        case client_errc::resolve_failed: return "cannot resolve the host name";
        case client_errc::connect_failed: return "cannot connect";
        case client_errc::timeout: return "connection timed out";
        case client_errc::tls_failed: return "TLS failure";
        case client_errc::proxy_failed: return "proxy refused the connection";
        case client_errc::handshake_failed: return "the server refused the handshake";
        case client_errc::protocol_error: return "protocol error";
        case client_errc::ping_timeout: return "ping timeout";
        case client_errc::transport_closed: return "transport closed";
        case client_errc::connect_error: return "the server refused the namespace connection";
        }
        return "unknown client error";
    }
};

// transport::failure and client_errc pair one for one by value (client_errc adds connect_error,
// which is not a transport matter); an enumerator inserted in either enum fails here.
constexpr bool same_value(transport::failure f, client_errc e) noexcept { return static_cast<int>(f) == static_cast<int>(e); }
static_assert(same_value(transport::failure::none, client_errc::ok));
static_assert(same_value(transport::failure::bad_url, client_errc::bad_url));
static_assert(same_value(transport::failure::resolve_failed, client_errc::resolve_failed));
static_assert(same_value(transport::failure::connect_failed, client_errc::connect_failed));
static_assert(same_value(transport::failure::timeout, client_errc::timeout));
static_assert(same_value(transport::failure::tls_failed, client_errc::tls_failed));
static_assert(same_value(transport::failure::proxy_failed, client_errc::proxy_failed));
static_assert(same_value(transport::failure::handshake_failed, client_errc::handshake_failed));
static_assert(same_value(transport::failure::protocol_error, client_errc::protocol_error));
static_assert(same_value(transport::failure::ping_timeout, client_errc::ping_timeout));
static_assert(same_value(transport::failure::transport_closed, client_errc::transport_closed));

client_errc to_errc(transport::failure f) noexcept { return static_cast<client_errc>(static_cast<int>(f)); }

// The reference's reasons: "transport close", "transport error", "ping timeout", "parse error",
// "forced close".
std::string disconnect_reason(transport::failure f, const std::string& detail) {
    switch (f) {
    case transport::failure::ping_timeout: return "ping timeout";
    case transport::failure::protocol_error: return "parse error";
    case transport::failure::none: return "forced close";
    default: break;
    }
    if (detail.rfind("transport error", 0) == 0) return "transport error";
    return "transport close";
}

}  // namespace

const std::error_category& client_category() noexcept {
    static const client_category_impl instance;
    return instance;
}

class manager_impl;

// --- one namespace -----------------------------------------------------------------------------

class socket_impl final : public client_socket {
public:
    socket_impl(std::weak_ptr<manager_impl> manager, asio::any_io_executor strand, std::string nsp, json auth,
                sp::protocol version, std::chrono::milliseconds ack_timeout)
        : manager_(std::move(manager)), strand_(std::move(strand)), nsp_(std::move(nsp)), auth_(std::move(auth)),
          version_(version), ack_timeout_(ack_timeout) {}

    const std::string& nsp() const noexcept override { return nsp_; }
    std::string id() const override {
        std::lock_guard lock{mutex_};
        return id_;
    }
    bool connected() const override { return connected_.load(); }
    bool recovered() const override { return recovered_.load(); }

    void on(std::string event, client_event_handler handler) override {
        run([event = std::move(event), handler = std::move(handler)](socket_impl& s) mutable {
            s.handlers_[std::move(event)] = std::move(handler);
        });
    }
    void off(const std::string& event) override {
        run([event](socket_impl& s) { s.handlers_.erase(event); });
    }
    void on_any(client_any_handler handler) override {
        run([handler = std::move(handler)](socket_impl& s) mutable { s.any_ = std::move(handler); });
    }
    void on_connect(std::function<void()> handler) override {
        run([handler = std::move(handler)](socket_impl& s) mutable { s.on_connect_ = std::move(handler); });
    }
    void on_connect_error(std::function<void(const json&)> handler) override {
        run([handler = std::move(handler)](socket_impl& s) mutable { s.on_connect_error_ = std::move(handler); });
    }
    void on_disconnect(std::function<void(const std::string&)> handler) override {
        run([handler = std::move(handler)](socket_impl& s) mutable { s.on_disconnect_ = std::move(handler); });
    }

    std::error_code emit(std::string_view event, json args) override {
        if (auto ec = check_event(event, args)) return ec;
        run([event = std::string{event}, args = std::move(args)](socket_impl& s) mutable {
            s.emit_now(event, std::move(args), nullptr, std::chrono::milliseconds{0});
        });
        return {};
    }

    std::error_code emit_with_ack(std::string_view event, json args, client_ack_callback callback,
                                  std::optional<std::chrono::milliseconds> timeout) override {
        if (auto ec = check_event(event, args)) return ec;
        run([event = std::string{event}, args = std::move(args), callback = std::move(callback),
             t = timeout.value_or(ack_timeout_)](socket_impl& s) mutable {
            s.emit_now(event, std::move(args), std::move(callback), t);
        });
        return {};
    }

    std::error_code send_packet(sp::packet p) override;
    void connect() override;
    void disconnect() override;

    // --- called by the manager, on the strand ---

    bool active() const noexcept { return active_; }
    void set_auth(json auth) { auth_ = std::move(auth); }
    void activate() { active_ = true; }
    void send_connect();
    void on_packet(sp::packet p, const std::string& engine_sid);
    void on_close(const std::string& reason);  // the connection ended (the socket stays active)
    void disconnect_now_for_close();            // the manager closes: DISCONNECT, then gone

private:
    struct pending_ack {
        client_ack_callback callback;
        std::shared_ptr<asio::steady_timer> timer;
        clock_type::time_point sent;
    };

    template <class F>
    void run(F f) {
        std::weak_ptr<client_socket> w = weak_from_this();
        asio::post(strand_, [w, f = std::move(f)]() mutable {
            if (auto s = w.lock()) f(static_cast<socket_impl&>(*s));
        });
    }

    std::error_code check_event(std::string_view event, const json& args) const {
        if (sp::is_reserved_event_name(event)) return socket_errc::reserved_event_name;
        if (!args.is_array()) return socket_errc::invalid_arguments;
        return {};
    }

    void emit_now(const std::string& event, json args, client_ack_callback callback, std::chrono::milliseconds timeout);
    void send_or_buffer(sp::packet p);
    void transmit(const sp::packet& p);
    void set_connected(bool on, std::string id);
    void fail_acks(std::error_code ec);
    void handle_event(sp::packet p);
    void handle_ack(sp::packet p);
    void became_inactive();

    std::weak_ptr<manager_impl> manager_;
    asio::any_io_executor strand_;
    const std::string nsp_;
    json auth_;
    sp::protocol version_;
    std::chrono::milliseconds ack_timeout_;

    std::map<std::string, client_event_handler> handlers_;
    client_any_handler any_;
    std::function<void()> on_connect_;
    std::function<void(const json&)> on_connect_error_;
    std::function<void(const std::string&)> on_disconnect_;

    bool active_ = false;            // wants to be connected
    bool connected_local_ = false;   // strand's view of connected_
    std::deque<sp::packet> buffer_;  // emits waiting for a connection
    std::deque<sp::packet> received_;  // events that came before our CONNECT answer (recovery)
    std::map<std::uint64_t, pending_ack> acks_;
    std::uint64_t next_ack_id_ = 0;
    std::optional<std::string> pid_;          // recovery: the server's private session id
    std::optional<std::string> last_offset_;  // recovery: offset of the last event received

    mutable std::mutex mutex_;
    std::string id_;
    std::atomic<bool> connected_{false};
    std::atomic<bool> recovered_{false};

    static constexpr std::size_t max_buffered = 10'000;
};

// --- the manager -------------------------------------------------------------------------------

class manager_impl final : public client {
public:
    manager_impl(asio::any_io_executor executor, client_options options)
        : strand_(options.own_strand ? asio::any_io_executor(asio::make_strand(std::move(executor))) : std::move(executor)),
          options_(std::move(options)),
          reconnect_timer_(strand_), rng_(std::random_device{}()) {
        std::string error;
        if (auto u = transport::parse_url(options_.url, error)) {
            url_ = std::move(*u);
            if (url_.path != "/" && !url_.path.empty()) default_nsp_ = url_.path;
        } else {
            url_error_ = "URL '" + options_.url + "': " + error;
        }
        if (url_error_.empty() && !options_.proxy.empty()) {
            if (auto p = transport::parse_url(options_.proxy, error)) {
                proxy_ = std::move(*p);
            } else {
                url_error_ = "proxy URL '" + options_.proxy + "': " + error;
            }
        }
        for (const auto& header : options_.headers) {
            if (!url_error_.empty()) break;
            url_error_ = codec::check_header(header.first, header.second);
        }
        if (url_error_.empty() && options_.parser == client_parser::msgpack && options_.eio_version != 4)
            url_error_ = "the msgpack parser speaks Socket.IO v5 only (Engine.IO 4, socket.io 3 and later)";
        options_.decoder.version = version();
    }

    ~manager_impl() override {
        // Nothing blocks: the engine's coroutines end on their own once closed.
        if (engine_) {
            asio::post(strand_, [e = std::move(engine_)] { e->close(); });
        }
    }

    std::shared_ptr<client_socket> socket(std::string nsp, json auth) override {
        if (nsp.empty()) nsp = default_nsp_;
        if (nsp.front() != '/') nsp.insert(nsp.begin(), '/');
        std::shared_ptr<socket_impl> s;
        bool created = false;
        {
            std::lock_guard lock{sockets_mutex_};
            auto& slot = sockets_[nsp];
            if (!slot) {
                slot = std::make_shared<socket_impl>(weak_self(), strand_, nsp, auth, version(), options_.ack_timeout);
                created = true;
            }
            s = slot;
        }
        run([s, auth = std::move(auth), created](manager_impl& m) mutable {
            if (!created) s->set_auth(std::move(auth));
            s->activate();
            if (m.engine_open_) s->send_connect();
        });
        return s;
    }

    void open() override {
        run([](manager_impl& m) {
            m.skip_reconnect_ = false;
            if (m.state_ != client_state::closed) return;
            m.do_open();
        });
    }

    void close() override {
        run([](manager_impl& m) { m.close_now(); });
    }

    client_status status() const override {
        std::lock_guard lock{status_mutex_};
        return status_;
    }

    void on_event(std::function<void(const client_event&)> handler) override {
        run([handler = std::move(handler)](manager_impl& m) mutable { m.on_event_ = std::move(handler); });
    }

    void on_open_failed(std::function<void(std::error_code, const std::string&)> handler) override {
        run([handler = std::move(handler)](manager_impl& m) mutable { m.on_open_failed_ = std::move(handler); });
    }

    const client_options& options() const noexcept override { return options_; }

    // --- for the sockets, on the strand ---

    sp::protocol version() const noexcept { return options_.eio_version == 3 ? sp::protocol::v4 : sp::protocol::v5; }
    bool engine_open() const noexcept { return engine_open_; }
    const std::string& engine_sid() const noexcept { return engine_sid_; }

    void ensure_open() {
        skip_reconnect_ = false;
        if (state_ == client_state::closed) do_open();
    }

    void send(const sp::packet& p) {
        if (!engine_ || !engine_open_) return;
        if (p.type == sp::packet_type::connect) connect_sent_ = true;
        if (options_.parser == client_parser::msgpack) {
            engine_->send(eio::packet{eio::packet_type::message, sp::encode_msgpack(p), true});
        } else {
            auto enc = sp::encode(p, version());
            engine_->send(eio::packet{eio::packet_type::message, std::move(enc.text), false});
            for (auto& a : enc.attachments) engine_->send(eio::packet{eio::packet_type::message, std::move(a), true});
        }
        client_event e;
        e.type = client_event::kind::packet_out;
        e.packet = &p;
        e.transport = engine_->transport_name();
        report(e);
    }

    void note_round_trip(std::chrono::microseconds rtt) {
        std::lock_guard lock{status_mutex_};
        status_.last_round_trip = rtt;
    }

    // A socket went inactive (disconnect, server disconnect, connect error): with none left
    // active, the connection closes, as the reference's manager does.
    void socket_inactive() {
        for (const auto& s : all_sockets())
            if (s->active()) return;
        close_now();
    }

    void report(const client_event& e) {
        if (on_event_) on_event_(e);
    }

private:
    std::weak_ptr<manager_impl> weak_self() {
        return std::static_pointer_cast<manager_impl>(shared_from_this());
    }

    template <class F>
    void run(F f) {
        std::weak_ptr<client> w = weak_from_this();
        asio::post(strand_, [w, f = std::move(f)]() mutable {
            if (auto s = w.lock()) f(static_cast<manager_impl&>(*s));
        });
    }

    std::vector<std::shared_ptr<socket_impl>> all_sockets() {
        std::vector<std::shared_ptr<socket_impl>> out;
        std::lock_guard lock{sockets_mutex_};
        for (auto& [k, v] : sockets_) out.push_back(v);
        return out;
    }

    void set_state(client_state s) {
        state_ = s;
        std::lock_guard lock{status_mutex_};
        status_.state = s;
        if (s != client_state::open) {
            status_.sid.clear();
            status_.transport.clear();
            status_.upgraded = false;
        }
        if (s != client_state::reconnecting) {
            status_.reconnect_attempt = 0;
            status_.next_reconnect_in.reset();
        }
    }

    void report_error(client_errc code, const std::string& message) {
        last_error_ = code;
        last_error_message_ = message;
        client_event e;
        e.type = client_event::kind::error;
        e.code = code;
        e.reason = message;
        report(e);
    }

    void do_open() {
        if (!url_error_.empty()) {
            set_state(client_state::closed);
            report_error(client_errc::bad_url, url_error_);
            if (on_open_failed_) on_open_failed_(client_errc::bad_url, url_error_);
            return;
        }
        set_state(attempts_ > 0 ? client_state::reconnecting : client_state::opening);
        engine::client_config c;
        c.url = url_;
        c.path = options_.path;
        c.query = options_.query;
        c.headers = options_.headers;
        c.mode = options_.transport == client_transport::polling     ? engine::client_mode::polling
                 : options_.transport == client_transport::websocket ? engine::client_mode::websocket
                                                                     : engine::client_mode::upgrade;
        c.eio_version = options_.eio_version == 3 ? 3 : 4;
        c.tls.verify = options_.tls.verify;
        c.tls.ca_file = options_.tls.ca_file;
        c.tls.cert_file = options_.tls.cert_file;
        c.tls.key_file = options_.tls.key_file;
        c.tls.server_name = options_.tls.server_name;
        c.proxy = proxy_;
        c.connect_timeout = options_.connect_timeout;
        c.counters = options_.counters;
        c.limits.max_payload = std::max<std::size_t>(options_.decoder.max_payload * 2, 1'000'000);
        const auto gen = ++generation_;
        auto w = weak_self();
        engine::client_handlers h;
        h.on_open = [w, gen](const eio::handshake& hs, std::string_view t, std::string_view j) {
            if (auto m = w.lock(); m && m->generation_ == gen) m->engine_opened(hs, t, j);
        };
        h.on_message = [w, gen](eio::packet p) {
            if (auto m = w.lock(); m && m->generation_ == gen) m->engine_message(std::move(p));
        };
        h.on_upgrade = [w, gen] {
            if (auto m = w.lock(); m && m->generation_ == gen) m->engine_upgraded();
        };
        h.on_heartbeat = [w, gen](eio::packet_type t, std::optional<std::chrono::microseconds> rtt) {
            if (auto m = w.lock(); m && m->generation_ == gen) {
                if (rtt) m->note_round_trip(*rtt);
                client_event e;
                e.type = t == eio::packet_type::ping ? client_event::kind::ping : client_event::kind::pong;
                if (m->engine_) e.transport = m->engine_->transport_name();
                m->report(e);
            }
        };
        h.on_close = [w, gen](transport::failure f, std::string reason) {
            if (auto m = w.lock(); m && m->generation_ == gen) m->engine_closed(f, reason);
        };
        decoder_.emplace(options_.decoder);
        engine_ = engine::client::create(strand_, std::move(c), std::move(h));
        engine_->open();
    }

    void engine_opened(const eio::handshake& hs, std::string_view transport_name, std::string_view json_text) {
        engine_open_ = true;
        connect_sent_ = false;
        packet_received_ = false;
        engine_sid_ = hs.sid;
        const unsigned attempts = attempts_;
        set_state(client_state::open);
        {
            std::lock_guard lock{status_mutex_};
            status_.sid = hs.sid;
            status_.transport = std::string{transport_name};
            status_.upgrades = hs.upgrades;
            status_.upgraded = false;
            status_.ping_interval = std::chrono::milliseconds(hs.ping_interval_ms);
            status_.ping_timeout = std::chrono::milliseconds(hs.ping_timeout_ms);
        }
        opened_once_ = true;
        attempts_ = 0;
        client_event e;
        e.type = client_event::kind::transport_open;
        e.transport = transport_name;
        e.detail = json_text;
        report(e);
        if (attempts > 0) {
            client_event r;
            r.type = client_event::kind::reconnect;
            r.attempt = attempts;
            r.transport = transport_name;
            report(r);
        }
        for (const auto& s : all_sockets())
            if (s->active() && engine_open_) s->send_connect();
    }

    void engine_upgraded() {
        {
            std::lock_guard lock{status_mutex_};
            status_.transport = "websocket";
            status_.upgraded = true;
        }
        client_event e;
        e.type = client_event::kind::upgrade;
        e.transport = "websocket";
        report(e);
    }

    // The next packet from the server, or nullopt when more frames are needed or the connection
    // was dropped for a bad one.
    std::optional<sp::packet> decode(const eio::packet& p) {
        if (options_.parser == client_parser::msgpack) {
            if (!p.binary) {
                drop_connection(transport::failure::protocol_error,
                                "the server sent a text Socket.IO packet, but with the msgpack parser every packet is "
                                "binary: the server seems to use the default parser");
                return std::nullopt;
            }
            auto r = sp::decode_msgpack(p.data, options_.decoder);
            if (!r) {
                drop_connection(transport::failure::protocol_error,
                                "bad msgpack Socket.IO packet from the server: " + r.err().reason);
                return std::nullopt;
            }
            return std::move(*r);
        }
        const auto st = p.binary ? decoder_->feed_binary(p.data) : decoder_->feed_text(p.data);
        if (st == sp::decode_status::need_more) return std::nullopt;
        if (st == sp::decode_status::bad) {
            std::string why = "bad Socket.IO packet from the server: " + decoder_->last_error().reason;
            if (decoder_->last_error().code == codec::make_error_code(codec::errc::unexpected_binary))
                why += " (a server with socket.io-msgpack-parser sends every packet as binary: use the msgpack parser)";
            drop_connection(transport::failure::protocol_error, why);
            return std::nullopt;
        }
        return decoder_->take();
    }

    void engine_message(eio::packet p) {
        if (!decoder_) return;
        auto decoded = decode(p);
        if (!decoded) return;
        packet_received_ = true;
        sp::packet packet = std::move(*decoded);
        client_event e;
        e.type = client_event::kind::packet_in;
        e.packet = &packet;
        if (engine_) e.transport = engine_->transport_name();
        report(e);
        std::shared_ptr<socket_impl> s;
        {
            std::lock_guard lock{sockets_mutex_};
            if (auto it = sockets_.find(packet.nsp); it != sockets_.end()) s = it->second;
        }
        if (s) s->on_packet(std::move(packet), engine_sid_);
    }

    // We end the connection ourselves (bad input): report it as the engine would.
    void drop_connection(transport::failure f, const std::string& why) {
        if (engine_) {
            ++generation_;  // the engine's own close report is stale now
            engine_->close();
        }
        engine_closed(f, why);
    }

    void engine_closed(transport::failure f, const std::string& given) {
        std::string detail = given;
        if (f == transport::failure::transport_closed && engine_open_ && connect_sent_ && !packet_received_) {
            // What a server does with a packet its parser cannot read.
            detail += options_.parser == client_parser::msgpack
                          ? " before answering CONNECT (a server with the default parser does that with msgpack "
                            "packets: if it has no socket.io-msgpack-parser, use the json parser)"
                          : " before answering CONNECT (a server with socket.io-msgpack-parser does that with the "
                            "default parser's packets: if it has one, use the msgpack parser)";
        }
        const bool was_open = engine_open_;
        engine_open_ = false;
        engine_.reset();
        decoder_.reset();
        ++generation_;
        if (f != transport::failure::none) report_error(to_errc(f), detail);
        if (was_open) {
            client_event e;
            e.type = client_event::kind::transport_close;
            const std::string reason = f == transport::failure::none ? std::string{"forced close"} : detail;
            e.reason = reason;
            e.code = f == transport::failure::none ? std::error_code{} : std::error_code{to_errc(f)};
            report(e);
            const auto why = disconnect_reason(f, detail);
            for (const auto& s : all_sockets()) s->on_close(why);
        }
        if (skip_reconnect_ || f == transport::failure::none) {
            set_state(client_state::closed);
            return;
        }
        if (!options_.reconnection.enabled) {
            set_state(client_state::closed);
            if (!opened_once_ && on_open_failed_) on_open_failed_(to_errc(f), detail);
            return;
        }
        schedule_reconnect();
    }

    std::chrono::milliseconds backoff(unsigned attempt) {
        const auto& r = options_.reconnection;
        double ms = static_cast<double>(r.delay.count());
        for (unsigned i = 1; i < attempt && ms < 1e12; ++i) ms *= 2;
        if (r.randomization > 0) {
            std::uniform_real_distribution<double> dist(-r.randomization, r.randomization);
            ms += ms * dist(rng_);
        }
        ms = std::min(ms, static_cast<double>(r.delay_max.count()));
        return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(ms, 0.0)));
    }

    void schedule_reconnect() {
        const auto& r = options_.reconnection;
        if (r.max_attempts != 0 && attempts_ >= r.max_attempts) {
            client_event e;
            e.type = client_event::kind::reconnect_failed;
            e.attempt = attempts_;
            report(e);
            attempts_ = 0;
            set_state(client_state::closed);
            if (!opened_once_ && on_open_failed_) on_open_failed_(last_error_, last_error_message_);
            return;
        }
        ++attempts_;
        const auto delay = backoff(attempts_);
        set_state(client_state::reconnecting);
        {
            std::lock_guard lock{status_mutex_};
            status_.reconnect_attempt = attempts_;
            status_.next_reconnect_in = delay;
        }
        client_event e;
        e.type = client_event::kind::reconnect_attempt;
        e.attempt = attempts_;
        e.delay = delay;
        report(e);
        reconnect_timer_.expires_after(delay);
        std::weak_ptr<client> w = weak_from_this();
        reconnect_timer_.async_wait([w](boost::system::error_code ec) {
            if (ec) return;
            auto s = w.lock();
            if (!s) return;
            auto& m = static_cast<manager_impl&>(*s);
            if (m.skip_reconnect_ || m.state_ != client_state::reconnecting || m.engine_) return;
            m.do_open();
        });
    }

    void close_now() {
        skip_reconnect_ = true;
        reconnect_timer_.cancel();
        attempts_ = 0;
        for (const auto& s : all_sockets())
            if (s->connected()) s->disconnect_now_for_close();
        if (engine_) {
            const bool was_open = engine_open_;
            auto e = std::move(engine_);
            ++generation_;
            e->close();
            engine_open_ = false;
            decoder_.reset();
            if (was_open) {
                client_event ev;
                ev.type = client_event::kind::transport_close;
                ev.reason = "forced close";
                report(ev);
            }
        }
        set_state(client_state::closed);
    }

    asio::any_io_executor strand_;
    client_options options_;
    transport::url url_;
    std::optional<transport::url> proxy_;
    std::string url_error_;
    std::string default_nsp_ = "/";

    mutable std::mutex sockets_mutex_;
    std::map<std::string, std::shared_ptr<socket_impl>> sockets_;

    std::shared_ptr<engine::client> engine_;
    std::optional<sp::decoder> decoder_;
    // Since the Engine.IO open: a CONNECT went out, a Socket.IO packet came in (a server closing
    // in between likely cannot read this client's packets).
    bool connect_sent_ = false;
    bool packet_received_ = false;
    bool engine_open_ = false;
    std::string engine_sid_;
    std::uint64_t generation_ = 0;

    client_state state_ = client_state::closed;
    bool skip_reconnect_ = false;
    bool opened_once_ = false;
    unsigned attempts_ = 0;
    asio::steady_timer reconnect_timer_;
    std::mt19937_64 rng_;
    client_errc last_error_ = client_errc::ok;
    std::string last_error_message_;

    std::function<void(const client_event&)> on_event_;
    std::function<void(std::error_code, const std::string&)> on_open_failed_;

    mutable std::mutex status_mutex_;
    client_status status_;
};

// --- socket_impl, on the strand ------------------------------------------------------------------

std::error_code socket_impl::send_packet(sp::packet p) {
    auto m = manager_.lock();
    if (!m || m->status().state != client_state::open) return socket_errc::not_connected;
    p.nsp = nsp_;
    run([p = std::move(p)](socket_impl& s) mutable { s.transmit(p); });
    return {};
}

void socket_impl::connect() {
    run([](socket_impl& s) {
        s.active_ = true;
        auto m = s.manager_.lock();
        if (!m) return;
        if (m->engine_open()) {
            if (!s.connected_local_) s.send_connect();
        } else {
            m->ensure_open();
        }
    });
}

void socket_impl::disconnect() {
    run([](socket_impl& s) {
        if (s.connected_local_) {
            s.transmit(sp::packet{sp::packet_type::disconnect, s.nsp_, std::nullopt, std::nullopt});
            s.set_connected(false, {});
            s.fail_acks(socket_errc::disconnected);
            s.active_ = false;
            if (s.on_disconnect_) s.on_disconnect_("io client disconnect");
        }
        s.active_ = false;
        s.became_inactive();
    });
}

void socket_impl::disconnect_now_for_close() {
    if (!connected_local_) return;
    transmit(sp::packet{sp::packet_type::disconnect, nsp_, std::nullopt, std::nullopt});
    set_connected(false, {});
    fail_acks(socket_errc::disconnected);
    if (on_disconnect_) on_disconnect_("io client disconnect");
}

void socket_impl::became_inactive() {
    if (auto m = manager_.lock()) m->socket_inactive();
}

void socket_impl::transmit(const sp::packet& p) {
    if (auto m = manager_.lock()) m->send(p);
}

void socket_impl::send_connect() {
    sp::packet p{sp::packet_type::connect, nsp_, std::nullopt, std::nullopt};
    if (version_ == sp::protocol::v4) {
        if (nsp_ == "/") return;  // socket.io 2.x connects the main namespace by itself
        // Protocol v4 has no CONNECT payload: socket.io 2.x clients send their query after the
        // namespace ("/admin?token=abc"), which the server reads as socket.handshake.query.
        std::string query;
        if (auth_.is_object()) {
            for (const auto& [k, v] : auth_.items()) {
                query += query.empty() ? "?" : "&";
                query += transport::url_encode(k) + "=" + transport::url_encode(v.is_string() ? v.get<std::string>() : v.dump());
            }
        }
        p.nsp += query;
    } else {
        json auth = auth_.is_object() ? auth_ : json::object();
        if (pid_) {
            auth["pid"] = *pid_;
            if (last_offset_) auth["offset"] = *last_offset_;
        }
        p.data = std::move(auth);
    }
    transmit(p);
}

void socket_impl::set_connected(bool on, std::string id) {
    connected_local_ = on;
    {
        std::lock_guard lock{mutex_};
        id_ = std::move(id);
    }
    connected_.store(on);
}

void socket_impl::fail_acks(std::error_code ec) {
    auto acks = std::move(acks_);
    acks_.clear();
    for (auto& [id, a] : acks) {
        if (a.timer) a.timer->cancel();
        if (a.callback) a.callback(ec, json());
    }
}

void socket_impl::emit_now(const std::string& event, json args, client_ack_callback callback,
                           std::chrono::milliseconds timeout) {
    sp::packet p{sp::packet_type::event, nsp_, std::nullopt, json::array()};
    p.data->push_back(event);
    for (auto& a : args) p.data->push_back(std::move(a));
    if (callback) {
        const auto id = next_ack_id_++;
        p.id = id;
        pending_ack a{std::move(callback), nullptr, clock_type::now()};
        if (timeout.count() > 0) {
            a.timer = std::make_shared<asio::steady_timer>(strand_);
            a.timer->expires_after(timeout);
            std::weak_ptr<client_socket> w = weak_from_this();
            a.timer->async_wait([w, id](boost::system::error_code ec) {
                if (ec) return;
                auto s = w.lock();
                if (!s) return;
                auto& self = static_cast<socket_impl&>(*s);
                auto it = self.acks_.find(id);
                if (it == self.acks_.end()) return;
                auto cb = std::move(it->second.callback);
                self.acks_.erase(it);
                // Not sent yet: it will not be.
                std::erase_if(self.buffer_, [id](const sp::packet& b) { return b.id == id; });
                if (cb) cb(socket_errc::ack_timeout, json());
            });
        }
        acks_.emplace(id, std::move(a));
    }
    send_or_buffer(std::move(p));
}

void socket_impl::send_or_buffer(sp::packet p) {
    if (connected_local_) {
        transmit(p);
        return;
    }
    if (buffer_.size() >= max_buffered) {
        const auto dropped = std::move(buffer_.front());
        buffer_.pop_front();
        if (dropped.id) {
            if (auto it = acks_.find(*dropped.id); it != acks_.end()) {
                auto cb = std::move(it->second.callback);
                if (it->second.timer) it->second.timer->cancel();
                acks_.erase(it);
                if (cb) cb(socket_errc::not_connected, json());
            }
        }
    }
    buffer_.push_back(std::move(p));
}

void socket_impl::on_packet(sp::packet p, const std::string& engine_sid) {
    switch (p.type) {
    case sp::packet_type::connect: {
        std::string id;
        std::optional<std::string> pid;
        if (version_ == sp::protocol::v4) {
            id = nsp_ == "/" ? engine_sid : nsp_ + "#" + engine_sid;
        } else if (p.data && p.data->is_object()) {
            if (auto it = p.data->find("sid"); it != p.data->end() && it->is_string()) id = it->get<std::string>();
            if (auto it = p.data->find("pid"); it != p.data->end() && it->is_string()) pid = it->get<std::string>();
        }
        if (!active_ && version_ == sp::protocol::v4) return;  // the 2.x server's automatic "/"
        recovered_.store(pid && pid_ && *pid == *pid_);
        pid_ = pid;
        if (!pid_) last_offset_.reset();
        const bool was = connected_local_;
        set_connected(true, std::move(id));
        // As the reference does: events received before the CONNECT answer (missed packets of a
        // recovered session) first, then our buffered emits, then the connect handler.
        auto early = std::move(received_);
        received_.clear();
        for (auto& e : early) handle_event(std::move(e));
        auto pending = std::move(buffer_);
        buffer_.clear();
        for (auto& b : pending) transmit(b);
        if (!was && on_connect_) on_connect_();
        break;
    }
    case sp::packet_type::connect_error: {
        active_ = false;
        const json data = p.data ? *p.data : json();
        if (on_connect_error_) on_connect_error_(data);
        became_inactive();
        break;
    }
    case sp::packet_type::disconnect: {
        if (!connected_local_) break;
        set_connected(false, {});
        active_ = false;
        fail_acks(socket_errc::disconnected);
        if (on_disconnect_) on_disconnect_("io server disconnect");
        became_inactive();
        break;
    }
    case sp::packet_type::event:
    case sp::packet_type::binary_event: handle_event(std::move(p)); break;
    case sp::packet_type::ack:
    case sp::packet_type::binary_ack: handle_ack(std::move(p)); break;
    }
}

void socket_impl::handle_event(sp::packet p) {
    if (!p.data || !p.data->is_array() || p.data->empty()) return;
    if (!connected_local_) {
        if (active_ && received_.size() < max_buffered) received_.push_back(std::move(p));
        return;
    }
    json& all = *p.data;
    const std::string event = all[0].is_string() ? all[0].get<std::string>() : all[0].dump();
    json args = json::array();
    for (std::size_t i = 1; i < all.size(); ++i) args.push_back(std::move(all[i]));
    if (pid_ && !args.empty() && args.back().is_string()) last_offset_ = args.back().get<std::string>();
    ack_fn ack;
    if (p.id) {
        std::weak_ptr<client_socket> w = weak_from_this();
        auto done = std::make_shared<bool>(false);
        ack = [w, id = *p.id, done](json reply) {
            auto s = w.lock();
            if (!s) return;
            auto& self = static_cast<socket_impl&>(*s);
            json data = reply.is_array() ? std::move(reply) : json::array({std::move(reply)});
            self.run([id, done, data = std::move(data)](socket_impl& me) mutable {
                if (*done || !me.connected_local_) return;
                *done = true;
                me.transmit(sp::packet{sp::packet_type::ack, me.nsp_, id, std::move(data)});
            });
        };
    }
    if (any_) any_(event, args, ack);
    if (auto it = handlers_.find(event); it != handlers_.end() && it->second) {
        auto h = it->second;  // the handler may replace itself
        h(std::move(args), ack);
    }
}

void socket_impl::handle_ack(sp::packet p) {
    if (!p.id) return;
    auto it = acks_.find(*p.id);
    if (it == acks_.end()) return;
    auto a = std::move(it->second);
    acks_.erase(it);
    if (a.timer) a.timer->cancel();
    if (auto m = manager_.lock())
        m->note_round_trip(std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - a.sent));
    json data = p.data ? std::move(*p.data) : json::array();
    if (a.callback) a.callback({}, std::move(data));
}

void socket_impl::on_close(const std::string& reason) {
    received_.clear();
    if (!connected_local_) return;
    set_connected(false, id());
    {
        std::lock_guard lock{mutex_};
        id_.clear();
    }
    fail_acks(socket_errc::disconnected);
    if (on_disconnect_) on_disconnect_(reason);
}

// --- factory -----------------------------------------------------------------------------------

std::shared_ptr<client> client::create(boost::asio::any_io_executor executor, client_options options) {
    return std::make_shared<manager_impl>(std::move(executor), std::move(options));
}

}  // namespace sio
