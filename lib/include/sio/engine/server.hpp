// The Engine.IO v4 server: HTTP long-polling, WebSocket and the upgrade between them, on Beast.
//
// Each session runs on its own strand and is driven by the pure state machine of
// server_session.hpp; this file owns the sockets, the timers and the sid registry. The upper
// layer (Socket.IO) sees a session through a weak `session_handle` and receives its messages
// through a `session_listener` it returns from the open handler; every listener call runs on the
// session's strand, one at a time.
#pragma once

#include "sio/engine/metrics.hpp"
#include "sio/engine/server_session.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sio::engine {

class session;
class server;
enum class handshake_error : int;

// Something an operator may want to log. Reported through server_options::on_event, from any
// thread (the session's strand or a connection's), one call per event; the callback must be
// cheap and must not call back into the server.
struct server_event {
    enum class kind : std::uint8_t {
        session_open,     // a handshake created a session
        session_upgrade,  // a polling session moved to WebSocket
        session_close,    // a session ended; `reason` says why
        request_refused,  // a request was answered with an error; `detail` says why
        failure,          // a handler (or the server's own code) threw; `detail` says what it was
                          // doing and the exception's text; the session it served was closed
    };
    kind type = kind::session_open;
    std::string_view sid;             // empty when the refused request named no session
    std::string_view transport;       // "polling" or "websocket"
    std::string_view reason;          // session_close: the close reason ("ping timeout", ...)
    std::string_view remote_address;  // when known
    std::optional<handshake_error> error;  // request_refused with an Engine.IO error code
    unsigned http_status = 0;              // request_refused: the status answered
    std::string detail;  // a sentence for a person (sizes and limits included); may be empty
};
using event_handler = std::function<void(const server_event&)>;

// A cluster without sticky sessions: a request naming a session that another server of the
// cluster made is sent to that server, which answers it as its own (adapter/redis_forward.hpp
// does it through Redis). The request and the answer as they travel: hop-by-hop headers
// (Connection, Keep-Alive, Transfer-Encoding, Content-Length, Upgrade) are left out.
struct forwarded_request {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};
struct forwarded_response {
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};
// Why a forwarded request got no answer from its owner.
enum class forward_failure : std::uint8_t {
    owner_gone,   // no server listens for the owner's requests any more (or it lost the session)
    timeout,      // no answer in time
    unreachable,  // the link to the cluster is down
};
class request_forwarder {
public:
    virtual ~request_forwarder() = default;
    // The start of every sid this server makes, which names it in the cluster.
    virtual std::string sid_prefix() const = 0;
    // The server that made `sid`, when it is another one; nullopt when the sid is this server's
    // (or no server's).
    virtual std::optional<std::string> owner_of(std::string_view sid) const = 0;
    // Sends `req` to `owner`; `done` runs exactly once, on whatever thread, with the owner's
    // answer or why there is none. Must not block.
    virtual void forward(std::string owner, forwarded_request req,
                         std::function<void(std::optional<forwarded_response>, forward_failure)> done) = 0;
};

