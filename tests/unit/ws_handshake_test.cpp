// The client's side of the WebSocket opening handshake (transport/ws_handshake): the upgrade
// request it builds, and what it accepts of the server's answer. Every refusal names what was
// wrong. The request is also run through the server's side (answer_ws_upgrade), whose 101 the
// client must accept.
#include "sio/transport/ws_handshake.hpp"

#include "sio/codec/base64.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

namespace http = boost::beast::http;
using sio::transport::check_ws_upgrade_response;
using sio::transport::make_ws_upgrade_request;
using sio::transport::ws_accept_key;

template <bool is_request>
http::message<is_request, http::string_body> parse(const std::string& text) {
    http::parser<is_request, http::string_body> p;
    p.eager(true);
    boost::system::error_code ec;
    std::size_t used = 0;
    while (!p.is_done() && used < text.size() && !ec)
        used += p.put(boost::asio::buffer(text.data() + used, text.size() - used), ec);
    if (!p.is_done() && !ec) p.put_eof(ec);
    EXPECT_FALSE(ec) << ec.message() << " in:\n" << text;
    EXPECT_TRUE(p.is_done()) << text;
    return p.release();
}

http::response<http::string_body> response(const std::string& head_and_body) { return parse<false>(head_and_body); }

// A valid answer to `key`, with `extra` header lines ("Name: value\r\n" each).
std::string answer_101(const std::string& key, const std::string& extra = {}) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
           ws_accept_key(key) + "\r\n" + extra + "\r\n";
}

const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 section 1.3

}  // namespace

