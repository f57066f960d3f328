// The Admin UI protocol (see admin.hpp): the admin namespace, its authentication, the live feed
// and the operations.
#include "admin_impl.hpp"

#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <exception>

namespace sio::serve {
namespace admin_detail {
namespace {

std::string host_name() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) return "sio-serve";
    return buf.data();
}

const std::string* string_at(const json& args, std::size_t i) {
    if (!args.is_array() || args.size() <= i || !args[i].is_string()) return nullptr;
    return &args[i].get_ref<const std::string&>();
}

// The optional filter (a socket id or a room) of an operation: absent, null or "" mean none;
// false when it is there but not a string.
bool filter_at(const json& args, std::size_t i, std::string& out) {
    out.clear();
    if (!args.is_array() || args.size() <= i || args[i].is_null()) return true;
    if (!args[i].is_string()) return false;
    out = args[i].get<std::string>();
    return true;
}

// [event, args...] as the event log carries an event.
json event_array(std::string_view event, const json& args) {
    json all = json::array({std::string(event)});
    for (const auto& a : args) all.push_back(a);
    return all;
}

}  // namespace

admin_impl::admin_impl(config c)
    : cfg_(std::move(c)), dev_(cfg_.options.mode == "development"), timer_(cfg_.home), flush_timer_(cfg_.home),
      started_(std::chrono::steady_clock::now()), hostname_(host_name()) {
    if (!cfg_.options.read_only) features_ = {"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"};
    features_.emplace_back("AGGREGATED_EVENTS");
    if (dev_) features_.emplace_back("ALL_EVENTS");
    if (!cfg_.options.auth.empty()) auth_.emplace(cfg_.options.auth);
    max_sockets_ = cfg_.options.max_sockets;
}

void admin_impl::attach(const std::shared_ptr<sio::server>& io, const std::vector<std::string>& namespaces) {
    io_ = io;
    cluster_ = io->cluster();
    server_id_ = cluster_ ? fmt::format("{}#{}", hostname_, ::getpid()) : hostname_;
    io->of(cfg_.options.nsp);
    admin_nsp_ = io->find(cfg_.options.nsp);
    std::weak_ptr<admin_impl> weak = shared_from_this();
    if (auth_) {
        admin_nsp_->use([weak](const std::shared_ptr<sio::socket>& s, sio::next_fn next) {
            auto self = weak.lock();
            if (self && self->auth_->admits(s->handshake().auth)) return next(std::nullopt);
            next(sio::connect_error{"invalid credentials", std::nullopt});
        });
        cfg_.log(fmt::format("admin: basic authentication on {} (user {})", cfg_.options.nsp, auth_->user()));
    } else {
        cfg_.warn(fmt::format("admin: the Admin UI namespace {} is OPEN: anyone who reaches this port can watch "
                              "every socket{}; use --admin-auth USER:BCRYPT_HASH",
                              cfg_.options.nsp, cfg_.options.read_only ? "" : " and disconnect it"));
    }
    admin_nsp_->on_connection([weak](const std::shared_ptr<sio::socket>& s) {
        if (auto self = weak.lock()) self->on_admin(s);
    });
    for (const auto& name : namespaces) {
        if (name == cfg_.options.nsp) continue;
        if (auto nsp = io->find(name)) watch(nsp);
    }
    watch(admin_nsp_);
    last_ = {};
    asio::post(cfg_.home, [weak] {
        if (auto self = weak.lock()) self->schedule_stats();
    });
}

void admin_impl::watch(const std::shared_ptr<sio::namespace_>& nsp) {
    watched_.push_back(nsp);
    std::weak_ptr<admin_impl> weak = shared_from_this();
    nsp->on_connection([weak](const std::shared_ptr<sio::socket>& s) {
        if (auto self = weak.lock()) self->on_socket(s);
    });
    nsp->adapter().set_room_listener([weak, name = nsp->name()](std::string_view id, std::string_view room, bool joined) {
        auto self = weak.lock();
        if (!self) return;
        self->push([name, id = std::string(id), room = std::string(room), joined, at = wall_clock::now()](admin_impl& me) {
            me.room_changed({name, id}, room, joined, at);
        });
    });
}

