#include "sio/engine/server_session.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace sio::engine {

namespace eio = codec::eio;
using eio::packet_type;

namespace {

// What a packet weighs in the outgoing queue: its type character plus its data. Base64 growth
// of binary data over polling is ignored; the bound is about backlog, not exact wire bytes.
std::size_t wire_size(const outgoing& o) noexcept { return 1 + o.view().size(); }

std::shared_ptr<const std::string> shared_text(std::string text) {
    return std::make_shared<const std::string>(std::move(text));
}

outgoing control(packet_type type, std::shared_ptr<const std::string> data = {}) {
    return outgoing{type, std::move(data), false};
}

std::uint64_t count_ms(std::chrono::milliseconds d) noexcept {
    return d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
}

void earliest(std::optional<server_session::time_point>& best,
              const std::optional<server_session::time_point>& t) {
    if (t && (!best || *t < *best)) best = t;
}

}  // namespace

std::string_view to_string(transport_kind t) noexcept {
    return t == transport_kind::polling ? "polling" : "websocket";
}

std::string_view to_string(session_state s) noexcept {
    switch (s) {
    case session_state::open: return "open";
    case session_state::upgrading: return "upgrading";
    case session_state::closing: return "closing";
    case session_state::closed: return "closed";
    }
    return "unknown";
}

eio::packet to_packet(const outgoing& o) {
    return eio::packet{o.type, std::string{o.view()}, o.binary};
}

std::vector<eio::packet> to_packets(std::span<const outgoing> out) {
    std::vector<eio::packet> packets;
    packets.reserve(out.size());
    for (const auto& o : out) packets.push_back(to_packet(o));
    return packets;
}

server_session::server_session(std::string sid, transport_kind transport,
                               server_session_config config, time_point now)
    : server_session(std::move(sid), transport, std::make_shared<const server_session_config>(std::move(config)),
                     now) {}

server_session::server_session(std::string sid, transport_kind transport,
                               std::shared_ptr<const server_session_config> config, time_point now)
    : sid_(std::move(sid)), config_(std::move(config)), transport_(transport), queued_(config_->total_queued) {
    eio::handshake hs;
    hs.sid = sid_;
    // A WebSocket session has nowhere to upgrade to, as in the reference.
    if (transport_ == transport_kind::polling) hs.upgrades = config_->upgrades;
    hs.ping_interval_ms = count_ms(config_->ping_interval);
    hs.ping_timeout_ms = count_ms(config_->ping_timeout);
    hs.max_payload = config_->max_payload;
    enqueue(packet_type::open, shared_text(eio::encode_handshake(hs)));

    // The handshake request of a polling session is its first GET, waiting for the open packet.
    get_pending_ = transport_ == transport_kind::polling;
    next_ping_ = now + config_->ping_interval;
    // A polling client sends its next request as soon as it has the open packet. One that sends
    // none within ping_timeout is not coming (a handshake flood): the session ends then, as if a
    // ping had gone unanswered, instead of holding its memory for ping_interval + ping_timeout.
    // Never sooner than first_request_grace, so that a busy client is not cut off when the
    // timeouts are short; never later than the heartbeat would end it anyway.
    const auto wait = std::max<std::chrono::milliseconds>(config_->ping_timeout, first_request_grace);
    if (get_pending_ && wait < config_->ping_interval + config_->ping_timeout) {
        pong_deadline_ = now + wait;
        awaiting_first_request_ = true;
    }
}

void server_session::first_request_seen() noexcept {
    if (!awaiting_first_request_) return;
    awaiting_first_request_ = false;
    // Unless the first ping is out already (then its own timeout stands).
    if (next_ping_) pong_deadline_.reset();
}

session_state server_session::state() const noexcept {
    if (closed_) return session_state::closed;
    if (closing_) return session_state::closing;
    if (probe_ != probe_state::none) return session_state::upgrading;
    return session_state::open;
}

// --- upper layer -------------------------------------------------------------------------------

