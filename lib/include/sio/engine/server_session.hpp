// The server side of one Engine.IO v4 session, as a pure state machine.
//
// No sockets, no timers, no threads: the caller (a coroutine driver that owns the HTTP requests
// and the WebSocket) feeds inputs, passing the current time where time matters, and then pulls
// what the machine wants done. Nothing calls back into the caller, so nothing re-enters.
//
// Driving it: after every input call, the driver pulls, in this order,
//   1. take_websocket_frames()  -> write these packets on the WebSocket (probe or main), in order;
//   2. take_websocket_close()   -> then close that WebSocket (after the frames already written);
//   3. take_polling_response()  -> if it has a value, answer the pending GET with these packets
//                                  (encode_payload(to_packets(...)));
//   4. take_delivered()         -> hand the received messages to the upper layer;
//   5. take_close_reason()      -> once, when the session has ended: report and forget it;
//   6. next_deadline()          -> (re)arm the timer; call on_timer(now) when it expires.
// A WebSocket writer may instead take frames only when it is idle: what it has not taken yet
// stays queued and counts against `max_queue_bytes`. The same holds for a polling response that
// has not been taken: packets sent meanwhile join it, which is how responses get batched.
//
// Transports. A session starts on polling (its first GET, the handshake, is pending at creation
// and gets the open packet) or on WebSocket (the open packet is the first frame). A polling
// session can be upgraded once: on_websocket_upgrade() attaches a probe WebSocket, "2probe" on
// it is answered "3probe" and from then on every GET is answered at once (with what is queued,
// else a noop, which lets the client pause polling); "5" moves the session to the WebSocket and
// every queued packet goes there, in order. A session holds at most one WebSocket at a time, so
// the WebSocket inputs and outputs need no handle: they concern the probe while upgrading and
// the main transport otherwise.
//
// Heartbeat (v4: the server pings). A ping is queued `ping_interval` after creation; if no pong
// arrives within `ping_timeout` of it the session closes with "ping timeout". A polling session
// that receives no request at all (GET, POST or upgrade) within `ping_timeout` of its handshake
// closes the same way, earlier: its client, which polls at once, is not there (never sooner than
// `first_request_grace`, 5 s, and only when that is earlier than the heartbeat's end). A pong cancels the
// timeout and schedules the next ping `ping_interval` after the pong. Only a pong counts: other
// packets do not prove the client reads (this is what the released reference server does).
//
// Closing. close() (server initiated) sends what is queued followed by a close packet: at once on
// a WebSocket or into a pending GET; without a pending GET the session is `closing` until the
// next GET takes it, or until `close_timeout`. Every other end is immediate: queued packets are
// dropped, a pending GET is answered with a close packet (a noop after a client close packet),
// a live WebSocket gets a close packet and is closed. Once closed, inputs are ignored, sending is
// refused, outputs drain what the closing produced and then stay empty; the reason is reported
// exactly once. Reasons are those of the reference server, plus "slow consumer" (see below).
#pragma once

#include "sio/codec/engine_io.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sio::engine {

enum class transport_kind : std::uint8_t { polling, websocket };

enum class session_state : std::uint8_t {
    open,       // on one transport
    upgrading,  // on polling, with a WebSocket probing
    closing,    // close() waits for a GET to carry the close packet (polling only)
    closed,
};

std::string_view to_string(transport_kind) noexcept;
std::string_view to_string(session_state) noexcept;

// Close reasons, as the reference server words them.
namespace close_reasons {
inline constexpr std::string_view ping_timeout = "ping timeout";      // no pong in time
inline constexpr std::string_view transport_close = "transport close";  // peer closed / sent close
inline constexpr std::string_view transport_error = "transport error";  // protocol or I/O failure
inline constexpr std::string_view parse_error = "parse error";          // undecodable packet
inline constexpr std::string_view forced_close = "forced close";        // close() by the server
// Not in the reference: the peer does not read fast enough and the queue hit max_queue_bytes.
inline constexpr std::string_view slow_consumer = "slow consumer";
}  // namespace close_reasons

