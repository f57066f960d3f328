// What the Engine.IO server's parts share (internal): the server's state (server::impl: options,
// loops, the sid registry, handlers, counters, the HTTP listener) and small helpers.
#pragma once

#include "sio/codec/json.hpp"
#include "sio/codec/percent.hpp"
#include "sio/engine/server.hpp"
#include "sio/transport/event_loop.hpp"
#include "sio/transport/exception_text.hpp"
#include "sio/transport/http_server.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sio::engine {

namespace detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace eio = codec::eio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using connection = transport::http_connection;
using transport::next_step;

inline constexpr auto tok = asio::as_tuple(asio::use_awaitable);
// Where one session (or the acceptor) runs: a strand of the server's executor, or with
// server_options::single_threaded the executor itself.
using strand_type = asio::any_io_executor;

inline strand_type make_session_executor(const asio::any_io_executor& ex, bool single_threaded) {
    if (single_threaded) return ex;
    return asio::make_strand(ex);
}

// True when the caller runs on `ex` now (so it may act at once instead of posting). Without a
// strand, on an io_context run by one thread: when that thread is the caller.
inline bool running_on(const strand_type& ex) {
    if (const auto* st = ex.target<asio::strand<asio::any_io_executor>>()) return st->running_in_this_thread();
    if (const auto* io = ex.target<asio::io_context::executor_type>()) return io->running_in_this_thread();
    return false;
}
using request_type = http::request<http::string_body>;
using response_type = http::response<http::string_body>;
using clock_type = server_session::clock;

inline constexpr std::string_view forced_server_close = "forced server close";

// The text of the exception being handled, for a log line (inside a catch block only).
inline std::string current_exception_text() { return transport::exception_text(std::current_exception()); }
inline constexpr std::size_t shard_count = 16;

inline std::string lower(std::string_view s) {
    std::string out{s};
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

inline std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const auto part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        auto key = codec::percent_decode(part.substr(0, eq), true);
        auto value = eq == std::string_view::npos ? std::string{} : codec::percent_decode(part.substr(eq + 1), true);
        out.emplace(std::move(key), std::move(value));  // the first occurrence wins
    }
    return out;
}

inline std::string query_value(const std::map<std::string, std::string>& q, const std::string& key) {
    const auto it = q.find(key);
    return it == q.end() ? std::string{} : it->second;
}

inline response_type make_response(http::status status, unsigned version, bool keep_alive,
                            std::string body, std::string_view content_type) {
    response_type res{status, version};
    if (!content_type.empty()) res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

inline response_type error_response(handshake_error e, unsigned version, bool keep_alive) {
    codec::json j;
    j["code"] = static_cast<int>(e);
    j["message"] = std::string{message(e)};
    return make_response(static_cast<http::status>(http_status(e)), version, keep_alive, j.dump(),
                         "application/json");
}

}  // namespace detail

using namespace detail;

struct server::impl {
    using strand_type = detail::strand_type;
    impl(std::vector<asio::any_io_executor> event_loops, server_options opts)
        : loops(std::move(event_loops)), executor(loops.at(0)), options(with_loops(std::move(opts), loops.size())) {
        if (options.single_threaded) {
            for (const auto& l : loops)
                loop_states.push_back({transport::timer_queue::for_loop(l), std::make_shared<transport::write_cork>(l)});
        }
        // Requests below the path are Engine.IO's: normalise it to end with '/'.
        if (options.path.empty() || options.path.back() != '/') options.path.push_back('/');
        // Nothing to offer when WebSocket or upgrades are off.
        if (!options.allow_websocket || !options.allow_upgrades) options.session.upgrades.clear();
        // One count of queued bytes over every session: the total bound and the gauge.
        if (!options.session.total_queued)
            options.session.total_queued = std::make_shared<std::atomic<std::size_t>>(0);
        session_config = std::make_shared<const server_session_config>(options.session);
        if (options.forwarder) sid_prefix = options.forwarder->sid_prefix();
    }

    // Several loops: each is run by one thread, so nothing of a session needs a strand.
    static server_options with_loops(server_options o, std::size_t count) {
        if (count > 1) o.single_threaded = true;
        return o;
    }

    std::vector<asio::any_io_executor> loops;  // loops[0] is `executor`
    asio::any_io_executor executor;
    server_options options;
    std::shared_ptr<const server_session_config> session_config;  // options.session, shared by the sessions
    std::shared_ptr<transport::http_listener> http;  // set once by server's constructor
    std::string sid_prefix;  // the forwarder's: the start of every sid made here
    // The server of the cluster that made `sid`, when it is another one (options.forwarder).
    std::optional<std::string> owner_elsewhere(std::string_view sid) const {
        if (!options.forwarder) return std::nullopt;
        return options.forwarder->owner_of(sid);
    }
    std::atomic<bool> stopped{false};
    // Where a session opened by a request on `c` runs: on one thread per loop, the
    // connection's loop; otherwise a strand of its own.
    strand_type session_executor_for(const asio::any_io_executor& connection_executor) const {
        if (options.single_threaded) return connection_executor;
        return asio::make_strand(executor);
    }
    // What the sessions of one loop share (event_loop.hpp): one timer for their deadlines, one
    // flush per loop turn for their WebSockets.
    struct loop_state {
        std::shared_ptr<transport::timer_queue> timers;
        std::shared_ptr<transport::write_cork> cork;  // null: each stream posts its own flush
    };
    std::vector<loop_state> loop_states;  // loop_states[i] is loops[i]'s, with one thread per loop
    // The loop state of a session running on `ex`. With strands (one io_context shared by
    // threads), a timer queue of the session's own on its strand, and no cork.
    loop_state loop_for(const strand_type& ex) const {
        for (std::size_t i = 0; i < loop_states.size(); ++i)
            if (loops[i] == ex) return loop_states[i];
        return {std::make_shared<transport::timer_queue>(ex), nullptr};
    }
    mutable std::mutex handlers_mutex;
    open_handler on_open;
    http_handler on_http;

