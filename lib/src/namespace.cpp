#include "sio/namespace.hpp"

#include <algorithm>
#include <atomic>
#include <utility>

namespace sio {

namespace sp = codec::socketio;

// --- broadcast_operator ----------------------------------------------------------------------

broadcast_operator::broadcast_operator(std::shared_ptr<namespace_> nsp,
                                       adapter::broadcast_options options)
    : nsp_(std::move(nsp)), options_(std::move(options)) {}

broadcast_operator broadcast_operator::to(std::string room) const {
    auto copy = *this;
    copy.options_.rooms.insert(std::move(room));
    return copy;
}

broadcast_operator broadcast_operator::except(std::string room) const {
    auto copy = *this;
    copy.options_.except.insert(std::move(room));
    return copy;
}

broadcast_operator broadcast_operator::volatile_packet() const {
    auto copy = *this;
    copy.options_.flags.volatile_packet = true;
    return copy;
}

broadcast_operator broadcast_operator::local() const {
    auto copy = *this;
    copy.options_.flags.local = true;
    return copy;
}

std::error_code broadcast_operator::emit(std::string_view event, json args,
                                         std::size_t* reached) const {
    if (reached) *reached = 0;
    if (sp::is_reserved_event_name(event)) return socket_errc::reserved_event_name;
    if (!args.is_array()) return socket_errc::invalid_arguments;

    json data = json::array();
    data.push_back(std::string(event));
    for (auto& a : args) data.push_back(std::move(a));
    // In a cluster the other nodes get the packet as it was before any recovery offset.
    const auto cluster = options_.flags.local ? nullptr : nsp_->cluster();
    if (cluster && cluster->keeps_sessions() && nsp_->recovery() && !options_.flags.volatile_packet) {
        // Recovery across the cluster: the offset is the broadcast's place in the cluster's
        // stream, so this node delivers it when it reads it back from there.
        adapter::redis::wire_packet w;
        w.nsp = nsp_->name();
        w.data = data;
        if (cluster->publish_stored(std::move(w), options_)) {
            if (reached) *reached = nsp_->adapter().targets(options_).size();
            return {};
        }
        // Redis is down: delivered here only, with this process's offsets.
        const auto n = emit_prepared(std::move(data));
        if (reached) *reached = n;
        return {};
    }
    json published;
    if (cluster) published = data;
    const auto n = emit_prepared(std::move(data));
    if (reached) *reached = n;
    if (cluster) {
        adapter::redis::wire_packet w;
        w.nsp = nsp_->name();
        w.data = std::move(published);
        cluster->publish(std::move(w), options_);
    }
    return {};
}

std::size_t broadcast_operator::emit_prepared(json data) const {
    std::size_t n = 0;
    auto deliver = [&](json d) {
        // Encoded once; every target gets the same shared buffers.
        const auto f = nsp_->encode(sp::packet{sp::packet_type::event, nsp_->name(), std::nullopt, std::move(d)});
        n = nsp_->adapter().broadcast(f, options_);
    };
    auto* recovery = nsp_->recovery();
    if (recovery && !options_.flags.volatile_packet) {
        // Stored with an offset, so that a socket that drops and comes back gets it.
        recovery->broadcast(data, options_, [&](const json& d) { deliver(d); });
    } else {
        deliver(std::move(data));
    }
    return n;
}

std::vector<std::string> broadcast_operator::socket_ids() const {
    auto ids = nsp_->adapter().targets(options_);
    std::sort(ids.begin(), ids.end());
    return ids;
}

namespace {

void for_each_socket(const namespace_& nsp, const adapter::broadcast_options& options,
                     const std::function<void(socket&)>& fn) {
    nsp.adapter().for_each_target(options, [&](const std::shared_ptr<adapter::member>& m) {
        // Every member of a namespace's adapter is a socket.
        if (auto s = std::dynamic_pointer_cast<socket>(m)) fn(*s);
    });
}

}  // namespace

void broadcast_operator::sockets_join(std::string_view room) const {
    for_each_socket(*nsp_, options_, [&](socket& s) { s.join(room); });
    if (auto c = options_.flags.local ? nullptr : nsp_->cluster()) {
        c->remote_join(nsp_->name(), options_, {std::string(room)});
    }
}

void broadcast_operator::sockets_leave(std::string_view room) const {
    for_each_socket(*nsp_, options_, [&](socket& s) { s.leave(room); });
    if (auto c = options_.flags.local ? nullptr : nsp_->cluster()) {
        c->remote_leave(nsp_->name(), options_, {std::string(room)});
    }
}

void broadcast_operator::disconnect_sockets(bool close_underlying) const {
    for_each_socket(*nsp_, options_, [&](socket& s) { s.disconnect(close_underlying); });
    if (auto c = options_.flags.local ? nullptr : nsp_->cluster()) {
        c->remote_disconnect(nsp_->name(), options_, close_underlying);
    }
}

// --- namespace_ ------------------------------------------------------------------------------

namespace_::namespace_(passkey, std::string name) : name_(std::move(name)) {}

std::shared_ptr<namespace_> namespace_::create(std::string name, const adapter::recovery_options& recovery,
                                              sp::wire_parser parser) {
    auto nsp = std::make_shared<namespace_>(passkey{}, std::move(name));
    nsp->parser_ = parser;
    if (recovery.window.count() > 0) nsp->recovery_ = std::make_unique<adapter::recovery_store>(recovery);
    return nsp;
}

adapter::frame namespace_::encode(const sp::packet& p) const { return encode_frame(p, parser_); }

adapter::frame encode_frame(const sp::packet& p, sp::wire_parser parser) {
    adapter::frame f;
    if (parser == sp::wire_parser::msgpack) {
        f.text = std::make_shared<const std::string>(sp::encode_msgpack(p));
        f.binary = true;
        return f;
    }
    auto encoded = sp::encode(p);
    f.text = std::make_shared<const std::string>(std::move(encoded.text));
    f.attachments.reserve(encoded.attachments.size());
    for (auto& a : encoded.attachments) f.attachments.push_back(std::make_shared<const std::string>(std::move(a)));
    return f;
}

namespace_& namespace_::use(middleware mw) {
    std::lock_guard lock(mutex_);
    middleware_.push_back(std::move(mw));
    return *this;
}

namespace_& namespace_::on_connection(connection_handler handler) {
    std::lock_guard lock(mutex_);
    connection_handlers_.push_back(std::move(handler));
    return *this;
}

namespace_& namespace_::on_server_side_emit(server_side_handler handler) {
    std::lock_guard lock(mutex_);
    server_side_handlers_.push_back(std::move(handler));
    return *this;
}

void namespace_::notify_server_side_emit(json args, std::function<void(json)> ack) {
    std::vector<server_side_handler> handlers;
    {
        std::lock_guard lock(mutex_);
        handlers = server_side_handlers_;
    }
    for (auto& h : handlers) h(args, ack);
}

void namespace_::set_cluster(std::shared_ptr<adapter::redis::cluster> c) {
    // The cluster hears of each room created or deleted here (the sharded adapter's per-room
    // subscriptions; the other adapters ignore it).
    if (c) {
        adapter().set_room_watch([weak = std::weak_ptr(c), nsp = name()](std::string_view room, bool) {
            if (auto cl = weak.lock()) cl->room_changed(nsp, room);
        });
    } else {
        adapter().set_room_watch({});
    }
    std::lock_guard lock(mutex_);
    cluster_ = std::move(c);
}

std::shared_ptr<adapter::redis::cluster> namespace_::cluster() const {
    std::lock_guard lock(mutex_);
    return cluster_;
}

broadcast_operator namespace_::to(std::string room) {
    return broadcast_operator(shared_from_this(), {}).to(std::move(room));
}

broadcast_operator namespace_::except(std::string room) {
    return broadcast_operator(shared_from_this(), {}).except(std::move(room));
}

std::error_code namespace_::emit(std::string_view event, json args) {
    return broadcast_operator(shared_from_this(), {}).emit(event, std::move(args));
}

void namespace_::disconnect_sockets(bool close_underlying) {
    broadcast_operator(shared_from_this(), {}).disconnect_sockets(close_underlying);
}

namespace {

// One run of the middleware chain; `next` may be called from any thread, once per step.
struct middleware_chain : std::enable_shared_from_this<middleware_chain> {
    std::vector<middleware> steps;
    std::shared_ptr<socket> target;
    std::function<void(std::optional<connect_error>)> done;

