// One RESP connection to Redis, shared by the Redis adapters (classic pub/sub and streams): a TCP
// (or, for rediss://, TLS) stream speaking RESP through hiredis's reader and command formatter,
// on the adapter's strand. It connects, answers AUTH/SELECT/PING before it counts as up, writes
// queued commands in batches, hands replies back in order (or every reply to `on_push`, for a
// subscriber), and reconnects with backoff until stopped, logging each outage once.
#pragma once

#include "sio/adapter/redis.hpp"
#include "sio/transport/client_connect.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <hiredis/hiredis.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio::adapter::redis::detail {

using strand_t = boost::asio::strand<boost::asio::any_io_executor>;

// n characters of [A-Za-z0-9_-], for node and request ids.
std::string random_id(std::size_t n);
// A command in RESP, as hiredis formats it ("" when it cannot).
std::string format_command(const std::vector<std::string>& args);

struct reply_deleter {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

// The text of a string or status reply; "" for anything else.
std::string_view str_of(const redisReply* r);

// Options of a broadcast between the wire ({rooms, except, flags}) and this process.
broadcast_options to_local(const broadcast_opts& o);
broadcast_opts to_wire(const broadcast_options& o);

// What both adapters count for cluster::snapshot(), and their log of malformed messages.
struct link_counters {
    std::atomic<bool> up{false};
    std::atomic<std::uint64_t> published{0}, received{0}, dropped{0}, malformed{0}, outages{0};
    // The Redis nodes connected (the sharded adapter's router, on a Redis Cluster or not); -1 for
    // the adapters of one Redis, which count it as connected when `up`.
    std::atomic<int> nodes{-1};
    std::uint64_t logged_malformed = 0;  // on the strand

    stats snapshot() const;
    // Counts a message that did not decode; true when it is to be logged: the first ten, then
    // one in a thousand.
    bool count_malformed();
};

// Every member is touched on the strand only. The sharded adapter's router (redis_cluster_router.hpp)
// stands in for one, sending each command to the node that serves its channel.
class resp_conn : public std::enable_shared_from_this<resp_conn> {
public:
    using reply_fn = std::function<void(const redisReply*)>;  // nullptr: no reply (link down)

    resp_conn(strand_t strand, options opts, std::string role);
    virtual ~resp_conn() = default;

    std::function<void()> on_up;
    std::function<void()> on_down;
    // true: each reply answers the oldest command sent (its `done`); false (a subscriber): every
    // reply goes to on_push.
    bool track_replies = true;
    std::function<void(const redisReply*)> on_push;

    virtual void start();
    virtual void stop();
    virtual bool up() const noexcept { return up_; }

    // Queues a command; false (and `done(nullptr)`) when the connection is down.
    virtual bool send(const std::vector<std::string>& args, reply_fn done = {});
    // host:port of the Redis it connects to.
    std::string authority() const;

private:
    struct reader_deleter {
        void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
    };

    boost::asio::awaitable<void> run(std::shared_ptr<resp_conn> self);
    boost::asio::awaitable<std::optional<std::string>> connect_once();
    boost::asio::awaitable<std::optional<std::string>> handshake();
    boost::asio::awaitable<std::string> read_loop();
    void dispatch(const redisReply* r);
    boost::asio::awaitable<void> writer(std::shared_ptr<resp_conn> self, std::uint64_t gen,
                                        std::shared_ptr<transport::any_stream> stream);
    void log(std::string_view what) const;

    strand_t strand_;
    const options opts_;  // a copy: the coroutine may outlive its owner by a few steps
    const std::string role_;
    // Shared with the writer, which may still be writing to a lost connection's stream while the
    // next connection is made.
    std::shared_ptr<transport::any_stream> stream_;
    transport::attempts attempts_;  // the connection being made, so that stop() ends it at once
    std::unique_ptr<redisReader, reader_deleter> reader_;
    std::deque<std::string> queue_;
    std::deque<reply_fn> pending_;
    boost::asio::steady_timer wake_;
    std::optional<boost::asio::steady_timer> backoff_timer_;
    std::uint64_t generation_ = 0;
    bool up_ = false;
    bool stopped_ = false;
};

// The streams adapter (redis_streams.cpp), which cluster::create picks for adapter_kind::streams.
std::shared_ptr<cluster> make_streams_cluster(boost::asio::any_io_executor executor, options opts,
                                              std::weak_ptr<local_node> local);
// The sharded adapter (redis_sharded.cpp), for adapter_kind::sharded.
std::shared_ptr<cluster> make_sharded_cluster(boost::asio::any_io_executor executor, options opts,
                                              std::weak_ptr<local_node> local);

}  // namespace sio::adapter::redis::detail