struct server_session_config {
    std::chrono::milliseconds ping_interval{25000};
    std::chrono::milliseconds ping_timeout{20000};
    std::chrono::milliseconds upgrade_timeout{10000};  // probe WebSocket must send "5" by then
    std::chrono::milliseconds close_timeout{30000};    // close() waits this long for a GET
    std::uint64_t max_payload = 1'000'000;  // largest POST body / frame accepted; in handshake
    // Outgoing backlog (1 + data size per packet, counted until the driver takes it) beyond which
    // send() closes the session with "slow consumer". Control packets are never refused.
    std::size_t max_queue_bytes = 16u << 20;
    // Every session of a server together: once their queues hold max_total_queue_bytes, a send
    // to a session whose own queue is over lagging_queue_bytes closes it as a slow consumer too
    // (the sessions that keep up are served). The total is then bounded by max_total_queue_bytes
    // plus lagging_queue_bytes per session. `total_queued` is shared by the server's sessions;
    // null: no total bound.
    std::shared_ptr<std::atomic<std::size_t>> total_queued;
    std::size_t max_total_queue_bytes = 0;
    std::size_t lagging_queue_bytes = 64u << 10;
    std::vector<std::string> upgrades{"websocket"};  // offered to polling sessions
};

// An outgoing packet. The data is shared, so that one broadcast message queued on many sessions
// exists once in memory; null means no data.
struct outgoing {
    codec::eio::packet_type type = codec::eio::packet_type::message;
    std::shared_ptr<const std::string> data;
    bool binary = false;

    std::string_view view() const noexcept {
        return data ? std::string_view{*data} : std::string_view{};
    }
};

// Copies for the codec (encode_text, encode_binary_frame, encode_payload).
codec::eio::packet to_packet(const outgoing&);
std::vector<codec::eio::packet> to_packets(std::span<const outgoing>);

// What the driver answers an HTTP polling request with.
enum class request_status : std::uint8_t {
    ok,                  // GET: parked, answer when take_polling_response() yields; POST: 200 "ok"
    overlap,             // 400 with an empty body: a second GET (or POST) while one is pending;
                         // the session closed with "transport error"
    transport_mismatch,  // 400 {"code":3,"message":"Bad request"}: the session is on WebSocket;
                         // the session is not affected
    payload_too_large,   // 413: POST body over max_payload; the session is not affected
    session_closed,      // 400 {"code":1,"message":"Session ID unknown"}: the session has ended
};

enum class upgrade_status : std::uint8_t {
    accepted,  // the WebSocket is now the probe: feed its frames to on_websocket_frame()
    refused,   // close that WebSocket; the session is not affected
};

enum class send_status : std::uint8_t {
    queued,
    not_open,       // closing or closed: nothing was queued
    slow_consumer,  // over max_queue_bytes: nothing was queued and the session closed
};

namespace detail {

// The bytes of one session's queue, kept in step with a count shared by every session of a
// server (server_session_config::total_queued); leaves the count when destroyed.
class queue_account {
public:
    explicit queue_account(std::shared_ptr<std::atomic<std::size_t>> total = nullptr) noexcept
        : total_(std::move(total)) {}
    queue_account(queue_account&& o) noexcept
        : total_(std::move(o.total_)), bytes_(std::exchange(o.bytes_, 0)) {}
    queue_account& operator=(queue_account&& o) noexcept {
        if (this != &o) {
            set(0);
            total_ = std::move(o.total_);
            bytes_ = std::exchange(o.bytes_, 0);
        }
        return *this;
    }
    queue_account(const queue_account&) = delete;
    queue_account& operator=(const queue_account&) = delete;
    ~queue_account() { set(0); }

    std::size_t get() const noexcept { return bytes_; }
    void set(std::size_t n) noexcept {
        if (total_) {
            if (n > bytes_) total_->fetch_add(n - bytes_, std::memory_order_relaxed);
            else total_->fetch_sub(bytes_ - n, std::memory_order_relaxed);
        }
        bytes_ = n;
    }

private:
    std::shared_ptr<std::atomic<std::size_t>> total_;
    std::size_t bytes_ = 0;
};

}  // namespace detail

class server_session {
public:
    using clock = std::chrono::steady_clock;
    // The least a polling session waits for its first request after the handshake.
    static constexpr std::chrono::milliseconds first_request_grace{5000};
    using time_point = clock::time_point;

    // `sid` is chosen by the registry. The open packet is the first output.
    server_session(std::string sid, transport_kind transport, server_session_config config,
                   time_point now);
    // The same with a configuration shared by every session of a server (16 bytes each instead
    // of a copy).
    server_session(std::string sid, transport_kind transport,
                   std::shared_ptr<const server_session_config> config, time_point now);

