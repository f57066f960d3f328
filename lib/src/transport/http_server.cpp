// The HTTP listener: the accept loop (limits, the loop each connection runs on), the connection
// loop (TLS detection, requests read and handed to the server, keep-alive, parked requests), and
// closing connections when the server stops. The connection's own reads and writes are in
// http_connection.cpp.
#include "sio/transport/http_server.hpp"

#include "sio/transport/exception_text.hpp"

#include "http_listener_impl.hpp"
#include "http_message.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>

#include <fmt/format.h>

#include <mutex>
#include <unordered_map>
#include <utility>

namespace sio::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using detail::framing_error;
using detail::connection_done;
using detail::count;
using detail::hand_over;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

// One open TCP connection counted against the limits; held by the HTTP connection, then by the
// WebSocket it becomes. Releases its place when destroyed.
struct connection_slot {
    std::shared_ptr<http_listener::impl> listener;
    std::string address;
    ~connection_slot() {
        listener->cfg.counters->open_connections.fetch_sub(1, std::memory_order_relaxed);
        if (listener->cfg.limits.max_connections_per_ip == 0) return;
        std::lock_guard lock{listener->per_ip_mutex};
        const auto it = listener->per_ip.find(address);
        if (it != listener->per_ip.end() && --it->second == 0) listener->per_ip.erase(it);
    }
};

}  // namespace

// --- the connection loop -----------------------------------------------------------------------

using listener_ptr = std::shared_ptr<http_listener::impl>;