send_status server_session::send(std::shared_ptr<const std::string> data, bool binary) {
    if (closed_ || closing_) return send_status::not_open;
    const std::size_t size = 1 + (data ? data->size() : 0);
    const bool over_own = queued_.get() + size > config_->max_queue_bytes;
    // Many clients lagging at once could still exhaust memory within their own bounds.
    const bool over_total = config_->total_queued && config_->max_total_queue_bytes != 0 &&
                            queued_.get() + size > config_->lagging_queue_bytes &&
                            config_->total_queued->load(std::memory_order_relaxed) + size >
                                config_->max_total_queue_bytes;
    if (over_own || over_total) {
        // Growing without bound would let one stalled client exhaust the server's memory.
        finish(close_reasons::slow_consumer, packet_type::close);
        return send_status::slow_consumer;
    }
    enqueue(packet_type::message, std::move(data), binary);
    return send_status::queued;
}

send_status server_session::send(std::string data, bool binary) {
    return send(shared_text(std::move(data)), binary);
}

void server_session::close(time_point now, std::string_view reason) {
    if (closed_ || closing_) return;
    if (probe_ != probe_state::none) drop_probe(true);
    if (!polling_active()) {
        // Everything queued is still written, then the close packet, then the WebSocket closes.
        enqueue(packet_type::close);
        websocket_close_ = true;
        mark_closed(reason);
        return;
    }
    if (get_pending_) {
        get_pending_ = false;
        auto answer = drain_queue();
        answer.push_back(control(packet_type::close));
        polling_answer_ = std::move(answer);
        mark_closed(reason);
        return;
    }
    // No GET to carry the close packet: wait for the next one, but not forever.
    closing_ = true;
    reason_ = std::string{reason};
    close_deadline_ = now + config_->close_timeout;
    next_ping_.reset();
    pong_deadline_.reset();
}

// --- polling -----------------------------------------------------------------------------------

request_status server_session::on_polling_get() {
    if (closed_) return request_status::session_closed;
    if (!polling_active()) return request_status::transport_mismatch;
    if (get_pending_) {
        // At most one GET per session: the reference fails the session and answers 400.
        finish(close_reasons::transport_error, packet_type::close);
        return request_status::overlap;
    }
    get_pending_ = true;
    first_request_seen();
    return request_status::ok;
}

request_status server_session::begin_polling_post() {
    if (closed_) return request_status::session_closed;
    if (!polling_active()) return request_status::transport_mismatch;
    if (post_pending_) {
        finish(close_reasons::transport_error, packet_type::close);
        return request_status::overlap;
    }
    post_pending_ = true;
    first_request_seen();
    return request_status::ok;
}

request_status server_session::finish_polling_post(time_point now, std::string_view body) {
    if (closed_) {
        post_pending_ = false;
        return request_status::session_closed;
    }
    // A POST begun before an upgrade completed still carries the client's packets: keep them.
    if (!post_pending_ && !polling_active()) return request_status::transport_mismatch;
    post_pending_ = false;
    if (body.size() > config_->max_payload) return request_status::payload_too_large;

    eio::limits lim;
    lim.max_payload = static_cast<std::size_t>(config_->max_payload);
    auto packets = eio::decode_payload(body, lim);
    if (!packets) {
        // The reference still answers such a POST with 200 "ok" after closing the session.
        finish(close_reasons::parse_error, packet_type::close);
        return request_status::ok;
    }
    for (auto& p : *packets) {
        handle_packet(now, std::move(p));
        if (closed_) break;
    }
    return request_status::ok;
}

void server_session::on_polling_get_failed() {
    if (closed_ || !polling_active() || !get_pending_) return;
    get_pending_ = false;
    finish(close_reasons::transport_error, packet_type::close);
}

void server_session::on_polling_post_failed() {
    if (closed_ || !post_pending_) return;
    post_pending_ = false;
    // After an upgrade the polling transport is discarded and its errors no longer matter.
    if (polling_active()) finish(close_reasons::transport_error, packet_type::close);
}

// --- WebSocket ---------------------------------------------------------------------------------

upgrade_status server_session::on_websocket_upgrade(time_point now) {
    if (closed_ || closing_ || !polling_active() || probe_ != probe_state::none)
        return upgrade_status::refused;
    if (std::find(config_->upgrades.begin(), config_->upgrades.end(), "websocket") ==
        config_->upgrades.end())
        return upgrade_status::refused;
    probe_ = probe_state::connected;
    first_request_seen();
    upgrade_deadline_ = now + config_->upgrade_timeout;
    websocket_close_ = false;  // a new socket: an untaken close was for the previous probe
    return upgrade_status::accepted;
}

