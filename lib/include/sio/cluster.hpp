// Joins a server to a Redis cluster (see adapter/redis.hpp): broadcasts that are not local() are
// published to the other servers, and theirs reach this server's sockets; requests from other
// servers (allRooms, fetchSockets, socketsJoin/Leave, disconnectSockets, serverSideEmit, broadcast
// with acks) are answered as @socket.io/redis-adapter answers them.
#pragma once

#include "sio/adapter/redis.hpp"
#include "sio/server.hpp"

#include <memory>

namespace sio {

// Starts the cluster's connections and hooks every namespace, present and future, into it. The
// server keeps the link alive; call stop() on the result to leave the cluster.
std::shared_ptr<adapter::redis::cluster> attach_redis(const std::shared_ptr<server>& io,
                                                      boost::asio::any_io_executor executor,
                                                      adapter::redis::options options);

// The JSON socket.io's fetchSockets() sends for a socket: {id, handshake, rooms, data}.
json describe_socket(const socket& s);

}  // namespace sio
