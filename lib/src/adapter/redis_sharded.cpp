// The sharded adapter: a cluster link speaking @socket.io/redis-adapter 8.3.x's
// createShardedAdapter (see redis_sharded_codec.hpp for the channels and the format). The
// messages between nodes are the ClusterAdapter's, handled by streams_impl; what differs is here:
// two connections (`cmd`: SPUBLISH, PUBSUB SHARDNUMSUB; `sub`: SSUBSCRIBE, SUNSUBSCRIBE), every
// message SPUBLISHed as JSON or msgpack, and in the dynamic modes one subscription per room that
// has members on this node, made when the room is created and dropped when it is deleted.
#include "redis_streams.hpp"

#include "sio/adapter/redis_sharded_codec.hpp"

#include <fmt/format.h>

#include <set>

namespace sio::adapter::redis::detail {

namespace {

namespace sh = sharded;

struct sharded_impl final : streams_impl {
    using streams_impl::streams_impl;

    // The room channels subscribed to (or asked for), which a new subscriber connection asks for
    // again.
    std::set<std::string> room_channels;

    void update_up() override { up = cmd && sub && cmd->up() && sub->up(); }

    void start() override {
        if (cmd) return;
        cmd = std::make_shared<resp_conn>(strand, opts, "commands");
        sub = std::make_shared<resp_conn>(strand, opts, "subscriber");
        sub->track_replies = false;
        auto weak = weak_from_this();
        auto on = [weak](void (streams_impl::*f)()) {
            return [weak, f] {
                if (auto self = weak.lock()) (self.get()->*f)();
            };
        };
        cmd->on_up = on(&streams_impl::update_up);
        sub->on_up = on(&streams_impl::on_sub_up);
        cmd->on_down = on(&streams_impl::on_down);
        sub->on_down = on(&streams_impl::on_down);
        sub->on_push = [weak](const redisReply* r) {
            if (auto self = weak.lock()) static_cast<sharded_impl&>(*self).on_shard_push(r);
        };
        cmd->start();
        sub->start();
    }

    // One channel per SSUBSCRIBE: on a Redis Cluster the channels of one command must share a
    // slot.
    void ssubscribe(const std::string& channel) {
        if (sub && sub->up()) sub->send({"SSUBSCRIBE", channel});
    }

    void subscribe(const std::string& nsp) override {
        ssubscribe(st::public_channel(opts.prefix, nsp));
        ssubscribe(st::private_channel(opts.prefix, nsp, uid));
    }

    void on_sub_up() override {
        for (const auto& n : namespaces) subscribe(n);
        for (const auto& c : room_channels) ssubscribe(c);
        log(fmt::format("redis: subscribed to {} namespace(s) and {} room channel(s) as node {} (sharded adapter, "
                        "subscription mode {})",
                        namespaces.size(), room_channels.size(), uid, mode_name(opts.subscription)));
        update_up();
    }

    // Subscribed while the room has members here, whatever order the reports come in: the
    // room's state is read again now.
    void on_room_changed(const std::string& nsp, const std::string& room) override {
        if (opts.subscription == subscription_mode::static_mode || !ours(nsp)) return;
        auto l = local.lock();
        if (!l) return;
        const auto state = l->room_of(nsp, room);
        const bool want = state != local_node::room_state::absent &&
                          sh::has_own_channel(opts.subscription, state == local_node::room_state::private_room);
        auto channel = sh::room_channel(opts.prefix, nsp, room);
        const bool have = room_channels.count(channel) > 0;
        if (want == have) return;
        if (want) {
            ssubscribe(channel);
            room_channels.insert(std::move(channel));
        } else {
            if (sub && sub->up()) sub->send({"SUNSUBSCRIBE", channel});
            room_channels.erase(channel);
        }
    }

    void send_message(const std::string& channel, st::message m) {
        m.uid = uid;
        if (cmd && cmd->up()) {
            cmd->send({"SPUBLISH", channel, sh::encode(m)});
        } else {
            ++dropped;
        }
    }

    void add(st::message m, std::function<void(bool)> done) override {
        const bool refused = !cmd || !cmd->up();
        auto channel = sh::channel_for(opts.prefix, opts.subscription, m);
        send_message(channel, std::move(m));
        if (done) done(refused);
    }

    void publish_to(const std::string& channel, st::message m) override { send_message(channel, std::move(m)); }

    void server_count(const std::string& nsp, std::function<void(std::size_t)> go) override {
        if (!cmd || !cmd->up()) {
            go(0);
            return;
        }
        cmd->send({"PUBSUB", "SHARDNUMSUB", st::public_channel(opts.prefix, nsp)}, [go](const redisReply* r) {
            std::size_t n = 0;
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER &&
                r->element[1]->integer > 0)
                n = static_cast<std::size_t>(r->element[1]->integer);
            go(n);
        });
    }

    void on_shard_push(const redisReply* r) {
        if (r && r->type == REDIS_REPLY_ERROR) {
            log(fmt::format("redis sub: error reply: {}", std::string_view(r->str, r->len)));
            return;
        }
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || str_of(r->element[0]) != "smessage") return;
        const auto channel = str_of(r->element[1]);
        auto m = sh::decode(str_of(r->element[2]));
        if (!m) {
            bad_message(channel, m.err().reason);
            return;
        }
        if (m->uid == uid || !ours(m->nsp)) return;
        on_message(*m, {});
    }
};

}  // namespace

std::shared_ptr<cluster> make_sharded_cluster(boost::asio::any_io_executor executor, options opts,
                                              std::weak_ptr<local_node> local) {
    return make_cluster_on(std::make_shared<sharded_impl>(std::move(executor), std::move(opts), std::move(local), hex_id()),
                           adapter_kind::sharded);
}

}  // namespace sio::adapter::redis::detail
