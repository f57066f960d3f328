#include "sio/transport/http_server.hpp"

#include "sio/transport/exception_text.hpp"

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
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <fmt/format.h>

#include <array>
#include <unistd.h>
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
using detail::has_obsolete_fold;
using detail::serialize_head;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

}  // namespace

struct http_listener::impl : std::enable_shared_from_this<impl> {
    explicit impl(config c)
        : cfg(std::move(c)),
          server_name(cfg.server_name.empty() ? nullptr : std::make_shared<const std::string>(cfg.server_name)),
          acceptor_executor(cfg.single_threaded ? cfg.loops.at(0) : asio::make_strand(cfg.loops.at(0))),
          acceptor(acceptor_executor),
          tls(cfg.tls) {
        if (cfg.single_threaded)
            for (const auto& loop : cfg.loops) loop_timers.push_back(timer_queue::for_loop(loop));
    }

    config cfg;
    std::shared_ptr<const std::string> server_name;  // shared by the connections
    asio::any_io_executor acceptor_executor;
    tcp::acceptor acceptor;
    std::size_t next_loop = 0;  // the accept loop's only
    std::atomic<bool> stopped{false};
    std::atomic<bool> draining{false};  // stop_accepting(): connections end after their request
    mutable std::mutex tls_mutex;
    std::shared_ptr<asio::ssl::context> tls;
    mutable std::mutex endpoint_mutex;
    tcp::endpoint local;
    mutable std::mutex connections_mutex;
    std::unordered_map<std::uint64_t, std::weak_ptr<http_connection>> connections;
    std::uint64_t next_connection_id = 0;
    // Open TCP connections by remote address (only when max_connections_per_ip is set).
    std::mutex per_ip_mutex;
    std::unordered_map<std::string, std::size_t> per_ip;
    // Each loop's deadlines (cfg.loops' order), when each loop is run by one thread; with
    // strands each connection has a queue of its own, on its strand.
    std::vector<std::shared_ptr<timer_queue>> loop_timers;

    std::shared_ptr<asio::ssl::context> tls_context() const {
        std::lock_guard lock{tls_mutex};
        return tls;
    }
    // Where the next accepted connection runs, and the queue of its deadlines.
    std::pair<asio::any_io_executor, std::shared_ptr<timer_queue>> next_connection_place() {
        const std::size_t i = std::exchange(next_loop, (next_loop + 1) % cfg.loops.size());
        if (cfg.single_threaded) return {cfg.loops[i], loop_timers[i]};
        auto strand = asio::make_strand(cfg.loops[i]);
        return {strand, std::make_shared<timer_queue>(strand)};
    }
    // The queue for a connection that moves onto `executor`'s loop.
    std::shared_ptr<timer_queue> timers_for(const asio::any_io_executor& executor) const {
        if (cfg.single_threaded) {
            const auto* context = &asio::query(executor, asio::execution::context);
            for (std::size_t i = 0; i < cfg.loops.size(); ++i)
                if (&asio::query(cfg.loops[i], asio::execution::context) == context) return loop_timers[i];
        }
        return std::make_shared<timer_queue>(executor);
    }
    void refused(std::string_view remote, unsigned status, std::string detail) const {
        if (cfg.on_refusal) cfg.on_refusal(http_refusal{remote, status, std::move(detail)});
    }
    void failed(std::string_view what) const {
        if (cfg.on_failure) cfg.on_failure(what);
    }
    // Every connection open now (to close them).
    std::vector<std::shared_ptr<http_connection>> snapshot() const {
        std::vector<std::shared_ptr<http_connection>> out;
        std::lock_guard lock{connections_mutex};
        for (auto& [id, weak] : connections)
            if (auto c = weak.lock()) out.push_back(std::move(c));
        return out;
    }
    void start_accepting();
    // Closes the acceptor, and every connection: all of them now, or (`idle_only`) those waiting
    // for their next request, the busy ones ending after their answer.
    void close_all(bool idle_only);

    // The connection loop and its parts (members, for the connection's private parts).
    using ptr = std::shared_ptr<impl>;
    static asio::awaitable<void> accept_loop(ptr l);
    static asio::awaitable<void> run_connection(ptr l, std::shared_ptr<http_connection> c);
    static asio::awaitable<bool> start_tls(ptr l, std::shared_ptr<http_connection> c);
    static asio::awaitable<void> answer_unreadable(ptr l, std::shared_ptr<http_connection> c, error_code ec);
    static asio::awaitable<void> answer_refusal(ptr l, std::shared_ptr<http_connection> c, const http_request& req);
    static void await_request(ptr l, std::shared_ptr<http_connection> c);
};

