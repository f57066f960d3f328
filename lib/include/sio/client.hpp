// The Socket.IO client: one manager (`client`) owns one Engine.IO connection and multiplexes the
// namespaces opened on it (`client_socket`), as socket.io-client's Manager and Socket do.
//
//     boost::asio::io_context ioc;
//     sio::client_options o;
//     o.url = "http://127.0.0.1:3000";
//     auto io = sio::client::create(ioc.get_executor(), o);
//     auto chat = io->socket("/", {{"token", "secret"}});
//     chat->on_connect([&] { chat->emit_with_ack("echo", {"hi"}, [](std::error_code ec, sio::json a) { … }); });
//     chat->on("chat message", [](sio::json args, sio::ack_fn) { … });
//     io->open();
//     ioc.run();
//
// Protocols: Engine.IO v4 + Socket.IO v5 (socket.io 3.x/4.x servers), or Engine.IO v3 +
// Socket.IO v4 (socket.io 2.x) with `eio_version = 3`. Transports: polling, WebSocket, or
// polling then upgrade (probe) as socket.io-client does by default.
//
// Threads: `lib/` starts none. Everything runs on a strand of the executor given to create();
// every handler is called on that strand, one at a time, without a lock held, and may call back
// into the client. Public functions may be called from any thread (they post to the strand).
// Handles are weak inside: handlers never keep the client alive, and destroying the last
// shared_ptr closes the connection without blocking.
#pragma once

#include "sio/codec/json.hpp"
#include "sio/codec/socket_io.hpp"
#include "sio/engine/transfer_counters.hpp"
#include "sio/socket_error.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace sio {

using json = codec::json;

// ---------------------------------------------------------------------------------------------
// Options

enum class client_transport : std::uint8_t {
    polling,    // HTTP long-polling only
    websocket,  // WebSocket only, no polling handshake (transport=websocket without a sid)
    upgrade,    // open over polling, then probe and upgrade to WebSocket (the default)
};
std::string_view to_string(client_transport) noexcept;  // "polling", "websocket", "upgrade"

// How Socket.IO packets are written on the wire; both sides must use the same.
using client_parser = codec::socketio::wire_parser;
std::string_view to_string(client_parser) noexcept;  // "json", "msgpack"

struct tls_client_options {
    bool verify = true;           // verify the server's chain against the CA store and the host name
    std::string ca_file;          // PEM bundle used instead of the system store when set
    std::string cert_file;        // client certificate (PEM), with key_file
    std::string key_file;
    std::string server_name;      // SNI and name checked; default: the URL's host
};

struct reconnection_options {
    bool enabled = true;
    unsigned max_attempts = 0;                 // 0: no limit (the reference's Infinity)
    std::chrono::milliseconds delay{1000};     // first delay, doubled each attempt
    std::chrono::milliseconds delay_max{5000};
    double randomization = 0.5;                // jitter: delay * (1 ± randomization)
};

// What HTTP long-polling spends on HTTP itself, summed over the clients that share it (for load
// generators): requests made, and bytes of request lines, status lines and headers both ways
// (chunk framing included). Bodies are not counted. Counted by the Engine.IO client.
using transfer_counters = engine::transfer_counters;

struct client_options {
    // http://, https://, ws:// or wss://, with host, optional port and optional query. A path in
    // the URL other than "/" names the default namespace (as io("http://h/admin") does); the
    // Engine.IO path is `path`.
    std::string url;
    std::string path = "/socket.io/";
    std::vector<std::pair<std::string, std::string>> query;    // added to every request
    // Added to every HTTP request and the upgrade; one of a name (the last) is sent, a Host or
    // Accept replaces the client's own, and Content-Length or Transfer-Encoding is never sent.
    // A name that is not an HTTP token, or a value with CR, LF or NUL, fails open() with bad_url.
    std::vector<std::pair<std::string, std::string>> headers;
    client_transport transport = client_transport::upgrade;
    int eio_version = 4;  // 3 for socket.io 2.x servers (Socket.IO protocol v4)
    // The server's parser. msgpack needs eio_version 4 (open() fails with bad_url otherwise).
    // A packet in the other parser's format ends the connection with protocol_error and a
    // message that says which parser the server seems to use.
    client_parser parser = client_parser::json;
    tls_client_options tls;
    // "http://[user:pass@]host:port" of an HTTP CONNECT proxy; empty: direct. The library does not
    // read the environment; the tools apply https_proxy/http_proxy/no_proxy.
    std::string proxy;
    std::chrono::milliseconds connect_timeout{20000};  // TCP + TLS + Engine.IO open
    reconnection_options reconnection;
    // Default for emit_with_ack; zero waits until the socket disconnects.
    std::chrono::milliseconds ack_timeout{0};
    codec::socketio::decoder_options decoder;
    // When set, polling requests are counted into it (it may be shared between clients).
    std::shared_ptr<transfer_counters> counters;
    // The client runs its work on a strand of the executor it is given, so that its methods may
    // be called from any thread. False: the executor is already serial (an io_context run by one
    // thread, as in sio-bench) and every call comes from that thread; the client then runs on the
    // executor itself, which spares a strand hop and a heap-held executor copy per operation.
    bool own_strand = true;
};

