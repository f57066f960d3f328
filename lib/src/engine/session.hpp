// One Engine.IO session as the server drives it (internal): the pure state machine of
// server_session.hpp with its timer, its parked GET and its WebSocket stream, on the session's
// executor (its loop, or its strand). The request side (requests.cpp) calls in through the
// coroutines and functions below; the upper layer through session_handle (server.hpp).
#pragma once

#include "server_state.hpp"

#include "sio/codec/ws_frame.hpp"
#include "sio/transport/ws_stream.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>

namespace sio::engine {

using namespace detail;

namespace detail {

// What a session's WebSocket holds on to for as long as it lives (with its connection's place
// under the limits, which the transport adds): its count among the live WebSockets (a graceful
// shutdown waits for them).
struct ws_hold {
    explicit ws_hold(std::shared_ptr<server::impl> c);
    ~ws_hold();
    ws_hold(const ws_hold&) = delete;
    ws_hold& operator=(const ws_hold&) = delete;
    std::shared_ptr<server::impl> core;
};

// How a WebSocket reaches its session: the stream's owner, naming the stream, so that a stream
// the session has let go (closed or dropped) is told apart from the current one.
struct ws_link final : transport::ws_owner {
    ws_link(std::weak_ptr<session> s, const transport::ws_stream* w) : owner(std::move(s)), stream(w) {}
    void on_ws_message(std::string_view data, bool binary) override;
    void on_ws_writable() override;
    void on_ws_end(const transport::ws_end& end) override;
    std::weak_ptr<session> owner;
    const transport::ws_stream* stream;
};
}  // namespace detail

class session : public std::enable_shared_from_this<session>, private transport::deadline_client {
public:
    using time_point = server_session::time_point;

    session(std::shared_ptr<server::impl> core, strand_type strand, transport_kind transport)
        : core_(std::move(core)), strand_(std::move(strand)),
          sm_(core_->sid_prefix + generate_sid(), transport, core_->session_config, clock_type::now()),
          timers_(core_->loop_for(strand_).timers) {
        get_parked_ = transport == transport_kind::polling;  // the handshake GET
        on_websocket_ = transport == transport_kind::websocket;
        ws_pending_ = transport == transport_kind::websocket;  // its socket is on the way
    }

    const strand_type& strand() const noexcept { return strand_; }
    const std::string& sid() const noexcept { return sm_.sid(); }
    bool closed() const noexcept { return closed_.load(); }
    bool on_websocket() const noexcept { return on_websocket_.load(); }

    // The place under the session limits its handshake took, held until the session ends.
    void take_place(session_place p) noexcept { place_ = std::move(p); }

    // Asks the open handler for a listener; false when it refused the session. On the strand.
    asio::awaitable<bool> start(handshake_request hreq, std::uint64_t connection_id) {
        auto self = shared_from_this();
        get_owner_ = connection_id;
        session_handle handle{weak_from_this()};
        handle.sid_ = sm_.sid();
        auto handler = core_->get_open_handler();
        std::shared_ptr<session_listener> listener;
        if (handler) listener = handler(handle, hreq);
        if (!listener) {
            // Refused: the session never existed for anyone; no listener, no on_close.
            closed_ = true;
            finished_ = true;
            co_return false;
        }
        listener_ = std::move(listener);
        remote_address_ = hreq.remote_address;
        counted_ = sm_.transport();
        server_metrics::add(gauge(*counted_), 1);
        server_metrics::add(core_->metrics.sessions_opened);
        core_->emit(event(server_event::kind::session_open));
        core_->add_session(sm_.sid(), shared_from_this());
        pump();  // sets the first deadline
        co_return true;
    }

    // --- polling (each on the strand) ----------------------------------------------------------

    // Who waits for a parked GET's answer: called once, on the strand, with the payload to
    // answer with (nullopt: the GET is lost). It holds no coroutine: the connection is parked.
    using get_waiter = std::function<void(std::optional<std::string>)>;

    struct park_result {
        request_status status = request_status::ok;
        bool parked = false;  // `waiter` has it; else answer with `status` now (ok: just close)
    };