    const std::string& sid() const noexcept { return sid_; }
    session_state state() const noexcept;
    transport_kind transport() const noexcept { return transport_; }
    const server_session_config& config() const noexcept { return *config_; }
    std::size_t queued_bytes() const noexcept { return queued_.get(); }
    // Empty until closed.
    std::string_view close_reason() const noexcept {
        return closed_ ? std::string_view{reason_} : std::string_view{};
    }

    // --- upper layer ---------------------------------------------------------------------------
    send_status send(std::shared_ptr<const std::string> data, bool binary = false);
    send_status send(std::string data, bool binary = false);
    // Server-initiated close; `reason` is what take_close_reason() will report.
    void close(time_point now, std::string_view reason = close_reasons::forced_close);

    // --- polling -------------------------------------------------------------------------------
    request_status on_polling_get();
    // A POST is two steps so that two in flight at once are seen: begin when its headers are
    // read, then finish with the whole body (or abandon it when the driver answered it itself,
    // e.g. 413 because the body was over max_payload while reading).
    request_status begin_polling_post();
    request_status finish_polling_post(time_point now, std::string_view body);
    void abandon_polling_post() noexcept { post_pending_ = false; }
    // The connection of the pending GET, or of the POST being read, failed or closed early.
    void on_polling_get_failed();
    void on_polling_post_failed();

    // --- WebSocket -----------------------------------------------------------------------------
    // A WebSocket request naming this sid (the registry has checked the sid exists).
    upgrade_status on_websocket_upgrade(time_point now);
    // One complete message of the session's WebSocket (the probe while upgrading).
    void on_websocket_frame(time_point now, std::string_view data, bool binary);
    void on_websocket_closed();  // closed by the peer, or end of stream
    void on_websocket_error();   // read or write failure

    // --- time ----------------------------------------------------------------------------------
    void on_timer(time_point now);
    // Earliest time on_timer() must run; nullopt once closed.
    std::optional<time_point> next_deadline() const;

    // --- outputs -------------------------------------------------------------------------------
    bool has_polling_response() const noexcept;
    std::optional<std::vector<outgoing>> take_polling_response();
    bool has_websocket_frames() const noexcept;
    std::vector<outgoing> take_websocket_frames();
    // True once after the machine decided the current WebSocket must be closed by the server.
    bool take_websocket_close() noexcept;
    std::vector<codec::eio::packet> take_delivered();
    std::optional<std::string> take_close_reason();

private:
    enum class probe_state : std::uint8_t { none, connected, probed };

    bool polling_active() const noexcept { return transport_ == transport_kind::polling; }
    void enqueue(codec::eio::packet_type type, std::shared_ptr<const std::string> data = {},
                 bool binary = false);
    std::vector<outgoing> drain_queue();
    bool get_answerable() const noexcept;
    void handle_packet(time_point now, codec::eio::packet p);
    void handle_probe_packet(const codec::eio::packet& p);
    void complete_upgrade();
    void drop_probe(bool close_socket);
    void heartbeat_pong(time_point now);
    // The polling session's first request after its handshake came: no early end.
    void first_request_seen() noexcept;
    // Ends the session. `farewell` is what a live transport gets (a pending GET, or a frame
    // before the WebSocket is closed); nullopt when the transport is gone.
    // `websocket_alive` false: the WebSocket is already gone, nothing to send or close.
    void finish(std::string_view reason, std::optional<codec::eio::packet_type> farewell,
                bool websocket_alive = true);
    void mark_closed(std::string_view reason);

    std::string sid_;
    std::shared_ptr<const server_session_config> config_;  // never null
    transport_kind transport_;

    bool closed_ = false;
    bool closing_ = false;  // polling close() waiting for a GET
    std::string reason_;  // set by close() already while closing
    bool reason_reported_ = false;
    bool awaiting_first_request_ = false;  // polling: nothing since the handshake yet

    std::vector<outgoing> queue_;  // for the main transport
    detail::queue_account queued_;
    std::vector<codec::eio::packet> delivered_;

    // Polling: the GET the client is waiting on, an answer fixed by a transition, a POST.
    bool get_pending_ = false;
    std::optional<std::vector<outgoing>> polling_answer_;
    bool post_pending_ = false;

    probe_state probe_ = probe_state::none;
    std::vector<outgoing> probe_out_;
    bool websocket_close_ = false;

    std::optional<time_point> next_ping_;
    std::optional<time_point> pong_deadline_;
    std::optional<time_point> upgrade_deadline_;
    std::optional<time_point> close_deadline_;
};

}  // namespace sio::engine