// The event log's hooks go in when the first admin client shows up (here, or with --redis on any
// server), so that on a server nobody has watched an event runs no hook at all; after that, the
// gate is shut while no admin client is connected. Any thread.
void admin_impl::arm_event_log() {
    if (!dev_ || armed_.load()) return;
    std::lock_guard lock(hook_mutex_);
    if (armed_.load()) return;
    armed_.store(true);  // a socket that connects from now on hooks itself (on_socket)
    std::weak_ptr<admin_impl> weak = shared_from_this();
    for (const auto& nsp : watched_) {
        if (nsp == admin_nsp_) continue;
        nsp->on_outgoing([weak, gate = gate_](const sio::socket& s, std::string_view event, const json& args) {
            if (!gate->admit()) return;
            if (auto self = weak.lock()) self->report_event("event_sent", s.nsp().name(), s.id(), event_array(event, args));
        });
        for (const auto& s : nsp->sockets()) hook_locked(s);
    }
}

// Under hook_mutex_: the socket's on_any for the event log, once.
void admin_impl::hook_locked(const std::shared_ptr<sio::socket>& s) {
    if (!s->connected() || !hooked_.insert(s.get()).second) return;
    // One pointer in the handler: the socket copies its handlers on every event.
    struct watched_socket {
        std::weak_ptr<admin_impl> admin;
        std::shared_ptr<event_gate> gate;
        std::string nsp, id;
    };
    s->on_any([w = std::make_shared<const watched_socket>(watched_socket{weak_from_this(), gate_, s->nsp().name(), s->id()})](
                  const std::string& event, const json& args) {
        if (!w->gate->admit()) return;
        if (auto self = w->admin.lock()) self->report_event("event_received", w->nsp, w->id, event_array(event, args));
    });
}

// On the socket's own loop, as its namespace's connection handler.
void admin_impl::on_socket(const std::shared_ptr<sio::socket>& s) {
    std::weak_ptr<admin_impl> weak = shared_from_this();
    const std::string nsp = s->nsp().name();
    const std::string id = s->id();
    const std::string sid = s->handshake().session_id;
    // In a cluster, the other servers' admin feeds (Node's and ours) read a socket's client id and
    // transport from its data, as an instrumented Node server keeps them.
    if (cluster_ && admin_nsp_.get() != &s->nsp()) set_admin_data(*s, s->handshake().transport);
    const bool logged = dev_ && admin_nsp_.get() != &s->nsp();
    if (logged && armed_.load()) {
        std::lock_guard lock(hook_mutex_);
        hook_locked(s);
    }
    s->on_disconnect([weak, nsp, id, sid, logged, raw = s.get()](const std::string& reason) {
        auto self = weak.lock();
        if (!self) return;
        if (logged) {
            std::lock_guard lock(self->hook_mutex_);
            self->hooked_.erase(raw);
        }
        self->push([nsp, id, sid, reason, at = wall_clock::now()](admin_impl& me) {
            if (auto it = me.sockets_of_.find(sid); it != me.sockets_of_.end()) {
                std::erase_if(it->second, [&](const session_socket& e) { return e.key == socket_key{nsp, id}; });
                if (it->second.empty()) me.sockets_of_.erase(it);
            }
            me.socket_disconnected({nsp, id}, reason, at);
        });
    });
    // The rooms now: the joins after this point come as room_joined.
    push([s, rooms = s->rooms(), sid, at = wall_clock::now()](admin_impl& me) mutable {
        me.sockets_of_[sid].push_back({{s->nsp().name(), s->id()}, s});
        // Upgraded before its connect was drained: its data says so now.
        if (me.cluster_ && me.admin_nsp_.get() != &s->nsp() && s->handshake().transport != "websocket" &&
            me.transport_of(*s) == "websocket")
            set_admin_data(*s, "websocket");
        me.socket_connected(s, std::move(rooms), at);
    });
}

void admin_impl::on_admin(const std::shared_ptr<sio::socket>& s) {
    if (auth_) {
        if (auto session = auth_->new_session_unless_known(s->handshake().auth)) s->emit("session", json::array({*session}));
    }
    register_operations(s);
    arm_event_log();
    gate_->listening.store(true, std::memory_order_relaxed);
    s->emit("config", json::array({json{{"supportedFeatures", features_}}}));
    cfg_.log(fmt::format("admin: {} connected to {} from {}", s->id(), cfg_.options.nsp, s->handshake().address));
    // The snapshot goes out with the next tick, after that tick's live events.
    push([weak_socket = std::weak_ptr<sio::socket>(s)](admin_impl& me) {
        me.new_admins_.push_back(weak_socket);
        me.arm_flush();
    });
}

void admin_impl::register_operations(const std::shared_ptr<sio::socket>& s) {
    std::weak_ptr<admin_impl> weak = shared_from_this();
    for (const char* op : {"join", "leave", "_disconnect", "emit"}) {
        s->on(op, [weak, op](json args, sio::ack_fn) {
            if (auto self = weak.lock()) self->operate(op, args);
        });
    }
}

