// The WebSocket opening handshake (RFC 6455 section 4), both sides, over HTTP that Beast parses.
// The server's side checks an upgrade request and builds the 101 answer; the client's side builds
// the upgrade request, checks the answer and hands the connection to a ws_stream. Extensions
// (permessage-deflate) are never negotiated; subprotocols only on the client's side, when asked.
#pragma once

#include "sio/transport/client_connect.hpp"
#include "sio/transport/ws_stream.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sio::transport {

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)).
std::string ws_accept_key(std::string_view client_key);

// --- the server's side (section 4.2) -------------------------------------------------------------

// What an upgrade request gets: 101 with `head` (the whole response, to be written as is), or
// a refusal with `status` (400, or 426 for another protocol version) and `reason`.
struct ws_handshake_answer {
    bool accepted = false;
    unsigned status = 0;
    std::string reason;
    std::string head;
};

// `server` is the Server header's value (empty: none). `subprotocol`, when not empty, is sent as
// the 101's Sec-WebSocket-Protocol: the caller chose it among those the request offered (a relay
// passes on the one its upstream chose).
ws_handshake_answer answer_ws_upgrade(
    const boost::beast::http::request<boost::beast::http::string_body>& req, std::string_view server = {},
    std::string_view subprotocol = {});

// --- the client's side (section 4.1) -------------------------------------------------------------

// An upgrade request, and the key its answer must match.
struct ws_upgrade_request {
    std::string key;   // Sec-WebSocket-Key: 16 random bytes (OpenSSL RAND_bytes) in base64
    std::string head;  // the whole request, to be written as is
};

// "GET `target` HTTP/1.1" with Host (`host`), Upgrade, Connection, Sec-WebSocket-Key and
// Sec-WebSocket-Version 13, `subprotocols` (when any) in one Sec-WebSocket-Protocol, and the
// extra `headers`: of two of one name the later is sent, a Host among them replaces ours, and
// those the upgrade owns (Upgrade, Connection, Sec-WebSocket-*) or that frame a body
// (Content-Length, Transfer-Encoding) are left out, as is one that check_header refuses. Throws
// std::runtime_error only when OpenSSL has no random bytes to give.
ws_upgrade_request make_ws_upgrade_request(std::string_view host, std::string_view target,
                                           std::span<const std::pair<std::string, std::string>> headers = {},
                                           std::span<const std::string> subprotocols = {});

// What the client makes of the server's answer to its upgrade request.
struct ws_upgrade_verdict {
    bool accepted = false;
    std::string subprotocol;  // accepted: the one the server chose (empty: none)
    std::string reason;       // refused: a sentence naming what was wrong
};

// Accepted when the answer is a 101 with "Upgrade: websocket", a Connection naming "upgrade",
// the Sec-WebSocket-Accept of `key`, no extension (none is offered) and at most one subprotocol,
// one of `offered`. A refusal of another status names it, its reason phrase and the start of the
// body ("server refused the WebSocket upgrade: 403 Forbidden: ...").
ws_upgrade_verdict check_ws_upgrade_response(
    const boost::beast::http::response<boost::beast::http::string_body>& res, std::string_view key,
    std::span<const std::string> offered = {});

// The client's whole handshake on a connected stream.
struct ws_client_handshake_result {
    failure error = failure::none;  // timeout, tls_failed, transport_closed, handshake_failed
    std::string message;            // set when error != none
    // The server's answer, when it was not an upgrade (status 0 when none was read).
    unsigned status = 0;
    std::string status_reason;
    std::string body;
    // The server's whole answer as read, headers and body, whatever it was (status 0 when none was
    // read): for a tool that shows the exchange, or a relay that passes a refusal on as it came.
    boost::beast::http::response<boost::beast::http::string_body> response;
    // Success: the stream (not started: start(owner, pending) it), the chosen subprotocol and the
    // bytes read past the 101 (frames the server sent at once).
    std::shared_ptr<ws_stream> ws;
    std::string subprotocol;
    std::string pending;
};

// Writes `request`, reads the answer with Beast's HTTP parser within the stream's current
// deadline, checks it (check_ws_upgrade_response) and hands the connection to a ws_stream made
// with `executor` and `options` (the role is set to client). Failures: a TLS alert is
// tls_failed ("TLS: ..."), the deadline timeout, another I/O error transport_closed
// ("WebSocket handshake failed: ..."), an answer that is no valid upgrade handshake_failed (the
// verdict's reason).
boost::asio::awaitable<ws_client_handshake_result> ws_client_handshake(std::unique_ptr<any_stream> stream,
                                                                       ws_upgrade_request request,
                                                                       std::vector<std::string> offered,
                                                                       boost::asio::any_io_executor executor,
                                                                       ws_stream_options options);

}  // namespace sio::transport
