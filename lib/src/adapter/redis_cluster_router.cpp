#include "redis_cluster_router.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace sio::adapter::redis::detail {

namespace {

// What the adapter holds as `cmd` or `sub`: every call goes to the router.
class router_face final : public resp_conn {
public:
    router_face(std::weak_ptr<shard_router> router, bool subscriber, strand_t strand, options opts, std::string role)
        : resp_conn(strand, std::move(opts), std::move(role)), router_(std::move(router)), subscriber_(subscriber) {}

    void start() override {
        if (auto r = router_.lock()) r->start();
    }
    void stop() override {
        if (auto r = router_.lock()) r->stop();
    }
    bool up() const noexcept override {
        auto r = router_.lock();
        return r && r->up(subscriber_);
    }
    bool send(const std::vector<std::string>& args, reply_fn done) override {
        auto r = router_.lock();
        if (!r) {
            if (done) done(nullptr);
            return false;
        }
        return r->send(subscriber_, args, std::move(done));
    }

private:
    std::weak_ptr<shard_router> router_;
    const bool subscriber_;
};

bool is(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) { return std::toupper(x) == std::toupper(y); });
}

}  // namespace

shard_router::shard_router(strand_t strand, options opts)
    : strand_(strand), opts_(std::move(opts)), refresh_timer_(strand), refresh_backoff_(opts_.backoff_min) {}

std::shared_ptr<resp_conn> shard_router::face(bool subscriber) {
    auto& f = subscriber ? sub_face_ : cmd_face_;
    if (!f) f = std::make_shared<router_face>(weak_from_this(), subscriber, strand_, opts_, subscriber ? "subscriber" : "commands");
    return f;
}

void shard_router::log(std::string_view what) const {
    if (opts_.log) opts_.log(what);
}

void shard_router::start() {
    if (started_ || stopped_) return;
    started_ = true;
    // The node of the URL, asked for the slot map once connected.
    links_to(slots::node{opts_.host, opts_.port}, false);
}

// Quietly: the adapter knows it stopped.
void shard_router::stop() {
    stopped_ = true;
    refresh_timer_.cancel();
    for (auto& [address, n] : nodes_) {
        if (n.cmd) n.cmd->stop();
        if (n.sub) n.sub->stop();
    }
    cmd_up_ = sub_up_ = false;
}

bool shard_router::up(bool subscriber) const noexcept { return subscriber ? sub_up_ : cmd_up_; }

shard_router::node_links& shard_router::links_to(const slots::node& where, bool with_sub) {
    const auto address = where.address();
    auto& n = nodes_[address];
    n.where = where;
    auto weak = weak_from_this();
    auto conn_options = opts_;
    conn_options.host = where.host;
    conn_options.port = where.port;
    if (!n.cmd) {
        n.cmd = std::make_shared<resp_conn>(strand_, conn_options, "commands");
        n.cmd->on_up = [weak, address] {
            if (auto s = weak.lock()) s->on_cmd_up(address);
        };
        n.cmd->on_down = [weak, address] {
            if (auto s = weak.lock()) s->on_link_down(address, false);
        };
        if (!stopped_) n.cmd->start();
    }
    if (with_sub && !n.sub) {
        n.sub = std::make_shared<resp_conn>(strand_, conn_options, "subscriber");
        n.sub->track_replies = false;
        n.sub->on_up = [weak, address] {
            if (auto s = weak.lock()) s->on_sub_up(address);
        };
        n.sub->on_down = [weak, address] {
            if (auto s = weak.lock()) s->on_link_down(address, true);
        };
        n.sub->on_push = [weak, address](const redisReply* r) {
            if (auto s = weak.lock()) s->on_sub_push(address, r);
        };
        if (!stopped_) n.sub->start();
    }
    return n;
}

void shard_router::drop_node(const std::string& address, bool quiet) {
    auto it = nodes_.find(address);
    if (it == nodes_.end()) return;
    auto& n = it->second;
    if (n.dropped)
        log(fmt::format("redis: {} message(s) for the slots of {} were dropped while it was unreachable", n.dropped, address));
    if (n.cmd) n.cmd->stop();
    if (n.sub) n.sub->stop();
    if (!quiet) log(fmt::format("redis: cluster node {} serves no slot now; its connections are closed", address));
    nodes_.erase(it);
}

