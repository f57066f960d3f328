#include "proxy.hpp"

#include "probe.hpp"

#include "common/listen_address.hpp"

#include <sio/codec/ws_frame.hpp>
#include <sio/transport/client_connect.hpp>
#include <sio/transport/ws_handshake.hpp>
#include <sio/transport/ws_stream.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <sio/transport/exception_text.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

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
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t body_limit = 256u << 20;  // the proxy must not be stricter than servers
// Bytes one side of a relayed WebSocket may have waiting before the other side is read no more.
constexpr std::size_t relay_backlog = 1u << 20;

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

// One relayed WebSocket: two streams (transport::ws_stream), the client's and the server's, on
// the connection's strand. Each message one side sends is logged and queued on the other side;
// a close is passed on with its code and reason; a connection lost on one side is cut on the
// other. Control frames are answered by each stream itself, as Beast did: pings are not relayed.
//
// The streams hold their owners (a ws_relay_side each, which holds this) until they end, and both
// end: the first end closes or aborts the other stream.
struct ws_relay {
    state_ptr st;
    bool engine = false;  // on the Engine.IO path: decoded and logged
    std::string sid;
    std::shared_ptr<transport::ws_stream> down;  // the client's side
    std::shared_ptr<transport::ws_stream> up;    // the server's side
    bool ending = false;  // set by the side that ends first: the other one's end is then ours

    // The stream that carries what `from` sends on, and the one `from` is read from.
    transport::ws_stream& to(direction from) { return from == direction::to_server ? *up : *down; }
    transport::ws_stream& of(direction from) { return from == direction::to_server ? *down : *up; }

    void message(direction dir, std::string_view data, bool binary) {
        if (engine) sid = st->log->websocket_frame(sid, dir, data, binary);
        auto& out = to(dir);
        out.send(binary, {}, std::make_shared<const std::string>(data));
        // A sender faster than its reader: it is read no more until the other side has taken
        // what waits for it, so the proxy holds a bounded backlog and TCP slows the sender.
        if (out.queued_bytes() > relay_backlog) of(dir).pause_reading(true);
    }

    // The stream `from` is read from has written everything queued on it (what the other side
    // sent): the other side, if paused, is read again.
    void drained(direction from) { to(from).pause_reading(false); }

    void control(direction dir, bool ping, std::string_view payload) {
        if (!engine) return;
        st->log->note(sid, "websocket",
                      fmt::format("{} sent a WebSocket {}{}{}", sender(dir), ping ? "ping" : "pong",
                                  payload.empty() ? "" : " ", payload) +
                          (ping ? " (answered by the proxy, not passed on)" : ""));
    }

    void ended(direction dir, const transport::ws_end& end) {
        using kind = transport::ws_end::kind;
        const auto close_text = [](std::uint16_t code, std::string_view reason) {
            return code == codec::ws::close_code::no_status
                       ? std::string{"no close code"}
                       : fmt::format("code {}{}{}", code, reason.empty() ? "" : ", ", reason);
        };
        if (std::exchange(ending, true)) {
            // The end of the close we passed on: the peer's answer, when it gave one.
            if (engine && end.how == kind::closed) {
                if (const auto* answer = of(dir).close_answer())
                    st->log->note(sid, "websocket",
                                  fmt::format("{} answered the close ({})", sender(dir), close_text(answer->code, answer->reason)));
                else
                    st->log->note(sid, "websocket", fmt::format("{} did not answer the close", sender(dir)));
            }
            return;
        }
        auto& other = to(dir);
        if (end.how == kind::peer_closed && end.code != codec::ws::close_code::abnormal) {
            if (engine)
                st->log->note(sid, "websocket",
                              fmt::format("{} closed the WebSocket ({})", sender(dir), close_text(end.code, end.reason)));
            other.close(end.code, end.reason);
        } else if (end.how == kind::failed && end.code != codec::ws::close_code::abnormal) {
            // It broke the protocol: its stream told it so with a close frame; the other side is cut.
            if (engine)
                st->log->note(sid, "websocket",
                              fmt::format("{} broke the WebSocket protocol: {} (closed with code {})", sender(dir),
                                          end.reason, end.code),
                              true);
            other.abort();
        } else {
            if (engine) st->log->note(sid, "websocket", fmt::format("{} connection lost: {}", sender(dir), end.reason), true);
            other.abort();
        }
    }
};

class ws_relay_side final : public transport::ws_owner {
public:
    ws_relay_side(std::shared_ptr<ws_relay> relay, direction from) : relay_(std::move(relay)), from_(from) {}
    void on_ws_message(std::string_view data, bool binary) override { relay_->message(from_, data, binary); }
    // This side's stream wrote everything queued on it: the other side may be read again.
    void on_ws_writable() override { relay_->drained(from_); }
    void on_ws_end(const transport::ws_end& end) override { relay_->ended(from_, end); }
    void on_ws_control(bool ping, std::string_view payload) override { relay_->control(from_, ping, payload); }

private:
    std::shared_ptr<ws_relay> relay_;
    direction from_;
};

