// Request forwarding through Redis, for a cluster of sio-serve behind a load balancer without
// sticky sessions: every sid a server makes starts with its node tag (8 characters of
// [A-Za-z0-9_-]), and a polling request naming another server's sid is sent to that server on
// its own channel, `PREFIX-forward#TAG#`, answered there as a request of its own (over a
// loopback HTTP connection to its listener, so that it goes the way any request goes: the
// session's loop, its order, its parked GET), and the answer comes back on the sender's channel.
//
// Two RESP connections of its own (resp_conn): a publisher (PUBLISH, PUBSUB NUMSUB) and a
// subscriber of this node's channel only, so that it neither disturbs the adapters' channels nor
// shows on them (Node servers on the same Redis never see it). The messages are msgpack maps:
// {k: 0, id, from, m, u, h, b} a request (method, target, headers, body) and {k: 1, id, s, h, b}
// an answer, or {k: 1, id, gone: true} when the owner could not serve it.
//
// Bounds: a request whose PUBLISH reached no subscriber has no owner any more (answered at once);
// one still waiting after `liveness_interval` has its owner's channel counted (PUBSUB NUMSUB) at
// each sweep, so that an owner that died while holding a parked GET is noticed within a second or
// two; none waits longer than `answer_timeout`. While Redis is down every request fails at once
// as unreachable. Everything runs on a strand of the executor given to create().
#pragma once

#include "sio/adapter/redis.hpp"
#include "sio/engine/server.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace sio::adapter::redis {

struct forward_options {
    // How long a forwarded request may wait for its answer: a polling GET waits at its owner up
    // to the ping interval, so this is that plus the request timeout.
    std::chrono::milliseconds answer_timeout{35000};
    // A request waiting longer than this has its owner's liveness checked, once per interval.
    std::chrono::milliseconds liveness_interval{1000};
    // The largest answer the owner reads back from its own listener.
    std::size_t max_answer_bytes = 16 * 1024 * 1024;
};

struct forward_stats {
    bool connected = false;     // both connections up and subscribed
    std::uint64_t sent = 0;     // requests forwarded to their owner
    std::uint64_t served = 0;   // requests of other servers answered here
    std::uint64_t malformed = 0;  // messages on this node's channel that did not decode
};

class forwarder : public engine::request_forwarder {
public:
    static std::shared_ptr<forwarder> create(boost::asio::any_io_executor executor, options redis,
                                             forward_options forwarding = {});
    // Starts the connections; requests of other servers are served by a connection to `local`
    // (this server's listener; an unspecified address means loopback).
    virtual void start(boost::asio::ip::tcp::endpoint local) = 0;
    virtual void stop() = 0;
    virtual forward_stats stats() const = 0;
    // This node's tag (the start of its sids).
    virtual const std::string& node() const noexcept = 0;
};

}  // namespace sio::adapter::redis
