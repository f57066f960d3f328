#include "sio/socket.hpp"

#include "connection.hpp"
#include "sio/namespace.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <boost/asio/steady_timer.hpp>

#include <utility>

namespace sio {

namespace asio = boost::asio;
namespace sp = codec::socketio;

// --- errors ----------------------------------------------------------------------------------

namespace {

class socket_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "sio.socket"; }
    std::string message(int ev) const override {
        switch (static_cast<socket_errc>(ev)) {
        case socket_errc::ok: return "success";
        case socket_errc::reserved_event_name: return "reserved event name";
        case socket_errc::invalid_arguments: return "event arguments must be a JSON array";
        case socket_errc::not_connected: return "socket is not connected";
        case socket_errc::ack_timeout: return "operation has timed out";  // the reference's words
        case socket_errc::disconnected: return "socket has been disconnected";
        }
        return "unknown sio.socket error";
    }
};

}  // namespace

const std::error_category& socket_category() noexcept {
    static const socket_category_impl category;
    return category;
}

// --- socket ----------------------------------------------------------------------------------

socket::socket(passkey, std::shared_ptr<namespace_> nsp, std::weak_ptr<detail::connection> conn,
               std::string id, std::shared_ptr<const struct handshake> hs, asio::any_io_executor timer_executor,
               std::chrono::milliseconds default_ack_timeout)
    : nsp_(std::move(nsp)),
      conn_(std::move(conn)),
      id_(std::move(id)),
      handshake_(std::move(hs)),
      timer_executor_(std::move(timer_executor)),
      default_ack_timeout_(default_ack_timeout) {}

socket::~socket() {
    // A socket dropped without on_close (its connection vanished first) must not stay in rooms.
    if (connected_.load()) nsp_->adapter().remove(id_);
}

void socket::on(std::string event, event_handler handler) {
    std::lock_guard lock(mutex_);
    handlers_[std::move(event)].push_back(std::move(handler));
}

void socket::on_any(any_handler handler) {
    std::lock_guard lock(mutex_);
    any_handlers_.push_back(std::move(handler));
}

void socket::on_any_with_ack(any_ack_handler handler) {
    std::lock_guard lock(mutex_);
    any_ack_handlers_.push_back(std::move(handler));
}

void socket::on_disconnect(disconnect_handler handler) {
    std::lock_guard lock(mutex_);
    disconnect_handlers_.push_back(std::move(handler));
}

std::error_code socket::emit(std::string_view event, json args) {
    return emit_impl(event, std::move(args), nullptr, std::nullopt);
}

std::error_code socket::emit_with_ack(std::string_view event, json args, ack_callback callback,
                                      std::optional<std::chrono::milliseconds> timeout) {
    if (!callback) return emit_impl(event, std::move(args), nullptr, std::nullopt);
    return emit_impl(event, std::move(args), std::move(callback), timeout);
}