// The TLS handshake of a connection on the TLS port. False: the connection ends (plain HTTP
// was answered, or the handshake failed). Its own coroutine, so that the connection's frame,
// held for as long as the connection lives, does not carry this one's locals.
asio::awaitable<bool> http_listener::impl::start_tls(listener_ptr l, std::shared_ptr<http_connection> c) {
    auto& buffer = c->buffer_;
    auto& counters = *l->cfg.counters;
    const auto deadline = std::chrono::steady_clock::now() + l->cfg.limits.request_timeout;
    c->set_deadline(deadline);
    // Plain HTTP sent to the TLS port: answer in plain HTTP, so that curl or a browser shows why
    // instead of an empty reply.
    auto [detect_ec, is_tls] = co_await beast::async_detect_ssl(c->socket(), buffer, tok);
    const auto dec = c->outcome(detect_ec);
    if (dec == beast::error::timeout) {
        count(counters.request_timeouts);
        l->refused(c->peer_address(), 0,
                   fmt::format("TLS connection sent {} within {} ms (--request-timeout): connection closed",
                               buffer.size() == 0 ? "nothing" : "no complete handshake start",
                               l->cfg.limits.request_timeout.count()));
        co_return false;
    }
    if (!dec && !is_tls) {
        count(counters.bad_requests);
        l->refused(c->peer_address(), 400, "plain HTTP request on the TLS port (use https:// or wss://)");
        auto res = http_connection::make_response(400, 11, false, "This server speaks TLS only: use https:// or wss://\n",
                                                  "text/plain; charset=utf-8");
        if (l->server_name) res.set(http::field::server, *l->server_name);
        co_await http::async_write(c->socket(), res, tok);
    }
    if (dec || !is_tls) co_return false;
    // The TLS state exists only from here on, and only for as many handshakes at once as allowed.
    struct handshake_place {
        std::atomic<std::int64_t>& gauge;
        ~handshake_place() { gauge.fetch_sub(1, std::memory_order_relaxed); }
    } place{counters.tls_handshakes};
    const auto under_way = counters.tls_handshakes.fetch_add(1, std::memory_order_relaxed) + 1;
    const auto max = l->cfg.limits.max_tls_handshakes;
    if (max != 0 && static_cast<std::size_t>(under_way) > max) {
        count(counters.refused_tls_handshakes);
        l->refused(c->peer_address(), 0,
                   fmt::format("{} TLS handshakes under way, the limit is {} (--max-tls-handshakes): connection closed",
                               under_way - 1, max));
        co_return false;
    }
    {
        // The TLS stream's own TCP stream never has an expiry: the connection's deadline closes
        // the socket under it.
        beast::tcp_stream under{std::move(std::get<http_connection::plain_stream>(c->stream_))};
        c->stream_.emplace<tls_stream>(std::move(under), *c->tls_);
    }
    auto& tls = std::get<tls_stream>(c->stream_);
    // OpenSSL lets go of its record buffers (about 17 KiB each way) whenever they are empty: an
    // idle TLS connection (a parked GET, a quiet WebSocket) does not hold them.
    SSL_set_mode(tls.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    auto [hec, n] = co_await tls.async_handshake(asio::ssl::stream_base::server, buffer.data(), tok);
    const auto ec = c->outcome(hec);
    if (!ec) {
        buffer.consume(n);
        co_return true;
    }
    if (ec != asio::error::eof && ec != asio::error::connection_reset && ec != asio::ssl::error::stream_truncated) {
        // A plain HTTP request, an old protocol version, a client refusing the certificate: say
        // why, since the client often shows nothing useful.
        count(counters.tls_handshake_failures);
        l->refused(c->peer_address(), 0, fmt::format("TLS handshake failed: {}", ec.message()));
    }
    co_return false;
}

// Answers a request whose headers could not be read (too large, unparseable); the connection then
// closes. Nothing is answered for a timeout or a peer that went away.
asio::awaitable<void> http_listener::impl::answer_unreadable(listener_ptr l, std::shared_ptr<http_connection> c, error_code ec) {
    auto& counters = *l->cfg.counters;
    if (ec == beast::error::timeout) {
        // A keep-alive connection that was served and then said nothing is only idle; one that
        // never completed a request (a slow or silent client) is refused, said and counted.
        if (c->served_ && c->buffer_.size() == 0) co_return;
        count(counters.request_timeouts);
        l->refused(c->peer_address(), 0,
                   fmt::format("no complete request within {} ms (--request-timeout): connection closed",
                               l->cfg.limits.request_timeout.count()));
        co_return;
    }
    http_request dummy;
    if (ec == http::error::header_limit) {
        count(counters.headers_too_large);
        l->refused(c->peer_address(), 431,
                   fmt::format("request headers over {} bytes", l->cfg.limits.max_header_bytes));
        co_await c->respond(dummy, http_connection::make_response(431, 11, false, "Request Header Fields Too Large\n",
                                                                  "text/plain"),
                            false);
    } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) {
        // Unparseable request: answer it and drop the connection.
        count(counters.bad_requests);
        const auto why = ec == http::error::bad_obs_fold
                             ? std::string{"obsolete line folding in a header (RFC 9112 section 5.2)"}
                             : fmt::format("unparseable request: {}", ec.message());
        l->refused(c->peer_address(), 400, why);
        co_await c->respond(dummy, http_connection::make_response(400, 11, false, "Bad Request: " + why + "\n", "text/plain"),
                            false);
    }
}

// Answers a request on a connection accepted over a limit with 503.
asio::awaitable<void> http_listener::impl::answer_refusal(listener_ptr l, std::shared_ptr<http_connection> c, const http_request& req) {
    count(*c->refusal_counter_);
    const auto* slot = static_cast<const connection_slot*>(c->slot_.get());
    l->refused(slot ? std::string_view{slot->address} : std::string_view{}, 503, c->refusal_);
    auto res = http_connection::make_response(503, req.version(), false, c->refusal_ + "\n", "text/plain; charset=utf-8");
    res.set(http::field::retry_after, "5");
    if (l->cfg.decorate) l->cfg.decorate(req, res);
    co_await c->write(std::move(res));
}

// How a run of the connection loop begins: a parked request's answer is written first; a new
// connection on the TLS port shakes hands. False: the connection ends here.
asio::awaitable<bool> http_listener::impl::resume(listener_ptr l, std::shared_ptr<http_connection> c) {
    if (auto answer = std::exchange(c->parked_answer_, nullptr)) {
        // A parked request's answer: written, then the loop goes on as after any answer.
        bool keep = false;
        if (*answer) {
            keep = answer->value().keep_alive();
            keep = co_await c->write(std::move(answer->value())) && keep;
        }
        co_return keep && !l->stopped && !l->draining;
    }
    if (c->is_tls() && !c->pending_ && !c->waited_ && std::holds_alternative<http_connection::plain_stream>(c->stream_))
        co_return co_await start_tls(l, c);
    co_return true;
}

