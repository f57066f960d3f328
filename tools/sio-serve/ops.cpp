#include "ops.hpp"

#include <openssl/crypto.h>

#include <sio/adapter/redis_forward.hpp>
#include <sio/codec/json.hpp>

#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace sio::serve {

namespace http = boost::beast::http;

namespace {

std::string_view level_name(log_level l) {
    switch (l) {
    case log_level::error: return "error";
    case log_level::warn: return "warn";
    case log_level::info: return "info";
    case log_level::debug: return "debug";
    }
    return "info";
}

// RFC 3339 UTC with milliseconds: sortable, and what log collectors parse without configuration.
std::string now_utc() {
    const auto now = std::chrono::system_clock::now();
    const auto secs = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", buf, ms);
}

std::string escape_control(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);
    }
    return out;
}

// Values with spaces or quotes are quoted, so that key=value stays splittable.
std::string text_value(std::string_view v) {
    auto safe = escape_control(v);
    if (!safe.empty() && safe.find_first_of(" \"=") == std::string::npos) return safe;
    std::string out = "\"";
    for (char c : safe) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

}  // namespace

void log_sink::write(log_level level, std::string_view event, std::string_view message,
                     const std::vector<field>& fields) {
    if (!enabled(level)) return;
    if (event != "refused_hidden") say_hidden_refusals(false);
    emit(level, event, message, fields);
}

bool log_sink::take_refusal_line() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock{refusals_mutex_};
    if (now - refusals_since_ >= std::chrono::seconds(1)) {
        refusals_since_ = now;
        refusals_shown_ = 0;
    }
    if (refusals_shown_ < refusals_per_second) {
        ++refusals_shown_;
        return true;
    }
    ++refusals_hidden_;
    return false;
}

void log_sink::say_hidden_refusals(bool now) {
    std::uint64_t hidden = 0;
    {
        std::lock_guard lock{refusals_mutex_};
        const auto t = std::chrono::steady_clock::now();
        if (refusals_hidden_ == 0 || (!now && t - refusals_since_ < std::chrono::seconds(1))) return;
        hidden = std::exchange(refusals_hidden_, 0);
        refusals_since_ = t;
        refusals_shown_ = 0;
    }
    write(log_level::warn, "refused_hidden",
          fmt::format("{} more refusals not shown (at most {} a second are logged; /metrics counts them all)", hidden,
                      refusals_per_second),
          {{"count", std::to_string(hidden)}});
}

void log_sink::notice(std::string_view event, std::string_view message, const std::vector<field>& fields) {
    // Text notices are the time and the message alone ("... listening on URL (...)"), no fields.
    emit(log_level::info, event, message, format_ == log_format::json ? fields : std::vector<field>{});
}

void log_sink::emit(log_level level, std::string_view event, std::string_view message,
                    const std::vector<field>& fields) {
    std::string line;
    if (format_ == log_format::json) {
        codec::json j = codec::json::object();
        j["time"] = now_utc();
        j["level"] = std::string{level_name(level)};
        j["event"] = std::string{event};
        for (const auto& [k, v] : fields) j[std::string{k}] = v;
        if (!message.empty()) j["message"] = std::string{message};
        // Invalid UTF-8 from a client is replaced rather than failing the line.
        line = j.dump(-1, ' ', false, codec::json::error_handler_t::replace);
    } else {
        // The time first, as in the JSON lines' "time": lines from several instances sort.
        line = fmt::format("{} sio-serve: {}", now_utc(), escape_control(message));
        for (const auto& [k, v] : fields) line += fmt::format(" {}={}", k, text_value(v));
    }
    std::lock_guard lock(mutex_);
    std::fputs(line.c_str(), stderr);
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

http::response<http::string_body> plain_answer(const http::request<http::string_body>& req, http::status status,
                                               std::string_view type, std::string body) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "sio-serve");
    res.set(http::field::content_type, type);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

std::string explain_close_reason(std::string_view reason) {
    if (reason == "ping timeout") return "ping timeout (no pong in time: the client is gone or stalled)";
    if (reason == "transport close") return "transport closed (the client closed the connection or left)";
    if (reason == "transport error") return "transport error (the connection failed, or broke the protocol)";
    if (reason == "parse error") return "parse error (the client sent an undecodable packet)";
    if (reason == "forced close") return "closed by the server";
    if (reason == "forced server close") return "closed by the server (shutdown, or a packet out of place)";
    if (reason == "slow consumer") return "slow consumer (the client does not read; its queue hit the limit)";
    return std::string{reason};
}