    // A polling GET (or, with `handshake`, the handshake's own GET, whose answer is the open
    // packet) waits for what the session has to send: `waiter` gets it, perhaps at once. Not
    // parked (an overlapping GET, a closed session): the GET is answered with the status now,
    // and `waiter` is never called.
    asio::awaitable<park_result> park_get(std::uint64_t connection_id, bool handshake, get_waiter waiter) {
        auto self = shared_from_this();
        if (!handshake) {
            // An overlapping GET fails the session in the machine; the parked one gets the answer.
            const auto st = sm_.on_polling_get();
            if (st != request_status::ok || get_parked_) {
                pump();
                co_return park_result{st, false};
            }
            get_parked_ = true;
            get_owner_ = connection_id;
        }
        get_waiter_ = std::move(waiter);
        pump();
        wake_parked_get();  // the answer may be there already (the handshake's open packet)
        co_return park_result{request_status::ok, true};
    }

    // The connection of the parked GET closed before its answer.
    void polling_get_lost(std::uint64_t connection_id) {
        if (!get_parked_ || get_owner_ != connection_id || get_answer_) return;
        get_lost_ = true;
        wake_parked_get();
        sm_.on_polling_get_failed();
        pump();
    }

    asio::awaitable<request_status> begin_post() {
        auto self = shared_from_this();
        const auto st = sm_.begin_polling_post();
        pump();
        co_return st;
    }
    asio::awaitable<request_status> finish_post(std::string body) {
        auto self = shared_from_this();
        const auto st = sm_.finish_polling_post(clock_type::now(), body);
        pump();
        co_return st;
    }
    asio::awaitable<void> abandon_post(bool failed) {
        auto self = shared_from_this();
        if (failed) {
            sm_.on_polling_post_failed();
        } else {
            sm_.abandon_polling_post();
        }
        pump();
        co_return;
    }

    // --- WebSocket -----------------------------------------------------------------------------

    // A WebSocket request naming this sid; true when it becomes the probe. On the strand.
    asio::awaitable<bool> attach_probe() {
        auto self = shared_from_this();
        if (ws_ || ws_pending_) co_return false;  // a previous WebSocket is still attached
        const auto st = sm_.on_websocket_upgrade(clock_type::now());
        if (st == upgrade_status::accepted) {
            ws_pending_ = true;
            ws_pending_close_ = false;
        }
        pump();
        co_return st == upgrade_status::accepted;
    }

    // The WebSocket this session was promised (attach_probe, or a WebSocket handshake) has
    // answered its upgrade request with 101: it becomes the session's transport. On the strand.
    void attach_websocket(std::shared_ptr<transport::ws_stream> w, std::string pending) {
        if (!ws_pending_) {
            close_unwanted(*w);
            return;
        }
        ws_pending_ = false;
        if (ws_pending_close_) {
            // The machine gave up on this WebSocket before it arrived.
            close_unwanted(*w);
            return;
        }
        ws_ = w;
        w->start(std::make_shared<ws_link>(weak_from_this(), w.get()), std::move(pending));
        pump();
    }

    // The promised WebSocket never arrived (its 101 could not be written). On the strand.
    void websocket_lost() {
        if (!ws_pending_) return;
        ws_pending_ = false;
        if (!ws_pending_close_) sm_.on_websocket_error();
        pump();
    }

    // A WebSocket the session does not take: its handshake is complete, and it is closed at
    // once, as the reference does with a second WebSocket for a session.
    static void close_unwanted(transport::ws_stream& w) {
        w.start(nullptr);
        w.close(codec::ws::close_code::normal);
    }

    // --- from the WebSocket (ws_link), on the strand ---------------------------------------------

    void on_ws_message(const transport::ws_stream* w, std::string_view data, bool binary) {
        if (ws_.get() != w) return;
        try {
            sm_.on_websocket_frame(clock_type::now(), data, binary);
            pump();
        } catch (...) {
            // Nothing a peer sends may take the server down: this WebSocket ends, and why is told.
            report_failure("reading a WebSocket message", current_exception_text());
            if (ws_.get() == w) ws_->close(codec::ws::close_code::internal_error);
            drop_websocket(false);
        }
    }

    void on_ws_writable(const transport::ws_stream* w) {
        if (ws_.get() != w) return;
        for (auto& o : sm_.take_websocket_frames()) send_frame(*ws_, o);
    }

