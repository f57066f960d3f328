#include "proxy.hpp"

#include "probe.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <fmt/core.h>

#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <utility>
#include <variant>

namespace sio::inspect {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t body_limit = 256u << 20;  // the proxy must not be stricter than servers

bool hop_by_hop(http::field f, std::string_view name) {
    switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::proxy_authenticate:
    case http::field::proxy_authorization:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
        return true;
    default:
        return beast::iequals(name, "keep-alive");
    }
}

template <class Message>
void strip_hop_by_hop(Message& m) {
    std::vector<std::string> names;
    for (const auto& f : m)
        if (hop_by_hop(f.name(), f.name_string())) names.emplace_back(f.name_string());
    for (const auto& n : names) m.erase(n);
}

std::string query_value(std::string_view target, std::string_view key) {
    const auto q = target.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const auto part = rest.substr(0, amp);
        const auto eq = part.find('=');
        if (part.substr(0, eq) == key && eq != std::string_view::npos) return std::string{part.substr(eq + 1)};
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return {};
}

struct shared_state {
    proxy_options options;
    target upstream;
    asio::ssl::context tls{asio::ssl::context::tls_client};
    traffic_log* log = nullptr;
    std::ostream* err = nullptr;

    bool engine_path(std::string_view target) const {
        const auto path = target.substr(0, target.find('?'));
        const std::string_view p = options.path;
        return path == p || (p.size() > 1 && p.back() == '/' && path == p.substr(0, p.size() - 1));
    }
};
using state_ptr = std::shared_ptr<shared_state>;

using plain_up = beast::tcp_stream;
using tls_up = beast::ssl_stream<beast::tcp_stream>;
using upstream_stream = std::variant<plain_up, tls_up>;

// Connects to the upstream (TCP, then TLS with verification unless --insecure). On failure,
// `why` says which step failed.
asio::awaitable<std::optional<upstream_stream>> connect_upstream(const state_ptr& st, std::string& why) {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver{ex};
    auto [rec, results] = co_await resolver.async_resolve(st->upstream.host, st->upstream.port, tok);
    if (rec) {
        why = fmt::format("cannot resolve {}: {}", st->upstream.host, rec.message());
        co_return std::nullopt;
    }
    beast::tcp_stream tcp_stream{ex};
    tcp_stream.expires_after(std::chrono::seconds(10));
    auto [cec, ep] = co_await tcp_stream.async_connect(results, tok);
    (void)ep;
    if (cec) {
        why = fmt::format("cannot connect to {}:{}: {}", st->upstream.host, st->upstream.port, cec.message());
        co_return std::nullopt;
    }
    tcp_stream.expires_never();
    error_code ignored;
    tcp_stream.socket().set_option(tcp::no_delay(true), ignored);  // relay small frames at once
    if (!st->upstream.tls) co_return upstream_stream{std::in_place_type<plain_up>, std::move(tcp_stream)};
    upstream_stream s{std::in_place_type<tls_up>, std::move(tcp_stream), st->tls};
    auto& ssl = std::get<tls_up>(s);
    SSL_set_tlsext_host_name(ssl.native_handle(), st->upstream.host.c_str());
    if (!st->options.insecure) ssl.set_verify_callback(asio::ssl::host_name_verification(st->upstream.host));
    beast::get_lowest_layer(ssl).expires_after(std::chrono::seconds(10));
    auto [hec] = co_await ssl.async_handshake(asio::ssl::stream_base::client, tok);
    beast::get_lowest_layer(ssl).expires_never();
    if (hec) {
        why = fmt::format("TLS handshake with {} failed: {}", st->upstream.host, hec.message());
        co_return std::nullopt;
    }
    co_return s;
}

http::response<http::string_body> plain_answer(http::status status, unsigned version, std::string body) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "sio-inspect proxy");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(false);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

