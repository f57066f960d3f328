// The server's HTTP/1.1 side: the listener (accepting on one loop, handing connections to the
// loops in turn, connection limits, TLS detection and handshake) and the connection loop (request
// headers read with Beast's parser, keep-alive, request timeouts, answers to requests that cannot
// be read). What a request means is the owner's: the listener calls its request handler with the
// connection and the parser holding the request's headers, and the handler reads the body,
// answers, or takes the socket over (a WebSocket).
//
// Threads: a connection and its coroutine run on its loop (with `single_threaded` off, a strand
// of the first loop of its own); the request handler is called there. Counters are relaxed
// atomics; the refusal callback is called from any loop.
#pragma once

#include "sio/transport/event_loop.hpp"
#include "sio/transport/ws_stream.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sio::transport {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;
using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// What the listener counts. Gauges are signed, so a reader racing an update never sees a wrap.
struct http_counters {
    std::atomic<std::int64_t> open_connections{0};  // gauge: TCP connections (HTTP and WebSocket)
    std::atomic<std::uint64_t> refused_max_connections{0};
    std::atomic<std::uint64_t> refused_max_connections_per_ip{0};
    std::atomic<std::uint64_t> request_timeouts{0};   // headers or body not in within request_timeout
    std::atomic<std::uint64_t> headers_too_large{0};  // 431
    std::atomic<std::uint64_t> tls_handshake_failures{0};
    // Requests whose framing or headers break RFC 9112 (400 or 501, the connection closed):
    // Transfer-Encoding other than a final chunked, with Content-Length, in HTTP/1.0; no Host
    // or several; obsolete line folding; unparseable request lines and headers.
    std::atomic<std::uint64_t> bad_requests{0};
    // TLS connections closed unheard because max_tls_handshakes were already under way.
    std::atomic<std::uint64_t> refused_tls_handshakes{0};
    std::atomic<std::int64_t> tls_handshakes{0};  // gauge: handshakes under way
};

struct http_limits {
    std::chrono::milliseconds request_timeout{10000};  // headers, body, and each answer's write
    // Open TCP connections in all and from one remote address; 0: no limit. A connection over a
    // limit has its request answered with 503 and the reason, then closed; one far over it (a
    // flood) is closed at once.
    std::size_t max_connections = 0;
    std::size_t max_connections_per_ip = 0;
    std::size_t max_header_bytes = 16 * 1024;
    // TLS handshakes under way at once; 0: no limit. Past it a new TLS connection is closed as
    // soon as its first bytes show it is TLS (a pending handshake holds about 86 KiB: Asio's two
    // 17 KiB record buffers and OpenSSL's state; a connection that has sent nothing, about 5 KiB,
    // no TLS state at all).
    std::size_t max_tls_handshakes = 0;
};

// A request the listener refused by itself (a limit, TLS trouble, unreadable headers).
struct http_refusal {
    std::string_view remote_address;  // when known
    unsigned status = 0;              // the HTTP status answered; 0 when nothing was answered
    std::string detail;               // a sentence for a person
};

// What one request amounted to, for the connection loop. `moved`: the handler asked for the
// connection to be served on another loop (http_connection::move_to) before it handles the
// request; it is called again there with the same request. `parked`: the answer comes later
// (a polling GET waiting for packets): the connection loop ends, holding nothing, until the
// owner calls answer_parked.
enum class next_step { keep_alive, close, handed_over, moved, parked };

class http_listener;

// One accepted TCP connection serving HTTP requests (until it becomes a WebSocket), in the clear
// or over TLS. Its request timeout is a deadline on its loop's timer_queue: when it passes, the
// socket is closed, and whatever was under way fails with beast::error::timeout.
class http_connection : private deadline_client {
public:
    using plain_stream = boost::asio::ip::tcp::socket;

    http_connection(boost::asio::ip::tcp::socket s, std::shared_ptr<boost::asio::ssl::context> tls,
                    std::uint64_t id, std::shared_ptr<const void> slot);
    // Leaves its listener's registry, should no run of the connection loop have done so (a
    // parked connection whose answer never came, at shutdown).
    ~http_connection();
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;

    std::uint64_t id() const noexcept { return id_; }
    // Served over TLS (its stream becomes TLS once the client's first bytes are in).
    bool is_tls() const noexcept { return tls_ != nullptr; }
    // The TCP socket, under the TLS stream if there is one.
    boost::asio::ip::tcp::socket& socket() noexcept;
    boost::asio::any_io_executor executor() noexcept { return socket().get_executor(); }
    // The peer's address, asked of the socket once and kept; empty when the socket cannot tell.
    const std::string& peer_address();

    // Reads the rest of a request whose headers are in `parser`, up to `limit` bytes of body.
    // False on any failure; `too_large` tells the body limit apart.
    boost::asio::awaitable<bool> read_body(request_parser& parser, std::uint64_t limit, bool& too_large);
    // Writes `res` (keep-alive as it says); false when the write failed.
    boost::asio::awaitable<bool> write(http_response res);
    // Writes bytes as they are (a 101 answer); false when the write failed.
    boost::asio::awaitable<bool> write_raw(const std::string& bytes);
    // The connection waits for an answer that may take a while (a parked GET): no request
    // timeout meanwhile, and no read buffer held when nothing was read past the request.
    void idle();
    // Answers `req` with `res`, keeping the connection only when both want it and `keep_alive`.
    boost::asio::awaitable<next_step> respond(const http_request& req, http_response res, bool keep_alive = true);

    // The answer to a request the handler parked (next_step::parked), on the connection's
    // executor: written, then the connection serves its next request if the answer keeps it
    // alive. Without an answer (the request is abandoned) the connection closes.
    static void answer_parked(std::shared_ptr<http_connection> c, std::optional<http_response> answer);