// ---------------------------------------------------------------------------------------------
// Observing the connection (for status lines, --json output and the inspector)

enum class client_state : std::uint8_t { closed, opening, open, reconnecting };
std::string_view to_string(client_state) noexcept;  // "closed", "opening", "open", "reconnecting"

struct client_status {
    client_state state = client_state::closed;
    std::string sid;                 // Engine.IO session id; empty when not open
    std::string transport;           // "polling" or "websocket"; empty when not open
    std::vector<std::string> upgrades;  // as offered by the server's open packet
    bool upgraded = false;           // moved from polling to WebSocket
    std::chrono::milliseconds ping_interval{0};
    std::chrono::milliseconds ping_timeout{0};
    // Last measured round trip: ping sent to pong received (v3), or the last ack round trip (v4,
    // where the server pings).
    std::optional<std::chrono::microseconds> last_round_trip;
    unsigned reconnect_attempt = 0;  // attempt in progress (0: none)
    std::optional<std::chrono::milliseconds> next_reconnect_in;
};

// Something worth showing to a person: connection life cycle and every packet both ways.
struct client_event {
    enum class kind : std::uint8_t {
        transport_open,      // Engine.IO open; `transport`, `detail` = the open packet's JSON
        upgrade,             // moved to WebSocket
        transport_close,     // the Engine.IO connection ended; `reason`
        reconnect_attempt,   // `attempt`, `delay` before it
        reconnect,           // reconnected after `attempt` attempts
        reconnect_failed,    // gave up after max_attempts
        error,               // a failure a person should see (`reason`, `code`)
        packet_in,           // a Socket.IO packet received (`packet`)
        packet_out,          // a Socket.IO packet sent (`packet`)
        ping,                // Engine.IO ping received (v4) or sent (v3)
        pong,                // Engine.IO pong sent (v4) or received (v3)
    };
    kind type = kind::transport_open;
    std::string_view transport;
    std::string_view reason;
    std::error_code code;
    unsigned attempt = 0;
    std::chrono::milliseconds delay{0};
    const codec::socketio::packet* packet = nullptr;  // packet_in / packet_out
    std::string_view detail;
};