void shard_router::on_cmd_up(const std::string& address) {
    auto it = nodes_.find(address);
    if (it == nodes_.end()) return;
    auto& n = it->second;
    n.reported_down = false;
    if (n.dropped) {
        log(fmt::format("redis: {} message(s) for the slots of {} were dropped while it was unreachable", n.dropped, address));
        n.dropped = 0;
    }
    if (!have_map_) refresh(true);
    update_state();
}

void shard_router::on_link_down(const std::string& address, bool subscriber) {
    auto it = nodes_.find(address);
    if (it == nodes_.end()) return;
    auto& n = it->second;
    if (subscriber) n.asked.clear();
    if (cluster_ && !n.reported_down) {
        n.reported_down = true;
        std::size_t waiting = 0;
        for (const auto& c : wanted_) {
            if (owner_of(c) == &n) ++waiting;
        }
        log(fmt::format("redis: cluster node {} is down ({} channel(s) subscribed there); refreshing the slot map",
                        address, waiting));
        refresh(true);
    }
    update_state();
}

void shard_router::on_sub_up(const std::string& address) {
    auto it = nodes_.find(address);
    if (it == nodes_.end()) return;
    it->second.asked.clear();
    const bool again = settled_;  // else the first subscriptions, which the adapter makes
    update_state();
    resubscribe(again);
}

void shard_router::on_sub_push(const std::string& address, const redisReply* r) {
    auto it = nodes_.find(address);
    if (it == nodes_.end() || !r) return;
    auto& n = it->second;
    if (r->type == REDIS_REPLY_ERROR) {
        const std::string_view text(r->str, r->len);
        if (auto to = slots::parse_redirect(text, n.where.host)) {
            // Subscribed again where it says, at once; the whole map is fetched again after the
            // backoff (a node asked too soon may not know of the move yet).
            log(fmt::format("redis: {} answered a subscription with {}; refreshing the slot map", address, text));
            for (auto c = n.asked.begin(); c != n.asked.end();)
                c = slots::key_slot(*c) == to->slot ? n.asked.erase(c) : std::next(c);
            if (have_map_) {
                map_.assign(to->slot, to->to);
                links_to(to->to, true);
                resubscribe(settled_);
            }
            refresh(false);
            return;
        }
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && is(str_of(r->element[0]), "sunsubscribe")) {
        const std::string channel(str_of(r->element[1]));
        n.asked.erase(channel);
        if (wanted_.count(channel)) {
            log(fmt::format("redis: {} ended the subscription to {} (its slot moved); refreshing the slot map", address,
                            channel));
            refresh(true);
        }
        return;
    }
    if (sub_face_ && sub_face_->on_push) sub_face_->on_push(r);
}

shard_router::node_links* shard_router::owner_of(std::string_view channel) {
    if (!have_map_) return nullptr;
    const auto* o = map_.owner(slots::key_slot(channel));
    if (!o) return nullptr;
    auto it = nodes_.find(o->address());
    return it == nodes_.end() ? nullptr : &it->second;
}

// Now, or after the backoff (doubling up to backoff_max while a slot's owner stays unreachable),
// from any node connected.
void shard_router::refresh(bool now) {
    if (stopped_ || refresh_pending_) return;
    refresh_pending_ = true;
    const auto delay = now ? std::chrono::milliseconds(0) : refresh_backoff_;
    if (!now) refresh_backoff_ = std::min(refresh_backoff_ * 2, opts_.backoff_max);
    refresh_timer_.expires_after(delay);
    refresh_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto s = weak.lock();
        if (!s || ec || s->stopped_) return;
        s->refresh_pending_ = false;
        for (auto& [address, n] : s->nodes_) {
            if (n.cmd && n.cmd->up()) {
                s->ask_slots(n);
                return;
            }
        }
        // Nobody connected: each connection retries on its own; ask again later.
        if (s->have_map_) s->refresh(false);
    });
}