// The head of the connection's next request, read with the request timeout and checked for
// framing errors (answered here). Null: the connection ends, or (`waiting` set) it waits for the
// next request's first byte, and a new run of the loop serves it.
asio::awaitable<std::unique_ptr<request_parser>> http_listener::impl::read_request(listener_ptr l,
                                                                                   std::shared_ptr<http_connection> c,
                                                                                   bool& waiting) {
    if (l->draining) co_return nullptr;
    if (!c->waited_) c->set_deadline(std::chrono::steady_clock::now() + l->cfg.limits.request_timeout);
    if (!c->waited_ && !c->is_tls() && c->buffer_.size() == 0) {
        // Nothing read yet: this run ends, and a new one reads the request once its first byte
        // is in (an idle keep-alive connection holds neither frame nor buffer).
        waiting = true;
        await_request(l, c);
        co_return nullptr;
    }
    auto parser = std::make_unique<request_parser>();
    parser->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(l->cfg.limits.max_header_bytes, UINT32_MAX)));
    // The body limit depends on the route (read_body sets it); Beast would otherwise reject a
    // large Content-Length while reading the headers, before routing.
    parser->body_limit(boost::none);
    const auto ec = co_await c->read_header(*parser, l->cfg.limits.max_header_bytes);
    if (ec) {
        co_await answer_unreadable(l, c, ec);
        co_return nullptr;
    }
    c->served_ = true;
    if (const auto [status, why] = framing_error(parser->get()); status != 0) {
        count(l->cfg.counters->bad_requests);
        l->refused(c->peer_address(), status, why);
        co_await c->respond(parser->get(),
                            http_connection::make_response(status, 11, false, why + "\n", "text/plain; charset=utf-8"),
                            false);
        co_return nullptr;
    }
    co_return parser;
}

asio::awaitable<void> http_listener::impl::run_connection(listener_ptr l, std::shared_ptr<http_connection> c) {
    // When this run ends, the connection leaves the registry and its deadline, unless it goes on
    // (on another loop, parked, or waiting for its next request, still registered; all three
    // keep the deadline: on the new loop's queue, taken by idle(), or the wait's own).
    struct unregister {
        listener_ptr l;
        http_connection& c;
        bool goes_on = false;
        ~unregister() {
            if (goes_on) return;
            c.clear_deadline();
            std::lock_guard lock{l->connections_mutex};
            l->connections.erase(c.id());
        }
    } guard{l, *c};
    bool open = co_await resume(l, c);
    while (open) {
        c->busy_ = false;
        std::unique_ptr<request_parser> parser = std::move(c->pending_);
        if (!parser) {
            bool waiting = false;
            parser = co_await read_request(l, c, waiting);
            guard.goes_on = waiting;
            if (!parser) break;
        }
        if (l->stopped || l->draining) break;
        c->busy_ = true;
        if (!c->refusal_.empty()) {
            co_await answer_refusal(l, c, parser->get());
            break;
        }
        const auto step = co_await l->cfg.on_request(c, *parser);
        if (step == next_step::handed_over) co_return;
        // Parked: the owner answers later (answer_parked); till then no frame, no parser and no
        // deadline (idle() took it; the answer may already be running elsewhere with strands).
        guard.goes_on = step == next_step::parked;
        if (step != next_step::moved) open = step == next_step::keep_alive;
        // Moved: the socket goes to the other loop's io_context; the request and what was read
        // past it go along, and a new run of this loop serves them there.
        else if ((open = c->move_socket())) {
            c->pending_ = std::move(parser);
            guard.goes_on = true;  // the connection is on the other loop's queue now
            asio::co_spawn(c->executor(), run_connection(l, c), [l](std::exception_ptr e) { connection_done(l, e); });
            co_return;
        }
    }
    if (guard.goes_on) co_return;
    error_code ignored;
    c->socket().shutdown(tcp::socket::shutdown_both, ignored);
    c->socket().close(ignored);
}