void server_session::on_websocket_frame(time_point now, std::string_view data, bool binary) {
    if (closed_) return;
    const bool on_probe = probe_ != probe_state::none;
    if (!on_probe && polling_active()) return;  // no WebSocket attached

    if (data.size() > config_->max_payload) {
        // As a WebSocket library does when a message is over its limit: fail that socket.
        if (on_probe) {
            drop_probe(true);
        } else {
            finish(close_reasons::transport_error, std::nullopt);
        }
        return;
    }
    auto decoded = binary ? eio::decode_binary_frame(data) : eio::decode_text(data);
    if (!decoded) {
        if (on_probe) {
            drop_probe(true);
        } else {
            finish(close_reasons::parse_error, packet_type::close);
        }
        return;
    }
    if (on_probe) {
        handle_probe_packet(*decoded);
    } else {
        handle_packet(now, std::move(*decoded));
    }
}

void server_session::on_websocket_closed() {
    if (closed_) return;
    if (probe_ != probe_state::none) {
        drop_probe(false);
    } else if (!polling_active()) {
        finish(close_reasons::transport_close, std::nullopt, false);
    }
}

void server_session::on_websocket_error() {
    if (closed_) return;
    if (probe_ != probe_state::none) {
        drop_probe(false);
    } else if (!polling_active()) {
        finish(close_reasons::transport_error, std::nullopt, false);
    }
}

// --- time --------------------------------------------------------------------------------------

void server_session::on_timer(time_point now) {
    if (closed_) return;
    if (closing_) {
        if (close_deadline_ && now >= *close_deadline_) {
            // A GET that arrived but was not taken yet still gets the close packet.
            const std::string reason = reason_;
            finish(reason, packet_type::close);
        }
        return;
    }
    if (pong_deadline_ && now >= *pong_deadline_) {
        finish(close_reasons::ping_timeout, packet_type::close);
        return;
    }
    if (upgrade_deadline_ && now >= *upgrade_deadline_) drop_probe(true);
    if (next_ping_ && now >= *next_ping_) {
        enqueue(packet_type::ping);
        next_ping_.reset();  // the next ping is scheduled by the pong
        pong_deadline_ = now + config_->ping_timeout;
    }
}

std::optional<server_session::time_point> server_session::next_deadline() const {
    if (closed_) return std::nullopt;
    std::optional<time_point> best;
    earliest(best, next_ping_);
    earliest(best, pong_deadline_);
    earliest(best, upgrade_deadline_);
    earliest(best, close_deadline_);
    return best;
}

// --- outputs -----------------------------------------------------------------------------------

bool server_session::get_answerable() const noexcept {
    if (!get_pending_ || !polling_active()) return false;
    // Once the probe succeeded, every GET returns at once (a noop when there is nothing), so
    // the client can pause polling and finish the upgrade.
    return closing_ || !queue_.empty() || probe_ == probe_state::probed;
}

bool server_session::has_polling_response() const noexcept {
    return polling_answer_.has_value() || get_answerable();
}

std::optional<std::vector<outgoing>> server_session::take_polling_response() {
    if (polling_answer_) {
        auto answer = std::move(*polling_answer_);
        polling_answer_.reset();
        return answer;
    }
    if (!get_answerable()) return std::nullopt;
    get_pending_ = false;
    auto answer = drain_queue();
    if (closing_) {
        answer.push_back(control(packet_type::close));
        const std::string reason = reason_;
        mark_closed(reason);
    } else if (answer.empty()) {
        answer.push_back(control(packet_type::noop));
    }
    return answer;
}

bool server_session::has_websocket_frames() const noexcept {
    if (probe_ != probe_state::none) return !probe_out_.empty();
    return !polling_active() && !queue_.empty();
}

std::vector<outgoing> server_session::take_websocket_frames() {
    if (probe_ != probe_state::none) return std::exchange(probe_out_, {});
    if (!polling_active()) return drain_queue();
    return {};
}

bool server_session::take_websocket_close() noexcept { return std::exchange(websocket_close_, false); }

std::vector<eio::packet> server_session::take_delivered() { return std::exchange(delivered_, {}); }