std::error_code socket::emit_impl(std::string_view event, json args, ack_callback callback,
                                  std::optional<std::chrono::milliseconds> timeout) {
    if (sp::is_reserved_event_name(event)) return socket_errc::reserved_event_name;
    if (!args.is_array()) return socket_errc::invalid_arguments;
    auto conn = conn_.lock();
    if (!conn || !connected_.load()) return socket_errc::not_connected;
    nsp_->notify_outgoing(*this, event, args);
    if (auto c = nsp_->cluster(); !callback && nsp_->recovery() && c && c->keeps_sessions()) {
        // Recovery across the cluster: through the cluster's stream, as a broadcast to the
        // socket's own room, so that its offset is valid on every node (as the reference).
        return broadcast_operator(nsp_, adapter::broadcast_options{{id_}, {}, {}}).emit(event, std::move(args));
    }

    json data = json::array();
    data.push_back(std::string(event));
    for (auto& a : args) data.push_back(std::move(a));
    if (!callback && nsp_->recovery()) {
        // Through the recovery store, as a broadcast to the socket's own room, so that it gets
        // an offset and is replayed if the socket drops before receiving it (as the reference).
        broadcast_operator(nsp_, adapter::broadcast_options{{id_}, {}, {}}).emit_prepared(std::move(data));
        return {};
    }
    sp::packet p{sp::packet_type::event, nsp_->name(), std::nullopt, std::move(data)};

    if (callback) {
        const auto wait = timeout.value_or(default_ack_timeout_);
        std::shared_ptr<asio::steady_timer> timer;
        if (wait.count() > 0) timer = std::make_shared<asio::steady_timer>(timer_executor_, wait);
        std::uint64_t id = 0;
        {
            std::lock_guard lock(mutex_);
            id = next_ack_id_++;
            pending_acks_.emplace(id, pending_ack{std::move(callback), timer});
        }
        p.id = id;
        if (timer) {
            std::weak_ptr<socket> weak = shared_from_this();
            timer->async_wait([weak, id](boost::system::error_code ec) {
                if (ec) return;  // cancelled: the ack arrived or the socket closed
                if (auto self = weak.lock()) self->expire_ack(id);
            });
        }
    }
    conn->send(p);
    return {};
}

void socket::expire_ack(std::uint64_t id) {
    ack_callback cb;
    {
        std::lock_guard lock(mutex_);
        auto it = pending_acks_.find(id);
        if (it == pending_acks_.end()) return;
        cb = std::move(it->second.callback);
        pending_acks_.erase(it);
    }
    guarded("the acknowledgement callback (timed out)", {}, [&] { cb(socket_errc::ack_timeout, json()); });
}

namespace {

// The timer belongs to the socket's strand: cancel it there.
void cancel_timer(const asio::any_io_executor& ex, const std::shared_ptr<void>& timer) {
    if (!timer) return;
    asio::post(ex, [t = std::static_pointer_cast<asio::steady_timer>(timer)] { t->cancel(); });
}

}  // namespace

template <class F>
void socket::guarded(std::string_view kind, std::string_view event, F&& f) {
    try {
        std::forward<F>(f)();
    } catch (const std::exception& e) {
        handler_threw(kind, event, e.what());
    } catch (...) {
        handler_threw(kind, event, "an exception that is not a std::exception");
    }
}

void socket::handler_threw(std::string_view kind, std::string_view event, std::string_view why) {
    if (auto conn = conn_.lock()) {
        conn->log(fmt::format("socket {} on {}: {}{}{} threw: {}; disconnecting the socket", id_, nsp_->name(), kind,
                              event.empty() ? "" : " of event ", event, why));
    }
    disconnect(false);
}

void socket::join(std::string_view room) {
    if (!connected_.load()) return;
    nsp_->adapter().join(id_, room);
    persist_live();
}

void socket::leave(std::string_view room) {
    nsp_->adapter().leave(id_, room);
    if (connected_.load()) persist_live();
}

adapter::redis::streams::session_record socket::session_record() const {
    adapter::redis::streams::session_record r;
    r.sid = id_;
    r.pid = pid_;
    r.rooms = nsp_->adapter().rooms_of(id_);
    r.since = since_;
    return r;
}

void socket::persist_live() const {
    if (auto c = nsp_->cluster(); c && c->keeps_sessions() && !pid_.empty() && nsp_->recovery())
        c->persist_session(nsp_->name(), session_record(), false);
}

std::vector<std::string> socket::rooms() const { return nsp_->adapter().rooms_of(id_); }

json socket::data() const {
    std::lock_guard lock{mutex_};
    return data_.is_null() ? json::object() : data_;
}

void socket::set_data(json data) {
    std::lock_guard lock{mutex_};
    data_ = std::move(data);
}

broadcast_operator socket::to(std::string room) const { return broadcast().to(std::move(room)); }

broadcast_operator socket::except(std::string room) const {
    return broadcast().except(std::move(room));
}

broadcast_operator socket::broadcast() const {
    adapter::broadcast_options options;
    options.except.insert(id_);
    return broadcast_operator(nsp_, std::move(options));
}