    void on_ws_end(const transport::ws_stream* w, const transport::ws_end& end) {
        if (ws_.get() != w) return;  // let go already: the machine is done with it
        if (end.how == transport::ws_end::kind::failed && end.code == codec::ws::close_code::too_big) {
            server_metrics::add(core_->metrics.payloads_too_large);
            server_event e = event(server_event::kind::request_refused);
            e.transport = "websocket";
            // The parser's reason says which limit: the bytes (maxPayload) or the frames.
            e.detail = end.reason.find(" frames") != std::string::npos
                           ? fmt::format("WebSocket {}: over the limit of frames a message may have; closing the session",
                                         end.reason)
                           : fmt::format("WebSocket {} is over maxPayload ({} bytes); closing the session", end.reason,
                                         core_->options.session.max_payload);
            core_->emit(e);
        }
        if (end.how == transport::ws_end::kind::failed && end.code == codec::ws::close_code::internal_error)
            report_failure("writing its WebSocket", end.reason);  // the stream's own failure
        drop_websocket(end.how == transport::ws_end::kind::peer_closed);
    }


    // --- upper layer ---------------------------------------------------------------------------

    bool send_here(std::shared_ptr<const std::string> data, bool binary) {
        if (!binary && data && data->find('\x1e') != std::string::npos &&
            sm_.transport() == transport_kind::polling)
            return false;
        const std::size_t size = data ? data->size() : 0;
        const auto st = sm_.send(std::move(data), binary);
        if (st == send_status::queued) {
            server_metrics::add(core_->metrics.packets_out);
            server_metrics::add(core_->metrics.bytes_out, size);
        }
        pump();
        return st == send_status::queued;
    }

    void close_here(std::string_view reason) {
        if (sm_.transport() == transport_kind::polling && sm_.state() == session_state::open &&
            sm_.queued_bytes() > 0) {
            // Messages are waiting for the next GET. The machine would answer it with them and
            // the close packet in one payload, and socket.io-client handles a payload's messages
            // on the next tick but its close packet at once: the close would overtake them (a
            // DISCONNECT would be reported as "transport close"). So the close waits until a GET
            // has taken the messages, and then travels in a payload of its own. Bounded by the
            // heartbeat: a client that stops polling times out.
            if (!deferred_close_) deferred_close_ = std::make_unique<std::string>(reason);
            return;
        }
        server_close(reason);
        pump();
    }

    // sm_.close(), remembering that the server ended the session: a polling client that answers
    // the server's DISCONNECT with its own close packet before it collected the server's close
    // packet ends the session too, but it only completed what the server started.
    void server_close(std::string_view reason) {
        if (!requested_close_ && sm_.state() != session_state::closed)
            requested_close_ = std::make_unique<std::string>(reason);
        sm_.close(clock_type::now(), reason);
    }

    // Server stop: close without waiting for the client to collect the close packet.
    void force_close() {
        server_close(forced_server_close);
        if (sm_.state() == session_state::closing) {
            // Only the close timeout is left to wait for: let it pass now.
            if (auto d = sm_.next_deadline()) sm_.on_timer(*d);
        }
        pump();
    }

    ~session() {
        // Left the queue when it finished; one that never finished (its loop is being torn down)
        // leaves it now.
        if (scheduled()) timers_->cancel(*this);
    }

private:
    // The session's next deadline passed (its loop's timer_queue calls, on the session's
    // executor): the machine sends a ping, or gives up on a pong, an upgrade or a close.
    void on_deadline() noexcept override {
        if (finished_) return;
        auto self = shared_from_this();  // the machine's outputs may let the last owner go
        try {
            armed_.reset();
            sm_.on_timer(clock_type::now());
            pump();
        } catch (...) {
            // Nothing here throws but for want of memory; the session cannot be trusted to go
            // on, so it ends, and the operator hears why.
            fail_session("running the session's timer", current_exception_text());
        }
    }

    // Ends the session after one of its own steps threw; pump() is left in a usable state.
    void fail_session(std::string_view doing, std::string_view why) {
        report_failure(doing, why);
        try {
            server_close(close_reasons::transport_error);
            pump();
        } catch (...) {
            report_failure("closing the session after a failure", current_exception_text());
        }
    }

