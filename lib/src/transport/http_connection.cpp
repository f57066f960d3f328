// One HTTP connection of the listener: reading a request's head and body with the request
// timeout (a deadline on its loop's timer_queue), writing answers, moving to another loop, and
// becoming a WebSocket.
#include "sio/transport/http_server.hpp"

#include "sio/transport/exception_text.hpp"

#include "http_listener_impl.hpp"
#include "http_message.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <fmt/format.h>

#include <unistd.h>

namespace sio::transport {

namespace beast = boost::beast;
namespace http = beast::http;
using detail::connection_done;
using detail::count;
using detail::hand_over;
using detail::has_obsolete_fold;
using detail::serialize_head;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);

}  // namespace

namespace detail {

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


}  // namespace detail

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

}  // namespace sio::transport