// join (nsp, room, filter?), leave (nsp, room, filter?), _disconnect (nsp, close, filter?),
// emit (nsp, filter?, event, args...): the filter is a socket id or a room; none means the whole
// namespace, as the reference's socketsJoin, socketsLeave, disconnectSockets and emit.
void admin_impl::operate(std::string_view op, const json& args) {
    if (cfg_.options.read_only) return refuse(op, "the server is read-only (--admin-read-only)");
    auto io = io_.lock();
    const std::string* nsp_name = string_at(args, 0);
    if (!io || !nsp_name) return refuse(op, "the first argument must be a namespace name");
    auto nsp = io->find(*nsp_name);
    if (!nsp) return refuse(op, fmt::format("no namespace {}", *nsp_name));
    std::string filter;
    const std::size_t filter_index = op == "emit" ? 1 : 2;
    if (!filter_at(args, filter_index, filter)) return refuse(op, "the filter must be a socket id or a room name");
    adapter::broadcast_options targets;
    if (!filter.empty()) targets.rooms.insert(filter);
    const sio::broadcast_operator to(nsp, std::move(targets));
    if (op == "join" || op == "leave") {
        const std::string* room = string_at(args, 1);
        if (!room || room->empty()) return refuse(op, "the second argument must be a room name");
        cfg_.log(fmt::format("admin: {} room {} of {} for {}", op, *room, *nsp_name, filter.empty() ? "every socket" : filter));
        if (op == "join") to.sockets_join(*room);
        else to.sockets_leave(*room);
        return;
    }
    if (op == "_disconnect") {
        if (args.size() < 2 || !args[1].is_boolean())
            return refuse(op, "the second argument must be true or false (close)");
        cfg_.log(fmt::format("admin: disconnect {} of {}", filter.empty() ? "every socket" : filter, *nsp_name));
        to.disconnect_sockets(args[1].get<bool>());
        return;
    }
    const std::string* event = string_at(args, 2);
    if (!event) return refuse(op, "the third argument must be an event name");
    json rest = json::array();
    for (std::size_t i = 3; i < args.size(); ++i) rest.push_back(args[i]);
    if (auto ec = to.emit(*event, std::move(rest))) refuse(op, ec.message());
}

void admin_impl::on_engine(engine::server_event::kind type, const std::string& sid, const std::string& transport,
                           const std::string& reason) {
    using k = engine::server_event::kind;
    if (type == k::session_open) {
        transport_of_[sid] = transport.empty() ? "polling" : transport;
        aggregate("rawConnection", {}, 1);
    } else if (type == k::session_upgrade) {
        transport_of_[sid] = "websocket";
        if (auto it = sockets_of_.find(sid); it != sockets_of_.end()) {
            for (const auto& [key, weak] : it->second) {
                // Every socket's data, so that the other servers see the upgrade of one past max_sockets too.
                if (auto socket = weak.lock(); socket && cluster_ && admin_nsp_.get() != &socket->nsp())
                    set_admin_data(*socket, "websocket");
                if (!shown_.contains(key)) continue;
                // Sent as its own event even right after socket_connected, as the reference does; gone
                // with it if the socket leaves within the tick.
                if (auto p = pending_connect_.find(key); p != pending_connect_.end()) p->second.push_back(outbox_.size());
                queue("socket_updated", json::array({json{{"id", key.second}, {"nsp", key.first}, {"transport", "websocket"}}}));
            }
        }
    } else {
        transport_of_.erase(sid);
        sockets_of_.erase(sid);
        aggregate("rawDisconnection", reason, 1);
    }
}

// A new socket: shown if there is room, its socket_connected queued for the next tick.
void admin_impl::socket_connected(const std::shared_ptr<sio::socket>& s, std::vector<std::string> rooms,
                                  wall_clock::time_point at) {
    socket_key key{s->nsp().name(), s->id()};
    if (auto it = shown_.find(key); it != shown_.end()) return;  // a refill found it first
    if (shown_.size() >= max_sockets_) return;                    // counted in server_stats only
    shown_.emplace(key, s);
    pending_connect_[key] = {outbox_.size()};
    queue("socket_connected", json::array({serialize(*s, transport_of(*s), std::move(rooms)), iso_time(at)}));
}

void admin_impl::socket_disconnected(const socket_key& key, const std::string& reason, wall_clock::time_point at) {
    auto it = shown_.find(key);
    if (it == shown_.end()) return;
    shown_.erase(it);
    refill_ = true;
    if (auto p = pending_connect_.find(key); p != pending_connect_.end()) {
        for (auto i : p->second) outbox_[i].alive = false;  // came and went unseen: never sent
        const bool seen = outbox_[p->second.front()].in_snapshot;
        pending_connect_.erase(p);
        ++coalesced_;
        if (!seen) return;
    }
    queue("socket_disconnected", json::array({key.first, key.second, reason, iso_time(at)}));
}