// Relays one WebSocket: upstream handshake first (so that a refusal reaches the client as the
// server gave it), then the client's, then frames both ways until either side closes. `pending`
// is what the client sent past its upgrade request.
asio::awaitable<void> relay_websocket(state_ptr st, beast::tcp_stream down, http::request<http::string_body> req,
                                      std::string pending) {
    const bool engine = st->engine_path(req.target());
    auto sid = query_value(req.target(), "sid");
    std::string why;
    auto up = co_await connect_upstream(st, why);
    if (!up) {
        st->log->note(sid, "websocket", "upstream unreachable: " + why, true);
        auto res = plain_answer(http::status::bad_gateway, req.version(), "sio-inspect proxy: " + why + "\n");
        co_await http::async_write(down, res, tok);
        co_return;
    }

    // The client's request goes on as it came, but for what belongs to this hop or to the
    // handshake itself (the upstream gets a key of ours; no extension is offered).
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& f : req) {
        const auto n = f.name();
        if (hop_by_hop(n, f.name_string()) || n == http::field::host || n == http::field::sec_websocket_key ||
            n == http::field::sec_websocket_version || n == http::field::sec_websocket_extensions ||
            n == http::field::sec_websocket_protocol)
            continue;
        headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
    }
    const auto offered = subprotocol_list(req[http::field::sec_websocket_protocol]);
    auto ex = co_await asio::this_coro::executor;
    auto stream = std::make_unique<transport::any_stream>(std::move(*up));
    transport::lowest(*stream).expires_after(std::chrono::seconds(10));
    transport::ws_stream_options up_options;
    up_options.limits.max_message = body_limit;
    auto h = co_await transport::ws_client_handshake(
        std::move(stream), transport::make_ws_upgrade_request(st->upstream.host_header, req.target(), headers, offered),
        offered, ex, up_options);
    if (h.error != transport::failure::none) {
        const auto& ures = h.response;
        if (ures.result_int() != 0 && ures.result_int() != 101) {
            // The server refused the upgrade: give the client the same answer.
            st->log->note(sid, "websocket",
                          fmt::format("upgrade refused by the server: HTTP {} {}", ures.result_int(), ures.body()), true);
            http::response<http::string_body> res{ures.result(), req.version()};
            for (const auto& f : ures)
                if (!hop_by_hop(f.name(), f.name_string())) res.set(f.name_string(), f.value());
            res.body() = ures.body();
            res.keep_alive(false);
            res.prepare_payload();
            co_await http::async_write(down, res, tok);
        } else {
            // No answer, or a 101 that is no valid upgrade: the client gets no WebSocket either.
            st->log->note(sid, "websocket", "upgrade failed: " + h.message, true);
            auto res = plain_answer(http::status::bad_gateway, req.version(), "sio-inspect proxy: " + h.message + "\n");
            co_await http::async_write(down, res, tok);
        }
        co_return;
    }

    const auto answer = transport::answer_ws_upgrade(req, "sio-inspect proxy", h.subprotocol);
    if (!answer.accepted) {
        // The server took the upgrade but the client's request is no valid one: it is told why,
        // as a server would tell it, and the upstream WebSocket goes.
        h.ws->abort();
        st->log->note(sid, "websocket", fmt::format("the client's upgrade request is refused: {}", answer.reason), true);
        auto res = plain_answer(static_cast<http::status>(answer.status), req.version(), answer.reason + "\n");
        if (answer.status == 426) res.set(http::field::sec_websocket_version, "13");
        co_await http::async_write(down, res, tok);
        co_return;
    }
    auto [wec, wn] = co_await asio::async_write(down, asio::buffer(answer.head), tok);
    (void)wn;
    if (wec) {
        h.ws->abort();
        st->log->note(sid, "websocket", "the client went before its 101 was written: " + wec.message(), true);
        co_return;
    }
    if (engine) st->log->note(sid, "websocket", "WebSocket opened");

    auto relay = std::make_shared<ws_relay>();
    relay->st = st;
    relay->engine = engine;
    relay->sid = std::move(sid);
    transport::ws_stream_options down_options;
    down_options.role = codec::ws::role::server;
    down_options.limits.max_message = body_limit;
    relay->down = std::make_shared<transport::ws_stream>(down.release_socket(), ex, down_options);
    relay->up = std::move(h.ws);
    // Both exist before either starts: what one reads at once is queued on the other.
    auto down_stream = relay->down;
    auto up_stream = relay->up;
    down_stream->start(std::make_shared<ws_relay_side>(relay, direction::to_server), std::move(pending));
    up_stream->start(std::make_shared<ws_relay_side>(relay, direction::to_client), std::move(h.pending));
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
        if (boost::beast::websocket::is_upgrade(req)) {
            // What the client sent past its upgrade request (frames sent early) goes along.
            std::string pending{static_cast<const char*>(dbuf.data().data()), dbuf.size()};
            co_await relay_websocket(st, std::move(down), std::move(req), std::move(pending));
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
        asio::co_spawn(ex, serve_connection(st, std::move(socket)), [st](std::exception_ptr e) {
            // A bug or no memory: said, and the other connections go on.
            if (e) st->log->note("", "proxy", "a connection ended on an error: " + sio::transport::exception_text(e), true);
        });
    }
}

}  // namespace

int run_proxy(const proxy_options& options, std::ostream& out, std::ostream& err) {
    auto st = std::make_shared<shared_state>();
    st->options = options;
    std::string why;
    auto upstream = parse_target("--upstream", options.upstream, why);
    if (!upstream) {
        err << "sio-inspect: " << why << "\n";
        return 2;
    }
    st->upstream = *upstream;
    const auto endpoint = tools::parse_listen_address(options.listen);
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

    asio::co_spawn(ioc, accept_loop(st, acceptor), [&err, &acceptor](std::exception_ptr e) {
        if (!e) return;
        err << "sio-inspect: the proxy stopped accepting: " << sio::transport::exception_text(e) << "\n";
        error_code ignored;
        acceptor.close(ignored);
    });
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
    if (options.duration.count() != 0) {
        stop_timer.expires_after(options.duration);
        stop_timer.async_wait([&](error_code e) {
            if (!e) stop();
        });
    }
    ioc.run();
    return 0;
}

}  // namespace sio::inspect