// Waits for the first byte of a connection's next request with the request timeout (a one-byte
// read, so that no buffer is held meanwhile), then serves it with a new run of the connection
// loop, which also hears how the wait ended (timeout, end of stream, closed by the listener).
void http_listener::impl::await_request(listener_ptr l, std::shared_ptr<http_connection> c) {
    c->buffer_.shrink_to_fit();  // empty: its memory goes
    auto& stream = std::get<http_connection::plain_stream>(c->stream_);
    stream.async_read_some(asio::buffer(&c->first_byte_, 1), [l, c](error_code ec, std::size_t n) {
        c->waited_ = true;
        c->wait_error_ = !ec && n == 0 ? asio::error::eof : ec;
        asio::co_spawn(c->executor(), run_connection(l, c), [l](std::exception_ptr e) { connection_done(l, e); });
    });
}

namespace {

// Over a limit, the request is answered with 503; far over it (a flood), the connection is not
// worth a descriptor for the length of a request. Returns the connection's slot, with
// `refusal`/`counter` set when it is over a limit; null when it is dropped at once.
std::shared_ptr<connection_slot> admit(const listener_ptr& l, const tcp::socket& sock, std::string& refusal,
                                       std::atomic<std::uint64_t>*& counter) {
    auto slot = std::make_shared<connection_slot>();
    slot->listener = l;
    const auto& o = l->cfg.limits;
    auto& counters = *l->cfg.counters;
    bool drop = false;
    const auto total =
        static_cast<std::size_t>(counters.open_connections.fetch_add(1, std::memory_order_relaxed) + 1);
    if (o.max_connections != 0 && total > o.max_connections) {
        refusal = fmt::format("server busy: {} connections open, the limit is {} (--max-connections)", total - 1,
                              o.max_connections);
        counter = &counters.refused_max_connections;
        drop = total > o.max_connections + o.max_connections / 8 + 16;
    }
    if (o.max_connections_per_ip != 0) {
        error_code aec;
        const auto ep = sock.remote_endpoint(aec);
        slot->address = aec ? std::string{} : ep.address().to_string();
        std::lock_guard lock{l->per_ip_mutex};
        const auto n = ++l->per_ip[slot->address];
        if (refusal.empty() && n > o.max_connections_per_ip) {
            refusal = fmt::format("too many connections from {}: {} open, the limit is {} (--max-connections-per-ip)",
                                  slot->address, n - 1, o.max_connections_per_ip);
            counter = &counters.refused_max_connections_per_ip;
            drop = n > 2 * o.max_connections_per_ip + 16;
        }
    }
    if (drop) {
        count(*counter);
        return nullptr;  // the slot releases its place
    }
    return slot;
}

}  // namespace