    void run(std::size_t i) {
        if (i == steps.size()) {
            done(std::nullopt);
            return;
        }
        auto called = std::make_shared<std::atomic<bool>>(false);
        auto self = shared_from_this();
        steps[i](target, [self, i, called](std::optional<connect_error> err) {
            if (called->exchange(true)) return;
            if (err) {
                self->done(std::move(err));
                return;
            }
            self->run(i + 1);
        });
    }
};

}  // namespace

void namespace_::run_middleware(const std::shared_ptr<socket>& s,
                                std::function<void(std::optional<connect_error>)> done) {
    auto chain = std::make_shared<middleware_chain>();
    {
        std::lock_guard lock(mutex_);
        chain->steps = middleware_;
    }
    chain->target = s;
    chain->done = std::move(done);
    chain->run(0);
}

std::vector<std::shared_ptr<socket>> namespace_::sockets() const {
    std::vector<std::shared_ptr<socket>> out;
    out.reserve(adapter_.socket_count());
    adapter_.for_each_target({}, [&](const std::shared_ptr<adapter::member>& m) {
        if (auto s = std::dynamic_pointer_cast<socket>(m)) out.push_back(std::move(s));
    });
    return out;
}

namespace_& namespace_::on_outgoing(outgoing_handler handler) {
    std::lock_guard lock(mutex_);
    outgoing_handlers_.push_back(std::move(handler));
    has_outgoing_.store(true, std::memory_order_release);
    return *this;
}

void namespace_::notify_outgoing(const socket& s, std::string_view event, const json& args) const {
    if (!has_outgoing_.load(std::memory_order_acquire)) return;
    std::vector<outgoing_handler> handlers;
    {
        std::lock_guard lock(mutex_);
        handlers = outgoing_handlers_;
    }
    for (auto& h : handlers) h(s, event, args);
}

void namespace_::notify_connection(const std::shared_ptr<socket>& s) {
    std::vector<connection_handler> handlers;
    {
        std::lock_guard lock(mutex_);
        handlers = connection_handlers_;
    }
    for (auto& h : handlers) h(s);
}

}  // namespace sio
