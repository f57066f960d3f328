// The sharded adapter: a cluster link speaking @socket.io/redis-adapter 8.3.x's
// createShardedAdapter (see redis_sharded_codec.hpp for the channels and the format). The
// messages between nodes are the ClusterAdapter's, handled by streams_impl; what differs is here:
// two connections (`cmd`: SPUBLISH, PUBSUB SHARDNUMSUB; `sub`: SSUBSCRIBE, SUNSUBSCRIBE), every
// message SPUBLISHed as JSON or msgpack, and in the dynamic modes one subscription per room that
// has members on this node, made when the room is created and dropped when it is deleted.
// Both connections are the router's (redis_cluster_router.hpp), so that on a Redis Cluster each
// command goes to the primary serving its channel's slot.
#include "redis_cluster_router.hpp"
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
    std::shared_ptr<shard_router> router;

    std::shared_ptr<resp_conn> make_conn(const std::string& role) override {
        if (!router) {
            router = std::make_shared<shard_router>(strand, opts);
            router->on_nodes = [weak = weak_from_this()](int n) {
                if (auto self = weak.lock()) self->nodes = n;
            };
        }
        return router->face(role == "subscriber");
    }

    bool reads_stream() const override { return false; }
    std::string_view push_kind() const override { return "smessage"; }
    result<st::message> decode_push(std::string_view bytes) const override { return sh::decode(bytes); }
    const char* numsub() const override { return "SHARDNUMSUB"; }

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

    // Counted as dropped when it could not be sent (Redis, or the channel's shard, unreachable)
    // or the link went down before the answer.
    void send_message(const std::string& channel, st::message m) {
        m.uid = uid;
        if (!cmd) {
            ++dropped;
            return;
        }
        cmd->send({"SPUBLISH", channel, sh::encode(m)}, [weak = weak_from_this()](const redisReply* r) {
            if (r) return;
            if (auto self = weak.lock()) ++self->dropped;
        });
    }

    void add(st::message m, std::function<void(bool)> done) override {
        const bool refused = !cmd || !cmd->up();
        auto channel = sh::channel_for(opts.prefix, opts.subscription, m);
        send_message(channel, std::move(m));
        if (done) done(refused);
    }

    void publish_to(const std::string& channel, st::message m) override { send_message(channel, std::move(m)); }
};

}  // namespace

std::shared_ptr<cluster> make_sharded_cluster(boost::asio::any_io_executor executor, options opts,
                                              std::weak_ptr<local_node> local) {
    return make_cluster_on(std::make_shared<sharded_impl>(std::move(executor), std::move(opts), std::move(local), hex_id()),
                           adapter_kind::sharded);
}

}  // namespace sio::adapter::redis::detail
