// Client side of layer 1: URLs, and a connected byte stream to a server (resolve, TCP, an
// optional HTTP CONNECT proxy, optional TLS with verification and SNI).
//
// Everything here runs inside the caller's coroutine and strand; nothing is spawned but the
// cancellable attempts of `attempts`, on the caller's executor. Failures come back as a `failure` kind and a sentence for a person, never as exceptions.
#pragma once

#include "sio/transport/url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sio::transport {

// Why a client connection failed or ended. Same values as sio::client_errc (src/client/client.cpp asserts it; the
// Socket.IO layer turns one into the other), connect_error excepted, which is not a transport
// matter.
enum class failure : int {
    none = 0,
    bad_url,
    resolve_failed,
    connect_failed,
    timeout,
    tls_failed,
    proxy_failed,
    handshake_failed,
    protocol_error,
    ping_timeout,
    transport_closed,
};

struct tls_settings {
    bool verify = true;
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string server_name;  // SNI and the name verified; default: the URL's host
};

// A TLS client context for these settings (TLS 1.2+, peer verified unless verify is off).
// Null with `error` set when a file cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const tls_settings&, std::string& error);

using plain_stream = boost::beast::tcp_stream;
using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
using any_stream = std::variant<plain_stream, tls_stream>;

struct connect_request {
    url target;                                   // where to go (secure: TLS)
    std::optional<url> proxy;                     // HTTP CONNECT proxy, if any
    std::shared_ptr<boost::asio::ssl::context> tls;  // required when target.secure
    std::string server_name;                      // empty: target.host
    bool verify = true;
    std::chrono::steady_clock::time_point deadline;
};

struct connect_result {
    failure error = failure::none;
    std::string message;             // set when error != none
    std::unique_ptr<any_stream> stream;
};

// Resolves, connects (through the proxy when given), and runs the TLS handshake with SNI and
// host name verification. The stream's timeout is left at `deadline`; callers reset it.
boost::asio::awaitable<connect_result> connect(connect_request request);

// The lowest layer of either alternative.
plain_stream& lowest(any_stream&) noexcept;

// Content-Length or Transfer-Encoding (any case): how a message's body is framed, which a
// configured extra header must not replace; the client sets these itself or sends none.
bool is_framing_header(std::string_view name) noexcept;

// A client's connection attempts in progress (connect(), and whatever handshake follows it), so
// that closing the client ends them at once instead of at their deadline. Each attempt runs as a
// coroutine of its own bound to a cancellation signal; cancel_all() emits terminal cancellation
// on all of them, which cancels whatever each waits for (resolve, TCP connect, TLS or WebSocket
// handshake, an HTTP exchange). A cancelled attempt's result says failure::transport_closed.
// Result is any type with `failure error` and `std::string message`. Used on one strand; the
// owner outlives the attempts (they hold it).
class attempts {
public:
    template <class Result>
    boost::asio::awaitable<Result> run(boost::asio::awaitable<Result> op) {
        namespace asio = boost::asio;
        auto it = signals_.emplace(signals_.end());
        auto ex = co_await asio::this_coro::executor;
        auto [e, r] = co_await asio::co_spawn(
            ex, std::move(op), asio::bind_cancellation_slot(it->slot(), asio::as_tuple(asio::use_awaitable)));
        signals_.erase(it);
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const boost::system::system_error& err) {
                // What the cancelled coroutine's next co_await throws; anything else is a fault.
                if (err.code() != asio::error::operation_aborted) throw;
            }
            r = Result{};
            r.error = failure::transport_closed;
            r.message = "closed";
        }
        co_return std::move(r);
    }

    void cancel_all() {
        for (auto& s : signals_) s.emit(boost::asio::cancellation_type::terminal);
    }

private:
    std::list<boost::asio::cancellation_signal> signals_;
};

}  // namespace sio::transport
