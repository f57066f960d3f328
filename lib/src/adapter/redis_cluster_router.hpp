// The sharded adapter's connections, on a Redis Cluster or on one Redis: a router that stands in
// for the adapter's two connections (`cmd`: SPUBLISH, PUBSUB SHARDNUMSUB; `sub`: SSUBSCRIBE,
// SUNSUBSCRIBE) and sends each command to the node that serves its channel's slot.
//
// It first connects to the node of the URL and asks CLUSTER SLOTS. A Redis without cluster
// support refuses, and serves every slot itself; a cluster answers its slot map, and the router
// keeps one command connection and one subscriber connection per primary. A command answered
// MOVED is sent again to the node named (and the map refreshed); one answered ASK goes there
// once, after ASKING. A subscription answered MOVED, a `sunsubscribe` the adapter did not ask
// for (its slot moved) or a connection lost makes it refresh the map (from any connected node,
// again with backoff while a slot's owner is unreachable) and subscribe again, on each slot's
// owner, to every channel wanted there. A command for a slot whose owner is unreachable is
// answered `nullptr` (the caller counts it as dropped) and the drops are logged per outage.
//
// Everything runs on the adapter's strand.
#pragma once

#include "resp_conn.hpp"

#include "sio/adapter/redis_cluster_slots.hpp"

#include <boost/asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace sio::adapter::redis::detail {

class shard_router : public std::enable_shared_from_this<shard_router> {
public:
    shard_router(strand_t strand, options opts);

    // The stand-ins for the adapter's `cmd` and `sub` (made once; their callbacks are the
    // adapter's to set before start()).
    std::shared_ptr<resp_conn> face(bool subscriber);
    // Called with the number of nodes connected whenever it changes.
    std::function<void(int)> on_nodes;

    void start();
    void stop();
    bool up(bool subscriber) const noexcept;
    bool send(bool subscriber, const std::vector<std::string>& args, resp_conn::reply_fn done);

private:
    struct node_links {
        slots::node where;
        std::shared_ptr<resp_conn> cmd, sub;
        std::set<std::string> asked;  // channels SSUBSCRIBEd on `sub` since it connected
        std::uint64_t dropped = 0;    // commands for its slots not sent while it was down
        bool reported_down = false;
    };

    node_links& links_to(const slots::node& where, bool with_sub);
    void drop_node(const std::string& address, bool quiet);
    void on_cmd_up(const std::string& address);
    void on_link_down(const std::string& address, bool subscriber);
    void on_sub_up(const std::string& address);
    void on_sub_push(const std::string& address, const redisReply* r);
    node_links* owner_of(std::string_view channel);

    void refresh(bool now);
    void ask_slots(node_links& from);
    void apply(slots::slot_map map, bool cluster);
    void resubscribe(bool announce);
    void update_state();
    void redirect_command(const slots::redirect& to, std::vector<std::string> args, resp_conn::reply_fn done, int hops);
    bool send_command(const std::vector<std::string>& args, resp_conn::reply_fn done, int hops);
    resp_conn::reply_fn following(std::vector<std::string> args, resp_conn::reply_fn done, int hops, std::string host);
    void subscribe(const std::string& channel, bool on);
    void log(std::string_view what) const;

    strand_t strand_;
    const options opts_;
    std::shared_ptr<resp_conn> cmd_face_, sub_face_;
    std::map<std::string, node_links> nodes_;  // by address
    std::set<std::string> wanted_;             // channels the adapter is subscribed to
    slots::slot_map map_;
    bool have_map_ = false;
    bool cluster_ = false;
    boost::asio::steady_timer refresh_timer_;
    std::chrono::milliseconds refresh_backoff_{};
    bool refresh_pending_ = false;  // the timer is armed, or CLUSTER SLOTS is on its way
    bool cmd_up_ = false, sub_up_ = false;
    int nodes_up_ = -1;
    bool stopped_ = false;
    bool started_ = false;
    bool settled_ = false;  // every primary was connected once: later subscriptions are made again
};

}  // namespace sio::adapter::redis::detail
