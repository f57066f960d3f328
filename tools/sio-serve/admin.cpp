// The Admin UI protocol (see admin.hpp): the admin namespace, its authentication, the live feed
// and the operations.
#include "admin.hpp"
#include "admin_auth.hpp"

#include <sio/namespace.hpp>
#include <sio/socket.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace sio::serve {
namespace {

// Keeps a socket's client id and transport in its data (`_admin`), where other servers of the
// cluster read them, as an instrumented Node server does; what else the data holds stays.
void set_admin_data(sio::socket& s, const std::string& transport) {
    json data = s.data();
    if (!data.is_object()) data = json::object();
    data["_admin"] = {{"clientId", s.handshake().session_id.substr(0, 12)},
                      {"transport", transport.empty() ? "polling" : transport}};
    s.set_data(std::move(data));
}

namespace asio = boost::asio;
using wall_clock = std::chrono::system_clock;

constexpr std::chrono::seconds stats_interval{2};  // as the reference
// The live feed goes out once per tick: what happened within a tick is coalesced (a new socket is
// held one tick before its socket_connected, which carries its rooms by then; one that leaves
// before is never sent), and a tick sends at most max_updates_per_tick socket and room events
// (8,000 a second per admin client); past that, one all_sockets replaces them.
constexpr std::chrono::milliseconds flush_interval{250};
constexpr std::size_t max_updates_per_tick = 2000;
// The event log (development mode): at most this many event_received/event_sent a tick, the rest
// counted and dropped (the UI keeps the last 1,000 anyway).
constexpr std::size_t max_log_events_per_tick = 100;

std::int64_t epoch_ms(wall_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// A JavaScript Date as JSON.stringify writes it: 2026-12-07T00:12:31.123Z.
std::string iso_time(wall_clock::time_point t) {
    const auto ms = epoch_ms(t);
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

// A Date's toString(), which the reference puts in handshake.time, in UTC.
std::string date_string(wall_clock::time_point t) {
    static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t secs = wall_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{} {} {:02} {:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)", days.at(tm.tm_wday),
                       months.at(tm.tm_mon), tm.tm_mday, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

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

// Whether the event log is wanted, read on every event of every watched socket: a load when no
// admin client listens, one more atomic add when one does, and nothing built past the tick's cap.
struct event_gate {
    std::atomic<bool> listening{false};
    std::atomic<std::size_t> taken{0};  // event reports this tick (reset by the flush)

    bool admit() {
        if (!listening.load(std::memory_order_relaxed)) return false;
        return taken.fetch_add(1, std::memory_order_relaxed) < max_log_events_per_tick;
    }
};

// [event, args...] as the event log carries an event.
json event_array(std::string_view event, const json& args) {
    json all = json::array({std::string(event)});
    for (const auto& a : args) all.push_back(a);
    return all;
}

struct engine_counters {
    std::uint64_t packets_in = 0, packets_out = 0, bytes_in = 0, bytes_out = 0;
};

class admin_impl final : public admin_server, public std::enable_shared_from_this<admin_impl> {
public:
    explicit admin_impl(config c)
        : cfg_(std::move(c)), dev_(cfg_.options.mode == "development"), timer_(cfg_.home), flush_timer_(cfg_.home),
          started_(std::chrono::steady_clock::now()), hostname_(host_name()) {
        if (!cfg_.options.read_only) features_ = {"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"};
        features_.emplace_back("AGGREGATED_EVENTS");
        if (dev_) features_.emplace_back("ALL_EVENTS");
        if (!cfg_.options.auth.empty()) auth_.emplace(cfg_.options.auth);
        max_sockets_ = cfg_.options.max_sockets;
    }

    void engine_event(const engine::server_event& e) override {
        using k = engine::server_event::kind;
        if (e.type != k::session_open && e.type != k::session_upgrade && e.type != k::session_close) return;
        push([type = e.type, sid = std::string(e.sid), transport = std::string(e.transport),
              reason = std::string(e.reason)](admin_impl& self) { self.on_engine(type, sid, transport, reason); });
    }

    void attach(const std::shared_ptr<sio::server>& io, const std::vector<std::string>& namespaces) override;

    void stop() override {
        stopped_ = true;
        asio::post(cfg_.home, [self = shared_from_this()] {
            self->timer_.cancel();
            self->flush_timer_.cancel();
        });
    }

private:
    using task = std::function<void(admin_impl&)>;

    // --- the feed: reports from any thread, run in order on the home loop ---
    void push(task t) {
        bool post = false;
        {
            std::lock_guard lock(feed_mutex_);
            feed_.push_back(std::move(t));
            post = !drain_posted_;
            drain_posted_ = true;
        }
        if (post) asio::post(cfg_.home, [weak = weak_from_this()] {
            if (auto self = weak.lock()) self->drain();
        });
    }

    void drain() {
        std::vector<task> batch;
        {
            std::lock_guard lock(feed_mutex_);
            batch.swap(feed_);
            drain_posted_ = false;
        }
        for (auto& t : batch) {
            try {
                t(*this);
            } catch (const std::exception& e) {
                cfg_.log(fmt::format("admin: a report failed: {}", e.what()));
            }
        }
    }

    // To every admin client: with --redis, those of every server of the cluster (the Node servers'
    // instrument() emits to the admin namespace through the adapter alike, so one UI shows them all).
    void emit_all(std::string_view event, json args) {
        if (!admin_nsp_) return;
        const sio::broadcast_operator everyone(admin_nsp_, {});
        (cluster_ ? everyone : everyone.local()).emit(event, std::move(args));
    }

    // --- the outbox: what the next tick sends, coalesced (home loop) ---
    using socket_key = std::pair<std::string, std::string>;  // namespace, socket id
    struct outgoing {
        std::string event;
        json args;
        bool alive = true;  // false: cancelled (a socket that came and went unseen)
        bool young = true;  // a socket_connected (or its socket_updated) not yet held over a tick
        bool in_snapshot = false;  // a socket_connected whose socket an all_sockets has carried
    };
    void queue(std::string event, json args) {
        outbox_.push_back({std::move(event), std::move(args)});
        arm_flush();
    }
    void arm_flush();
    void flush();
    json snapshot();
    // Calls `done` on the home loop with the list all_sockets carries: this server's shown sockets,
    // then, with --redis, the other servers' (fetchSockets on every watched namespace), at most
    // max_sockets in all.
    void all_sockets(std::function<void(json)> done);
    void add_remote(json& all, const std::string& nsp_name, const json& list) const;
    void count_cluster_admins();
    void refill();
    void socket_connected(const std::shared_ptr<sio::socket>& s, std::vector<std::string> rooms, wall_clock::time_point at);
    void socket_disconnected(const socket_key& key, const std::string& reason, wall_clock::time_point at);
    void room_changed(const socket_key& key, const std::string& room, bool joined, wall_clock::time_point at);
    // An event for the log (development mode), admitted by gate_ on the socket's thread.
    void report_event(const char* kind, std::string nsp, std::string id, json all);

    // --- home-loop state ---
    void on_engine(engine::server_event::kind type, const std::string& sid, const std::string& transport,
                   const std::string& reason);
    std::string transport_of(const sio::socket& s) const {
        auto it = transport_of_.find(s.handshake().session_id);
        return it != transport_of_.end() ? it->second : s.handshake().transport;
    }
    json serialize(const sio::socket& s, const std::string& transport, std::vector<std::string> rooms) const;
    json stats(bool with_aggregated);
    void aggregate(std::string type, std::string sub_type, std::uint64_t count);
    void schedule_stats();

    // --- the watched namespaces ---
    void watch(const std::shared_ptr<sio::namespace_>& nsp);
    void arm_event_log();
    void hook_locked(const std::shared_ptr<sio::socket>& s);
    void on_socket(const std::shared_ptr<sio::socket>& s);
    void on_admin(const std::shared_ptr<sio::socket>& s);
    void register_operations(const std::shared_ptr<sio::socket>& s);
    void operate(std::string_view op, const json& args);
    void refuse(std::string_view op, std::string_view why) const {
        cfg_.log(fmt::format("admin: '{}' refused: {}", op, why));
    }

    config cfg_;
    const bool dev_;
    std::vector<std::string> features_;
    std::optional<admin_auth> auth_;
    const std::shared_ptr<event_gate> gate_ = std::make_shared<event_gate>();
    std::atomic<bool> armed_{false};  // the event log's hooks are in (arm_event_log)
    std::mutex hook_mutex_;
    std::unordered_set<const sio::socket*> hooked_;  // the connected sockets with their on_any

    std::mutex feed_mutex_;
    std::vector<task> feed_;
    bool drain_posted_ = false;

    std::weak_ptr<sio::server> io_;
    std::shared_ptr<sio::namespace_> admin_nsp_;
    std::vector<std::shared_ptr<sio::namespace_>> watched_;
    asio::steady_timer timer_;
    asio::steady_timer flush_timer_;
    std::atomic<bool> stopped_{false};
    const std::chrono::steady_clock::time_point started_;
    const std::string hostname_;
    std::string server_id_;  // server_stats' serverId: the host name, or name#pid in a cluster
    std::shared_ptr<adapter::redis::cluster> cluster_;  // --redis
    std::size_t cluster_admins_ = 0;  // admin clients of the whole cluster, at the last count

    // Home loop only.
    std::unordered_map<std::string, std::string> transport_of_;  // sid -> transport, once known
    // sid -> (namespace, socket id) of its sockets: who is updated when the session upgrades.
    std::unordered_map<std::string, std::vector<std::pair<std::string, std::string>>> sockets_of_;
    std::map<std::tuple<std::int64_t, std::string, std::string>, std::uint64_t> aggregated_;
    engine_counters last_;

    // The sockets the admin clients have been told of (at most max_sockets): the snapshot is these,
    // and the live events are about these only. The others are in server_stats' counts.
    std::size_t max_sockets_ = 1000;
    std::map<socket_key, std::weak_ptr<sio::socket>> shown_;
    bool refill_ = false;  // a shown socket left while others may be waiting for its place
    std::vector<outgoing> outbox_;
    // The sockets whose socket_connected is in outbox_, not sent yet: its index, then their socket_updated.
    std::map<socket_key, std::vector<std::size_t>> pending_connect_;
    std::vector<std::weak_ptr<sio::socket>> new_admins_;  // get server_stats and all_sockets next tick
    bool flush_armed_ = false;
    std::uint64_t coalesced_ = 0, resyncs_ = 0;
};

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
                std::erase(it->second, std::make_pair(nsp, id));
                if (it->second.empty()) me.sockets_of_.erase(it);
            }
            me.socket_disconnected({nsp, id}, reason, at);
        });
    });
    // The rooms now: the joins after this point come as room_joined.
    push([s, rooms = s->rooms(), sid, at = wall_clock::now()](admin_impl& me) mutable {
        me.sockets_of_[sid].emplace_back(s->nsp().name(), s->id());
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
            for (const auto& key : it->second) {
                const auto shown = shown_.find(key);
                if (shown == shown_.end()) continue;
                if (auto socket = shown->second.lock(); socket && cluster_) set_admin_data(*socket, "websocket");
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

// The shown sockets, as all_sockets carries them. The ones not yet announced are then announced
// to the new admin client as well (the UI ignores a socket it has), and their leaving is sent.
json admin_impl::snapshot() {
    json all = json::array();
    for (const auto& [key, indices] : pending_connect_) outbox_[indices.front()].in_snapshot = true;
    for (const auto& [key, weak] : shown_) {
        if (auto s = weak.lock()) all.push_back(serialize(*s, transport_of(*s), s->rooms()));
    }
    return all;
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

// A socket as another server's fetchSockets answer describes it ({id, handshake, rooms, data}), in
// the form all_sockets carries. A Node server instrumented by the Admin UI keeps the client id and
// the transport in data._admin; a sio-serve's answer has only the handshake's query to tell the
// transport it opened with.
json remote_socket(const std::string& nsp, const json& d) {
    json data = d.contains("data") && d["data"].is_object() ? d["data"] : json::object();
    json out = {{"id", d.at("id").get<std::string>()}, {"nsp", nsp}};
    const json handshake_in = d.contains("handshake") && d["handshake"].is_object() ? d["handshake"] : json::object();
    if (auto admin = data.find("_admin"); admin != data.end()) {
        if (admin->is_object()) {
            if (auto c = admin->find("clientId"); c != admin->end() && c->is_string()) out["clientId"] = *c;
            if (auto t = admin->find("transport"); t != admin->end() && t->is_string()) out["transport"] = *t;
        }
        data.erase("_admin");
    }
    if (!out.contains("transport")) {
        auto q = handshake_in.find("query");
        if (q != handshake_in.end() && q->is_object() && q->contains("transport") && (*q)["transport"].is_string())
            out["transport"] = (*q)["transport"];
    }
    json handshake = json::object();
    for (const char* key : {"headers", "query", "issued", "secure", "time", "url", "xdomain", "address"}) {
        if (auto it = handshake_in.find(key); it != handshake_in.end()) handshake[key] = *it;
    }
    if (auto h = handshake_in.find("headers"); h != handshake_in.end() && h->is_object()) {
        for (const char* forwarded : {"x-forwarded-for", "cf-connecting-ip"}) {
            if (auto f = h->find(forwarded); f != h->end() && f->is_string() && !f->get_ref<const std::string&>().empty())
                handshake["address"] = *f;
        }
    }
    out["data"] = std::move(data);
    out["handshake"] = std::move(handshake);
    out["rooms"] = d.contains("rooms") && d["rooms"].is_array() ? d["rooms"] : json::array();
    return out;
}

void admin_impl::all_sockets(std::function<void(json)> done) {
    if (!cluster_) return done(snapshot());
    struct gathering {
        std::size_t waiting = 0;
        std::vector<std::pair<std::string, json>> answers;  // namespace, its sockets in the cluster
        std::function<void(json)> done;
    };
    auto g = std::make_shared<gathering>();
    g->waiting = watched_.size();
    g->done = std::move(done);
    std::weak_ptr<admin_impl> weak = shared_from_this();
    for (const auto& nsp : watched_) {
        cluster_->fetch_sockets(nsp->name(), {}, [weak, g, name = nsp->name(), home = cfg_.home](json sockets) {
            asio::post(home, [weak, g, name, sockets = std::move(sockets)]() mutable {
                auto self = weak.lock();
                if (!self) return;
                g->answers.emplace_back(name, std::move(sockets));
                if (--g->waiting != 0) return;
                // The local sockets as of now, so that what the ticks sent meanwhile is in it.
                json all = self->snapshot();
                for (const auto& [nsp_name, list] : g->answers) self->add_remote(all, nsp_name, list);
                g->done(std::move(all));
            });
        });
    }
}

// The sockets of `list` (a fetchSockets answer for namespace `nsp_name`) that are not this server's,
// while `all` is below max_sockets.
void admin_impl::add_remote(json& all, const std::string& nsp_name, const json& list) const {
    const auto io = io_.lock();
    const auto local = io ? io->find(nsp_name) : nullptr;
    if (!list.is_array()) return;
    for (const auto& d : list) {
        if (all.size() >= max_sockets_) return;
        try {
            if (local && local->adapter().contains(d.at("id").get_ref<const std::string&>())) continue;
            all.push_back(remote_socket(nsp_name, d));
        } catch (const std::exception& e) {
            cfg_.log(fmt::format("admin: a socket of another server left out: {}", e.what()));
        }
    }
}

// With --redis, the admin clients of every server count for the event log.
void admin_impl::count_cluster_admins() {
    cluster_->fetch_sockets(cfg_.options.nsp, {}, [weak = weak_from_this(), home = cfg_.home](json admins) {
        asio::post(home, [weak, n = admins.is_array() ? admins.size() : 0] {
            auto self = weak.lock();
            if (!self) return;
            self->cluster_admins_ = n;
            if (n != 0) self->arm_event_log();
            self->gate_->listening.store(n != 0 || self->admin_nsp_->socket_count() != 0, std::memory_order_relaxed);
        });
    });
}

json admin_impl::serialize(const sio::socket& s, const std::string& transport, std::vector<std::string> rooms) const {
    const auto& hs = s.handshake();
    json data = s.data();
    if (data.is_object()) data.erase("_admin");  // the feed's own, shown as clientId and transport
    auto header = [&](const char* name) -> const std::string* {
        auto it = hs.headers.find(name);
        return it != hs.headers.end() && !it->second.empty() ? &it->second : nullptr;
    };
    const std::string* forwarded = header("cf-connecting-ip");
    if (!forwarded) forwarded = header("x-forwarded-for");
    std::string url = cfg_.engine_path;
    char sep = '?';
    for (const auto& [key, value] : hs.query) {
        url += fmt::format("{}{}={}", sep, key, value);
        sep = '&';
    }
    json handshake = {
        {"address", forwarded ? *forwarded : hs.address},
        {"headers", hs.headers},
        {"query", hs.query},
        {"issued", epoch_ms(hs.time)},
        {"secure", cfg_.tls},
        {"time", date_string(hs.time)},
        {"url", std::move(url)},
        {"xdomain", header("origin") != nullptr},
    };
    return json{{"id", s.id()},
                {"clientId", hs.session_id.substr(0, 12)},
                {"transport", transport},
                {"nsp", s.nsp().name()},
                {"data", std::move(data)},
                {"handshake", std::move(handshake)},
                {"rooms", std::move(rooms)}};
}

void admin_impl::aggregate(std::string type, std::string sub_type, std::uint64_t count) {
    const auto second = epoch_ms(wall_clock::now()) / 1000 * 1000;
    aggregated_[{second, std::move(type), std::move(sub_type)}] += count;
}

json admin_impl::stats(bool with_aggregated) {
    auto io = io_.lock();
    json namespaces = json::array();
    for (const auto& nsp : watched_) namespaces.push_back({{"name", nsp->name()}, {"socketsCount", nsp->socket_count()}});
    json out = {
        {"serverId", server_id_},
        {"hostname", hostname_},
        {"pid", static_cast<long>(::getpid())},
        {"uptime", std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count()},
        {"clientsCount", io ? io->engine().session_count() : 0},
        {"pollingClientsCount", io ? std::max<std::int64_t>(0, engine::server_metrics::get(io->engine().metrics().polling_sessions)) : 0},
        {"namespaces", std::move(namespaces)},
    };
    if (!with_aggregated || !io) return out;
    const auto& m = io->engine().metrics();
    const engine_counters now{engine::server_metrics::get(m.packets_in), engine::server_metrics::get(m.packets_out),
                              engine::server_metrics::get(m.bytes_in), engine::server_metrics::get(m.bytes_out)};
    aggregate("packetsIn", {}, now.packets_in - last_.packets_in);
    aggregate("packetsOut", {}, now.packets_out - last_.packets_out);
    aggregate("bytesIn", {}, now.bytes_in - last_.bytes_in);
    aggregate("bytesOut", {}, now.bytes_out - last_.bytes_out);
    last_ = now;
    json events = json::array();
    for (const auto& [key, count] : aggregated_) {
        if (count == 0) continue;
        json e = {{"timestamp", std::get<0>(key)}, {"type", std::get<1>(key)}, {"count", count}};
        if (!std::get<2>(key).empty()) e["subType"] = std::get<2>(key);
        events.push_back(std::move(e));
    }
    aggregated_.clear();
    out["aggregatedEvents"] = std::move(events);
    return out;
}

void admin_impl::schedule_stats() {
    if (stopped_) return;
    if (last_.packets_in == 0 && last_.bytes_in == 0) {
        if (auto io = io_.lock()) {  // the first tick counts from now
            const auto& m = io->engine().metrics();
            last_ = {engine::server_metrics::get(m.packets_in), engine::server_metrics::get(m.packets_out),
                     engine::server_metrics::get(m.bytes_in), engine::server_metrics::get(m.bytes_out)};
        }
    }
    timer_.expires_after(stats_interval);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || self->stopped_) return;
        try {
            self->gate_->listening.store(self->admin_nsp_->socket_count() != 0 || self->cluster_admins_ != 0,
                                         std::memory_order_relaxed);
            if (self->cluster_) self->count_cluster_admins();
            self->emit_all("server_stats", json::array({self->stats(true)}));
        } catch (const std::exception& e) {
            self->cfg_.log(fmt::format("admin: server_stats failed: {}", e.what()));
        }
        self->schedule_stats();
    });
}

}  // namespace

std::shared_ptr<admin_server> admin_server::create(config c) { return std::make_shared<admin_impl>(std::move(c)); }

}  // namespace sio::serve