void admin_impl::room_changed(const socket_key& key, const std::string& room, bool joined, wall_clock::time_point at) {
    if (!shown_.contains(key)) return;
    if (auto p = pending_connect_.find(key); p != pending_connect_.end()) {
        json& rooms = outbox_[p->second.front()].args[0]["rooms"];
        auto found = std::find(rooms.begin(), rooms.end(), room);
        if (joined && found == rooms.end()) rooms.push_back(room);
        if (!joined && found != rooms.end()) rooms.erase(found);
        return;
    }
    queue(joined ? "room_joined" : "room_left", json::array({key.first, room, key.second, iso_time(at)}));
}

void admin_impl::report_event(const char* kind, std::string nsp, std::string id, json all) {
    push([kind, nsp = std::move(nsp), id = std::move(id), all = std::move(all), at = wall_clock::now()](admin_impl& me) mutable {
        me.queue(kind, json::array({std::move(nsp), std::move(id), std::move(all), iso_time(at)}));
    });
}

void admin_impl::arm_flush() {
    if (flush_armed_ || stopped_) return;
    flush_armed_ = true;
    flush_timer_.expires_after(flush_interval);
    flush_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (!self) return;
        self->flush_armed_ = false;
        if (ec || self->stopped_) return;
        try {
            self->flush();
        } catch (const std::exception& e) {
            self->cfg_.log(fmt::format("admin: a tick failed: {}", e.what()));
        }
    });
}

// Shown sockets left: sockets beyond the limit take their places.
void admin_impl::refill() {
    refill_ = false;
    std::size_t total = 0;
    for (const auto& nsp : watched_) total += nsp->socket_count();
    if (shown_.size() >= max_sockets_ || total <= shown_.size()) return;
    for (const auto& nsp : watched_) {
        for (const auto& s : nsp->sockets()) {
            if (shown_.size() >= max_sockets_) return;
            if (!s->connected() || shown_.contains({nsp->name(), s->id()})) continue;
            socket_connected(s, s->rooms(), wall_clock::now());
        }
    }
}

void admin_impl::flush() {
    if (refill_) refill();
    std::size_t updates = 0;
    for (const auto& o : outbox_) updates += o.alive ? 1 : 0;
    if (const auto taken = gate_->taken.exchange(0, std::memory_order_relaxed); taken > max_log_events_per_tick) {
        cfg_.log(fmt::format("admin: {} events left out of the event log (over {} a tick)",
                             taken - max_log_events_per_tick, max_log_events_per_tick));
    }
    const bool resync = updates > max_updates_per_tick;
    if (resync) {
        // More than the UI can take in one tick: one snapshot instead (it replaces the UI's list).
        outbox_.clear();
        pending_connect_.clear();
    } else {
        // A new socket waits one tick more before it is announced, so that one that lives less than
        // a tick or two (a page load, a reconnect) is never sent.
        std::vector<outgoing> held;
        std::map<socket_key, std::vector<std::size_t>> still_pending;
        for (auto& [key, indices] : pending_connect_) {
            if (!outbox_[indices.front()].young) continue;
            auto& moved = still_pending[key];
            for (auto i : indices) {
                moved.push_back(held.size());
                held.push_back(std::move(outbox_[i]));
                held.back().young = false;
                outbox_[i].alive = false;
            }
        }
        for (auto& o : outbox_) {
            if (o.alive) emit_all(o.event, std::move(o.args));
        }
        outbox_ = std::move(held);
        pending_connect_ = std::move(still_pending);
        if (!outbox_.empty()) arm_flush();
    }
    auto admins = std::exchange(new_admins_, {});
    if (!resync && admins.empty()) return;
    all_sockets([this, admins = std::move(admins), resync, updates](json all) {
        if (resync) {
            if (resyncs_++ % 100 == 0)
                cfg_.log(fmt::format("admin: {} updates in one tick sent as all_sockets ({} sockets; {} sockets "
                                     "came and went unseen so far)", updates, all.size(), coalesced_));
            emit_all("all_sockets", json::array({all}));
        }
        for (const auto& weak : admins) {
            auto socket = weak.lock();
            if (!socket) continue;
            socket->emit("server_stats", json::array({stats(false)}));
            if (!resync) socket->emit("all_sockets", json::array({all}));
        }
    });
}

}  // namespace admin_detail

std::shared_ptr<admin_server> admin_server::create(config c) {
    return std::make_shared<admin_detail::admin_impl>(std::move(c));
}

}  // namespace sio::serve