void log_sink::engine_event(const engine::server_event& e) {
    using k = engine::server_event::kind;
    std::vector<field> f;
    if (!e.sid.empty()) f.emplace_back("sid", std::string{e.sid});
    if (!e.transport.empty()) f.emplace_back("transport", std::string{e.transport});
    if (!e.remote_address.empty()) f.emplace_back("remote", std::string{e.remote_address});
    switch (e.type) {
    case k::session_open:
        write(log_level::info, "connect", "connect", f);
        return;
    case k::session_upgrade:
        write(log_level::debug, "upgrade", "upgrade to websocket", f);
        return;
    case k::session_close: {
        f.emplace_back("reason", std::string{e.reason});
        // Ends the server caused on purpose are routine; failures of the peer are warnings only
        // when they point at a client bug.
        const bool bad = e.reason == "parse error" || e.reason == "slow consumer";
        write(bad ? log_level::warn : log_level::info, "disconnect",
              "disconnect: " + explain_close_reason(e.reason), f);
        return;
    }
    case k::request_refused: {
        if (e.error) {
            f.emplace_back("code", std::to_string(static_cast<int>(*e.error)));
            f.emplace_back("error", std::string{engine::message(*e.error)});
        }
        if (e.http_status != 0) f.emplace_back("status", std::to_string(e.http_status));
        // What an operator acts on is logged by default; the rest (probes, bad clients, CORS
        // preflights) only with -v.
        const bool notable = (e.error && (*e.error == engine::handshake_error::unknown_sid ||
                                          *e.error == engine::handshake_error::forbidden)) ||
                             e.http_status == 413 || e.http_status == 503 || (e.transport == "websocket" && !e.error && e.http_status == 0);
        const auto level = notable ? log_level::warn : log_level::debug;
        if (!enabled(level)) return;
        say_hidden_refusals(false);
        if (take_refusal_line()) write(level, "refused", "refused: " + e.detail, f);
        return;
    }
    case k::failure:
        write(log_level::error, "failure", "failure: " + e.detail, f);
        return;
    }
}

void log_sink::socket_event(const sio::server_event& e) {
    using k = sio::server_event::kind;
    std::vector<field> f;
    f.emplace_back("nsp", std::string{e.nsp});
    if (!e.socket_id.empty()) f.emplace_back("socket", std::string{e.socket_id});
    f.emplace_back("sid", std::string{e.sid});
    switch (e.type) {
    case k::socket_connect:
        write(log_level::debug, "socket_connect", "socket connected", f);
        return;
    case k::socket_disconnect:
        f.emplace_back("reason", std::string{e.reason});
        write(log_level::debug, "socket_disconnect", "socket disconnected", f);
        return;
    case k::connect_refused:
        f.emplace_back("reason", std::string{e.reason});
        write(log_level::warn, "connect_refused",
              fmt::format("refused: CONNECT to {} answered with CONNECT_ERROR", e.nsp), f);
        return;
    }
}

// Request forwarding between the servers of a cluster (--redis without --no-forward-requests).
static void render_forward_metrics(const engine::server& engine, std::string& out) {
    auto fw = std::dynamic_pointer_cast<adapter::redis::forwarder>(engine.options().forwarder);
    if (!fw) return;
    using engine::server_metrics;
    const auto& m = engine.metrics();
    const auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    const auto st = fw->stats();
    metric("sio_forward_connected", "gauge", "1 while both Redis connections of request forwarding are up.");
    out += fmt::format("sio_forward_connected {}\n", st.connected ? 1 : 0);
    metric("sio_forwarded_requests_total", "counter",
           "Requests for another server's session: sent to that server, answered by it, and requests of "
           "other servers served here.");
    out += fmt::format("sio_forwarded_requests_total{{kind=\"sent\"}} {}\n", st.sent);
    out += fmt::format("sio_forwarded_requests_total{{kind=\"answered\"}} {}\n",
                       server_metrics::get(m.forwarded_answered));
    out += fmt::format("sio_forwarded_requests_total{{kind=\"served\"}} {}\n", st.served);
    metric("sio_forward_failures_total", "counter",
           "Forwarded requests without an answer, by why: owner_gone and timeout (answered \"Session ID "
           "unknown\"), unreachable (Redis down, answered 503), malformed (messages that did not decode), "
           "upgrade (WebSocket upgrades for another server's session, refused).");
    static constexpr std::array<std::string_view, 3> reasons{"owner_gone", "timeout", "unreachable"};
    for (std::size_t i = 0; i < reasons.size(); ++i)
        out += fmt::format("sio_forward_failures_total{{reason=\"{}\"}} {}\n", reasons[i],
                           server_metrics::get(m.forward_failures[i]));
    out += fmt::format("sio_forward_failures_total{{reason=\"malformed\"}} {}\n", st.malformed);
    out += fmt::format("sio_forward_failures_total{{reason=\"upgrade\"}} {}\n",
                       server_metrics::get(m.forward_upgrades_refused));
}