// The first time, INFO cluster says whether this is a cluster at all (a single Redis refuses
// CLUSTER SLOTS with an error); then CLUSTER SLOTS.
void shard_router::ask_slots(node_links& from) {
    refresh_pending_ = true;
    const auto address = from.where.address();
    const auto where = from.where;
    auto weak = weak_from_this();
    auto on_slots = [weak, address, where](const redisReply* r) {
        auto s = weak.lock();
        if (!s || s->stopped_) return;
        s->refresh_pending_ = false;
        if (!r) {
            s->refresh(false);
            return;
        }
        auto m = slots::parse_cluster_slots(r, where.host);
        if (!m) {
            s->log(fmt::format("redis: no slot map from {}: {}", address,
                               r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : m.err().reason));
            s->refresh(false);
            return;
        }
        s->apply(std::move(*m), true);
    };
    if (have_map_) {
        from.cmd->send({"CLUSTER", "SLOTS"}, std::move(on_slots));
        return;
    }
    auto conn = from.cmd;
    conn->send({"INFO", "cluster"}, [weak, where, conn, on_slots = std::move(on_slots)](const redisReply* r) mutable {
        auto s = weak.lock();
        if (!s || s->stopped_) return;
        if (!r) {
            s->refresh_pending_ = false;
            return;  // asked again when the connection is back
        }
        if (str_of(r).find("cluster_enabled:1") == std::string_view::npos) {
            s->refresh_pending_ = false;
            s->apply(slots::single_node(where), false);
            return;
        }
        conn->send({"CLUSTER", "SLOTS"}, std::move(on_slots));
    });
}

void shard_router::apply(slots::slot_map map, bool cluster) {
    const bool first = !have_map_;
    const bool changed = first || !map.same_owners(map_);
    cluster_ = cluster;
    have_map_ = true;
    const auto primaries = map.primaries();
    std::vector<std::string> gone;
    for (const auto& entry : nodes_) {  // not a structured binding: clang 14 cannot capture one
        const std::string& address = entry.first;
        if (std::none_of(primaries.begin(), primaries.end(), [&](const slots::node& p) { return p.address() == address; }))
            gone.push_back(address);
    }
    map_ = std::move(map);
    if (changed && cluster)
        log(fmt::format("redis: {} {} primaries: {}{}", first ? "Redis Cluster of" : "slot map refreshed:", primaries.size(),
                        map_.describe(), map_.complete() ? "" : " (some slots have no owner)"));
    for (const auto& p : primaries) links_to(p, true);
    // The node of the URL goes quietly when it is a replica.
    for (const auto& address : gone) drop_node(address, first);
    // Again later while an owner is not connected yet (or unreachable: a failover under way).
    const bool all_up = std::all_of(nodes_.begin(), nodes_.end(),
                                    [](const auto& e) { return e.second.cmd->up() && e.second.sub && e.second.sub->up(); });
    if (all_up || !cluster_)
        refresh_backoff_ = opts_.backoff_min;
    else
        refresh(false);
    update_state();
    resubscribe(settled_);
}

// Every channel wanted, SSUBSCRIBEd on its slot's owner where it is not yet; logged per node when
// `announce`.
void shard_router::resubscribe(bool announce) {
    std::map<std::string, std::size_t> sent;
    for (const auto& channel : wanted_) {
        auto* n = owner_of(channel);
        if (!n || !n->sub || !n->sub->up() || n->asked.count(channel)) continue;
        for (auto& [address, other] : nodes_) {
            if (&other != n && other.asked.erase(channel) && other.sub && other.sub->up())
                other.sub->send({"SUNSUBSCRIBE", channel});
        }
        n->sub->send({"SSUBSCRIBE", channel});
        n->asked.insert(channel);
        ++sent[n->where.address()];
    }
    if (!cluster_ || !announce) return;
    for (const auto& [address, count] : sent) log(fmt::format("redis: {} channel(s) subscribed again on {}", count, address));
}

void shard_router::update_state() {
    bool cmd = false, sub = false;
    int connected = 0;
    if (have_map_ && !stopped_) {
        for (const auto& [address, n] : nodes_) {
            const bool c = n.cmd && n.cmd->up(), s = n.sub && n.sub->up();
            cmd = cmd || c;
            sub = sub || s;
            if (c && s) ++connected;
        }
    }
    if (have_map_ && static_cast<std::size_t>(connected) == nodes_.size()) settled_ = true;
    if (connected != nodes_up_) {
        nodes_up_ = connected;
        if (on_nodes) on_nodes(connected);
    }
    auto fire = [](bool now, bool& was, const std::shared_ptr<resp_conn>& stand_in) {
        if (now == was) return;
        was = now;
        if (!stand_in) return;
        auto& f = now ? stand_in->on_up : stand_in->on_down;
        if (f) f();
    };
    fire(cmd, cmd_up_, cmd_face_);
    fire(sub, sub_up_, sub_face_);
}