void socket::disconnect(bool close_underlying) {
    if (!connected_.load()) return;
    auto conn = conn_.lock();
    if (close_underlying && conn) {
        conn->disconnect_all();
        return;
    }
    if (conn) {
        conn->send(sp::packet{sp::packet_type::disconnect, nsp_->name(), std::nullopt, std::nullopt});
        conn->remove(*this);
    }
    on_close(disconnect_reasons::server_namespace_disconnect);
}

void socket::deliver(const adapter::frame& f, const adapter::broadcast_flags&) {
    if (!connected_.load()) return;
    if (auto conn = conn_.lock()) conn->send(f);
}

bool socket::attach() {
    if (closed_.load()) return false;
    std::weak_ptr<adapter::member> self = shared_from_this();
    nsp_->adapter().add(id_, std::move(self));
    connected_ = true;
    // on_close stores closed_ then reads connected_; we stored connected_ and now read closed_
    // (all sequentially consistent): at least one of us sees the other, so a close racing with
    // the attach never leaves the socket in the adapter.
    if (closed_.load()) {
        connected_ = false;
        nsp_->adapter().remove(id_);
        return false;
    }
    return true;
}

void socket::send_connect() {
    json data{{"sid", id_}};
    if (!pid_.empty()) data["pid"] = pid_;
    send_packet(sp::packet{sp::packet_type::connect, nsp_->name(), std::nullopt, std::move(data)});
}

void socket::on_packet(sp::packet p) {
    {
        std::lock_guard lock(mutex_);
        if (!ready_) {
            early_packets_.push_back(std::move(p));
            return;
        }
    }
    handle(p);
}

void socket::ready() {
    // Drain what arrived while the connection handlers ran, then let packets through directly;
    // the loop keeps the order if more arrive while a batch is handled.
    for (;;) {
        std::vector<sp::packet> batch;
        {
            std::lock_guard lock(mutex_);
            if (early_packets_.empty()) {
                ready_ = true;
                return;
            }
            batch.swap(early_packets_);
        }
        for (auto& p : batch) handle(p);
    }
}

void socket::handle(sp::packet& p) {
    if (!connected_.load()) return;
    using t = sp::packet_type;
    switch (p.type) {
    case t::event:
    case t::binary_event:
        on_event(p);
        return;
    case t::ack:
    case t::binary_ack:
        on_ack(p);
        return;
    case t::disconnect:
        if (auto conn = conn_.lock()) conn->remove(*this);
        on_close(disconnect_reasons::client_namespace_disconnect);
        return;
    case t::connect:
    case t::connect_error:
        return;  // the connection filters these out
    }
}

void socket::on_event(sp::packet& p) {
    // The decoder guarantees a non-empty array starting with a string or a number.
    if (!p.data || !p.data->is_array() || p.data->empty()) return;
    auto& data = *p.data;
    std::string event = data[0].is_string() ? data[0].get<std::string>() : data[0].dump();
    json args = json::array();
    for (std::size_t i = 1; i < data.size(); ++i) args.push_back(std::move(data[i]));

    ack_fn ack;
    if (p.id) {
        std::weak_ptr<socket> weak = shared_from_this();
        auto sent = std::make_shared<std::atomic<bool>>(false);
        ack = [weak, id = *p.id, sent](json reply) {
            if (sent->exchange(true)) return;  // a second answer is ignored, as in the reference
            if (auto self = weak.lock()) self->send_ack(id, std::move(reply));
        };
    }

    std::vector<any_handler> any;
    std::vector<any_ack_handler> any_ack;
    std::vector<event_handler> handlers;
    {
        std::lock_guard lock(mutex_);
        any = any_handlers_;
        any_ack = any_ack_handlers_;
        if (auto it = handlers_.find(event); it != handlers_.end()) handlers = it->second;
    }
    for (auto& h : any) {
        guarded("an on_any handler", event, [&] { h(event, args); });
        if (!connected_.load()) return;
    }
    for (auto& h : any_ack) {
        guarded("an on_any_with_ack handler", event, [&] { h(event, args, ack); });
        if (!connected_.load()) return;
    }
    if (handlers.empty()) return;
    // The last handler gets the arguments by move; the others get copies.
    for (std::size_t i = 0; i + 1 < handlers.size(); ++i) {
        guarded("the handler", event, [&] { handlers[i](args, ack); });
        if (!connected_.load()) return;
    }
    guarded("the handler", event, [&] { handlers.back()(std::move(args), std::move(ack)); });
}