std::string render_metrics(const engine::server& engine, const sio::server& io) {
    const auto& m = engine.metrics();
    using engine::server_metrics;
    std::string out;
    const auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    metric("sio_connections", "gauge", "Open Engine.IO sessions by transport.");
    out += fmt::format("sio_connections{{transport=\"polling\"}} {}\n",
                       std::max<std::int64_t>(0, server_metrics::get(m.polling_sessions)));
    out += fmt::format("sio_connections{{transport=\"websocket\"}} {}\n",
                       std::max<std::int64_t>(0, server_metrics::get(m.websocket_sessions)));
    metric("sio_connections_opened_total", "counter", "Engine.IO sessions opened.");
    out += fmt::format("sio_connections_opened_total {}\n", server_metrics::get(m.sessions_opened));
    metric("sio_upgrades_total", "counter", "Sessions upgraded from polling to WebSocket.");
    out += fmt::format("sio_upgrades_total {}\n", server_metrics::get(m.upgrades));
    metric("sio_namespaces", "gauge", "Socket.IO namespaces declared.");
    out += fmt::format("sio_namespaces {}\n", io.namespace_count());
    metric("sio_rooms", "gauge", "Rooms over all namespaces (each socket's own room not counted).");
    out += fmt::format("sio_rooms {}\n", io.room_count());
    if (auto cluster = io.cluster()) {
        const auto st = cluster->snapshot();
        metric("sio_redis_adapter", "gauge", "The Redis adapter in use (--redis-adapter), as a label; always 1.");
        out += fmt::format("sio_redis_adapter{{adapter=\"{}\"}} 1\n", adapter::redis::kind_name(cluster->kind()));
        metric("sio_redis_connected", "gauge",
               "1 while the adapter is connected to Redis and subscribed (on a Redis Cluster: to at least one "
               "primary; sio_redis_nodes_connected counts them) (--redis).");
        out += fmt::format("sio_redis_connected {}\n", st.connected ? 1 : 0);
        metric("sio_redis_nodes_connected", "gauge",
               "Redis nodes connected: the primaries of a Redis Cluster (--redis-adapter sharded), else 1 or 0.");
        out += fmt::format("sio_redis_nodes_connected {}\n", st.nodes);
        metric("sio_redis_outages_total", "counter", "Redis connections lost or refused.");
        out += fmt::format("sio_redis_outages_total {}\n", st.outages);
        metric("sio_redis_broadcasts_total", "counter",
               "Cluster broadcasts: published to Redis, received from other servers, dropped "
               "(Redis down), malformed (did not decode).");
        out += fmt::format("sio_redis_broadcasts_total{{kind=\"published\"}} {}\n", st.published);
        out += fmt::format("sio_redis_broadcasts_total{{kind=\"received\"}} {}\n", st.received);
        out += fmt::format("sio_redis_broadcasts_total{{kind=\"dropped\"}} {}\n", st.dropped);
        out += fmt::format("sio_redis_broadcasts_total{{kind=\"malformed\"}} {}\n", st.malformed);
    }
    render_forward_metrics(engine, out);
    metric("sio_packets_total", "counter", "Engine.IO message packets, by direction.");
    out += fmt::format("sio_packets_total{{direction=\"in\"}} {}\n", server_metrics::get(m.packets_in));
    out += fmt::format("sio_packets_total{{direction=\"out\"}} {}\n", server_metrics::get(m.packets_out));
    metric("sio_bytes_total", "counter", "Data bytes of Engine.IO message packets, by direction.");
    out += fmt::format("sio_bytes_total{{direction=\"in\"}} {}\n", server_metrics::get(m.bytes_in));
    out += fmt::format("sio_bytes_total{{direction=\"out\"}} {}\n", server_metrics::get(m.bytes_out));
    metric("sio_handshake_errors_total", "counter",
           "Engine.IO error answers by code (0 unknown transport, 1 unknown sid, 2 bad handshake "
           "method, 3 bad request, 4 forbidden, 5 unsupported protocol version).");
    for (std::size_t code = 0; code < m.handshake_errors.size(); ++code)
        out += fmt::format("sio_handshake_errors_total{{code=\"{}\"}} {}\n", code,
                           server_metrics::get(m.handshake_errors[code]));
    metric("sio_open_connections", "gauge", "Open TCP connections (HTTP and WebSocket).");
    out += fmt::format("sio_open_connections {}\n", std::max<std::int64_t>(0, server_metrics::get(m.open_connections)));
    metric("sio_tls_handshakes_pending", "gauge", "TLS handshakes under way (bounded by --max-tls-handshakes).");
    out += fmt::format("sio_tls_handshakes_pending {}\n", std::max<std::int64_t>(0, server_metrics::get(m.tls_handshakes)));
    metric("sio_queued_bytes", "gauge",
           "Bytes queued for sending over every session (bounded by --max-buffered-bytes).");
    out += fmt::format("sio_queued_bytes {}\n", engine.queued_bytes());
    metric("sio_limit_hits_total", "counter",
           "Requests and sessions refused or closed by a limit: max_connections and "
           "max_connections_per_ip (503), max_sessions and max_sessions_per_ip (503), "
           "max_tls_handshakes (closed), bad_request (400 or 501: framing or headers against RFC 9112), "
           "request_timeout, header_size (431), max_payload (413 or "
           "close 1009), slow_consumer (send queue full), tls_handshake.");
    const std::pair<std::string_view, const std::atomic<std::uint64_t>*> limits[] = {
        {"max_connections", &m.refused_max_connections},
        {"max_connections_per_ip", &m.refused_max_connections_per_ip},
        {"max_sessions", &m.refused_max_sessions},
        {"max_sessions_per_ip", &m.refused_max_sessions_per_ip},
        {"max_tls_handshakes", &m.refused_tls_handshakes},
        {"bad_request", &m.bad_requests},
        {"request_timeout", &m.request_timeouts},
        {"header_size", &m.headers_too_large},
        {"max_payload", &m.payloads_too_large},
        {"slow_consumer", &m.slow_consumers},
        {"tls_handshake", &m.tls_handshake_failures},
    };
    for (const auto& [name, counter] : limits)
        out += fmt::format("sio_limit_hits_total{{limit=\"{}\"}} {}\n", name, server_metrics::get(*counter));
    return out;
}