    // sid -> session, sharded so that threads creating and finding sessions rarely meet on a lock.
    // The registry owns every open session: it is added once its handshake is accepted and
    // removed when it ends (session::report_end, on its own loop). Nothing else need keep an idle
    // session alive (its deadline sits in its loop's timer_queue by a plain pointer).
    struct shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, std::shared_ptr<session>> sessions;
    };
    std::array<shard, shard_count> shards;

    shard& shard_for(const std::string& sid) { return shards[std::hash<std::string>{}(sid) % shard_count]; }

    void add_session(const std::string& sid, std::shared_ptr<session> s) {
        auto& sh = shard_for(sid);
        std::lock_guard lock{sh.mutex};
        sh.sessions[sid] = std::move(s);
    }
    void remove_session(const std::string& sid) {
        auto& sh = shard_for(sid);
        std::lock_guard lock{sh.mutex};
        sh.sessions.erase(sid);
    }
    std::shared_ptr<session> find_session(const std::string& sid) {
        auto& sh = shard_for(sid);
        std::lock_guard lock{sh.mutex};
        const auto it = sh.sessions.find(sid);
        return it == sh.sessions.end() ? nullptr : it->second;
    }

    open_handler get_open_handler() const {
        std::lock_guard lock{handlers_mutex};
        return on_open;
    }
    http_handler get_http_handler() const {
        std::lock_guard lock{handlers_mutex};
        return on_http;
    }

    // `present`: the request has an Origin header. One that is there but empty names no allowed
    // origin; only a request without the header (not from a browser) is let through.
    bool origin_allowed(std::string_view origin, bool present) const {
        if (options.allowed_origins.empty() || (origin.empty() && !present)) return true;
        return std::find(options.allowed_origins.begin(), options.allowed_origins.end(), origin) !=
               options.allowed_origins.end();
    }
    // Whether `origin` gets CORS headers.
    bool cors_allowed(std::string_view origin) const {
        if (origin.empty()) return false;
        return std::any_of(options.cors_origins.begin(), options.cors_origins.end(),
                           [&](const std::string& o) { return o == "*" || o == origin; });
    }

    mutable server_metrics metrics;  // counted from const paths too
    std::atomic<std::size_t> live_websockets{0};

    // Sessions open, in all and by remote address (max_sessions, max_sessions_per_ip): a place is
    // taken by a handshake before its session exists and given back when the session ends.
    std::atomic<std::size_t> open_sessions{0};
    std::mutex sessions_per_ip_mutex;
    std::unordered_map<std::string, std::size_t> sessions_per_ip;
    // Takes a place for a session opened from `address`; the refusal's sentence when over a limit.
    std::optional<std::string> take_session_place(const std::string& address) {
        const auto total = open_sessions.fetch_add(1, std::memory_order_relaxed) + 1;
        if (options.max_sessions != 0 && total > options.max_sessions) {
            open_sessions.fetch_sub(1, std::memory_order_relaxed);
            server_metrics::add(metrics.refused_max_sessions);
            return fmt::format("server busy: {} sessions open, the limit is {} (--max-sessions)", total - 1,
                               options.max_sessions);
        }
        if (options.max_sessions_per_ip == 0) return std::nullopt;
        std::lock_guard lock{sessions_per_ip_mutex};
        auto& n = sessions_per_ip[address];
        if (n >= options.max_sessions_per_ip) {
            if (n == 0) sessions_per_ip.erase(address);
            open_sessions.fetch_sub(1, std::memory_order_relaxed);
            server_metrics::add(metrics.refused_max_sessions_per_ip);
            return fmt::format("too many sessions from {}: {} open, the limit is {} (--max-sessions-per-ip)",
                               address, n, options.max_sessions_per_ip);
        }
        ++n;
        return std::nullopt;
    }
    void give_back_session_place(const std::string& address) {
        open_sessions.fetch_sub(1, std::memory_order_relaxed);
        if (options.max_sessions_per_ip == 0) return;
        std::lock_guard lock{sessions_per_ip_mutex};
        const auto it = sessions_per_ip.find(address);
        if (it != sessions_per_ip.end() && --it->second == 0) sessions_per_ip.erase(it);
    }

    void emit(const server_event& e) const {
        if (!options.on_event) return;
        try {
            options.on_event(e);
        } catch (...) {
            // A failing logger must not take a session or a connection down; with the logger
            // itself failing, standard error is the one place left to say so.
            std::fprintf(stderr, "sio: the server's event callback threw: %s\n", current_exception_text().c_str());
        }
    }
};

// A session's place under max_sessions and max_sessions_per_ip, from its handshake to its end;
// given back when released or destroyed. Moves, never copies.
class session_place {
public:
    session_place() = default;
    session_place(server::impl* core, std::string address) : core_(core), address_(std::move(address)) {}
    session_place(session_place&& o) noexcept : core_(std::exchange(o.core_, nullptr)), address_(std::move(o.address_)) {}
    session_place& operator=(session_place&& o) noexcept {
        if (this != &o) {
            release();
            core_ = std::exchange(o.core_, nullptr);
            address_ = std::move(o.address_);
        }
        return *this;
    }
    session_place(const session_place&) = delete;
    session_place& operator=(const session_place&) = delete;
    ~session_place() { release(); }
    void release() {
        if (auto* c = std::exchange(core_, nullptr)) c->give_back_session_place(address_);
    }

private:
    server::impl* core_ = nullptr;  // the session (or the request) holding the place keeps it alive
    std::string address_;
};

}  // namespace sio::engine
