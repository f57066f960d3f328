// The Redis adapters: this process joins a cluster of Socket.IO servers sharing rooms and
// broadcasts through Redis, wire-compatible with one of two Node adapters (`options::kind`):
// @socket.io/redis-adapter 8.x in classic mode, through pub/sub (see redis_codec.hpp for the
// format), the same package's sharded adapter (createShardedAdapter, Redis 7 sharded pub/sub; see
// redis_sharded.hpp), or @socket.io/redis-streams-adapter 0.3.x, through a Redis stream and
// pub/sub (see redis_streams_codec.hpp).
//
// Classic: two connections to Redis, each a TCP (or, for rediss://, TLS) stream speaking RESP through
// hiredis's reader and command formatter: a publisher (PUBLISH, PUBSUB NUMSUB) and a subscriber (per namespace:
// PSUBSCRIBE P#N#*, SUBSCRIBE P-request#N#, P-response#N#, P-response#N#UID#). A lost connection
// is retried with backoff (100 ms doubling to 2 s), re-subscribed, and logged once per outage; a
// connection counts as up once Redis has answered AUTH (with a password), SELECT (a database
// other than 0) and a PING, so that a refusal is reported as what it is and retried with backoff;
// while Redis is down broadcasts are delivered locally only.
//
// The adapter knows the local server only through `local_node` (implemented one layer up), and
// calls it from its own strand.
#pragma once

#include "sio/adapter/in_memory.hpp"
#include "sio/adapter/redis_codec.hpp"
#include "sio/adapter/redis_streams_codec.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio::adapter::redis {

// Which Node adapter the cluster speaks with.
enum class adapter_kind {
    pubsub,   // @socket.io/redis-adapter 8.x, classic mode (this file and redis_codec.hpp)
    streams,  // @socket.io/redis-streams-adapter 0.3.x (redis_streams_codec.hpp)
    sharded,  // @socket.io/redis-adapter 8.x, createShardedAdapter (redis_sharded.hpp)
};

// The sharded adapter's subscriptionMode: which broadcasts travel on a channel of their own room.
enum class subscription_mode {
    static_mode,      // none: every node SSUBSCRIBEs P#N# only
    dynamic,          // a broadcast to one public room (not a socket id) goes to P#N#ROOM#
    dynamic_private,  // a broadcast to any one room, a socket's own included
};

struct options {
    adapter_kind kind = adapter_kind::pubsub;
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    int db = 0;
    // AUTH on every connection when password is set: AUTH password (the default user), or
    // AUTH username password (a Redis 6 ACL user). Never logged.
    std::string username;
    std::string password;
    // TLS (rediss://). The server's certificate is checked against tls_context's trust store and
    // its name against `host`, as the context's verify mode says; the context also carries the
    // client certificate a Redis with tls-auth-clients asks for. Required when tls is set (built,
    // for instance, by transport::make_client_tls_context, which reports unusable files).
    bool tls = false;
    bool tls_verify = true;
    std::shared_ptr<boost::asio::ssl::context> tls_context;
    std::string prefix = "socket.io";  // --redis-key
    std::chrono::milliseconds request_timeout{5000};
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{2000};
    // streams: the stream's MAXLEN (trimmed approximately, "~"), XREAD's COUNT and BLOCK, and
    // the key prefix of the session records kept for connection state recovery. The stream is
    // named after `prefix`, as are the channels of its requests and responses.
    std::size_t stream_max_len = 10000;
    std::size_t stream_read_count = 100;
    std::chrono::milliseconds stream_block{5000};
    std::string session_prefix = "sio:session:";
    // sharded: Node's default subscriptionMode.
    subscription_mode subscription = subscription_mode::dynamic;
    std::function<void(std::string_view)> log;  // from the adapter's strand
};

// "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" (HOST may be [v6]; USER and PASSWORD
// percent-encoded), or "rediss://..." for TLS (sets `tls`; the context is the caller's to set);
// port defaults to 6379. nullopt if malformed, and for a user without a password.
std::optional<options> parse_url(std::string_view url);

// What the cluster asks of this server. Called on the cluster's strand; must not block.
class local_node {
public:
    virtual ~local_node() = default;
    // A broadcast from another node: deliver it to the local sockets it targets.
    virtual void deliver(const wire_packet& packet, const broadcast_options& opts) = 0;
    // A broadcast read from the cluster's stream, with its offset there (the streams adapter):
    // when the namespace recovers connections, the offset goes last in the EVENT's arguments.
    virtual void deliver_stored(const wire_packet& packet, const broadcast_options& opts, std::string_view offset) {
        (void)offset;
        deliver(packet, opts);
    }
    // The namespace's connection state recovery window (zero: off).
    virtual std::chrono::milliseconds recovery_window(std::string_view nsp) {
        (void)nsp;
        return {};
    }
    virtual std::vector<std::string> all_rooms(std::string_view nsp) = 0;
    // Whether a room has local members, and whether it is a socket's own room (the sharded
    // adapter's subscriptions).
    enum class room_state { absent, public_room, private_room };
    virtual room_state room_of(std::string_view nsp, std::string_view room) {
        (void)nsp, (void)room;
        return room_state::absent;
    }
    virtual std::vector<std::string> socket_ids(std::string_view nsp, const broadcast_options& opts) = 0;
    // [{id, handshake, rooms, data}, ...] as socket.io's fetchSockets() serialises them.
    virtual json fetch_sockets(std::string_view nsp, const broadcast_options& opts) = 0;
    virtual void add_sockets(std::string_view nsp, const broadcast_options& opts,
                             const std::vector<std::string>& rooms) = 0;
    virtual void del_sockets(std::string_view nsp, const broadcast_options& opts,
                             const std::vector<std::string>& rooms) = 0;
    virtual void disconnect_sockets(std::string_view nsp, const broadcast_options& opts, bool close) = 0;
    // serverSideEmit from another node; `ack` is empty when none was asked for, else call it
    // at most once with the single answer.
    virtual void server_side_emit(std::string_view nsp, json args, std::function<void(json)> ack) = 0;
    // A broadcast with acks from another node: emit to the targets asking each for an ack;
    // `count` once with the number of targets, `ack` once per answer (its arguments array).
    virtual void broadcast_with_ack(const wire_packet& packet, const broadcast_options& opts,
                                    std::chrono::milliseconds timeout,
                                    std::function<void(std::size_t)> count,
                                    std::function<void(json)> ack) = 0;
};

