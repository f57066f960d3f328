#include "sio/transport/ws_handshake.hpp"

#include "sio/codec/base64.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <openssl/sha.h>

#include <array>

namespace sio::transport {

namespace http = boost::beast::http;

std::string ws_accept_key(std::string_view client_key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string text{client_key};
    text += guid;
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
    return codec::base64_encode(std::string_view{reinterpret_cast<const char*>(digest.data()), digest.size()});
}

ws_handshake_answer answer_ws_upgrade(const http::request<http::string_body>& req, std::string_view server) {
    ws_handshake_answer a;
    const auto refuse = [&](unsigned status, std::string reason) {
        a.status = status;
        a.reason = std::move(reason);
        return a;
    };
    if (req.method() != http::verb::get) return refuse(400, "WebSocket upgrade with a method other than GET");
    if (req.version() < 11) return refuse(400, "WebSocket upgrade over HTTP/1.0");
    if (!boost::beast::websocket::is_upgrade(req)) return refuse(400, "not a WebSocket upgrade request");
    const auto version = req[http::field::sec_websocket_version];
    if (version != "13") return refuse(426, "unsupported WebSocket version (this server speaks 13)");
    const auto key = req[http::field::sec_websocket_key];
    // The key is 16 random bytes in base64: 24 characters.
    const auto decoded = codec::base64_decode(std::string_view{key.data(), key.size()});
    if (key.size() != 24 || !decoded || decoded.value().size() != 16)
        return refuse(400, "missing or malformed Sec-WebSocket-Key");
    a.accepted = true;
    a.status = 101;
    a.head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    a.head += ws_accept_key(std::string_view{key.data(), key.size()});
    a.head += "\r\n";
    if (!server.empty()) {
        a.head += "Server: ";
        a.head += server;
        a.head += "\r\n";
    }
    a.head += "\r\n";
    return a;
}

}  // namespace sio::transport
