// sio-serve's operations side: the log (text or NDJSON, three levels), the health check and the
// Prometheus metrics endpoint. The library reports events through callbacks; this is where they
// become lines.
#pragma once

#include <sio/engine/server.hpp>
#include <sio/server.hpp>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sio::serve {

enum class log_format { text, json };
enum class log_level { error = 0, warn = 1, info = 2, debug = 3 };

// Writes log lines to stderr, one whole line per call (a mutex keeps threads from interleaving).
// Text lines escape control characters, so a client-chosen name or sid cannot forge a line or
// drive the terminal; JSON lines are escaped by the JSON encoder.
class log_sink {
public:
    log_sink(log_format format, log_level level) : format_(format), level_(level) {}
    ~log_sink() { say_hidden_refusals(true); }
    log_sink(const log_sink&) = delete;
    log_sink& operator=(const log_sink&) = delete;

    // Refusal lines are rate-limited (a flood must not become a flood of log lines): at most this
    // many in each second; the others are counted, and one line says how many once the second is
    // over (with the next line written, or at exit). /metrics counts every one.
    static constexpr unsigned refusals_per_second = 20;

    bool enabled(log_level l) const noexcept { return l <= level_; }

    // A free-form line from elsewhere in the tool (the chat demo): event "log" at info.
    void operator()(std::string_view line) { write(log_level::info, "log", line, {}); }

    using field = std::pair<std::string_view, std::string>;
    // One line: `message` is for a person; `fields` become key=value (text) or members (json).
    void write(log_level level, std::string_view event, std::string_view message,
               const std::vector<field>& fields);

    // A line shown at every level (the "listening on" line scripts wait for).
    void notice(std::string_view event, std::string_view message, const std::vector<field>& fields);

    void engine_event(const engine::server_event& e);
    void socket_event(const sio::server_event& e);

private:
    void emit(log_level level, std::string_view event, std::string_view message,
              const std::vector<field>& fields);

    // Whether a refusal line may be written now (else it is counted as hidden).
    bool take_refusal_line();
    // Writes the "N more refusals" line when its second is over (or `now` regardless).
    void say_hidden_refusals(bool now);

    log_format format_;
    log_level level_;
    std::mutex mutex_;
    std::mutex refusals_mutex_;
    std::chrono::steady_clock::time_point refusals_since_{};
    unsigned refusals_shown_ = 0;
    std::uint64_t refusals_hidden_ = 0;
};

// A sentence for a close reason of the reference's vocabulary ("ping timeout", ...).
std::string explain_close_reason(std::string_view reason);

// The Prometheus text exposition (format 0.0.4) of the servers' counters.
std::string render_metrics(const engine::server& engine, const sio::server& io);

// Answers /healthz (and its older alias /health) and /metrics; hands anything else to `next`.
// The servers are held weakly: the handler lives inside the engine server.
struct metrics_access {
    bool here = true;   // false: /metrics is served on another listener (--metrics-listen)
    std::string token;  // non-empty: /metrics needs "Authorization: Bearer TOKEN"
};
// An answer to `req` (its HTTP version and keep-alive) with sio-serve's Server header.
boost::beast::http::response<boost::beast::http::string_body> plain_answer(
    const boost::beast::http::request<boost::beast::http::string_body>& req, boost::beast::http::status status,
    std::string_view type, std::string body);

engine::http_handler ops_http_handler(engine::http_handler next, std::weak_ptr<engine::server> engine,
                                      std::weak_ptr<sio::server> io, metrics_access metrics = {});

// On SIGINT or SIGTERM (as set up in `signals`): stop accepting, send DISCONNECT to every socket
// and close its session ("forced server close"), wait until every session and connection has
// ended or `timeout` has passed, then call `done` (which stops the io_context). A second signal
// calls `done` at once.
void shutdown_on_signal(boost::asio::signal_set& signals, boost::asio::steady_timer& timer,
                        std::shared_ptr<engine::server> engine, std::shared_ptr<sio::server> io,
                        std::chrono::milliseconds timeout, log_sink& log, std::function<void()> done);

}  // namespace sio::serve
