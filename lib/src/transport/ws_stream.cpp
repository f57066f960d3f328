#include "sio/transport/ws_stream.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <span>

namespace sio::transport {

namespace asio = boost::asio;
namespace ws = codec::ws;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

// What one flush writes at most: Asio gathers at most 64 buffers per system call (two a frame),
// and a TLS write is cut into records anyway.
constexpr std::size_t max_buffers = 64;
constexpr std::size_t max_flush_bytes = 256u << 10;
// Reads of a plain socket per readiness before the stream lets other sockets of the loop run.
constexpr int max_read_rounds = 4;
constexpr std::size_t tls_read_size = 4096;

// The read buffer every plain stream of this thread shares: a handler fills it and parses it
// before it returns, so no two streams ever use it at once.
std::span<char> shared_read_buffer() {
    constexpr std::size_t size = 64u << 10;
    thread_local const std::unique_ptr<char[]> buffer{new char[size]};
    return {buffer.get(), size};
}

// A client's masking keys (RFC 6455 10.3: not predictable from earlier frames).
std::array<char, 4> masking_key() {
    thread_local std::mt19937 engine{std::random_device{}()};
    const std::uint32_t v = engine();
    return {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
            static_cast<char>(v >> 24)};
}

bool would_block(const error_code& ec) {
    return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

ws_stream::ws_stream(tcp::socket socket, asio::any_io_executor executor, ws_stream_options options)
    : socket_(std::in_place_type<tcp::socket>, std::move(socket)),
      executor_(std::move(executor)),
      options_(options),
      parser_(options.role, options.limits) {}

ws_stream::ws_stream(tls_stream stream, asio::any_io_executor executor, ws_stream_options options)
    : socket_(std::in_place_type<tls_stream>, std::move(stream)),
      executor_(std::move(executor)),
      options_(options),
      parser_(options.role, options.limits) {}

ws_stream::~ws_stream() = default;

tcp::socket& ws_stream::lowest() noexcept {
    if (auto* plain = std::get_if<tcp::socket>(&socket_)) return *plain;
    return boost::beast::get_lowest_layer(std::get<tls_stream>(socket_)).socket();
}

void ws_stream::start(std::shared_ptr<ws_owner> owner, std::string pending) {
    if (state_ != state::idle) return;
    owner_ = std::move(owner);
    state_ = state::open;
    if (auto* plain = std::get_if<tcp::socket>(&socket_)) {
        error_code ec;
        plain->non_blocking(true, ec);
        if (ec) {
            fail(ws::close_code::abnormal, fmt::format("socket cannot be made non-blocking: {}", ec.message()), false);
            return;
        }
    }
    if (!pending.empty() && !parse(std::span<char>(pending.data(), pending.size()))) return;
    read();
    schedule_flush();  // the owner is asked for what waits already
}

bool ws_stream::send(bool binary, std::string_view prefix, std::shared_ptr<const std::string> data) {
    if (state_ != state::open && state_ != state::idle) return false;
    frame f;
    const std::string_view body = data ? std::string_view{*data} : std::string_view{};
    const auto op = binary ? ws::opcode::binary : ws::opcode::text;
    if (options_.role == ws::role::client) {
        // A client's frame is masked: its payload is its own.
        auto masked = std::make_shared<std::string>();
        masked->reserve(prefix.size() + body.size());
        masked->append(prefix).append(body);
        const auto key = masking_key();
        ws::mask(std::span<char>(masked->data(), masked->size()), key);
        codec::ws_frame_header_bytes h{};
        f.head_size = static_cast<std::uint8_t>(ws::frame_header(op, true, masked->size(), h, &key));
        std::copy_n(h.begin(), f.head_size, f.head.begin());
        f.data = std::move(masked);
    } else {
        codec::ws_frame_header_bytes h{};
        std::size_t n = ws::frame_header(op, true, prefix.size() + body.size(), h);
        std::copy_n(h.begin(), n, f.head.begin());
        for (char c : prefix.substr(0, 1)) f.head[n++] = c;
        f.head_size = static_cast<std::uint8_t>(n);
        f.data = std::move(data);
    }
    outbox_.push_back(std::move(f));
    schedule_flush();
    return true;
}

void ws_stream::queue_control(ws::opcode op, std::string payload) {
    const auto key = masking_key();
    const bool masked = options_.role == ws::role::client;
    const std::string whole = ws::control_frame(op, payload, masked ? &key : nullptr);
    frame f;
    // A control frame is at most 2 + 4 + 125 bytes: its header goes in `head`, the rest in data.
    const std::size_t head = std::min<std::size_t>(whole.size(), masked ? 6 : 2);
    std::copy_n(whole.begin(), head, f.head.begin());
    f.head_size = static_cast<std::uint8_t>(head);
    if (whole.size() > head) f.data = std::make_shared<const std::string>(whole.substr(head));
    outbox_.push_back(std::move(f));
    schedule_flush();
}

void ws_stream::close(std::uint16_t code, std::string_view reason) {
    if (state_ != state::open && state_ != state::idle) return;
    const bool started = state_ == state::open;
    state_ = state::closing;
    read_paused_ = false;  // the peer's close frame must be read
    end_ = ws_end{ws_end::kind::closed, code, std::string{reason}};
    close_queued_ = true;
    queue_control(ws::opcode::close, ws::close_payload(code, reason));
    if (!started) {
        // Never started: nobody reads, nothing is written; the socket just goes.
        shutdown_socket();
        state_ = state::ended;
        return;
    }
    // The peer gets close_timeout from now to answer (a peer that does not read at all, too).
    close_timer_ = std::make_unique<asio::steady_timer>(executor_, options_.close_timeout);
    close_timer_->async_wait([self = shared_from_this()](error_code ec) {
        if (ec || self->state_ == state::ended) return;
        self->shutdown_socket();
        self->finish(self->end_);
    });
    read();  // if it was paused
}

bool ws_stream::ping(std::string_view payload) {
    if (state_ != state::open && state_ != state::idle) return false;
    queue_control(ws::opcode::ping, std::string{payload.substr(0, 125)});
    return true;
}

void ws_stream::abort() {
    if (state_ == state::ended) return;
    state_ = state::ended;
    owner_.reset();
    if (close_timer_) close_timer_->cancel();
    shutdown_socket();
    outbox_.clear();
    head_ = head_offset_ = 0;
}

std::size_t ws_stream::queued_bytes() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = head_; i < outbox_.size(); ++i) n += outbox_[i].size();
    return n - head_offset_;
}

