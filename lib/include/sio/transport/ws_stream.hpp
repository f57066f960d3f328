// A WebSocket after the HTTP upgrade (RFC 6455), on a bare TCP socket or a TLS stream: one
// reader, one writer, its own frames (codec/ws_frame.hpp). Beast parses the upgrade request; from
// the first frame on, nothing but this stream reads or writes the socket.
//
// Reading. A plain socket waits for readability and then reads, without blocking, into a buffer
// that every stream of the thread shares: an idle WebSocket holds one pending wait and its
// parser's state, no read buffer. Whole frames in that buffer are handed up without a copy; only
// a frame split across reads (or a fragmented message) is kept by the parser. A TLS stream reads
// into a small buffer of its own (OpenSSL holds its records anyway).
//
// Writing. Frames go into the outbox; a flush one turn of the event loop later writes everything
// waiting in one gather write (frames queued meanwhile leave together: the cork; on a server's
// loop, one posted flush writes every stream of the loop that has frames: write_cork). A plain socket
// is written without blocking, as far as it takes, and waits for writability only when its
// buffer is full; a TLS stream has one asynchronous write in flight at most. Pongs and close
// frames go through the same outbox, after the frames before them: the one-writer rule is the
// structure, not a flag. When the outbox runs dry the owner is asked for more (on_ws_writable),
// so a backlog stays with the owner, which bounds it.
//
// Every call and every callback runs on the stream's executor (the owning session's), one at a
// time; the stream keeps itself alive while an operation is pending and drops its owner once it
// has reported the end.
#pragma once

#include "sio/codec/ws_frame.hpp"
#include "sio/transport/event_loop.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sio::transport {

using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// How a stream ended, reported once to its owner.
struct ws_end {
    enum class kind : std::uint8_t {
        peer_closed,  // the peer sent a close frame, or ended the TCP stream
        failed,       // a read or write failed, or the peer broke the protocol (see code)
        closed,       // close() was called and the closing handshake is done (or timed out)
    };
    kind how = kind::peer_closed;
    std::uint16_t code = codec::ws::close_code::no_status;  // the close code sent or received
    std::string reason;  // for a person: the peer's close reason, or what went wrong
};

// The owner of a stream (an Engine.IO session, a client).
class ws_owner {
public:
    virtual ~ws_owner() = default;
    // One whole message; `data` is valid only during the call.
    virtual void on_ws_message(std::string_view data, bool binary) = 0;
    // The outbox is empty and the socket takes more: queue what waits (or nothing).
    virtual void on_ws_writable() = 0;
    virtual void on_ws_end(const ws_end& end) = 0;
    // Added for the clients (a raw WebSocket client shows them): a ping (answered by the stream
    // itself, after this call) or a pong arrived while the stream is open; `payload` is valid only
    // during the call. A no-op unless overridden, so a server's owner need not care.
    virtual void on_ws_control(bool /*ping*/, std::string_view /*payload*/) {}
};

struct ws_stream_options {
    codec::ws::role role = codec::ws::role::server;
    codec::ws::parser_limits limits;
    // How long close() waits for the peer's close frame before it drops the connection.
    std::chrono::milliseconds close_timeout{5000};
    // Kept as long as the stream: what the socket's owner counts it by (a place under a server's
    // connection limits, a gauge of live WebSockets).
    std::shared_ptr<const void> hold;
    // The loop's cork (event_loop.hpp), when the stream's executor is a loop run by one thread:
    // its flushes then join the loop's one flush per turn. Null: each stream posts its own.
    std::shared_ptr<write_cork> cork;
};

class ws_stream : public std::enable_shared_from_this<ws_stream> {
public:
    // `executor` runs every completion (the owner's); the socket may belong to any executor of
    // the same io_context. `pending` is what was read past the upgrade request (frames sent
    // early); it is parsed first.
    ws_stream(boost::asio::ip::tcp::socket socket, boost::asio::any_io_executor executor,
              ws_stream_options options);
    ws_stream(tls_stream stream, boost::asio::any_io_executor executor, ws_stream_options options);
    ~ws_stream();
    ws_stream(const ws_stream&) = delete;
    ws_stream& operator=(const ws_stream&) = delete;

    // Starts reading; the owner hears from the stream from now on. On the executor.
    void start(std::shared_ptr<ws_owner> owner, std::string pending = {});