// Relays one WebSocket: upstream handshake first (so that a refusal reaches the client as the
// server gave it), then the client's, then frames both ways until either side closes.
asio::awaitable<void> relay_websocket(state_ptr st, beast::tcp_stream down, http::request<http::string_body> req) {
    const bool engine = st->engine_path(req.target());
    auto sid = std::make_shared<std::string>(query_value(req.target(), "sid"));
    std::string why;
    auto up = co_await connect_upstream(st, why);
    if (!up) {
        st->log->note(*sid, "websocket", "upstream unreachable: " + why, true);
        auto res = plain_answer(http::status::bad_gateway, req.version(), "sio-inspect proxy: " + why + "\n");
        co_await http::async_write(down, res, tok);
        co_return;
    }
    co_await std::visit(
        [&](auto& up_stream) -> asio::awaitable<void> {
            websocket::stream<std::decay_t<decltype(up_stream)>> uws{std::move(up_stream)};
            uws.set_option(websocket::stream_base::decorator([&req](websocket::request_type& r) {
                for (const auto& f : req) {
                    const auto n = f.name();
                    if (hop_by_hop(n, f.name_string()) || n == http::field::host || n == http::field::sec_websocket_key ||
                        n == http::field::sec_websocket_version || n == http::field::sec_websocket_extensions)
                        continue;
                    r.set(f.name_string(), f.value());
                }
            }));
            uws.read_message_max(body_limit);
            websocket::response_type ures;
            auto [hec] = co_await uws.async_handshake(ures, st->upstream.host_header, req.target(), tok);
            if (hec) {
                // The server refused the upgrade: give the client the same answer.
                st->log->note(*sid, "websocket",
                              ures.result_int() != 0
                                  ? fmt::format("upgrade refused by the server: HTTP {} {}", ures.result_int(), ures.body())
                                  : "upgrade failed: " + hec.message(),
                              true);
                http::response<http::string_body> res{ures.result_int() != 0 ? ures.result() : http::status::bad_gateway,
                                                      req.version()};
                for (const auto& f : ures)
                    if (!hop_by_hop(f.name(), f.name_string())) res.set(f.name_string(), f.value());
                res.body() = ures.body();
                res.keep_alive(false);
                res.prepare_payload();
                co_await http::async_write(down, res, tok);
                co_return;
            }
            websocket::stream<beast::tcp_stream> dws{std::move(down)};
            const std::string protocol{ures[http::field::sec_websocket_protocol]};
            dws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& r) {
                r.set(http::field::server, "sio-inspect proxy");
                if (!protocol.empty()) r.set(http::field::sec_websocket_protocol, protocol);
            }));
            dws.read_message_max(body_limit);
            auto [aec] = co_await dws.async_accept(req, tok);
            if (aec) co_return;
            if (engine) st->log->note(*sid, "websocket", "WebSocket opened");

            // One direction: read from `from`, decode, write to `to`; on close, close `to` alike.
            // Set by the direction that ends first: the other one's read then fails by our doing.
            auto ending = std::make_shared<bool>(false);
            auto pump = [&st, sid, engine, ending](auto& from, auto& to, direction dir) -> asio::awaitable<void> {
                beast::flat_buffer buffer;
                for (;;) {
                    auto [rec, n] = co_await from.async_read(buffer, tok);
                    (void)n;
                    if (rec) {
                        if (std::exchange(*ending, true)) co_return;  // we closed it: nothing to report
                        const auto reason = from.reason();
                        if (rec == websocket::error::closed) {
                            if (engine)
                                st->log->note(*sid, "websocket",
                                              reason.code == websocket::close_code::none
                                                  ? fmt::format("{} closed the WebSocket (no close code)", sender(dir))
                                                  : fmt::format("{} closed the WebSocket (code {}{}{})", sender(dir),
                                                                static_cast<unsigned>(reason.code),
                                                                reason.reason.empty() ? "" : ", ",
                                                                reason.reason.c_str()));
                            const websocket::close_reason copy = reason;
                            co_await to.async_close(copy, tok);
                        } else {
                            if (engine) st->log->note(*sid, "websocket", fmt::format("{} connection lost: {}", sender(dir), rec.message()), true);
                            error_code ignored;
                            beast::get_lowest_layer(to).socket().close(ignored);
                        }
                        co_return;
                    }
                    const std::string_view data{static_cast<const char*>(buffer.data().data()), buffer.size()};
                    const bool binary = from.got_binary();
                    if (engine) *sid = st->log->websocket_frame(*sid, dir, data, binary);
                    to.binary(binary);
                    auto [wec, w] = co_await to.async_write(buffer.data(), tok);
                    (void)w;
                    if (wec) {
                        *ending = true;
                        error_code ignored;
                        beast::get_lowest_layer(from).socket().close(ignored);
                        co_return;
                    }
                    buffer.consume(buffer.size());
                }
            };
            co_await (pump(dws, uws, direction::to_server) && pump(uws, dws, direction::to_client));
        },
        *up);
}