namespace {

// `sock` re-registered on `executor`'s io_context (its descriptor released from its own).
tcp::socket hand_over(tcp::socket sock, const asio::any_io_executor& executor, error_code& ec) {
    const auto protocol = sock.local_endpoint(ec).protocol();
    if (ec) return sock;
    const auto fd = sock.release(ec);
    if (ec) return sock;
    tcp::socket moved{executor};
    moved.assign(protocol, fd, ec);
    if (ec) ::close(fd);
    return moved;
}

// A connection's coroutine ended: an exception is a bug (or no memory), said, never swallowed.
void connection_done(const std::shared_ptr<http_listener::impl>& l, std::exception_ptr e) {
    if (e) l->failed(fmt::format("serving an HTTP connection: {}", exception_text(e)));
}


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

void count(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }


}  // namespace

// --- http_connection ---------------------------------------------------------------------------

http_connection::http_connection(tcp::socket s, std::shared_ptr<asio::ssl::context> tls, std::uint64_t id,
                                 std::shared_ptr<const void> slot)
    : id_(id), tls_(std::move(tls)), stream_(std::in_place_type<plain_stream>, std::move(s)), slot_(std::move(slot)) {}

tcp::socket& http_connection::socket() noexcept {
    if (auto* tls = std::get_if<tls_stream>(&stream_)) return beast::get_lowest_layer(*tls).socket();
    return std::get<plain_stream>(stream_);
}

void http_connection::set_deadline(std::chrono::steady_clock::time_point when) {
    if (timers_) timers_->schedule(*this, when);
}

void http_connection::clear_deadline() noexcept {
    if (timers_) timers_->cancel(*this);
}

void http_connection::on_deadline() noexcept {
    // As Beast's own timeouts do: the socket closes, and every operation on it (or on the TLS
    // stream above it) ends, the next one at once.
    timed_out_ = true;
    error_code ignored;
    socket().close(ignored);
}

error_code http_connection::outcome(error_code ec) const noexcept {
    if (ec && timed_out_) return beast::error::timeout;
    return ec;
}

const std::string& http_connection::peer_address() {
    if (!peer_known_) {
        error_code ec;
        const auto ep = socket().remote_endpoint(ec);
        if (!ec) peer_ = ep.address().to_string();
        peer_known_ = true;
    }
    return peer_;
}

http_response http_connection::make_response(unsigned status, unsigned version, bool keep_alive, std::string body,
                                              std::string_view content_type) {
    http_response res{static_cast<http::status>(status), version};
    if (!content_type.empty()) res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

void http_connection::idle() {
    clear_deadline();
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
}

asio::awaitable<error_code> http_connection::read_header(request_parser& parser, std::size_t limit) {
    bool got_bytes = buffer_.size() != 0;
    if (std::exchange(waited_, false)) {
        // The first byte came in while the connection waited without a coroutine.
        if (wait_error_ == asio::error::eof) co_return http::error::end_of_stream;
        if (wait_error_) co_return outcome(wait_error_);
        auto room = buffer_.prepare(std::clamp<std::size_t>(limit + 4, 512, 4096));
        *static_cast<char*>(room.data()) = first_byte_;
        buffer_.commit(1);
        got_bytes = true;
    }
    for (;;) {
        if (buffer_.size() != 0) {
            const std::string_view bytes{static_cast<const char*>(buffer_.data().data()), buffer_.size()};
            const auto end = bytes.find("\r\n\r\n");
            if (has_obsolete_fold(bytes.substr(0, end == std::string_view::npos ? bytes.size() : end + 2)))
                co_return http::error::bad_obs_fold;
            if (end != std::string_view::npos) {
                error_code ec;
                const auto n = parser.put(buffer_.data(), ec);
                buffer_.consume(n);
                if (!ec && !parser.is_header_done()) ec = http::error::partial_message;
                co_return ec;
            }
            if (buffer_.size() >= limit) co_return http::error::header_limit;
        }
        auto [ec, n] = co_await std::visit(
            [&](auto& st) { return st.async_read_some(buffer_.prepare(std::clamp<std::size_t>(limit + 4 - buffer_.size(), 512, 4096)), tok); },
            stream_);
        buffer_.commit(n);
        if (n != 0) got_bytes = true;
        if (ec == asio::error::eof) co_return got_bytes ? http::error::partial_message : http::error::end_of_stream;
        if (ec) co_return outcome(ec);
    }
}

asio::awaitable<bool> http_connection::read_body(request_parser& parser, std::uint64_t limit, bool& too_large) {
    too_large = false;
    parser.body_limit(limit);
    if (parser.is_done()) co_return true;
    if (const auto len = parser.content_length(); len && *len > limit) {
        too_large = true;
        co_return false;
    }
    set_timeout();
    auto [rec, n] = co_await std::visit([&](auto& st) { return http::async_read(st, buffer_, parser, tok); }, stream_);
    (void)n;
    const auto ec = outcome(rec);
    if (ec == http::error::body_limit) too_large = true;
    if (ec == beast::error::timeout && counters_) count(counters_->request_timeouts);
    co_return !ec;
}

// One with a Content-Length (all of the server's own answers) goes out as its head and its body
// in one gather write: Beast's serializer walks the fields as a long sequence of small buffers,
// which cost about a tenth of the server's time in long-polling echo. Anything else (chunked,
// say, from an HTTP handler) goes through Beast.
asio::awaitable<bool> http_connection::write(http_response res) {
    set_timeout();
    if (server_name_ && res.find(http::field::server) == res.end()) res.set(http::field::server, *server_name_);
    if (res.chunked() || !res.has_content_length() || (res.version() != 10 && res.version() != 11)) {
        auto [ec, n] = co_await std::visit([&](auto& st) { return http::async_write(st, res, tok); }, stream_);
        (void)n;
        co_return !ec;
    }
    const std::string head = serialize_head(res);
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(res.body())};
    auto [ec, n] = co_await std::visit([&](auto& st) { return asio::async_write(st, buffers, tok); }, stream_);
    (void)n;
    co_return !ec;
}