    // Queues one message of one frame: `prefix` (at most 1 byte, counted in the frame's length:
    // the Engine.IO type digit of a text packet), then `data`, shared and kept until written.
    // False once the stream is closing or ended (nothing queued).
    bool send(bool binary, std::string_view prefix, std::shared_ptr<const std::string> data);
    // Sends a close frame after what is queued, then waits for the peer's (close_timeout) and
    // ends with kind::closed. Does nothing once closing or ended.
    void close(std::uint16_t code = codec::ws::close_code::normal, std::string_view reason = {});
    // Added for the clients: queues a ping frame (payload cut to 125 bytes) after what is queued.
    // False once the stream is closing or ended (nothing queued).
    bool ping(std::string_view payload);
    // Closes the socket now; the owner hears nothing more.
    void abort();
    // Stops reading the socket (paused) or starts again: a relay that cannot write what it reads
    // as fast as it reads it stops its sender, and TCP tells the peer to slow down. Messages
    // already read are still handed up. close() reads again (the peer's close frame must come).
    void pause_reading(bool paused);

    // Asks for a flush (the owner has frames waiting): on_ws_writable follows once the outbox
    // is empty and the socket takes more.
    void wake() { schedule_flush(); }

    // Added for the clients, which report the peer's side of a close they started: the close
    // frame that answered ours (its code, no_status for an empty body, and its reason), once it
    // came; null otherwise (not closed by us, no answer yet, or the connection ended without one).
    struct close_frame {
        std::uint16_t code = codec::ws::close_code::no_status;
        std::string reason;
    };
    const close_frame* close_answer() const noexcept { return close_answer_.get(); }

    bool open() const noexcept { return state_ == state::open; }
    bool is_tls() const noexcept { return std::holds_alternative<tls_stream>(socket_); }
    // Bytes queued and not yet written.
    std::size_t queued_bytes() const noexcept;

private:
    friend class write_cork;
    enum class state : std::uint8_t { idle, open, closing, ended };
    struct frame {
        std::array<char, 16> head{};  // frame header (at most 14) and the prefix byte
        std::uint8_t head_size = 0;
        std::shared_ptr<const std::string> data;
        std::size_t size() const noexcept { return head_size + (data ? data->size() : 0); }
    };

    boost::asio::ip::tcp::socket& lowest() noexcept;
    void queue_control(codec::ws::opcode op, std::string payload);
    void schedule_flush();
    void flush();
    bool flush_plain();
    void flush_tls();
    void written(std::size_t n);
    void after_flush();
    void read();
    void on_readable(boost::system::error_code ec);
    void on_tls_read(boost::system::error_code ec, std::size_t n);
    // Hands `in` to the parser; false once the stream stopped reading.
    bool parse(std::span<char> in);
    void on_peer_close(std::uint16_t code, std::string_view reason);
    void fail(std::uint16_t code, std::string reason, bool send_close);
    void finish(ws_end end);
    void shutdown_socket();

    std::variant<boost::asio::ip::tcp::socket, tls_stream> socket_;
    boost::asio::any_io_executor executor_;
    ws_stream_options options_;
    codec::ws::parser parser_;
    std::shared_ptr<ws_owner> owner_;
    state state_ = state::idle;
    bool reading_ = false;          // a read (or readability wait) is pending
    bool writing_ = false;          // a write (or writability wait) is pending
    bool flush_scheduled_ = false;  // a flush is posted (or the stream is on the cork's list)
    bool close_queued_ = false;     // our close frame is in the outbox
    bool close_sent_ = false;       // ... and written
    bool peer_closed_ = false;      // the peer's close frame arrived
    bool read_paused_ = false;      // pause_reading(true)
    std::vector<frame> outbox_;     // outbox_[head_...] wait; outbox_[head_] is written from head_offset_
    std::size_t head_ = 0;
    std::size_t head_offset_ = 0;
    std::vector<frame> in_flight_;  // TLS: the frames of the pending write
    std::unique_ptr<char[]> tls_buffer_;  // TLS reads land here
    std::unique_ptr<boost::asio::steady_timer> close_timer_;  // only while closing
    ws_end end_;  // what finish() reports, once the closing handshake is done
    std::unique_ptr<close_frame> close_answer_;  // added for the clients: see close_answer()
};

}  // namespace sio::transport