void socket::send_ack(std::uint64_t id, json args) {
    if (!connected_.load()) return;
    if (!args.is_array()) {
        // A single value is one argument: ack("ok") answers ["ok"].
        json wrapped = json::array();
        wrapped.push_back(std::move(args));
        args = std::move(wrapped);
    }
    send_packet(sp::packet{sp::packet_type::ack, nsp_->name(), id, std::move(args)});
}

void socket::on_ack(sp::packet& p) {
    if (!p.id) return;
    pending_ack pending;
    {
        std::lock_guard lock(mutex_);
        auto it = pending_acks_.find(*p.id);
        if (it == pending_acks_.end()) return;  // unknown or already timed out: ignored
        pending = std::move(it->second);
        pending_acks_.erase(it);
    }
    cancel_timer(timer_executor_, pending.timer);
    guarded("the acknowledgement callback", {}, [&] { pending.callback({}, p.data ? std::move(*p.data) : json::array()); });
}

void socket::send_packet(const sp::packet& p) {
    if (auto conn = conn_.lock()) conn->send(p);
}

namespace {

// The reasons after which a client reconnects by itself (the reference's list). A slow consumer
// is left out: replaying what it could not read would only overflow it again.
bool recoverable(std::string_view reason) {
    return reason == engine::close_reasons::transport_error ||
           reason == engine::close_reasons::transport_close ||
           reason == engine::close_reasons::forced_close ||
           reason == engine::close_reasons::ping_timeout ||
           reason == disconnect_reasons::forced_server_close || reason == disconnect_reasons::server_shutting_down;
}

}  // namespace

void socket::on_close(std::string_view reason) {
    closed_ = true;
    if (!connected_.exchange(false)) return;
    if (auto c = nsp_->cluster(); c && c->keeps_sessions() && !pid_.empty()) {
        // Recovery across the cluster: the record goes to Redis, for the recovery window.
        if (recoverable(reason))
            c->persist_session(nsp_->name(), session_record(), true);
        else
            c->forget_session(pid_);
    } else if (auto* store = nsp_->recovery(); store && !pid_.empty() && recoverable(reason)) {
        adapter::persisted_session session;
        session.sid = id_;
        session.pid = pid_;
        session.rooms = nsp_->adapter().rooms_of(id_);
        session.first_seq = first_seq_;
        store->persist(std::move(session));
    }
    nsp_->adapter().remove(id_);

    std::unordered_map<std::uint64_t, pending_ack> pending;
    std::vector<disconnect_handler> handlers;
    {
        std::lock_guard lock(mutex_);
        pending.swap(pending_acks_);
        handlers.swap(disconnect_handlers_);
        early_packets_.clear();
        // Handlers often capture the socket itself; dropping them breaks that cycle, so a
        // disconnected socket is freed once the application lets go of it.
        handlers_.clear();
        any_handlers_.clear();
        any_ack_handlers_.clear();
    }
    const std::string why(reason);
    for (auto& h : handlers) guarded("a disconnect handler", {}, [&] { h(why); });
    // Pending acknowledgements can no longer arrive: settle them instead of leaking them.
    for (auto& entry : pending) {
        auto& a = entry.second;  // not a structured binding: clang 14 cannot capture one
        cancel_timer(timer_executor_, a.timer);
        guarded("the acknowledgement callback (disconnected)", {}, [&] { a.callback(socket_errc::disconnected, json()); });
    }
}

}  // namespace sio