asio::awaitable<bool> http_connection::write_raw(const std::string& bytes) {
    set_timeout();
    auto [ec, n] = co_await std::visit([&](auto& st) { return asio::async_write(st, asio::buffer(bytes), tok); }, stream_);
    (void)n;
    co_return !ec;
}

asio::awaitable<next_step> http_connection::respond(const http_request& req, http_response res, bool keep_alive) {
    keep_alive = keep_alive && req.keep_alive() && res.keep_alive();
    res.keep_alive(keep_alive);
    const bool ok = co_await write(std::move(res));
    co_return ok && keep_alive ? next_step::keep_alive : next_step::close;
}

bool http_connection::move_socket() {
    error_code ec;
    if (!move_to_) return false;
    const auto to = std::move(*std::exchange(move_to_, nullptr));
    clear_deadline();  // on the queue of the loop it leaves
    auto sock = hand_over(std::move(socket()), to, ec);
    if (ec) return false;
    stream_.emplace<plain_stream>(std::move(sock));
    timers_ = static_cast<http_listener::impl*>(listener_.get())->timers_for(to);
    return true;
}

bool http_connection::move_to(asio::any_io_executor executor) {
    if (is_tls()) return false;
    move_to_ = std::make_unique<asio::any_io_executor>(std::move(executor));
    return true;
}

std::shared_ptr<ws_stream> http_connection::take_websocket(const asio::any_io_executor& executor,
                                                           ws_stream_options options, std::string& read_ahead) {
    clear_deadline();
    read_ahead = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    // The stream holds the connection's place under the limits, with whatever the owner gave.
    struct both {
        std::shared_ptr<const void> slot, owner;
    };
    options.hold = std::make_shared<both>(both{std::move(slot_), std::move(options.hold)});
    if (auto* tls = std::get_if<tls_stream>(&stream_)) {
        // A TLS stream cannot change executors: it keeps the connection's, and every operation
        // is started from, and completes on, `executor`.
        return std::make_shared<ws_stream>(std::move(*tls), executor, std::move(options));
    }
    error_code ec;
    auto sock = hand_over(std::move(socket()), executor, ec);
    if (ec) return nullptr;
    return std::make_shared<ws_stream>(std::move(sock), executor, std::move(options));
}

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