template <class Stream>
asio::awaitable<std::optional<http::response<http::string_body>>> exchange(Stream& up, beast::flat_buffer& ubuf,
                                                                           http::request<http::string_body>& req,
                                                                           std::string& why) {
    auto [wec, w] = co_await http::async_write(up, req, tok);
    (void)w;
    if (wec) {
        why = "cannot send the request upstream: " + wec.message();
        co_return std::nullopt;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    if (req.method() == http::verb::head) parser.skip(true);
    auto [rec, r] = co_await http::async_read(up, ubuf, parser, tok);
    (void)r;
    if (rec) {
        why = "no answer from upstream: " + rec.message();
        co_return std::nullopt;
    }
    co_return parser.release();
}

asio::awaitable<void> serve_connection(state_ptr st, tcp::socket socket) {
    beast::tcp_stream down{std::move(socket)};
    beast::flat_buffer dbuf;
    std::optional<upstream_stream> up;
    beast::flat_buffer ubuf;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(body_limit);
        parser.header_limit(64 * 1024);
        auto [rec, n] = co_await http::async_read(down, dbuf, parser, tok);
        (void)n;
        if (rec) break;
        auto req = parser.release();
        if (websocket::is_upgrade(req)) {
            co_await relay_websocket(st, std::move(down), std::move(req));
            co_return;
        }
        const bool engine = st->engine_path(req.target());
        std::string sid = query_value(req.target(), "sid");
        const bool client_keep_alive = req.keep_alive();
        if (engine && req.method() == http::verb::post && !req.body().empty()) {
            const auto type = req[http::field::content_type];
            st->log->polling_body(sid, direction::to_server, req.body(), type.starts_with("application/octet-stream"));
        }
        strip_hop_by_hop(req);
        req.set(http::field::host, st->upstream.host_header);
        req.keep_alive(true);
        req.prepare_payload();

        std::optional<http::response<http::string_body>> res;
        std::string why;
        for (int attempt = 0; attempt < 2 && !res; ++attempt) {
            if (!up) {
                auto fresh = co_await connect_upstream(st, why);
                if (!fresh) break;
                up.emplace(std::move(*fresh));
                ubuf.clear();
            }
            res = co_await std::visit([&](auto& s) { return exchange(s, ubuf, req, why); }, *up);
            if (!res) up.reset();  // a kept-alive upstream connection may have closed: retry once
        }
        if (!res) {
            if (engine) st->log->note(sid, "polling", "upstream failed: " + why, true);
            auto answer = plain_answer(http::status::bad_gateway, req.version(), "sio-inspect proxy: " + why + "\n");
            co_await http::async_write(down, answer, tok);
            break;
        }
        if (engine) {
            if (res->result() == http::status::ok && req.method() == http::verb::get) {
                const auto type = (*res)[http::field::content_type];
                sid = st->log->polling_body(sid, direction::to_client, res->body(),
                                            type.starts_with("application/octet-stream"));
            } else if (res->result() != http::status::ok) {
                st->log->note(sid, "polling",
                              fmt::format("{} answered HTTP {}: {}", req.method_string(), res->result_int(),
                                          res->body().substr(0, 200)),
                              true);
            }
        }
        const bool upstream_keep_alive = res->keep_alive();
        strip_hop_by_hop(*res);
        res->keep_alive(client_keep_alive);
        res->prepare_payload();
        auto [wec, w] = co_await http::async_write(down, *res, tok);
        (void)w;
        if (wec || !client_keep_alive) break;
        if (!upstream_keep_alive) up.reset();
    }
    error_code ignored;
    down.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> accept_loop(state_ptr st, tcp::acceptor& acceptor) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), tok);
        if (ec) {
            if (!acceptor.is_open()) co_return;
            continue;
        }
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto ex = socket.get_executor();
        asio::co_spawn(ex, serve_connection(st, std::move(socket)), asio::detached);
    }
}