bool shard_router::send(bool subscriber, const std::vector<std::string>& args, resp_conn::reply_fn done) {
    if (!subscriber) return send_command(args, std::move(done), 0);
    if (args.size() >= 2 && (is(args[0], "SSUBSCRIBE") || is(args[0], "SUNSUBSCRIBE"))) {
        for (std::size_t i = 1; i < args.size(); ++i) subscribe(args[i], is(args[0], "SSUBSCRIBE"));
        return sub_up_;
    }
    log(fmt::format("redis: {} is not routed to a subscriber connection", args.empty() ? "" : args[0]));
    if (done) done(nullptr);
    return false;
}

void shard_router::subscribe(const std::string& channel, bool on) {
    if (!on) {
        wanted_.erase(channel);
        for (auto& [address, n] : nodes_) {
            if (n.asked.erase(channel) && n.sub && n.sub->up()) n.sub->send({"SUNSUBSCRIBE", channel});
        }
        return;
    }
    wanted_.insert(channel);
    auto* n = owner_of(channel);
    if (n && n->sub && n->sub->up() && n->asked.insert(channel).second) n->sub->send({"SSUBSCRIBE", channel});
}

// SPUBLISH and PUBSUB SHARDNUMSUB go to their channel's owner, anything else to any node
// connected. On a cluster, MOVED and ASK are followed (three hops at most).
bool shard_router::send_command(const std::vector<std::string>& args, resp_conn::reply_fn done, int hops) {
    std::string_view channel;
    if (args.size() >= 2 && is(args[0], "SPUBLISH")) channel = args[1];
    if (args.size() >= 3 && is(args[0], "PUBSUB")) channel = args[2];
    node_links* n = nullptr;
    if (!channel.empty()) {
        n = owner_of(channel);
    } else {
        for (auto& [address, l] : nodes_) {
            if (l.cmd && l.cmd->up()) {
                n = &l;
                break;
            }
        }
    }
    if (!n || !n->cmd || !n->cmd->up()) {
        if (n) ++n->dropped;
        if (done) done(nullptr);
        return false;
    }
    if (!cluster_) return n->cmd->send(args, std::move(done));
    auto conn = n->cmd;
    return conn->send(args, following(args, std::move(done), hops, n->where.host));
}

// A reply that, when it is a redirection, sends the command where it says.
resp_conn::reply_fn shard_router::following(std::vector<std::string> args, resp_conn::reply_fn done, int hops,
                                            std::string host) {
    return [weak = weak_from_this(), args = std::move(args), done = std::move(done), hops,
            host = std::move(host)](const redisReply* r) mutable {
        auto s = weak.lock();
        if (s && r && r->type == REDIS_REPLY_ERROR && hops < 3) {
            if (auto to = slots::parse_redirect({r->str, r->len}, host)) {
                s->redirect_command(*to, std::move(args), std::move(done), hops + 1);
                return;
            }
        }
        if (done) done(r);
    };
}

void shard_router::redirect_command(const slots::redirect& to, std::vector<std::string> args, resp_conn::reply_fn done,
                                    int hops) {
    if (!to.ask) {
        // The map is stale: patched for this slot at once, and fetched again after the backoff.
        const auto* owner = map_.owner(to.slot);
        if (!owner || !(*owner == to.to)) {
            log(fmt::format("redis: slot {} moved to {}; refreshing the slot map", to.slot, to.to.address()));
            map_.assign(to.slot, to.to);
            refresh(false);
        }
    }
    auto& n = links_to(to.to, true);
    if (!n.cmd->up()) {
        ++n.dropped;
        if (done) done(nullptr);
        return;
    }
    if (to.ask) {
        n.cmd->send({"ASKING"});
        // Sent once, where ASK said, whatever comes back.
        n.cmd->send(args, std::move(done));
        return;
    }
    n.cmd->send(args, following(args, std::move(done), hops, n.where.host));
}

}  // namespace sio::adapter::redis::detail