TEST(ws_accept_key, matches_the_example_of_rfc_6455) {
    EXPECT_EQ(ws_accept_key(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(ws_upgrade_request, carries_a_fresh_16_byte_key_and_the_upgrade_headers) {
    const auto a = make_ws_upgrade_request("example.com:8080", "/socket.io/?EIO=4&transport=websocket");
    const auto b = make_ws_upgrade_request("example.com:8080", "/");
    EXPECT_NE(a.key, b.key);
    const auto decoded = sio::codec::base64_decode(a.key);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded.value().size(), 16u);
    EXPECT_EQ(a.key.size(), 24u);

    const auto req = parse<true>(a.head);
    EXPECT_EQ(req.method(), http::verb::get);
    EXPECT_EQ(req.target(), "/socket.io/?EIO=4&transport=websocket");
    EXPECT_EQ(req.version(), 11u);
    EXPECT_EQ(req[http::field::host], "example.com:8080");
    EXPECT_EQ(req[http::field::upgrade], "websocket");
    EXPECT_EQ(req[http::field::connection], "Upgrade");
    EXPECT_EQ(req[http::field::sec_websocket_key], a.key);
    EXPECT_EQ(req[http::field::sec_websocket_version], "13");
    EXPECT_EQ(req.count(http::field::sec_websocket_protocol), 0u);
    EXPECT_EQ(req.count(http::field::sec_websocket_extensions), 0u);
}

TEST(ws_upgrade_request, is_accepted_by_the_server_side_whose_answer_the_client_accepts) {
    const auto r = make_ws_upgrade_request("127.0.0.1:3000", "/chat");
    const auto answer = sio::transport::answer_ws_upgrade(parse<true>(r.head));
    ASSERT_TRUE(answer.accepted) << answer.reason;
    const auto verdict = check_ws_upgrade_response(response(answer.head), r.key);
    EXPECT_TRUE(verdict.accepted) << verdict.reason;
    EXPECT_EQ(verdict.subprotocol, "");
}

TEST(ws_upgrade_request, offers_subprotocols_in_one_header_and_sends_one_extra_header_of_a_name) {
    const std::vector<std::pair<std::string, std::string>> headers{
        {"X-Trace", "first"},        {"x-trace", "second"},           {"Authorization", "Bearer t"},
        {"Content-Length", "99"},    {"transfer-encoding", "chunked"}, {"Upgrade", "h2c"},
        {"connection", "close"},     {"Sec-WebSocket-Key", "forged"},  {"sec-websocket-extensions", "permessage-deflate"},
        {"Sec-WebSocket-Protocol", "smuggled"}, {"X-Bad", "a\r\nX-Injected: 1"}};
    const std::vector<std::string> protocols{"chat.v2", "chat.v1"};
    const auto r = make_ws_upgrade_request("h", "/", headers, protocols);
    const auto req = parse<true>(r.head);
    EXPECT_EQ(req[http::field::sec_websocket_protocol], "chat.v2, chat.v1");
    EXPECT_EQ(req.count(http::field::sec_websocket_protocol), 1u);
    EXPECT_EQ(req.count("X-Trace"), 1u);
    EXPECT_EQ(req["X-Trace"], "second");
    EXPECT_EQ(req[http::field::authorization], "Bearer t");
    EXPECT_EQ(req.count(http::field::content_length), 0u);
    EXPECT_EQ(req.count(http::field::transfer_encoding), 0u);
    EXPECT_EQ(req[http::field::upgrade], "websocket");
    EXPECT_EQ(req[http::field::connection], "Upgrade");
    EXPECT_EQ(req.count(http::field::sec_websocket_key), 1u);
    EXPECT_EQ(req[http::field::sec_websocket_key], r.key);
    EXPECT_EQ(req.count(http::field::sec_websocket_extensions), 0u);
    EXPECT_EQ(req.count("X-Bad"), 0u);
    EXPECT_EQ(req.count("X-Injected"), 0u);
}

TEST(ws_upgrade_request, is_answered_with_the_subprotocol_the_server_side_is_given) {
    // A relay (sio-inspect proxy) answers its client with the subprotocol its upstream chose.
    const std::vector<std::string> offered{"chat.v2", "chat.v1"};
    const auto r = make_ws_upgrade_request("h", "/", {}, offered);
    const auto answer = sio::transport::answer_ws_upgrade(parse<true>(r.head), "relay", "chat.v1");
    ASSERT_TRUE(answer.accepted) << answer.reason;
    const auto res = response(answer.head);
    EXPECT_EQ(res[http::field::sec_websocket_protocol], "chat.v1");
    EXPECT_EQ(res[http::field::server], "relay");
    const auto verdict = check_ws_upgrade_response(res, r.key, offered);
    EXPECT_TRUE(verdict.accepted) << verdict.reason;
    EXPECT_EQ(verdict.subprotocol, "chat.v1");
    // Without one, none is named.
    EXPECT_EQ(response(sio::transport::answer_ws_upgrade(parse<true>(r.head)).head).count(http::field::sec_websocket_protocol), 0u);
}

TEST(ws_upgrade_request, lets_an_extra_host_header_replace_its_own) {
    const std::vector<std::pair<std::string, std::string>> headers{{"host", "virtual.example"}};
    const auto req = parse<true>(make_ws_upgrade_request("127.0.0.1:80", "/", headers).head);
    EXPECT_EQ(req.count(http::field::host), 1u);
    EXPECT_EQ(req[http::field::host], "virtual.example");
}

TEST(ws_upgrade_response, accepts_a_valid_101_whatever_the_case_of_its_tokens) {
    EXPECT_TRUE(check_ws_upgrade_response(response(answer_101(key)), key).accepted);
    const std::string loose = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\n"
                              "Sec-WebSocket-Accept: " + ws_accept_key(key) + "\r\n\r\n";
    const auto v = check_ws_upgrade_response(response(loose), key);
    EXPECT_TRUE(v.accepted) << v.reason;
}

TEST(ws_upgrade_response, refuses_a_wrong_accept_key) {
    const auto other = make_ws_upgrade_request("h", "/").key;
    const auto v = check_ws_upgrade_response(response(answer_101(other)), key);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.reason.find("Sec-WebSocket-Accept"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("does not match"), std::string::npos) << v.reason;

    const auto none = check_ws_upgrade_response(
        response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), key);
    EXPECT_FALSE(none.accepted);
    EXPECT_NE(none.reason.find("no Sec-WebSocket-Accept header"), std::string::npos) << none.reason;
}

TEST(ws_upgrade_response, refuses_a_missing_or_wrong_upgrade_or_connection_header) {
    const std::string accept = "Sec-WebSocket-Accept: " + ws_accept_key(key) + "\r\n";
    auto v = check_ws_upgrade_response(
        response("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" + accept + "\r\n"), key);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.reason.find("no Upgrade header"), std::string::npos) << v.reason;

    v = check_ws_upgrade_response(
        response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" + accept + "\r\n"), key);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.reason.find("Upgrade is 'h2c'"), std::string::npos) << v.reason;

    v = check_ws_upgrade_response(
        response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n" + accept + "\r\n"), key);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.reason.find("Connection 'keep-alive' does not name upgrade"), std::string::npos) << v.reason;

    v = check_ws_upgrade_response(response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" + accept + "\r\n"), key);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.reason.find("no Connection header"), std::string::npos) << v.reason;
}

TEST(ws_upgrade_response, takes_a_subprotocol_only_when_it_was_offered) {
    const std::vector<std::string> offered{"chat.v2", "chat.v1"};
    auto v = check_ws_upgrade_response(response(answer_101(key, "Sec-WebSocket-Protocol: chat.v1\r\n")), key, offered);
    EXPECT_TRUE(v.accepted) << v.reason;
    EXPECT_EQ(v.subprotocol, "chat.v1");

    v = check_ws_upgrade_response(response(answer_101(key, "Sec-WebSocket-Protocol: mqtt\r\n")), key, offered);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.reason.find("subprotocol 'mqtt', which was not offered"), std::string::npos) << v.reason;

    // Two at once is no choice.
    v = check_ws_upgrade_response(response(answer_101(key, "Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n")), key, offered);
    EXPECT_FALSE(v.accepted);

    v = check_ws_upgrade_response(response(answer_101(key, "Sec-WebSocket-Protocol: chat.v1\r\n")), key);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.reason.find("none was offered"), std::string::npos) << v.reason;
}

TEST(ws_upgrade_response, refuses_an_extension_it_never_offered) {
    const auto v = check_ws_upgrade_response(
        response(answer_101(key, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")), key);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.reason.find("extension 'permessage-deflate; client_max_window_bits', which was not offered"),
              std::string::npos)
        << v.reason;
}

TEST(ws_upgrade_response, names_the_status_and_body_of_a_refusal) {
    const auto v = check_ws_upgrade_response(
        response("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
                 "{\"code\":4,\"message\":\"Forbidden origin\"}\n"),
        key);
    EXPECT_FALSE(v.accepted);
    EXPECT_EQ(v.reason, "server refused the WebSocket upgrade: 403 Forbidden: {\"code\":4,\"message\":\"Forbidden origin\"}\n");

    // A 200 is no upgrade either, and a long body is cut.
    const std::string body(1000, 'x');
    const auto ok = check_ws_upgrade_response(
        response("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body), key);
    EXPECT_FALSE(ok.accepted);
    EXPECT_EQ(ok.reason, "server refused the WebSocket upgrade: 200 OK: " + body.substr(0, 200));
}