std::optional<std::string> server_session::take_close_reason() {
    if (!closed_ || reason_reported_) return std::nullopt;
    reason_reported_ = true;
    return reason_;
}

// --- internals ---------------------------------------------------------------------------------

void server_session::enqueue(packet_type type, std::shared_ptr<const std::string> data, bool binary) {
    queue_.push_back(outgoing{type, std::move(data), binary});
    queued_.set(queued_.get() + wire_size(queue_.back()));
}

std::vector<outgoing> server_session::drain_queue() {
    queued_.set(0);
    return std::exchange(queue_, {});
}

void server_session::handle_packet(time_point now, eio::packet p) {
    if (closed_) return;
    // A closing session only waits to say goodbye; the reference ignores what arrives then.
    if (closing_ && p.type != packet_type::close) return;
    switch (p.type) {
    case packet_type::message:
        delivered_.push_back(std::move(p));
        break;
    case packet_type::pong:
        heartbeat_pong(now);
        break;
    case packet_type::ping:
        // In v4 only the server pings ("invalid heartbeat direction" in the reference).
        finish(close_reasons::transport_error, packet_type::close);
        break;
    case packet_type::close:
        // A pending GET is released with a noop, as the reference does; the client is leaving.
        finish(close_reasons::transport_close,
               polling_active() ? std::optional{packet_type::noop} : std::nullopt);
        break;
    case packet_type::open:
    case packet_type::upgrade:
    case packet_type::noop:
        // Valid packets with no meaning here; the reference ignores them too.
        break;
    }
}

void server_session::handle_probe_packet(const eio::packet& p) {
    if (p.type == packet_type::ping && !p.binary && p.data == "probe") {
        probe_out_.push_back(control(packet_type::pong, shared_text("probe")));
        probe_ = probe_state::probed;
    } else if (p.type == packet_type::upgrade) {
        complete_upgrade();
    } else {
        // Anything else on a probe means the client is not upgrading as the protocol says:
        // give up on this WebSocket, the session carries on over polling.
        drop_probe(true);
    }
}

void server_session::complete_upgrade() {
    upgrade_deadline_.reset();
    probe_ = probe_state::none;
    transport_ = transport_kind::websocket;
    if (get_pending_) {
        // A well-behaved client has no GET left by now; release one anyway so it does not hang.
        get_pending_ = false;
        polling_answer_ = std::vector<outgoing>{control(packet_type::noop)};
    }
    // Frames already meant for the probe ("3probe" not yet taken) go out before the backlog.
    for (const auto& o : probe_out_) queued_.set(queued_.get() + wire_size(o));
    queue_.insert(queue_.begin(), std::make_move_iterator(probe_out_.begin()),
                  std::make_move_iterator(probe_out_.end()));
    probe_out_.clear();
}

void server_session::drop_probe(bool close_socket) {
    probe_ = probe_state::none;
    probe_out_.clear();
    upgrade_deadline_.reset();
    if (close_socket) websocket_close_ = true;
}

void server_session::heartbeat_pong(time_point now) {
    // A pong read after the deadline does not count, even if the timer has not run yet: the
    // outcome must not depend on which of the two the driver happened to process first.
    if (pong_deadline_ && now >= *pong_deadline_) {
        finish(close_reasons::ping_timeout, packet_type::close);
        return;
    }
    pong_deadline_.reset();
    next_ping_ = now + config_->ping_interval;
}

void server_session::finish(std::string_view reason, std::optional<packet_type> farewell,
                            bool websocket_alive) {
    if (closed_) return;
    if (probe_ != probe_state::none) drop_probe(true);
    queue_.clear();
    queued_.set(0);
    if (polling_active()) {
        if (farewell && get_pending_) polling_answer_ = std::vector<outgoing>{control(*farewell)};
        get_pending_ = false;
    } else if (websocket_alive) {
        if (farewell) enqueue(*farewell);
        websocket_close_ = true;
    }
    mark_closed(reason);
}

void server_session::mark_closed(std::string_view reason) {
    std::string copy{reason};  // `reason` may view reason_ itself
    reason_ = std::move(copy);
    closed_ = true;
    closing_ = false;
    post_pending_ = false;
    next_ping_.reset();
    pong_deadline_.reset();
    upgrade_deadline_.reset();
    close_deadline_.reset();
}

}  // namespace sio::engine