// Why connecting failed, so that tools can map it to an exit code (category "sio.client").
enum class client_errc {
    ok = 0,
    bad_url,            // not an http/https/ws/wss URL with a host, or an extra header that cannot be sent
    resolve_failed,     // DNS
    connect_failed,     // TCP refused / unreachable
    timeout,            // connect_timeout elapsed
    tls_failed,         // handshake or certificate verification failed (message says which)
    proxy_failed,       // the proxy refused the CONNECT (message has its status)
    handshake_failed,   // the server answered the Engine.IO open with an error (message has it)
    protocol_error,     // the server sent something that is not Engine.IO / Socket.IO
    ping_timeout,       // no ping within pingInterval + pingTimeout
    transport_closed,   // the server or the network closed the connection
    connect_error,      // CONNECT_ERROR from the server (see on_connect_error)
};
const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(client_errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

using ack_fn = std::function<void(json args)>;
using client_event_handler = std::function<void(json args, ack_fn ack)>;
using client_any_handler = std::function<void(const std::string& event, const json& args, const ack_fn& ack)>;
using client_ack_callback = std::function<void(std::error_code ec, json args)>;

class client;

// One namespace on a client's connection.
class client_socket : public std::enable_shared_from_this<client_socket> {
public:
    virtual ~client_socket() = default;

    virtual const std::string& nsp() const noexcept = 0;
    // The socket id the server gave in its CONNECT answer; empty while not connected.
    virtual std::string id() const = 0;
    virtual bool connected() const = 0;
    // After a reconnect: whether the server restored the session (connection state recovery).
    virtual bool recovered() const = 0;

    virtual void on(std::string event, client_event_handler handler) = 0;
    virtual void off(const std::string& event) = 0;
    virtual void on_any(client_any_handler handler) = 0;  // every incoming event, before the per-event handlers
    virtual void on_connect(std::function<void()> handler) = 0;
    // CONNECT_ERROR: the server's data ({"message": ...} for socket.io 4.x).
    virtual void on_connect_error(std::function<void(const json& data)> handler) = 0;
    // "io server disconnect", "io client disconnect", "transport close", "ping timeout", …
    virtual void on_disconnect(std::function<void(const std::string& reason)> handler) = 0;

    // Sent now when connected, else buffered until connected (as socket.io-client does).
    // json::binary_t values in `args` travel as binary attachments.
    virtual std::error_code emit(std::string_view event, json args = json::array()) = 0;
    // `callback` runs exactly once: the server's arguments, ack_timeout after `timeout`
    // (default: client_options::ack_timeout; zero: until disconnect), or disconnected.
    virtual std::error_code emit_with_ack(std::string_view event, json args, client_ack_callback callback,
                                  std::optional<std::chrono::milliseconds> timeout = std::nullopt) = 0;
    // Sends a packet as given (namespace forced to this socket's) — for `raw` commands.
    virtual std::error_code send_packet(codec::socketio::packet p) = 0;

    virtual void connect() = 0;     // (re)connects this namespace; the manager opens if needed
    virtual void disconnect() = 0;  // DISCONNECT for this namespace; the manager closes when none is left

protected:
    client_socket() = default;
};

class client : public std::enable_shared_from_this<client> {
public:
    static std::shared_ptr<client> create(boost::asio::any_io_executor executor, client_options options);
    virtual ~client() = default;

    // The socket for a namespace (one per namespace; a second call returns the same one with
    // its auth replaced). It connects once the manager is open, or at once if it is.
    virtual std::shared_ptr<client_socket> socket(std::string nsp, json auth = json::object()) = 0;
    // Starts connecting (and reconnecting as configured). Failures are reported through
    // on_event (kind error) and, for the first open, on_open_failed.
    virtual void open() = 0;
    virtual void close() = 0;  // no reconnection afterwards
    virtual client_status status() const = 0;
    virtual void on_event(std::function<void(const client_event&)> handler) = 0;
    // The first open failed and no reconnection will follow (reconnection disabled or
    // max_attempts reached): `ec` is a client_errc, `message` the detail for a person.
    virtual void on_open_failed(std::function<void(std::error_code ec, const std::string& message)> handler) = 0;
    virtual const client_options& options() const noexcept = 0;

protected:
    client() = default;
};

// ---------------------------------------------------------------------------------------------
// Raw WebSocket (no Engine.IO): for sio-cli --raw and ws:// servers that are not Socket.IO.

struct ws_client_options {
    std::string url;  // ws://, wss://, http:// or https:// (the latter two mean ws/wss)
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> subprotocols;
    tls_client_options tls;
    std::string proxy;
    std::chrono::milliseconds connect_timeout{20000};
    bool own_strand = true;  // as client_options::own_strand
};

class ws_client : public std::enable_shared_from_this<ws_client> {
public:
    static std::shared_ptr<ws_client> create(boost::asio::any_io_executor executor, ws_client_options options);
    virtual ~ws_client() = default;

    // on_open gets the negotiated subprotocol (empty when none).
    virtual void on_open(std::function<void(const std::string& subprotocol)> handler) = 0;
    virtual void on_message(std::function<void(std::string data, bool binary)> handler) = 0;
    virtual void on_control(std::function<void(bool is_ping, std::string_view payload)> handler) = 0;
    // Close code and reason from the peer's close frame (1005 / "" when none), or the error.
    virtual void on_close(std::function<void(std::error_code ec, unsigned code, const std::string& reason)> handler) = 0;

    virtual void open() = 0;
    virtual void send(std::string data, bool binary = false) = 0;  // queued; one writer
    virtual void ping(std::string payload = {}) = 0;
    virtual void close(unsigned code = 1000, std::string reason = {}) = 0;

protected:
    ws_client() = default;
};

}  // namespace sio

template <>
struct std::is_error_code_enum<sio::client_errc> : std::true_type {};