    // One packet as one WebSocket frame: binary data as it is; text as the Engine.IO type digit
    // and the data, shared with every other session that sends it.
    static void send_frame(transport::ws_stream& w, const outgoing& o) {
        if (o.binary) {
            w.send(true, {}, o.data);
            return;
        }
        const char type = static_cast<char>('0' + static_cast<int>(o.type));
        w.send(false, std::string_view{&type, 1}, o.data);
    }

    // The current WebSocket is gone; `clean` when the peer closed it.
    void drop_websocket(bool clean) {
        if (!ws_) return;
        ws_.reset();
        if (clean) {
            sm_.on_websocket_closed();
        } else {
            sm_.on_websocket_error();
        }
        pump();
    }

    // Something failed that must not go unheard: an exception from a handler, or from this
    // session's own code. Reported to the operator with what it was doing and why.
    void report_failure(std::string_view doing, std::string_view why) const {
        server_event e = event(server_event::kind::failure);
        e.detail = fmt::format("{}: {}", doing, why);
        core_->emit(e);
    }

    // An event about this session, on its current transport; the caller adds the details.
    server_event event(server_event::kind type) const {
        server_event e;
        e.type = type;
        e.sid = sm_.sid();
        e.transport = to_string(sm_.transport());
        e.remote_address = remote_address_;
        return e;
    }

    // Pulls every output of the machine, in the documented order, until nothing changes. A
    // listener may call send() or close() from on_message on this strand: that input lands here
    // again, and is handled by another turn of the loop instead of recursion.
    void pump() {
        if (pumping_) {
            repump_ = true;
            return;
        }
        // Cleared however pump() ends: a throw must not leave the session deaf to every later
        // input (each would only ask for a repump that never comes).
        struct pumping_guard {
            bool& flag;
            ~pumping_guard() { flag = false; }
        } guard{pumping_};
        pumping_ = true;
        do {
            repump_ = false;
            pump_websocket();   // 1, 2
            pump_polling();     // 3
            deliver();          // 4
            report_end();       // 5
            pump_bookkeeping();  // 6 and after
        } while (repump_);
    }

    // 1. WebSocket frames: the stream takes them when its outbox is empty. 2. Close that
    // WebSocket after what is queued for it.
    void pump_websocket() {
        if (ws_ && sm_.has_websocket_frames()) ws_->wake();
        if (!sm_.take_websocket_close()) return;
        if (ws_) {
            auto w = std::exchange(ws_, nullptr);
            for (auto& o : sm_.take_websocket_frames()) send_frame(*w, o);
            w->close(codec::ws::close_code::normal);
        } else if (ws_pending_) {
            ws_pending_close_ = true;
        }
    }

    // 3. The parked GET.
    void pump_polling() {
        if (!get_parked_ || get_answer_ || get_lost_) return;
        if (auto answer = sm_.take_polling_response()) {
            get_answer_ = encode_answer(*answer);
            wake_parked_get();
            if (deferred_close_) deferred_close_ready_ = true;
        }
    }

    // 4. Messages for the upper layer.
    void deliver() {
        auto delivered = sm_.take_delivered();
        if (delivered.empty()) return;
        std::uint64_t bytes = 0;
        for (const auto& p : delivered) bytes += p.data.size();
        server_metrics::add(core_->metrics.packets_in, delivered.size());
        server_metrics::add(core_->metrics.bytes_in, bytes);
        for (auto& p : delivered) {
            if (!listener_) break;
            try {
                listener_->on_message(std::move(p));
            } catch (...) {
                // A failing listener ends its own session, nothing else, and says why.
                report_failure("handling a message", current_exception_text());
                server_close(close_reasons::transport_error);
                repump_ = true;
                break;
            }
        }
    }