engine::http_handler ops_http_handler(engine::http_handler next, std::weak_ptr<engine::server> engine,
                                      std::weak_ptr<sio::server> io, metrics_access access) {
    return [next = std::move(next), engine = std::move(engine), io = std::move(io), access = std::move(access)](
               const http::request<http::string_body>& req) -> http::response<http::string_body> {
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));
        const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
        const auto reply = [&](std::string_view type, std::string body) {
            http::response<http::string_body> res{http::status::ok, req.version()};
            res.set(http::field::server, "sio-serve");
            res.set(http::field::content_type, type);
            res.set(http::field::cache_control, "no-store");
            res.keep_alive(req.keep_alive());
            res.body() = std::move(body);
            res.prepare_payload();
            return res;
        };
        if (get && (target == "/healthz" || target == "/health"))
            return reply("text/plain; charset=utf-8", "ok\n");
        if (get && target == "/metrics" && access.here) {
            if (!access.token.empty()) {
                // Compared in constant time: the answer's timing must not reveal the token.
                // The scheme is case-insensitive (RFC 7235 section 2.1), one or more spaces follow it.
                std::string_view given = req[http::field::authorization];
                const auto space = given.find(' ');
                const bool bearer =
                    space != std::string_view::npos && boost::beast::iequals(given.substr(0, space), "bearer");
                given = bearer ? given.substr(std::min(given.size(), given.find_first_not_of(' ', space)))
                               : std::string_view{};
                const std::string& expected = access.token;
                const bool ok = bearer && given.size() == expected.size() &&
                                CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
                if (!ok) {
                    auto res = reply("text/plain; charset=utf-8", "/metrics needs Authorization: Bearer TOKEN (--metrics-token)\n");
                    res.result(http::status::unauthorized);
                    res.set(http::field::www_authenticate, "Bearer realm=\"sio-serve metrics\"");
                    return res;
                }
            }
            auto e = engine.lock();
            auto s = io.lock();
            if (e && s) return reply("text/plain; version=0.0.4; charset=utf-8", render_metrics(*e, *s));
        }
        return next(req);
    };
}

