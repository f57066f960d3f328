// The client's side of HTTP long-polling: see sio/transport/polling_client.hpp.
#include "sio/transport/polling_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <array>

namespace sio::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

// An alert from the peer's TLS layer after the handshake, e.g. TLS 1.3 refusing a missing or
// untrusted client certificate on the first read.
bool is_tls_alert(const boost::system::error_code& ec) {
    return ec.category() == asio::error::get_ssl_category();
}

// The server closed a kept-alive connection before or while it was used again.
bool closed_by_peer(const boost::system::error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe;
}

}  // namespace

void http_client_connection::close() noexcept {
    if (!stream) return;
    boost::system::error_code ec;
    lowest(*stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    lowest(*stream).close();
}

std::string polling_request_head(std::string_view method, std::string_view target, std::string_view host,
                                 const std::vector<std::pair<std::string, std::string>>& headers, bool with_body,
                                 std::size_t body_size) {
    const auto named = [](std::string_view a, std::string_view b) { return beast::iequals(a, b); };
    const auto overridden = [&](std::string_view name) {
        return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return named(h.first, name); });
    };
    std::string head;
    head.reserve(160 + target.size());
    head.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    if (!overridden("Host")) head.append("Host: ").append(host).append("\r\n");
    if (!overridden("Accept")) head.append("Accept: */*\r\n");
    for (auto it = headers.begin(); it != headers.end(); ++it) {
        const std::string& k = it->first;  // not a structured binding: clang 14 cannot capture one
        const std::string& v = it->second;
        if (is_framing_header(k) || (with_body && named(k, "Content-Type"))) continue;  // the body's are ours
        if (std::any_of(std::next(it), headers.end(), [&](const auto& h) { return named(h.first, k); })) continue;
        head.append(k).append(": ").append(v).append("\r\n");
    }
    if (with_body) {
        head.append("Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ")
            .append(std::to_string(body_size))
            .append("\r\n");
    }
    head.append("\r\n");
    return head;
}

asio::awaitable<http_reply> exchange(http_client_connection& conn, const http_exchange& request,
                                     attempts& connecting, connect_request how, clock_type::duration connect_timeout,
                                     const bool& stopped) {
    http_reply out;
    for (int attempt = 0; attempt < 2; ++attempt) {
        const bool reused = conn.stream != nullptr;
        if (!conn.stream) {
            how.deadline = request.deadline ? *request.deadline : clock_type::now() + connect_timeout;
            auto r = co_await connecting.run(connect(how));
            if (r.error != failure::none) {
                out.error = r.error;
                out.message = r.message;
                co_return out;
            }
            conn.stream = std::move(r.stream);
            conn.buffer.clear();
        }
        if (stopped) {
            out.error = failure::transport_closed;
            out.message = "closed";
            co_return out;
        }
        auto& low = lowest(*conn.stream);
        if (request.deadline)
            low.expires_at(*request.deadline);
        else
            low.expires_never();
        // The head as one string and the body beside it in one gather write: Beast's serializer
        // walks the fields as many small buffers, which was the largest user-space cost of a
        // polling load generator.
        http::response_parser<http::string_body> parser;
        parser.body_limit(request.body_limit);
        const std::array<asio::const_buffer, 2> bytes{asio::buffer(request.head), asio::buffer(request.body)};
        auto [wec, wn] = co_await std::visit([&](auto& s) { return asio::async_write(s, bytes, tok); }, *conn.stream);
        (void)wn;
        boost::system::error_code ec = wec;
        std::size_t read_bytes = 0;
        if (!ec) {
            auto [rec, rn] =
                co_await std::visit([&](auto& s) { return http::async_read(s, conn.buffer, parser, tok); }, *conn.stream);
            read_bytes = rn;
            ec = rec;
        }
        ++out.requests;
        const std::size_t in_body = parser.get().body().size();
        out.header_bytes += (wec ? 0 : request.head.size()) + (read_bytes > in_body ? read_bytes - in_body : 0);
        if (ec) {
            conn.close();
            conn.stream.reset();
            if (reused && !stopped && closed_by_peer(ec)) continue;  // once more, on a new connection
            out.error = ec == beast::error::timeout ? failure::timeout
                        : is_tls_alert(ec)          ? failure::tls_failed
                                                    : failure::transport_closed;
            out.message = ec == beast::error::timeout ? "timed out waiting for the server" : ec.message();
            co_return out;
        }
        auto res = parser.release();
        out.status = res.result_int();
        out.reason = std::string{res.reason()};
        out.content_type = std::string{res[http::field::content_type]};
        out.body = std::move(res.body());
        if (!res.keep_alive()) {
            conn.close();
            conn.stream.reset();
        }
        co_return out;
    }
    out.error = failure::transport_closed;
    out.message = "connection closed by the server";
    co_return out;
}

}  // namespace sio::transport