struct server_options {
    std::string path = "/socket.io/";  // requests below this path are Engine.IO's
    server_session_config session;
    bool allow_polling = true;
    bool allow_websocket = true;
    bool allow_upgrades = true;
    // Origins whose requests are served at all (others get 403 "Forbidden", WebSocket
    // included); empty allows any origin. This is a refusal list, it adds no CORS header.
    std::vector<std::string> allowed_origins;
    // Origins that get CORS headers (Access-Control-Allow-Origin echoing the request's Origin,
    // Access-Control-Allow-Credentials: true, Vary: Origin), on responses and preflights. "*"
    // matches every origin and is still answered by echoing it, because browsers refuse a
    // literal "*" together with credentials (the reference's `cors: {origin: true,
    // credentials: true}`). Empty: no CORS headers, so browsers on other origins are refused.
    std::vector<std::string> cors_origins;
    std::chrono::milliseconds request_timeout{10000};  // headers, body and WebSocket handshake
    // Open TCP connections (HTTP keep-alive and WebSocket, TLS or not), in all and from one
    // remote address; 0: no limit. A connection over a limit has its request answered with 503
    // and the reason (a WebSocket upgrade included), then closed; one far over it (a flood) is
    // closed at once.
    std::size_t max_connections = 0;
    std::size_t max_connections_per_ip = 0;
    std::size_t max_header_bytes = 16 * 1024;
    // Engine.IO sessions open at once, in all and opened from one remote address; 0: no limit.
    // A handshake over a limit is answered 503 with the reason (a WebSocket handshake too).
    // Sessions live on after their connection (a polling session between its requests), so the
    // connection limits alone do not bound them.
    std::size_t max_sessions = 0;
    std::size_t max_sessions_per_ip = 0;
    // TLS handshakes under way at once (transport::http_limits::max_tls_handshakes); 0: no limit.
    std::size_t max_tls_handshakes = 0;
    // Serve HTTPS and WSS only (every connection starts with a TLS handshake); null: plain
    // HTTP and WS. See transport/server_tls.hpp for a context with safe settings.
    std::shared_ptr<boost::asio::ssl::context> tls;
    // The Server header of every answer, the WebSocket's 101 included (an HTTP handler's answer
    // that sets its own keeps it); empty: none.
    std::string server_name;
    event_handler on_event;  // none when empty
    // The executor's io_context is run by one thread, and every call into the server and its
    // session handles comes from that thread. Connections and sessions then run on the executor
    // itself instead of a strand each: no strand hop, and no heap-held copy of a strand
    // executor, per operation. A handle called from another thread still posts.
    bool single_threaded = false;
    // Requests for the sessions of other servers of a cluster are forwarded to them (and every
    // sid made here starts with the forwarder's sid_prefix()); null: they are answered "Session
    // ID unknown". A WebSocket upgrade is not forwarded: it is refused so, and the client goes
    // on polling through the owner.
    std::shared_ptr<request_forwarder> forwarder;
};

// What the open handler learns about the request that created a session.
struct handshake_request {
    std::string remote_address;
    std::string transport;  // "polling" or "websocket"
    std::map<std::string, std::string> query;
    std::map<std::string, std::string> headers;  // lower-case names
};

// A weak reference to a session for the upper layer. Calls from any thread are posted to the
// session's strand; calls on a destroyed or closed session do nothing and return false.
class session_handle {
public:
    session_handle() = default;
    explicit session_handle(std::weak_ptr<session> s) : session_(std::move(s)) {}

    // Queues a message packet (data shared, so one broadcast buffer serves every session).
    // A text message containing '\x1e' is refused (false) while the session is on polling: the
    // v4 payload format has no escape for it (send it as binary, or after the upgrade).
    bool send(std::shared_ptr<const std::string> data, bool binary = false) const;
    bool send(std::string data, bool binary = false) const;
    // Closes the session; the listener's on_close receives `reason`.
    void close(std::string reason = std::string(close_reasons::forced_close)) const;

    const std::string& sid() const noexcept { return sid_; }
    bool expired() const noexcept { return session_.expired(); }
    // Where the session runs (its loop, or its strand): what the upper layer's timers and work
    // for this session use, so that all of it runs in one place. Empty once the session is gone.
    boost::asio::any_io_executor executor() const;

private:
    friend class session;
    std::weak_ptr<session> session_;
    std::string sid_;
};

// Groups the sends and closes this thread makes while it lives: those for sessions that run
// elsewhere (another event loop, another strand) are handed over when it ends, with one post per
// loop instead of one per session, each session's in the order made. For a broadcast: one around
// the loop over its targets. Nestable: the outermost hands over. Sends to sessions that run on
// this thread are made at once, as without it.
class send_batch {
public:
    send_batch();
    ~send_batch();
    send_batch(const send_batch&) = delete;
    send_batch& operator=(const send_batch&) = delete;

