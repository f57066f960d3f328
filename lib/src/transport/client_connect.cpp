// Client connections: resolve + TCP connect, HTTP CONNECT proxy, TLS handshake (URLs: url.cpp).
#include "sio/transport/client_connect.hpp"

#include "sio/codec/base64.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

namespace sio::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

std::string describe_tls_failure(tls_stream& s, const boost::system::error_code& ec) {
    const long verify = SSL_get_verify_result(s.native_handle());
    if (verify != X509_V_OK)
        return std::string{"TLS certificate verification failed: "} + X509_verify_cert_error_string(verify);
    return "TLS handshake failed: " + ec.message();
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_client_tls_context(const tls_settings& s, std::string& error) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression);
    boost::system::error_code ec;
    if (!s.ca_file.empty()) {
        ctx->load_verify_file(s.ca_file, ec);
        if (ec) {
            error = "cannot load CA file '" + s.ca_file + "': " + ec.message();
            return nullptr;
        }
    } else if (s.verify) {
        ctx->set_default_verify_paths(ec);
        if (ec) {
            error = "cannot load the system CA store: " + ec.message();
            return nullptr;
        }
    }
    if (!s.cert_file.empty() || !s.key_file.empty()) {
        if (s.cert_file.empty() || s.key_file.empty()) {
            error = "a client certificate needs both a certificate file and a key file";
            return nullptr;
        }
        ctx->use_certificate_chain_file(s.cert_file, ec);
        if (ec) {
            error = "cannot load client certificate '" + s.cert_file + "': " + ec.message();
            return nullptr;
        }
        ctx->use_private_key_file(s.key_file, asio::ssl::context::pem, ec);
        if (ec) {
            error = "cannot load client key '" + s.key_file + "': " + ec.message();
            return nullptr;
        }
    }
    ctx->set_verify_mode(s.verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
    return ctx;
}

plain_stream& lowest(any_stream& s) noexcept {
    return std::visit([](auto& st) -> plain_stream& { return beast::get_lowest_layer(st); }, s);
}

namespace {

// Asks the proxy to open a tunnel to the target (HTTP CONNECT). False: `out` says why not.
asio::awaitable<bool> open_tunnel(plain_stream& tcp_stream, const connect_request& req, connect_result& out) {
    http::request<http::empty_body> creq{http::verb::connect, req.target.authority(), 11};
    creq.set(http::field::host, req.target.authority());
    if (!req.proxy->user.empty())
        creq.set(http::field::proxy_authorization,
                 "Basic " + codec::base64_encode(req.proxy->user + ":" + req.proxy->password));
    auto [wec, wn] = co_await http::async_write(tcp_stream, creq, tok);
    (void)wn;
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> parser;
    parser.skip(true);  // a CONNECT answer has no body to wait for
    boost::system::error_code pec = wec;
    if (!pec) {
        auto [ec2, n2] = co_await http::async_read_header(tcp_stream, buf, parser, tok);
        (void)n2;
        pec = ec2;
    }
    if (pec) {
        out.error = pec == beast::error::timeout ? failure::timeout : failure::proxy_failed;
        out.message = "proxy " + req.proxy->authority() + " failed: " + pec.message();
        co_return false;
    }
    const auto status = parser.get().result_int();
    if (status / 100 != 2) {
        out.error = failure::proxy_failed;
        out.message = "proxy " + req.proxy->authority() + " refused CONNECT " + req.target.authority() + ": " +
                      std::to_string(status) + " " + std::string{parser.get().reason()};
        co_return false;
    }
    if (buf.size() != 0) {
        out.error = failure::proxy_failed;
        out.message = "proxy sent data before the tunnel was established";
        co_return false;
    }
    co_return true;
}

}  // namespace

asio::awaitable<connect_result> connect(connect_request req) {
    connect_result out;
    auto ex = co_await asio::this_coro::executor;
    const url& hop = req.proxy ? *req.proxy : req.target;

    // Resolve, bounded by the deadline.
    tcp::resolver resolver{ex};
    asio::steady_timer timer{ex};
    timer.expires_at(req.deadline);
    auto raced = co_await (resolver.async_resolve(hop.host, hop.port, tok) || timer.async_wait(tok));
    if (raced.index() == 1) {
        resolver.cancel();
        out.error = failure::timeout;
        out.message = "timed out resolving " + hop.host;
        co_return out;
    }
    auto [rec, endpoints] = std::get<0>(std::move(raced));
    if (rec) {
        out.error = failure::resolve_failed;
        out.message = "cannot resolve " + hop.host + ": " + rec.message();
        co_return out;
    }

    plain_stream tcp_stream{ex};
    tcp_stream.expires_at(req.deadline);
    auto [cec, ep] = co_await tcp_stream.async_connect(endpoints, tok);
    if (cec) {
        out.error = cec == beast::error::timeout ? failure::timeout : failure::connect_failed;
        out.message = (req.proxy ? "cannot connect to proxy " : "cannot connect to ") + hop.authority() + ": " +
                      (cec == beast::error::timeout ? std::string{"timed out"} : cec.message());
        co_return out;
    }
    tcp_stream.socket().set_option(tcp::no_delay(true), cec);

    if (req.proxy && !co_await open_tunnel(tcp_stream, req, out)) co_return out;

    if (!req.target.secure) {
        out.stream = std::make_unique<any_stream>(std::in_place_type<plain_stream>, std::move(tcp_stream));
        co_return out;
    }

    if (!req.tls) {
        out.error = failure::tls_failed;
        out.message = "no TLS context";
        co_return out;
    }
    tls_stream tls{std::move(tcp_stream), *req.tls};
    const std::string name = req.server_name.empty() ? req.target.host : req.server_name;
    if (!is_ip_literal(name)) SSL_set_tlsext_host_name(tls.native_handle(), name.c_str());
    if (req.verify) {
        X509_VERIFY_PARAM* param = SSL_get0_param(tls.native_handle());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (is_ip_literal(name))
            X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        else
            X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    }
    auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, tok);
    if (hec) {
        out.error = hec == beast::error::timeout ? failure::timeout : failure::tls_failed;
        out.message = hec == beast::error::timeout ? "timed out in the TLS handshake with " + req.target.authority()
                                                   : describe_tls_failure(tls, hec);
        co_return out;
    }
    out.stream = std::make_unique<any_stream>(std::in_place_type<tls_stream>, std::move(tls));
    co_return out;
}

bool is_framing_header(std::string_view name) noexcept {
    return beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding");
}

}  // namespace sio::transport