    // Asks for this connection to go on on `executor`'s loop (where the session its request names
    // runs): the handler then returns next_step::moved, and is called again there with the same
    // request. Only a plain connection can move (a TLS stream stays on its loop); false for TLS.
    bool move_to(boost::asio::any_io_executor executor);

    // The connection becomes a WebSocket (its request was read and answered with 101): the socket
    // (a plain one moved onto `executor`'s io_context) goes to the stream, with what was read
    // past the request in `read_ahead`. Null when the socket is gone. The connection's place
    // under the limits goes with it.
    std::shared_ptr<ws_stream> take_websocket(const boost::asio::any_io_executor& executor, ws_stream_options options,
                                              std::string& read_ahead);

    // Reads a request's headers into `parser`; what Beast's parser accepts and RFC 9112 does not
    // (obsolete line folding) is refused first, with http::error::bad_obs_fold.
    boost::asio::awaitable<boost::system::error_code> read_header(request_parser& parser, std::size_t limit);

    // A response (for the listener's own answers and the owner's).
    static http_response make_response(unsigned status, unsigned version, bool keep_alive, std::string body,
                                       std::string_view content_type);

private:
    friend class http_listener;
    // The socket moves onto move_to_'s io_context (the connection loop's part of move_to), and
    // the connection onto that loop's timer_queue.
    bool move_socket();
    // The request timeout: from now, or to a point; cleared while the connection waits for the
    // owner (a parked GET) or is handed over.
    void set_deadline(std::chrono::steady_clock::time_point when);
    void set_timeout() { set_deadline(std::chrono::steady_clock::now() + timeout_); }
    void clear_deadline() noexcept;
    void on_deadline() noexcept override;
    // `ec` as the caller should see it: beast::error::timeout once the deadline has passed.
    boost::system::error_code outcome(boost::system::error_code ec) const noexcept;

    std::uint64_t id_;
    std::string peer_;
    bool peer_known_ = false;
    std::shared_ptr<boost::asio::ssl::context> tls_;  // declared before the stream that uses it
    std::variant<plain_stream, tls_stream> stream_;
    boost::beast::flat_buffer buffer_;
    std::shared_ptr<const void> slot_;  // the place under the limits
    std::chrono::milliseconds timeout_{10000};
    http_counters* counters_ = nullptr;
    std::shared_ptr<const std::string> server_name_;  // the listener's; null: no Server header
    // Over a connection limit: its request is answered with 503 and this reason.
    std::string refusal_;
    std::atomic<std::uint64_t>* refusal_counter_ = nullptr;
    bool busy_ = false;  // between a request's headers and its response; only on its executor
    bool served_ = false;  // at least one request was read (a later timeout is an idle keep-alive)
    bool timed_out_ = false;  // the deadline passed: the socket is closed
    // Set by move_to(), taken by the connection loop; held apart, as it is rarely set.
    std::unique_ptr<boost::asio::any_io_executor> move_to_;
    std::unique_ptr<request_parser> pending_;  // the request that moved with the connection
    // Between requests a plain connection holds no coroutine and no read buffer: it waits for
    // the next request's first byte (http_listener::impl::await_request), which read_header
    // then starts from; `waited_` says that it did, `wait_error_` how the wait ended.
    bool waited_ = false;
    char first_byte_ = 0;
    boost::system::error_code wait_error_;
    // A parked request's answer, for the run of the connection loop that answer_parked starts
    // (an empty optional inside: close).
    std::unique_ptr<std::optional<http_response>> parked_answer_;
    std::shared_ptr<void> listener_;  // its listener's state (http_listener::impl), set when accepted
    // Its loop's deadlines (with strands, a queue of its own), and whether its deadline passed.
    std::shared_ptr<timer_queue> timers_;
};

// The owner's part of a request: called with the request's headers in `parser`, on the
// connection's executor.
using request_handler =
    std::function<boost::asio::awaitable<next_step>(std::shared_ptr<http_connection>, request_parser&)>;
// Adds headers to the listener's own answers (CORS, for a 503 a browser must be able to read).
using response_decorator = std::function<void(const http_request&, http_response&)>;

class http_listener : public std::enable_shared_from_this<http_listener> {
public:
    struct config {
        std::vector<boost::asio::any_io_executor> loops;  // at least one; loops[0] accepts
        bool single_threaded = true;  // each loop run by one thread; else connections get strands
        http_limits limits;
        std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
        http_counters* counters = nullptr;                // must outlive the listener; required
        std::function<void(const http_refusal&)> on_refusal;
        // A connection that ended on an exception (a bug, or no memory): what it was doing and why.
        std::function<void(std::string_view)> on_failure;
        request_handler on_request;
        response_decorator decorate;
        // The Server header of every answer written (the owner's and the listener's own) that has
        // none; empty: none added.
        std::string server_name;
    };
    static std::shared_ptr<http_listener> create(config c);
    ~http_listener();

    boost::system::error_code listen(const boost::asio::ip::tcp::endpoint& endpoint);
    boost::asio::ip::tcp::endpoint local_endpoint() const;
    // Stops accepting and closes every connection now.
    void stop();
    // Stops accepting; an idle connection closes now, a busy one after its answer.
    void stop_accepting();
    bool set_tls_context(std::shared_ptr<boost::asio::ssl::context> context);
    std::size_t connection_count() const;

    struct impl;  // shared with the coroutines, which may outlive the listener object

private:
    explicit http_listener(config c);
    std::shared_ptr<impl> impl_;
};

}  // namespace sio::transport