    struct state;

private:
    state* outer_;
};

class session_listener {
public:
    virtual ~session_listener() = default;
    virtual void on_message(codec::eio::packet message) = 0;
    virtual void on_close(std::string_view reason) = 0;
};

// Called on the new session's strand; returns the listener for it (null refuses the session).
using open_handler =
    std::function<std::shared_ptr<session_listener>(session_handle, const handshake_request&)>;
// Answers requests outside the Engine.IO path (a page, a health check).
using http_handler = std::function<boost::beast::http::response<boost::beast::http::string_body>(
    const boost::beast::http::request<boost::beast::http::string_body>&)>;

class server : public std::enable_shared_from_this<server> {
public:
    // Sessions and connections get strands of `executor`'s context (with
    // options.single_threaded, they run on the executor itself), which must outlive the server
    // object (destroy the server, or let it go, before the io_context).
    static std::shared_ptr<server> create(boost::asio::any_io_executor executor, server_options options);
    // One event loop per thread: `loops` are the executors of io_contexts each run by exactly
    // one thread (options.single_threaded is implied). Accepted connections are spread over the
    // loops in turn; a session lives on the loop of the connection that opened it, and everything
    // of it runs there: a request read on another loop's connection is handed to it. The
    // acceptor runs on loops[0]. Every io_context must outlive the server object.
    static std::shared_ptr<server> create(std::vector<boost::asio::any_io_executor> loops, server_options options);
    ~server();

    void set_open_handler(open_handler handler);
    void set_http_handler(http_handler handler);

    // Binds and starts accepting. Port 0 picks a free port: see local_endpoint().
    boost::system::error_code listen(const boost::asio::ip::tcp::endpoint& endpoint);
    boost::asio::ip::tcp::endpoint local_endpoint() const;
    // Stops accepting, closes idle connections and closes every session ("forced server close").
    // A polling session is not kept waiting for a GET to collect its close packet. Safe from any
    // thread; the destructor calls it.
    void stop();
    // Graceful end of HTTP service: closes the acceptor and idle connections; a connection busy
    // with a request (a parked GET included) ends after its response. Sessions are not touched:
    // close them first and call this once they are gone. Safe from any thread.
    void stop_accepting();

    // Replaces the TLS context for connections accepted from now on (a renewed certificate);
    // connections already open keep theirs. Ignored (false) when the server was created
    // without TLS. Safe from any thread.
    bool set_tls_context(std::shared_ptr<boost::asio::ssl::context> context);

    std::size_t session_count() const;
    // Connections still open: HTTP connections and WebSockets (a graceful shutdown waits for
    // them to flush what they were sending).
    std::size_t transport_count() const;
    // Live counters; valid as long as the server object.
    const server_metrics& metrics() const noexcept;
    // Bytes queued for sending over every session (not yet taken by a transport write).
    std::size_t queued_bytes() const noexcept;
    const server_options& options() const noexcept { return options_; }

    struct impl;  // shared with the coroutines and sessions, which may outlive the server object

private:
    friend class session;
    server(std::vector<boost::asio::any_io_executor> loops, server_options options);
    std::shared_ptr<impl> impl_;
    server_options options_;
};

// Engine.IO handshake errors: the reference's codes, messages and HTTP statuses.
enum class handshake_error : int {
    unknown_transport = 0,
    unknown_sid = 1,
    bad_handshake_method = 2,
    bad_request = 3,
    forbidden = 4,
    unsupported_protocol_version = 5,
};
std::string_view message(handshake_error) noexcept;
// The reference's name for the code ("UNKNOWN_SID", ...).
std::string_view name(handshake_error) noexcept;
unsigned http_status(handshake_error) noexcept;

// A session id: 20 URL-safe characters from 15 bytes of a CSPRNG (the reference's shape).
std::string generate_sid();

}  // namespace sio::engine