std::optional<tcp::endpoint> parse_listen(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    const auto port_text = text.substr(colon + 1);
    if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    const auto port = std::stoul(port_text);
    if (port > 65535) return std::nullopt;
    return tcp::endpoint{address, static_cast<unsigned short>(port)};
}

}  // namespace

int run_proxy(const proxy_options& options, std::ostream& out, std::ostream& err) {
    auto st = std::make_shared<shared_state>();
    st->options = options;
    std::string why;
    auto upstream = parse_target(options.upstream, why);
    if (!upstream) {
        err << "sio-inspect: --upstream '" << options.upstream << "': " << why << "\n";
        return 2;
    }
    st->upstream = *upstream;
    const auto endpoint = parse_listen(options.listen);
    if (!endpoint) {
        err << "sio-inspect: --listen '" << options.listen << "': use HOST:PORT, e.g. 127.0.0.1:8080\n";
        return 2;
    }
    if (options.insecure) {
        st->tls.set_verify_mode(asio::ssl::verify_none);
    } else {
        st->tls.set_verify_mode(asio::ssl::verify_peer);
        error_code ec;
        if (!options.ca_file.empty()) st->tls.load_verify_file(options.ca_file, ec);
        else st->tls.set_default_verify_paths(ec);
        if (ec) {
            err << "sio-inspect: --ca '" << options.ca_file << "': " << ec.message() << "\n";
            return 1;
        }
    }
    std::ofstream record;
    auto traffic = options.traffic;
    if (!options.record_file.empty()) {
        record.open(options.record_file, std::ios::out | std::ios::trunc);
        if (!record) {
            err << "sio-inspect: --record '" << options.record_file << "': cannot write the file\n";
            return 1;
        }
        traffic.record = &record;
    }
    traffic_log log{traffic, out};
    st->log = &log;
    st->err = &err;

    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    error_code ec;
    acceptor.open(endpoint->protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(*endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        err << "sio-inspect: cannot listen on " << options.listen << ": " << ec.message() << "\n";
        return 1;
    }
    const auto local = acceptor.local_endpoint();
    const auto host = local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string();
    err << fmt::format("sio-inspect: proxy listening on http://{}:{}, upstream {}\n", host, local.port(), options.upstream);
    err.flush();

    asio::co_spawn(ioc, accept_loop(st, acceptor), asio::detached);
    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    asio::steady_timer stop_timer{ioc};
    auto stop = [&] {
        error_code ignored;
        acceptor.close(ignored);
        ioc.stop();
    };
    signals.async_wait([&](error_code e, int) {
        if (!e) stop();
    });
    if (options.duration_s != 0) {
        stop_timer.expires_after(std::chrono::seconds(options.duration_s));
        stop_timer.async_wait([&](error_code e) {
            if (!e) stop();
        });
    }
    ioc.run();
    return 0;
}

}  // namespace sio::inspect