namespace {

struct shutdown_state {
    shutdown_state(boost::asio::steady_timer& t, std::shared_ptr<engine::server> e,
                   std::chrono::steady_clock::time_point d, log_sink& l, std::function<void()> f)
        : timer(t), engine(std::move(e)), deadline(d), log(l), done(std::move(f)) {}
    boost::asio::steady_timer& timer;
    std::shared_ptr<engine::server> engine;
    std::chrono::steady_clock::time_point deadline;
    log_sink& log;
    std::function<void()> done;
    // Atomics: the timer chain and a second signal may run on different threads.
    std::atomic<bool> engine_stopped{false};  // stop() or stop_accepting() called
    std::atomic<bool> finished{false};
};

void finish(const std::shared_ptr<shutdown_state>& st, bool in_time) {
    if (st->finished.exchange(true)) return;
    st->engine->stop();  // whatever is left is cut off (a no-op after a complete drain)
    if (!in_time) {
        st->log.write(log_level::warn, "shutdown",
                      fmt::format("shutdown timeout: cutting off {} session(s) and {} connection(s)",
                                  st->engine->session_count(), st->engine->transport_count()),
                      {});
    } else {
        st->log.write(log_level::info, "shutdown", "shutdown complete", {});
    }
    st->done();
}

// Polls rather than waits on events: a shutdown happens once, and 20 ms steps keep it simple.
void drain_step(std::shared_ptr<shutdown_state> st) {
    if (st->finished) return;
    if (std::chrono::steady_clock::now() >= st->deadline) return finish(st, false);
    if (!st->engine_stopped && st->engine->session_count() == 0) {
        // Every session said goodbye (polling clients collected it over HTTP, which therefore
        // stayed up until now): close the listener and the idle keep-alive connections; busy
        // ones end after writing their response.
        st->engine->stop_accepting();
        st->engine_stopped = true;
    }
    if (st->engine_stopped && st->engine->transport_count() == 0) return finish(st, true);
    st->timer.expires_after(std::chrono::milliseconds(20));
    st->timer.async_wait([st](const boost::system::error_code& ec) {
        if (!ec) drain_step(st);
    });
}

}  // namespace

void shutdown_on_signal(boost::asio::signal_set& signals, boost::asio::steady_timer& timer,
                        std::shared_ptr<engine::server> engine, std::shared_ptr<sio::server> io,
                        std::chrono::milliseconds timeout, log_sink& log, std::function<void()> done) {
    signals.async_wait([&signals, &timer, engine = std::move(engine), io = std::move(io), timeout,
                        &log, done = std::move(done)](const boost::system::error_code& error,
                                                      int signal) mutable {
        if (error) return;
        log.write(log_level::info, "shutdown",
                  fmt::format("signal {}: shutting down: disconnecting {} session(s), {} ms at most",
                              signal, engine->session_count(), timeout.count()),
                  {});
        auto st = std::make_shared<shutdown_state>(timer, engine,
                                                   std::chrono::steady_clock::now() + timeout, log, done);
        if (io->connection_count() == 0) {
            // Nothing speaks Socket.IO (engine-echo mode, or no clients): close at once.
            engine->stop();
            st->engine_stopped = true;
        } else {
            io->close();
        }
        // A second signal: the operator does not want to wait.
        signals.async_wait([st](const boost::system::error_code& ec, int) {
            if (!ec) finish(st, false);
        });
        drain_step(st);
    });
}

}  // namespace sio::serve
