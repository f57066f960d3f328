// The server's side of the WebSocket opening handshake (RFC 6455 section 4.2): checks an upgrade
// request that Beast has parsed and builds the 101 answer. Extensions (permessage-deflate) and
// subprotocols are never negotiated.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <string_view>

namespace sio::transport {

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)).
std::string ws_accept_key(std::string_view client_key);

// What an upgrade request gets: 101 with `head` (the whole response, to be written as is), or
// a refusal with `status` (400, or 426 for another protocol version) and `reason`.
struct ws_handshake_answer {
    bool accepted = false;
    unsigned status = 0;
    std::string reason;
    std::string head;
};

// `server` is the Server header's value (empty: none).
ws_handshake_answer answer_ws_upgrade(
    const boost::beast::http::request<boost::beast::http::string_body>& req, std::string_view server = {});

}  // namespace sio::transport