    // 5. The end, reported once.
    void report_end() {
        auto reason = sm_.take_close_reason();
        if (!reason) return;
        if (requested_close_ && *reason == close_reasons::transport_close) reason = *requested_close_;
        finished_ = true;
        closed_ = true;
        core_->remove_session(sm_.sid());
        place_.release();
        if (counted_) server_metrics::add(gauge(*std::exchange(counted_, std::nullopt)), -1);
        {
            server_event e = event(server_event::kind::session_close);
            e.reason = *reason;
            if (*reason == close_reasons::slow_consumer) server_metrics::add(core_->metrics.slow_consumers);
            core_->emit(e);
        }
        timers_->cancel(*this);
        armed_.reset();
        if (get_parked_ && !get_answer_) {
            get_lost_ = true;
            wake_parked_get();
        }
        if (auto l = std::exchange(listener_, nullptr)) {
            try {
                l->on_close(*reason);
            } catch (...) {
                report_failure("handling the session's end", current_exception_text());
            }
        }
    }

    // 6. The timer; then a deferred close that may go now, and the gauges after an upgrade.
    void pump_bookkeeping() {
        if (!finished_) {
            const auto d = sm_.next_deadline();
            if (d != armed_) {
                armed_ = d;
                if (d) {
                    timers_->schedule(*this, *d);
                } else {
                    timers_->cancel(*this);
                }
            }
        }
        on_websocket_ = sm_.transport() == transport_kind::websocket;
        if (deferred_close_ && !finished_ && (deferred_close_ready_ || sm_.transport() == transport_kind::websocket)) {
            // The messages are on their way (or the session upgraded): now the close. Any queued
            // since then were sent after the close was asked for; they may go with it.
            server_close(*std::exchange(deferred_close_, nullptr));
            repump_ = true;
        }
        if (counted_ && *counted_ != sm_.transport()) {
            // The upgrade completed: the session moves from one gauge to the other.
            server_metrics::add(gauge(*counted_), -1);
            counted_ = sm_.transport();
            server_metrics::add(gauge(*counted_), 1);
            server_metrics::add(core_->metrics.upgrades);
            core_->emit(event(server_event::kind::session_upgrade));
        }
    }

    static std::string encode_answer(const std::vector<outgoing>& answer) {
        // Text containing '\x1e' is refused by send() while on polling, so every packet here
        // can be encoded; a payload with one would be split wrongly by the client.
        return eio::encode_payload(to_packets(answer));
    }

    std::atomic<std::int64_t>& gauge(transport_kind t) const noexcept {
        return t == transport_kind::websocket ? core_->metrics.websocket_sessions
                                              : core_->metrics.polling_sessions;
    }

    std::shared_ptr<server::impl> core_;
    strand_type strand_;
    server_session sm_;
    std::string remote_address_;
    session_place place_;  // under max_sessions; given back at the end
    std::optional<transport_kind> counted_;  // the gauge this session counts in, while open
    std::unique_ptr<std::string> deferred_close_;  // close_here() waiting for a GET (rare: held apart)
    bool deferred_close_ready_ = false;            // ... which has taken the messages
    std::unique_ptr<std::string> requested_close_;  // the server's close reason, once asked
    std::shared_ptr<session_listener> listener_;
    std::shared_ptr<transport::timer_queue> timers_;  // its loop's; with strands, its own
    std::optional<time_point> armed_;  // the deadline set on timers_
    bool pumping_ = false;
    bool repump_ = false;
    bool finished_ = false;
    std::atomic<bool> closed_{false};
    std::atomic<bool> on_websocket_{false};

    // The GET waiting for an answer.
    bool get_parked_ = false;
    bool get_lost_ = false;
    std::uint64_t get_owner_ = 0;
    std::optional<std::string> get_answer_;
    get_waiter get_waiter_;  // set once the GET's request has parked its connection
    // Hands the answer (or the loss) to the GET's waiter, once both are there.
    void wake_parked_get() {
        if (!get_waiter_ || (!get_answer_ && !get_lost_)) return;
        auto waiter = std::exchange(get_waiter_, nullptr);
        auto answer = std::exchange(get_answer_, std::nullopt);
        get_lost_ = false;
        get_parked_ = false;
        waiter(std::move(answer));
    }

    std::shared_ptr<transport::ws_stream> ws_;  // the attached WebSocket, if any
    bool ws_pending_ = false;        // accepted by the machine, its 101 not written yet
    bool ws_pending_close_ = false;  // ... and the machine wants it closed already
};

}  // namespace sio::engine
