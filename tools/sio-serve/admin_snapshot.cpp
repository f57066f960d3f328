// The admin clients' full views (see admin_impl.hpp): all_sockets, with this server's shown
// sockets and, with --redis, the other servers' (fetchSockets), and server_stats with its
// aggregated events; and the count of the cluster's admin clients, which opens the event log.
#include "admin_impl.hpp"

#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <exception>

namespace sio::serve::admin_detail {

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

void admin_impl::all_sockets(std::function<void(json)> done) {
    // When this server's own sockets fill the list, nothing is asked of the cluster: each server's
    // fetchSockets answer carries every socket it has (megabytes at tens of thousands: parsed here,
    // and built and sent by each server), of which none would be listed.
    if (!cluster_ || shown_.size() >= max_sockets_) return done(snapshot());
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

}  // namespace sio::serve::admin_detail