struct stats {
    bool connected = false;          // both connections up and subscribed
    std::uint64_t published = 0;     // broadcasts sent to Redis
    std::uint64_t received = 0;      // broadcasts from other nodes delivered
    std::uint64_t dropped = 0;       // broadcasts not published because Redis was down
    std::uint64_t malformed = 0;     // messages from Redis that did not decode
    std::uint64_t outages = 0;       // connections lost or never made
    std::uint32_t nodes = 0;         // Redis nodes connected (of a Redis Cluster, or the one Redis)
};

// A server's link to the cluster; `create` picks the implementation `options::kind` names.
class cluster {
public:
    static std::shared_ptr<cluster> create(boost::asio::any_io_executor executor, options opts,
                                           std::weak_ptr<local_node> local);
    virtual ~cluster() = default;
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    // Starts the connections (retrying until stop()). Namespaces may be added before or after.
    virtual void start() = 0;
    virtual void add_namespace(std::string nsp) = 0;
    // Closes the connections; no reconnect afterwards.
    virtual void stop() = 0;

    // Publishes a broadcast of namespace `packet.nsp` (unless Redis is down). Any thread.
    virtual void publish(wire_packet packet, const broadcast_options& opts) = 0;
    // Requests to the whole cluster; `done` runs on the cluster's strand with every node's
    // answer merged with this node's, or with what arrived before request_timeout.
    virtual void all_rooms(std::string nsp, std::function<void(std::vector<std::string>)> done) = 0;
    virtual void fetch_sockets(std::string nsp, broadcast_options opts, std::function<void(json)> done) = 0;
    // Fire-and-forget requests, as the Node adapter sends them.
    virtual void remote_join(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) = 0;
    virtual void remote_leave(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms) = 0;
    virtual void remote_disconnect(std::string nsp, const broadcast_options& opts, bool close) = 0;
    // serverSideEmit to the other nodes; with `done`, their answers (or what came before the
    // timeout).
    virtual void server_side_emit(std::string nsp, json args, std::function<void(json answers)> done = {}) = 0;

    // A room of this server was created or deleted (the sharded adapter subscribes to a room's
    // channel while the room has local members). Any thread.
    virtual void room_changed(std::string_view nsp, std::string_view room) { (void)nsp, (void)room; }

    // Connection state recovery across the cluster (the streams adapter; the others keep
    // sessions in the process and say false to all of this).
    virtual bool keeps_sessions() const noexcept { return false; }
    // A broadcast of a namespace that recovers connections: published, and delivered to this
    // node's sockets only when read back from the stream, in the stream's order and with its
    // offset. false when it was not published (Redis down): the caller delivers it.
    virtual bool publish_stored(wire_packet packet, const broadcast_options& opts) {
        (void)packet, (void)opts;
        return false;
    }
    // Calls `fn` with the stream position this node has delivered up to, while no broadcast is
    // being delivered: a socket attached in `fn` gets every broadcast after that position live.
    virtual void at_position(const std::function<void(const std::string&)>& fn) { fn({}); }
    // The session record of a connected socket (kept fresh while it lives, so that it outlives a
    // node that dies), or of one that dropped (`dropped`: kept for the recovery window).
    virtual void persist_session(std::string nsp, streams::session_record record, bool dropped) {
        (void)nsp, (void)record, (void)dropped;
    }
    // A socket that ended for good: its record goes.
    virtual void forget_session(std::string pid) { (void)pid; }
    struct restored_session {
        streams::session_record record;
        std::vector<std::pair<std::string, json>> missed;  // (offset, EVENT data with the offset last)
    };
    // Takes the record of `pid` and reads the broadcasts after `offset` (or, without one, after
    // the record's start) that reach its rooms; `done` on the cluster's strand, with nullopt and
    // the reason when it cannot be recovered.
    virtual void restore_session(std::string nsp, std::string pid, std::string offset,
                                 std::function<void(std::optional<restored_session>, std::string why)> done) {
        (void)nsp, (void)pid, (void)offset;
        done(std::nullopt, "this adapter keeps no sessions");
    }

    const std::string& uid() const noexcept { return uid_; }
    adapter_kind kind() const noexcept { return kind_; }
    virtual stats snapshot() const = 0;

protected:
    cluster(std::string uid, adapter_kind kind) : uid_(std::move(uid)), kind_(kind) {}

private:
    const std::string uid_;
    const adapter_kind kind_;
};

// "pubsub", "streams" or "sharded", as --redis-adapter spells them.
std::string_view kind_name(adapter_kind kind) noexcept;
std::optional<adapter_kind> kind_of(std::string_view name) noexcept;
// "static", "dynamic" or "dynamic-private", as --redis-subscription-mode spells them.
std::string_view mode_name(subscription_mode mode) noexcept;
std::optional<subscription_mode> mode_of(std::string_view name) noexcept;

}  // namespace sio::adapter::redis
