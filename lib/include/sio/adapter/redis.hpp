// The Redis adapter: this process joins a cluster of Socket.IO servers sharing rooms and
// broadcasts through Redis pub/sub, wire-compatible with @socket.io/redis-adapter 8.x in classic
// mode (see redis_codec.hpp for the format).
//
// Two connections to Redis, each a TCP (or, for rediss://, TLS) stream speaking RESP through
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

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sio::adapter::redis {

struct options {
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
    virtual std::vector<std::string> all_rooms(std::string_view nsp) = 0;
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
};

class cluster : public std::enable_shared_from_this<cluster> {
    struct passkey {
        explicit passkey() = default;
    };

public:
    static std::shared_ptr<cluster> create(boost::asio::any_io_executor executor, options opts,
                                           std::weak_ptr<local_node> local);
    cluster(passkey, boost::asio::any_io_executor executor, options opts,
            std::weak_ptr<local_node> local);
    ~cluster();
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    // Starts both connections (retrying until stop()). Namespaces may be added before or after.
    void start();
    void add_namespace(std::string nsp);
    // Closes the connections; no reconnect afterwards.
    void stop();

    // Publishes a broadcast of namespace `packet.nsp` (unless Redis is down). Any thread.
    void publish(wire_packet packet, const broadcast_options& opts);
    // Requests to the whole cluster; `done` runs on the cluster's strand with every node's
    // answer merged with this node's, or with what arrived before request_timeout.
    void all_rooms(std::string nsp, std::function<void(std::vector<std::string>)> done);
    void fetch_sockets(std::string nsp, broadcast_options opts, std::function<void(json)> done);
    // Fire-and-forget requests, as the Node adapter sends them.
    void remote_join(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms);
    void remote_leave(std::string nsp, const broadcast_options& opts, std::vector<std::string> rooms);
    void remote_disconnect(std::string nsp, const broadcast_options& opts, bool close);
    // serverSideEmit to the other nodes; with `done`, their answers (or what came before the
    // timeout).
    void server_side_emit(std::string nsp, json args, std::function<void(json answers)> done = {});

    const std::string& uid() const noexcept { return uid_; }
    stats snapshot() const;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
    const std::string uid_;
};

}  // namespace sio::adapter::redis