// --- writing -----------------------------------------------------------------------------------

void ws_stream::schedule_flush() {
    if (flush_scheduled_ || writing_ || state_ == state::ended || state_ == state::idle) return;
    flush_scheduled_ = true;
    if (options_.cork) {
        options_.cork->add(shared_from_this());
        return;
    }
    asio::post(executor_, [self = shared_from_this()] {
        self->flush_scheduled_ = false;
        self->flush();
    });
}

void ws_stream::flush() {
    // A few rounds of "take what the owner has, write it", then the loop's other work runs: a
    // busy owner cannot keep one stream writing forever.
    for (int round = 0; round < 4; ++round) {
        if (state_ == state::ended || writing_) return;
        if (head_ == outbox_.size() && state_ == state::open && owner_) {
            // Sends made by the owner now are written below, not scheduled again.
            flush_scheduled_ = true;
            owner_->on_ws_writable();
            flush_scheduled_ = false;
            if (state_ == state::ended) return;
        }
        if (head_ == outbox_.size()) {
            after_flush();
            return;
        }
        if (!std::holds_alternative<tcp::socket>(socket_)) {
            flush_tls();  // its completion comes back here
            return;
        }
        if (!flush_plain()) return;
    }
    schedule_flush();
}

// Writes the outbox without blocking. True when all of it is written; false when the socket is
// full (the stream then waits until it takes more) or the write failed.
bool ws_stream::flush_plain() {
    auto& sock = std::get<tcp::socket>(socket_);
    std::array<asio::const_buffer, max_buffers> buffers;
    while (head_ < outbox_.size()) {
        std::size_t count = 0;
        std::size_t total = 0;
        std::size_t skip = head_offset_;
        for (std::size_t i = head_; i < outbox_.size() && count + 2 <= max_buffers && total < max_flush_bytes; ++i) {
            const frame& f = outbox_[i];
            if (skip < f.head_size) {
                buffers[count++] = asio::buffer(f.head.data() + skip, f.head_size - skip);
                total += f.head_size - skip;
                skip = 0;
            } else {
                skip -= f.head_size;
            }
            if (f.data && f.data->size() > skip) {
                buffers[count++] = asio::buffer(f.data->data() + skip, f.data->size() - skip);
                total += f.data->size() - skip;
            }
            skip = 0;
        }
        error_code ec;
        const std::size_t n = sock.write_some(std::span<const asio::const_buffer>(buffers.data(), count), ec);
        if (would_block(ec)) break;
        if (ec) {
            fail(ws::close_code::abnormal, fmt::format("write failed: {}", ec.message()), false);
            return false;
        }
        written(n);
        if (n < total) break;  // the socket's buffer is full
    }
    if (head_ == outbox_.size()) return true;
    writing_ = true;
    sock.async_wait(tcp::socket::wait_write, asio::bind_executor(executor_, [self = shared_from_this()](error_code ec) {
        self->writing_ = false;
        if (self->state_ == state::ended) return;
        if (ec) {
            self->fail(ws::close_code::abnormal, fmt::format("write failed: {}", ec.message()), false);
            return;
        }
        self->flush();
    }));
    return false;
}

