// The wire format of @socket.io/redis-adapter 8.3.x's sharded adapter (createShardedAdapter, on
// socket.io-adapter's ClusterAdapter and Redis 7 sharded pub/sub), sans I/O.
//
// For a prefix P (default "socket.io") and a namespace N, every message is SPUBLISHed:
//   P#N#          everything but the cases below; every node SSUBSCRIBEs it, and PUBSUB
//                 SHARDNUMSUB of it counts the nodes
//   P#N#ROOM#     a broadcast without acks to exactly one room, in the dynamic modes: in
//                 `dynamic` when the room is not a socket id (20 characters), in
//                 `dynamic-private` always. A node SSUBSCRIBEs it while the room has local
//                 members (in `dynamic`, public rooms only) and SUNSUBSCRIBEs when the last
//                 one leaves, so that a node without a member never receives the room's traffic.
//   P#N#UID#      the responses to node UID (its own subscription)
// A message is the ClusterAdapter's {type, data, uid, nsp} (types in redis_streams_codec.hpp):
// JSON text, or msgpack when its type may carry binary and its data does. A reader tells them
// apart by the first byte ('{': JSON).
//
// Nothing here throws on bad input: decoders return codec::result with the reason.
#pragma once

#include "sio/adapter/redis.hpp"
#include "sio/adapter/redis_streams_codec.hpp"

#include <string>
#include <string_view>

namespace sio::adapter::redis::sharded {

using message = streams::message;

// P#N#ROOM#: a room's channel in the dynamic modes.
std::string room_channel(std::string_view prefix, std::string_view nsp, std::string_view room);
// The channel a message is published on (the Node adapter's computeChannel).
std::string channel_for(std::string_view prefix, subscription_mode mode, const message& m);
// Whether a room of this node has a channel of its own (the Node adapter's
// shouldUseASeparateNamespace); `private_room`: the room is a socket's own id.
bool has_own_channel(subscription_mode mode, bool private_room);

std::string encode(const message& m);
result<message> decode(std::string_view bytes);

}  // namespace sio::adapter::redis::sharded