asio::awaitable<void> http_listener::impl::run_connection(listener_ptr l, std::shared_ptr<http_connection> c) {
    // When this run ends, the connection leaves the registry and its deadline, unless it goes on
    // (on another loop, parked, or waiting for its next request, still registered; only the last
    // keeps its deadline).
    struct unregister {
        listener_ptr l;
        http_connection& c;
        bool moved = false;
        bool keep_deadline = false;
        ~unregister() {
            if (!keep_deadline) c.clear_deadline();
            if (moved) return;
            std::lock_guard lock{l->connections_mutex};
            l->connections.erase(c.id());
        }
    } guard{l, *c};
    if (auto answer = std::exchange(c->parked_answer_, nullptr)) {
        // A parked request's answer: written, then the loop goes on as after any answer.
        bool keep = false;
        if (*answer) {
            keep = answer->value().keep_alive();
            keep = co_await c->write(std::move(answer->value())) && keep;
        }
        if (!keep || l->stopped || l->draining) {
            error_code ignored;
            c->socket().shutdown(tcp::socket::shutdown_both, ignored);
            c->socket().close(ignored);
            co_return;
        }
    } else if (c->is_tls() && !c->pending_ && !c->waited_ && std::holds_alternative<http_connection::plain_stream>(c->stream_)) {
        if (!co_await start_tls(l, c)) {
            error_code ignored;
            c->socket().close(ignored);
            co_return;
        }
    }
    for (;;) {
        c->busy_ = false;
        std::unique_ptr<request_parser> parser = std::move(c->pending_);
        if (!parser) {
            if (l->draining) break;
            if (!c->waited_) c->set_deadline(std::chrono::steady_clock::now() + l->cfg.limits.request_timeout);
            if (!c->waited_ && !c->is_tls() && c->buffer_.size() == 0) {
                // Nothing read yet: this coroutine ends, and a new one reads the request once its
                // first byte is in (an idle keep-alive connection holds neither frame nor buffer).
                guard.moved = true;
                guard.keep_deadline = true;
                await_request(l, c);
                co_return;
            }
            parser = std::make_unique<request_parser>();
            parser->header_limit(
                static_cast<std::uint32_t>(std::min<std::size_t>(l->cfg.limits.max_header_bytes, UINT32_MAX)));
            // The body limit depends on the route (read_body sets it); Beast would otherwise reject
            // a large Content-Length while reading the headers, before routing.
            parser->body_limit(boost::none);
            const auto ec = co_await c->read_header(*parser, l->cfg.limits.max_header_bytes);
            if (ec) {
                co_await answer_unreadable(l, c, ec);
                break;
            }
            c->served_ = true;
            if (const auto [status, why] = framing_error(parser->get()); status != 0) {
                count(l->cfg.counters->bad_requests);
                l->refused(c->peer_address(), status, why);
                co_await c->respond(parser->get(),
                                    http_connection::make_response(status, 11, false, why + "\n", "text/plain; charset=utf-8"),
                                    false);
                break;
            }
        }
        if (l->stopped || l->draining) break;
        c->busy_ = true;
        if (!c->refusal_.empty()) {
            co_await answer_refusal(l, c, parser->get());
            break;
        }
        const auto step = co_await l->cfg.on_request(c, *parser);
        if (step == next_step::handed_over) co_return;
        if (step == next_step::parked) {
            // The owner answers later (answer_parked); till then no frame, no parser and no
            // deadline (idle() took it; the answer may already be running elsewhere with strands).
            guard.moved = true;
            guard.keep_deadline = true;
            co_return;
        }
        if (step == next_step::close) break;
        if (step == next_step::moved) {
            // The socket goes to the other loop's io_context; the request and what was read past
            // it go along, and a new run of this loop serves them there.
            if (!c->move_socket()) break;
            c->pending_ = std::move(parser);
            guard.moved = true;
            guard.keep_deadline = true;  // the connection is on the other loop's queue now
            asio::co_spawn(c->executor(), run_connection(l, c), [l](std::exception_ptr e) { connection_done(l, e); });
            co_return;
        }
    }
    error_code ignored;
    c->socket().shutdown(tcp::socket::shutdown_both, ignored);
    c->socket().close(ignored);
}

http_connection::~http_connection() {
    // Only a loop torn down with the connection's read pending leaves it queued.
    clear_deadline();
    if (!listener_) return;
    auto* l = static_cast<http_listener::impl*>(listener_.get());
    std::lock_guard lock{l->connections_mutex};
    const auto it = l->connections.find(id_);
    if (it != l->connections.end() && it->second.expired()) l->connections.erase(it);
}

void http_connection::answer_parked(std::shared_ptr<http_connection> c, std::optional<http_response> answer) {
    auto l = std::static_pointer_cast<http_listener::impl>(c->listener_);
    c->parked_answer_ = std::make_unique<std::optional<http_response>>(std::move(answer));
    auto executor = c->executor();
    asio::co_spawn(executor, http_listener::impl::run_connection(l, std::move(c)),
                   [l](std::exception_ptr e) { connection_done(l, e); });
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