asio::awaitable<void> http_listener::impl::accept_loop(listener_ptr l) {
    asio::steady_timer backoff{l->acceptor_executor};
    for (;;) {
        auto [executor, timers] = l->next_connection_place();
        // With several loops the socket is accepted on the acceptor's own and then handed to the
        // connection's: a pending accept must never hold a socket of another io_context, which
        // it would destroy after that context when the acceptor's is torn down.
        const bool other_loop = l->cfg.loops.size() > 1;
        auto [ec, sock] = co_await l->acceptor.async_accept(other_loop ? l->acceptor_executor : executor, tok);
        if (l->stopped || l->draining || !l->acceptor.is_open()) break;
        if (!ec && other_loop) sock = hand_over(std::move(sock), executor, ec);
        if (ec) {
            // Out of descriptors and the like: do not spin, try again shortly.
            backoff.expires_after(std::chrono::milliseconds(50));
            co_await backoff.async_wait(tok);
            continue;
        }
        // Engine.IO sends small frames back to back (a binary packet is a text frame and then its
        // attachments): without TCP_NODELAY, Nagle holds the second one until the peer's delayed
        // ACK, some 40 ms later.
        {
            error_code ignored;
            sock.set_option(tcp::no_delay(true), ignored);
        }
        std::string refusal;
        std::atomic<std::uint64_t>* refusal_counter = nullptr;
        auto slot = admit(l, sock, refusal, refusal_counter);
        if (!slot) {
            error_code ignored;
            sock.close(ignored);
            continue;
        }
        std::shared_ptr<http_connection> c;
        {
            std::lock_guard lock{l->connections_mutex};
            c = std::make_shared<http_connection>(std::move(sock), l->tls_context(), ++l->next_connection_id,
                                                  std::move(slot));
            c->timeout_ = l->cfg.limits.request_timeout;
            c->timers_ = std::move(timers);
            c->counters_ = l->cfg.counters;
            c->server_name_ = l->server_name;
            c->refusal_ = std::move(refusal);
            c->refusal_counter_ = refusal_counter;
            c->listener_ = l;
            l->connections.emplace(c->id(), c);
        }
        asio::co_spawn(c->executor(), run_connection(l, c), [l](std::exception_ptr e) { connection_done(l, e); });
    }
}

void http_listener::impl::close_all(bool idle_only) {
    asio::post(acceptor_executor, [self = shared_from_this()] {
        error_code ignored;
        self->acceptor.close(ignored);
    });
    for (auto& c : snapshot()) {
        // On the connection's executor, `busy_` is stable.
        asio::post(c->executor(), [c, idle_only] {
            if (idle_only && c->busy_) return;
            error_code ignored;
            c->socket().shutdown(tcp::socket::shutdown_both, ignored);
            c->socket().close(ignored);
        });
    }
}

void http_listener::impl::start_accepting() {
    // The accept loop survives any one failure: an exception ends this run of it, is said, and a
    // new one starts (unless the listener is stopping).
    asio::co_spawn(acceptor_executor, accept_loop(shared_from_this()), [self = shared_from_this()](std::exception_ptr e) {
        if (!e) return;
        self->failed(fmt::format("accepting connections: {}; accepting again", exception_text(e)));
        if (!self->stopped && !self->draining && self->acceptor.is_open()) self->start_accepting();
    });
}

// --- http_listener -----------------------------------------------------------------------------

http_listener::http_listener(config c) : impl_(std::make_shared<impl>(std::move(c))) {}

std::shared_ptr<http_listener> http_listener::create(config c) {
    if (c.loops.empty() || !c.counters || !c.on_request)
        throw std::invalid_argument("http_listener: loops, counters and a request handler are required");
    return std::shared_ptr<http_listener>(new http_listener(std::move(c)));
}

http_listener::~http_listener() { stop(); }

error_code http_listener::listen(const tcp::endpoint& endpoint) {
    error_code ec;
    // Not yet shared with any coroutine: safe to set up from this thread.
    auto& a = impl_->acceptor;
    if (a.is_open()) return asio::error::already_open;
    a.open(endpoint.protocol(), ec);
    if (ec) return ec;
    a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        error_code ignored;
        a.close(ignored);
        return ec;
    }
    {
        std::lock_guard lock{impl_->endpoint_mutex};
        impl_->local = a.local_endpoint(ec);
    }
    impl_->start_accepting();
    return {};
}

tcp::endpoint http_listener::local_endpoint() const {
    std::lock_guard lock{impl_->endpoint_mutex};
    return impl_->local;
}

void http_listener::stop() {
    if (!impl_->stopped.exchange(true)) impl_->close_all(false);
}

void http_listener::stop_accepting() {
    if (!impl_->draining.exchange(true)) impl_->close_all(true);
}

bool http_listener::set_tls_context(std::shared_ptr<asio::ssl::context> context) {
    std::lock_guard lock{impl_->tls_mutex};
    if (!impl_->tls || !context) return false;
    impl_->tls = std::move(context);
    return true;
}

std::size_t http_listener::connection_count() const {
    std::lock_guard lock{impl_->connections_mutex};
    return impl_->connections.size();
}

}  // namespace sio::transport
