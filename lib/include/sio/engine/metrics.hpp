// Counters of an Engine.IO server, for a metrics endpoint.
//
// Updated on the hot path (every message in and out), so every field is a relaxed atomic: no
// lock per message, and a reader may see one counter a message ahead of another. Gauges are
// signed so that a reader racing an update never sees a wrap-around.
#pragma once

#include "sio/transport/http_server.hpp"

#include <array>
#include <atomic>
#include <cstdint>

namespace sio::engine {

// The HTTP listener's counters (open connections, connection limits hit, request timeouts, 431s,
// TLS handshake failures) are its base: transport::http_counters.
struct server_metrics : transport::http_counters {
    static constexpr std::size_t handshake_error_codes = 6;  // handshake_error 0..5

    std::atomic<std::int64_t> polling_sessions{0};    // gauge: open sessions on polling
    std::atomic<std::int64_t> websocket_sessions{0};  // gauge: open sessions on WebSocket
    std::atomic<std::uint64_t> sessions_opened{0};
    std::atomic<std::uint64_t> upgrades{0};  // polling sessions moved to WebSocket
    // Message packets (Engine.IO type 4) and their data bytes; control packets are not counted.
    std::atomic<std::uint64_t> packets_in{0};
    std::atomic<std::uint64_t> packets_out{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> bytes_out{0};
    std::array<std::atomic<std::uint64_t>, handshake_error_codes> handshake_errors{};
    // Limits hit (the listener's are in the base).
    std::atomic<std::uint64_t> payloads_too_large{0};    // polling body (413) or WebSocket message (1009)
    std::atomic<std::uint64_t> slow_consumers{0};        // sessions closed with "slow consumer"
    std::atomic<std::uint64_t> refused_max_sessions{0};         // handshakes answered 503
    std::atomic<std::uint64_t> refused_max_sessions_per_ip{0};  // the same, per address
    // Requests for another server's session (server_options::forwarder): forwarded to it, by
    // what became of them (answered, or the forward_failure), and WebSocket upgrades refused.
    std::atomic<std::uint64_t> forwarded_answered{0};
    std::array<std::atomic<std::uint64_t>, 3> forward_failures{};  // by forward_failure
    std::atomic<std::uint64_t> forward_upgrades_refused{0};

    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
    static void add(std::atomic<std::int64_t>& c, std::int64_t n) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
    template <class T>
    static T get(const std::atomic<T>& c) noexcept {
        return c.load(std::memory_order_relaxed);
    }
};

}  // namespace sio::engine
