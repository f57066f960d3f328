// The HTTP listener's state, shared by the listener (http_server.cpp) and its connections
// (http_connection.cpp): the loops, the limits, the registry of open connections and each loop's
// deadlines.
#pragma once

#include "sio/transport/http_server.hpp"

#include <boost/asio/query.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sio::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct http_listener::impl : std::enable_shared_from_this<impl> {
    explicit impl(config c)
        : cfg(std::move(c)),
          server_name(cfg.server_name.empty() ? nullptr : std::make_shared<const std::string>(cfg.server_name)),
          acceptor_executor(cfg.single_threaded ? cfg.loops.at(0) : asio::make_strand(cfg.loops.at(0))),
          acceptor(acceptor_executor),
          tls(cfg.tls) {
        if (cfg.single_threaded)
            for (const auto& loop : cfg.loops) loop_timers.push_back(timer_queue::for_loop(loop));
    }

    config cfg;
    std::shared_ptr<const std::string> server_name;  // shared by the connections
    asio::any_io_executor acceptor_executor;
    tcp::acceptor acceptor;
    std::size_t next_loop = 0;  // the accept loop's only
    std::atomic<bool> stopped{false};
    std::atomic<bool> draining{false};  // stop_accepting(): connections end after their request
    mutable std::mutex tls_mutex;
    std::shared_ptr<asio::ssl::context> tls;
    mutable std::mutex endpoint_mutex;
    tcp::endpoint local;
    mutable std::mutex connections_mutex;
    std::unordered_map<std::uint64_t, std::weak_ptr<http_connection>> connections;
    std::uint64_t next_connection_id = 0;
    // Open TCP connections by remote address (only when max_connections_per_ip is set).
    std::mutex per_ip_mutex;
    std::unordered_map<std::string, std::size_t> per_ip;
    // Each loop's deadlines (cfg.loops' order), when each loop is run by one thread; with
    // strands each connection has a queue of its own, on its strand.
    std::vector<std::shared_ptr<timer_queue>> loop_timers;

    std::shared_ptr<asio::ssl::context> tls_context() const {
        std::lock_guard lock{tls_mutex};
        return tls;
    }
    // Where the next accepted connection runs, and the queue of its deadlines.
    std::pair<asio::any_io_executor, std::shared_ptr<timer_queue>> next_connection_place() {
        const std::size_t i = std::exchange(next_loop, (next_loop + 1) % cfg.loops.size());
        if (cfg.single_threaded) return {cfg.loops[i], loop_timers[i]};
        auto strand = asio::make_strand(cfg.loops[i]);
        return {strand, std::make_shared<timer_queue>(strand)};
    }
    // The queue for a connection that moves onto `executor`'s loop.
    std::shared_ptr<timer_queue> timers_for(const asio::any_io_executor& executor) const {
        if (cfg.single_threaded) {
            const auto* context = &asio::query(executor, asio::execution::context);
            for (std::size_t i = 0; i < cfg.loops.size(); ++i)
                if (&asio::query(cfg.loops[i], asio::execution::context) == context) return loop_timers[i];
        }
        return std::make_shared<timer_queue>(executor);
    }
    void refused(std::string_view remote, unsigned status, std::string detail) const {
        if (cfg.on_refusal) cfg.on_refusal(http_refusal{remote, status, std::move(detail)});
    }
    void failed(std::string_view what) const {
        if (cfg.on_failure) cfg.on_failure(what);
    }
    // Every connection open now (to close them).
    std::vector<std::shared_ptr<http_connection>> snapshot() const {
        std::vector<std::shared_ptr<http_connection>> out;
        std::lock_guard lock{connections_mutex};
        for (auto& [id, weak] : connections)
            if (auto c = weak.lock()) out.push_back(std::move(c));
        return out;
    }
    void start_accepting();
    // Closes the acceptor, and every connection: all of them now, or (`idle_only`) those waiting
    // for their next request, the busy ones ending after their answer.
    void close_all(bool idle_only);

    // The connection loop and its parts (members, for the connection's private parts).
    using ptr = std::shared_ptr<impl>;
    static asio::awaitable<void> accept_loop(ptr l);
    static asio::awaitable<void> run_connection(ptr l, std::shared_ptr<http_connection> c);
    static asio::awaitable<bool> resume(ptr l, std::shared_ptr<http_connection> c);
    static asio::awaitable<std::unique_ptr<request_parser>> read_request(ptr l, std::shared_ptr<http_connection> c,
                                                                         bool& waiting);
    static asio::awaitable<bool> start_tls(ptr l, std::shared_ptr<http_connection> c);
    static asio::awaitable<void> answer_unreadable(ptr l, std::shared_ptr<http_connection> c, error_code ec);
    static asio::awaitable<void> answer_refusal(ptr l, std::shared_ptr<http_connection> c, const http_request& req);
    static void await_request(ptr l, std::shared_ptr<http_connection> c);
};

namespace detail {

// `sock` re-registered on `executor`'s io_context (its descriptor released from its own).
tcp::socket hand_over(tcp::socket sock, const asio::any_io_executor& executor, error_code& ec);

// A connection's coroutine ended: an exception is a bug (or no memory), said, never swallowed.
void connection_done(const std::shared_ptr<http_listener::impl>& l, std::exception_ptr e);

inline void count(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

}  // namespace detail

}  // namespace sio::transport
