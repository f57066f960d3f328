// The admin state behind admin_server (see admin.hpp): admin_impl, whose protocol and live feed are
// in admin.cpp and whose full views (all_sockets, server_stats) are in admin_snapshot.cpp.
#pragma once

#include "admin.hpp"
#include "admin_auth.hpp"
#include "admin_json.hpp"

#include <sio/namespace.hpp>
#include <sio/socket.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sio::serve::admin_detail {

namespace asio = boost::asio;
using admin_json::epoch_ms;
using admin_json::iso_time;
using admin_json::remote_socket;
using admin_json::set_admin_data;
using admin_json::wall_clock;

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

struct engine_counters {
    std::uint64_t packets_in = 0, packets_out = 0, bytes_in = 0, bytes_out = 0;
};

class admin_impl final : public admin_server, public std::enable_shared_from_this<admin_impl> {
public:
    explicit admin_impl(config c);

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
    json serialize(const sio::socket& s, const std::string& transport, std::vector<std::string> rooms) const {
        return admin_json::local_socket(s, transport, std::move(rooms), cfg_.engine_path, cfg_.tls);
    }
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
    // sid -> its sockets, shown or not: whose socket_updated and data._admin follow an upgrade.
    struct session_socket {
        socket_key key;
        std::weak_ptr<sio::socket> socket;
    };
    std::unordered_map<std::string, std::vector<session_socket>> sockets_of_;
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

}  // namespace sio::serve::admin_detail