void ws_stream::flush_tls() {
    auto& tls = std::get<tls_stream>(socket_);
    in_flight_.clear();
    std::size_t total = 0;
    while (head_ < outbox_.size() && 2 * (in_flight_.size() + 1) <= max_buffers && total < max_flush_bytes) {
        total += outbox_[head_].size();
        in_flight_.push_back(std::move(outbox_[head_++]));
    }
    if (head_ == outbox_.size()) {
        outbox_.clear();
        head_ = 0;
    }
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(2 * in_flight_.size());
    for (const frame& f : in_flight_) {
        buffers.emplace_back(f.head.data(), f.head_size);
        if (f.data && !f.data->empty()) buffers.emplace_back(f.data->data(), f.data->size());
    }
    writing_ = true;
    asio::async_write(tls, std::move(buffers),
                      asio::bind_executor(executor_, [self = shared_from_this()](error_code ec, std::size_t) {
                          self->writing_ = false;
                          self->in_flight_.clear();
                          if (self->state_ == state::ended) return;
                          if (ec) {
                              self->fail(ws::close_code::abnormal, fmt::format("write failed: {}", ec.message()), false);
                              return;
                          }
                          self->flush();
                      }));
}

// `n` bytes of the outbox, from its head, left.
void ws_stream::written(std::size_t n) {
    while (n > 0 && head_ < outbox_.size()) {
        const std::size_t rest = outbox_[head_].size() - head_offset_;
        if (n < rest) {
            head_offset_ += n;
            return;
        }
        n -= rest;
        outbox_[head_++] = frame{};  // its data is released now, not when the outbox empties
        head_offset_ = 0;
    }
    if (head_ == outbox_.size()) {
        outbox_.clear();
        head_ = 0;
        // A burst's outbox is not kept by an idle WebSocket.
        if (outbox_.capacity() > 8) std::vector<frame>().swap(outbox_);
    }
}

// Everything queued is written.
void ws_stream::after_flush() {
    if (!close_queued_ || close_sent_) return;
    close_sent_ = true;
    if (peer_closed_ || end_.how == ws_end::kind::failed) {
        // Our close answered theirs, or followed a protocol error: nothing more to wait for.
        shutdown_socket();
        finish(end_);
        return;
    }
    // A plain socket says it is done sending; the peer's close frame, or its end of the stream,
    // ends it (or the close timer).
    if (auto* plain = std::get_if<tcp::socket>(&socket_)) {
        error_code ignored;
        plain->shutdown(tcp::socket::shutdown_send, ignored);
    }
}

// --- reading -----------------------------------------------------------------------------------

void ws_stream::pause_reading(bool paused) {
    read_paused_ = paused;
    if (!paused && (state_ == state::open || state_ == state::closing)) read();
}

void ws_stream::read() {
    if (reading_ || read_paused_ || state_ == state::ended) return;
    reading_ = true;
    if (auto* plain = std::get_if<tcp::socket>(&socket_)) {
        auto on_wait = [self = shared_from_this()](error_code ec) {
            self->reading_ = false;
            self->on_readable(ec);
        };
        // The wait every idle WebSocket holds: when the socket already runs on the stream's
        // executor (a server's loop), the handler needs no executor of its own, and the pending
        // operation is about 100 bytes smaller.
        if (plain->get_executor() == executor_) {
            plain->async_wait(tcp::socket::wait_read, std::move(on_wait));
        } else {
            plain->async_wait(tcp::socket::wait_read, asio::bind_executor(executor_, std::move(on_wait)));
        }
        return;
    }
    if (!tls_buffer_) tls_buffer_.reset(new char[tls_read_size]);
    std::get<tls_stream>(socket_).async_read_some(
        asio::buffer(tls_buffer_.get(), tls_read_size),
        asio::bind_executor(executor_, [self = shared_from_this()](error_code ec, std::size_t n) {
            self->reading_ = false;
            self->on_tls_read(ec, n);
        }));
}

void ws_stream::on_readable(error_code ec) {
    if (state_ == state::ended) return;
    if (ec) {
        fail(ws::close_code::abnormal, fmt::format("read failed: {}", ec.message()), false);
        return;
    }
    auto& sock = std::get<tcp::socket>(socket_);
    const auto buffer = shared_read_buffer();
    for (int round = 0; round < max_read_rounds; ++round) {
        error_code rec;
        const std::size_t n = sock.read_some(asio::buffer(buffer.data(), buffer.size()), rec);
        if (would_block(rec)) break;
        if (rec == asio::error::eof || (!rec && n == 0)) {
            on_peer_close(ws::close_code::abnormal, {});
            return;
        }
        if (rec) {
            if (rec == asio::error::connection_reset) {
                on_peer_close(ws::close_code::abnormal, {});
            } else {
                fail(ws::close_code::abnormal, fmt::format("read failed: {}", rec.message()), false);
            }
            return;
        }
        if (!parse(buffer.first(n))) return;
        if (n < buffer.size() || read_paused_) break;
    }
    read();
}

