// Step-by-step connections for `handshake` and `doctor`: every phase (DNS, TCP, TLS, HTTP
// exchange, WebSocket upgrade) is a separate call that reports its duration and what it saw, so
// that a failure can be pinned to the phase where it happened.
//
// Unlike the library client, nothing here retries, upgrades or answers on its own: the caller
// decides each step (the WebSocket answers pings, as RFC 6455 wants). Coroutines on the
// io_context the caller runs, on one thread.
#pragma once

#include <sio/transport/ws_stream.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sio::inspect {

// What a URL names: where to connect, and the Engine.IO path and namespace to use there.
struct target {
    bool tls = false;
    std::string scheme;       // as given: http, https, ws, wss
    std::string host;         // without brackets
    std::string port;
    std::string host_header;  // host, with :port unless it is the scheme's
    std::string nsp = "/";    // the URL's path, as socket.io-client reads it
    std::string query;        // the URL's query, added to every Engine.IO request
};
// The URL as every tool reads it (common/net_options.hpp, read_url); otherwise nullopt and
// `error` says "WHAT 'URL': what is wrong".
std::optional<target> parse_target(std::string_view what, const std::string& url, std::string& error);

// The subprotocols a Sec-WebSocket-Protocol value offers ("a, b" -> a, b), in order.
std::vector<std::string> subprotocol_list(std::string_view value);

struct tls_settings {
    std::string ca_file;  // instead of the system store
    bool insecure = false;
};

struct certificate_info {
    std::string subject;
    std::string issuer;
    std::string not_before;  // "2026-11-23 10:00:00 UTC"
    std::string not_after;
    bool expired = false;
    bool not_yet_valid = false;
    bool self_signed = false;
};

struct tls_report {
    std::string version;  // "TLSv1.3"
    std::string cipher;
    std::string alpn;     // empty when none was agreed
    std::vector<certificate_info> chain;  // as the server sent it, leaf first
    bool verified = false;                // chain and host name both good
    std::string verify_error;             // OpenSSL's words when not verified
    bool host_matches = false;            // the leaf certificate names the host
};

using ms = std::chrono::duration<double, std::milli>;

struct connect_report {
    bool ok = false;
    std::string failed_phase;  // "dns", "tcp", "tls"
    std::string error;         // a sentence
    std::vector<std::string> addresses;  // what DNS gave
    std::string connected_to;            // the address that answered
    ms dns{0}, tcp{0}, tls{0};
    std::optional<tls_report> tls_details;  // for https/wss, also when verification failed
};

using plain_stream = boost::beast::tcp_stream;
using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// One connection to the target.
class probe_connection {
public:
    // Connects (and for TLS, handshakes with verification unless insecure; when verification
    // fails the report says why and, so that the rest can still be inspected, a second
    // handshake without verification is attempted only if `continue_unverified`).
    static boost::asio::awaitable<std::unique_ptr<probe_connection>> open(const target& t, const tls_settings& s,
                                                                          connect_report& report,
                                                                          std::chrono::milliseconds timeout,
                                                                          bool continue_unverified = false);

    struct exchange_result {
        bool ok = false;
        std::string error;
        boost::beast::http::response<boost::beast::http::string_body> response;
        ms elapsed{0};
    };
    // Sends `req` (Host and User-Agent filled in) and reads the whole response.
    boost::asio::awaitable<exchange_result> exchange(boost::beast::http::request<boost::beast::http::string_body> req,
                                                     std::chrono::milliseconds timeout);

    struct upgrade_result {
        bool ok = false;
        std::string error;
        boost::beast::http::request<boost::beast::http::empty_body> request;  // as sent
        boost::beast::http::response<boost::beast::http::string_body> response;  // as read (status 0: none)
        std::string expected_accept;  // base64(SHA-1(key + GUID))
        bool accept_matches = false;
        ms elapsed{0};
    };
    // Upgrades this connection to a WebSocket at `target_path` (path + query), with the
    // project's own handshake (transport/ws_handshake): the extra `headers` as
    // make_ws_upgrade_request takes them (a Sec-WebSocket-Protocol among them offers its
    // subprotocols). On success the connection is a WebSocket (transport::ws_stream, client role);
    // on failure it is spent.
    boost::asio::awaitable<upgrade_result> upgrade(const std::string& target_path,
                                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                                   std::chrono::milliseconds timeout);

    struct frame {
        bool ok = false;
        std::string error;
        std::string data;
        bool binary = false;
        ms elapsed{0};
    };
    // After upgrade(): one message each way. read_frame takes the next message that arrived (the
    // stream reads all along); write_frame returns once the frame is written, with the error text
    // or "".
    boost::asio::awaitable<frame> read_frame(std::chrono::milliseconds timeout);
    boost::asio::awaitable<std::string> write_frame(const std::string& data, bool binary = false);
    // After upgrade(): the closing handshake (a close frame, 1000, then the server's), within
    // `timeout`; returns the error text or "" once it is done.
    boost::asio::awaitable<std::string> close_websocket(std::chrono::milliseconds timeout);
    bool is_websocket() const noexcept { return ws_ != nullptr; }

    const target& where() const noexcept { return target_; }
    // An open WebSocket is dropped without a close frame, as a connection that is cut.
    ~probe_connection();

private:
    struct ws_inbox;
    probe_connection(target t, std::variant<plain_stream, tls_stream> s);
    boost::beast::tcp_stream& lowest();
    target target_;
    std::variant<plain_stream, tls_stream> stream_;
    boost::beast::flat_buffer buffer_;
    std::shared_ptr<sio::transport::ws_stream> ws_;  // after upgrade()
    std::shared_ptr<ws_inbox> inbox_;                // what ws_ delivered, until read
    std::shared_ptr<boost::asio::ssl::context> context_;
};

}  // namespace sio::inspect
