// The WebSocket opening handshake, the server's side and the client's.
#include "sio/transport/ws_handshake.hpp"

#include "sio/codec/base64.hpp"
#include "sio/codec/http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace sio::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string ws_accept_key(std::string_view client_key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string text{client_key};
    text += guid;
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
    return codec::base64_encode(std::string_view{reinterpret_cast<const char*>(digest.data()), digest.size()});
}

ws_handshake_answer answer_ws_upgrade(const http::request<http::string_body>& req, std::string_view server,
                                      std::string_view subprotocol) {
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
    if (!subprotocol.empty()) {
        a.head += "Sec-WebSocket-Protocol: ";
        a.head += subprotocol;
        a.head += "\r\n";
    }
    if (!server.empty()) {
        a.head += "Server: ";
        a.head += server;
        a.head += "\r\n";
    }
    a.head += "\r\n";
    return a;
}

// --- the client's side ---------------------------------------------------------------------------

namespace {

// The upgrade's own headers and a body's framing: never taken from the extra headers.
bool reserved_upgrade_header(std::string_view name) {
    static constexpr std::string_view owned[] = {"Upgrade", "Connection", "Content-Length", "Transfer-Encoding"};
    for (auto o : owned)
        if (beast::iequals(name, o)) return true;
    constexpr std::string_view prefix = "Sec-WebSocket-";
    return name.size() >= prefix.size() && beast::iequals(name.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// True when the comma-separated list `value` holds `token` (compared without case).
bool list_has(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        if (beast::iequals(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

// A header's value for a sentence: quoted, cut short.
std::string quoted(std::string_view v) {
    std::string out = "'";
    out.append(v.substr(0, 100));
    if (v.size() > 100) out += "...";
    return out + "'";
}

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

}  // namespace

ws_upgrade_request make_ws_upgrade_request(std::string_view host, std::string_view target,
                                           std::span<const std::pair<std::string, std::string>> headers,
                                           std::span<const std::string> subprotocols) {
    std::array<unsigned char, 16> nonce{};
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
        throw std::runtime_error("OpenSSL gave no random bytes for a Sec-WebSocket-Key");
    ws_upgrade_request r;
    r.key = codec::base64_encode(std::string_view{reinterpret_cast<const char*>(nonce.data()), nonce.size()});
    const auto sendable = [&](std::size_t i) {
        const auto& [name, value] = headers[i];
        if (reserved_upgrade_header(name) || !codec::check_header(name, value).empty()) return false;
        // Of two of one name, the later.
        for (std::size_t j = i + 1; j < headers.size(); ++j)
            if (beast::iequals(headers[j].first, name)) return false;
        return true;
    };
    bool own_host = true;
    for (std::size_t i = 0; i < headers.size(); ++i)
        if (sendable(i) && beast::iequals(headers[i].first, "Host")) own_host = false;

    std::string& h = r.head;
    h.reserve(256 + target.size());
    h.append("GET ").append(target.empty() ? std::string_view{"/"} : target).append(" HTTP/1.1\r\n");
    if (own_host) h.append("Host: ").append(host).append("\r\n");
    h.append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(r.key);
    h.append("\r\nSec-WebSocket-Version: 13\r\n");
    if (!subprotocols.empty()) {
        h.append("Sec-WebSocket-Protocol: ");
        for (std::size_t i = 0; i < subprotocols.size(); ++i) h.append(i ? ", " : "").append(subprotocols[i]);
        h.append("\r\n");
    }
    for (std::size_t i = 0; i < headers.size(); ++i)
        if (sendable(i)) h.append(headers[i].first).append(": ").append(headers[i].second).append("\r\n");
    h.append("\r\n");
    return r;
}

ws_upgrade_verdict check_ws_upgrade_response(const http::response<http::string_body>& res, std::string_view key,
                                             std::span<const std::string> offered) {
    ws_upgrade_verdict v;
    const auto refuse = [&](std::string why) {
        v.reason = std::move(why);
        return v;
    };
    if (res.result_int() != 101) {
        std::string why = "server refused the WebSocket upgrade: " + std::to_string(res.result_int());
        if (!res.reason().empty()) why.append(" ").append(res.reason());
        if (!res.body().empty()) why.append(": ").append(res.body().substr(0, 200));
        return refuse(std::move(why));
    }
    const std::string_view prefix = "the server's 101 answer is no WebSocket upgrade: ";
    const auto upgrade = res[http::field::upgrade];
    if (!beast::iequals(trim(upgrade), "websocket"))
        return refuse(std::string{prefix} + (upgrade.empty() ? "no Upgrade header" : "Upgrade is " + quoted(upgrade)));
    const auto connection = res[http::field::connection];
    if (!list_has(connection, "upgrade"))
        return refuse(std::string{prefix} +
                      (connection.empty() ? "no Connection header" : "Connection " + quoted(connection) + " does not name upgrade"));
    const auto accept = trim(res[http::field::sec_websocket_accept]);
    if (accept.empty()) return refuse(std::string{prefix} + "no Sec-WebSocket-Accept header");
    if (accept != ws_accept_key(key))
        return refuse(std::string{prefix} + "Sec-WebSocket-Accept " + quoted(accept) + " does not match the key sent");
    const auto extensions = trim(res[http::field::sec_websocket_extensions]);
    if (!extensions.empty())
        return refuse(std::string{prefix} + "it accepts the extension " + quoted(extensions) + ", which was not offered");
    const auto chosen = trim(res[http::field::sec_websocket_protocol]);
    if (!chosen.empty()) {
        if (std::find(offered.begin(), offered.end(), chosen) == offered.end())
            return refuse(std::string{prefix} + "it chose the subprotocol " + quoted(chosen) +
                          (offered.empty() ? ", and none was offered" : ", which was not offered"));
        v.subprotocol = std::string{chosen};
    }
    v.accepted = true;
    return v;
}

asio::awaitable<ws_client_handshake_result> ws_client_handshake(std::unique_ptr<any_stream> stream,
                                                                ws_upgrade_request request,
                                                                std::vector<std::string> offered,
                                                                asio::any_io_executor executor,
                                                                ws_stream_options options) {
    ws_client_handshake_result out;
    const auto io_failure = [&](const boost::system::error_code& ec) {
        if (ec.category() == asio::error::get_ssl_category()) {
            // A TLS alert after the handshake: TLS 1.3 refusing a missing or untrusted client
            // certificate arrives on the first read.
            out.error = failure::tls_failed;
            out.message = "TLS: " + ec.message();
        } else {
            out.error = ec == beast::error::timeout ? failure::timeout : failure::transport_closed;
            out.message = "WebSocket handshake failed: " + ec.message();
        }
    };
    auto [wec, wn] = co_await std::visit(
        [&](auto& s) { return asio::async_write(s, asio::buffer(request.head), tok); }, *stream);
    (void)wn;
    if (wec) {
        io_failure(wec);
        co_return out;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 10);  // a refusal's body, for the message
    auto [rec, rn] = co_await std::visit([&](auto& s) { return http::async_read(s, buffer, parser, tok); }, *stream);
    (void)rn;
    if (rec) {
        io_failure(rec);
        co_return out;
    }
    out.response = parser.release();
    const auto& res = out.response;
    const ws_upgrade_verdict verdict = check_ws_upgrade_response(res, request.key, offered);
    if (!verdict.accepted) {
        out.error = failure::handshake_failed;
        out.message = verdict.reason;
        if (res.result_int() != 101) {
            out.status = res.result_int();
            out.status_reason = std::string{res.reason()};
            out.body = res.body();
        }
        co_return out;
    }
    out.subprotocol = verdict.subprotocol;
    // What Beast read past the 101: the server's first frames.
    const auto rest = buffer.data();
    out.pending.assign(static_cast<const char*>(rest.data()), rest.size());
    options.role = codec::ws::role::client;
    // From here on only the ws_stream reads and writes the connection: without Beast's timer.
    lowest(*stream).expires_never();
    if (auto* plain = std::get_if<plain_stream>(stream.get()))
        out.ws = std::make_shared<ws_stream>(plain->release_socket(), std::move(executor), std::move(options));
    else
        out.ws = std::make_shared<ws_stream>(std::get<tls_stream>(std::move(*stream)), std::move(executor),
                                             std::move(options));
    co_return out;
}

}  // namespace sio::transport