void ws_stream::on_tls_read(error_code ec, std::size_t n) {
    if (state_ == state::ended) return;
    if (ec) {
        if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
            ec == asio::error::connection_reset) {
            on_peer_close(ws::close_code::abnormal, {});
        } else {
            fail(ws::close_code::abnormal, fmt::format("read failed: {}", ec.message()), false);
        }
        return;
    }
    if (!parse(std::span<char>(tls_buffer_.get(), n))) return;
    read();
}

bool ws_stream::parse(std::span<char> in) {
    for (;;) {
        const ws::event e = parser_.next(in);
        switch (e.type) {
        case ws::event::kind::need_more: return true;
        case ws::event::kind::message:
            // Once closing, messages are read past until the peer's close frame.
            if (state_ == state::open && owner_) owner_->on_ws_message(e.payload, e.binary);
            if (state_ == state::ended) return false;
            break;
        case ws::event::kind::ping:
            // The owner hears of it first (on_ws_control, for the clients; a no-op by default).
            if (state_ == state::open && owner_) owner_->on_ws_control(true, e.payload);
            if (state_ == state::ended) return false;
            if (state_ == state::open) queue_control(ws::opcode::pong, std::string{e.payload});
            break;
        case ws::event::kind::pong:
            if (state_ == state::open && owner_) owner_->on_ws_control(false, e.payload);
            if (state_ == state::ended) return false;
            break;
        case ws::event::kind::close:
            on_peer_close(e.code, e.payload);
            return false;
        case ws::event::kind::error:
            fail(e.code, std::string{e.reason}, true);
            return false;
        }
    }
}

// The peer's close frame (or, with code 1006 and no frame, the end of its stream).
void ws_stream::on_peer_close(std::uint16_t code, std::string_view reason) {
    if (state_ == state::ended) return;
    const bool with_frame = code != ws::close_code::abnormal;
    peer_closed_ = true;
    if (close_queued_) {
        // The answer to our close (or the peer gave up waiting for it): done once ours is out,
        // or now when the peer is gone. Its code and reason are kept for the owner (the clients
        // report them).
        if (with_frame && end_.how == ws_end::kind::closed)
            close_answer_ = std::make_unique<close_frame>(close_frame{code, std::string{reason}});
        if (close_sent_ || !with_frame) {
            shutdown_socket();
            finish(end_);
        }
        return;
    }
    end_ = ws_end{ws_end::kind::peer_closed, code,
                  with_frame ? std::string{reason} : std::string{"connection closed without a close frame"}};
    if (!with_frame) {
        shutdown_socket();
        finish(end_);
        return;
    }
    // Answer with the same code (none for none), after what is queued.
    state_ = state::closing;
    close_queued_ = true;
    queue_control(ws::opcode::close, code == ws::close_code::no_status ? std::string{} : ws::close_payload(code, {}));
}

void ws_stream::fail(std::uint16_t code, std::string reason, bool send_close) {
    if (state_ == state::ended) return;
    end_ = ws_end{ws_end::kind::failed, code, std::move(reason)};
    if (send_close && !close_queued_) {
        // A protocol error: the peer is told why (RFC 6455 7.1.7), then the connection goes.
        state_ = state::closing;
        close_queued_ = true;
        queue_control(ws::opcode::close, ws::close_payload(code, {}));
        close_timer_ = std::make_unique<asio::steady_timer>(executor_, options_.close_timeout);
        close_timer_->async_wait([self = shared_from_this()](error_code ec) {
            if (ec || self->state_ == state::ended) return;
            self->shutdown_socket();
            self->finish(self->end_);
        });
        return;
    }
    shutdown_socket();
    finish(end_);
}

void ws_stream::finish(ws_end end) {
    if (state_ == state::ended) return;
    state_ = state::ended;
    if (close_timer_) close_timer_->cancel();
    outbox_.clear();
    head_ = head_offset_ = 0;
    if (auto owner = std::move(owner_)) owner->on_ws_end(end);
}

void ws_stream::shutdown_socket() {
    auto& sock = lowest();
    if (!sock.is_open()) return;
    error_code ignored;
    sock.shutdown(tcp::socket::shutdown_both, ignored);
    sock.close(ignored);
}

}  // namespace sio::transport
