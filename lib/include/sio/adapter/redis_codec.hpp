// The wire format of @socket.io/redis-adapter 8.x in its classic (non-sharded) mode, sans I/O.
//
// Channels, for a key prefix P (default "socket.io") and a namespace N:
//   P#N#          broadcasts to no room or to several rooms      (every node PSUBSCRIBEs P#N#*)
//   P#N#ROOM#     broadcasts to exactly one room
//   P-request#N#  requests between nodes                         (every node SUBSCRIBEs)
//   P-response#N# responses                                      (every node SUBSCRIBEs)
//   P-response#N#UID#  the node's own response channel           (subscribed, rarely used)
//
// Messages:
//   broadcast  msgpack [uid, {type, data, nsp}, {rooms, except, flags}]   (notepack.io encoding)
//   requests   JSON {uid, [requestId,] type, ...}; BROADCAST (type 7) is msgpack
//   responses  JSON; BROADCAST_ACK (type 9) is msgpack
// Binary arguments travel as msgpack bin (json::binary_t here). A request or response whose first
// byte is '{' is JSON, anything else msgpack, as the Node adapter decides.
//
// msgpack is written and read by sio/codec/msgpack.hpp, byte for byte as notepack.io does.
//
// Nothing here throws on bad input: decoders return codec::result with the reason.
#pragma once

#include "sio/codec/error.hpp"
#include "sio/codec/json.hpp"
#include "sio/codec/msgpack.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio::adapter::redis {

using codec::json;
template <class T>
using result = codec::result<T>;

// --- channels --------------------------------------------------------------------------------

std::string broadcast_channel(std::string_view prefix, std::string_view nsp);  // P#N#
std::string broadcast_pattern(std::string_view prefix, std::string_view nsp);  // P#N#*
std::string room_channel(std::string_view prefix, std::string_view nsp, std::string_view room);
std::string request_channel(std::string_view prefix, std::string_view nsp);
std::string response_channel(std::string_view prefix, std::string_view nsp);
std::string specific_response_channel(std::string_view prefix, std::string_view nsp,
                                      std::string_view uid);
// The room a message on `channel` is addressed to: "" for P#N#, "ROOM" for P#N#ROOM#; nullopt
// when the channel is not one of this namespace's broadcast channels.
std::optional<std::string> room_of_channel(std::string_view prefix, std::string_view nsp,
                                           std::string_view channel);

// --- msgpack <-> JSON (the codec's, in notepack.io's encoding) -------------------------------

using codec::from_msgpack;
using codec::to_msgpack;

// JSON text as JSON.stringify writes it: compact, UTF-8 as is (bad bytes replaced), binary
// values as a Node Buffer serialises itself, {"type":"Buffer","data":[...]}.
std::string to_json_text(const json& value);
// Whether a binary value (json::binary_t) is anywhere inside `value`.
bool has_binary(const json& value);

// --- messages --------------------------------------------------------------------------------

enum class request_type : int {
    sockets = 0,
    all_rooms = 1,
    remote_join = 2,
    remote_leave = 3,
    remote_disconnect = 4,
    remote_fetch = 5,
    server_side_emit = 6,
    broadcast = 7,
    broadcast_client_count = 8,
    broadcast_ack = 9,
};

// {rooms, except, flags} of a broadcast. Rooms keep their order on the wire.
struct broadcast_opts {
    std::vector<std::string> rooms;
    std::vector<std::string> except;
    json flags = json::object();  // {"volatile":true}, {"local":true}, {"timeout":1000}, ...

    bool flag(std::string_view name) const;
};

// The Socket.IO packet inside a broadcast: type 2 (EVENT) or 3 (ACK), data with binary values
// as json::binary_t, and the namespace. `id` is sent only when present.
struct wire_packet {
    int type = 2;
    json data = json::array();
    std::string nsp = "/";
    std::optional<std::uint64_t> id;
};

struct broadcast_message {
    std::string uid;
    wire_packet packet;
    broadcast_opts opts;
};

std::string encode_broadcast(const broadcast_message&);
result<broadcast_message> decode_broadcast(std::string_view bytes);
// The channel a broadcast with these options is published on (a room channel for exactly one
// room).
std::string channel_for(std::string_view prefix, std::string_view nsp, const broadcast_opts&);

// A request or a response, decoded: JSON if the first byte is '{', msgpack otherwise. The
// result must be an object.
result<json> decode_message(std::string_view bytes);

// Requests as the Node adapter writes them.
std::string encode_all_rooms_request(std::string_view uid, std::string_view request_id);
std::string encode_sockets_request(std::string_view uid, std::string_view request_id,
                                   const std::vector<std::string>& rooms);
std::string encode_fetch_sockets_request(std::string_view uid, std::string_view request_id,
                                         const broadcast_opts& opts);
std::string encode_remote_join_request(std::string_view uid, const broadcast_opts& opts,
                                       const std::vector<std::string>& rooms);
std::string encode_remote_leave_request(std::string_view uid, const broadcast_opts& opts,
                                        const std::vector<std::string>& rooms);
std::string encode_remote_disconnect_request(std::string_view uid, const broadcast_opts& opts,
                                             bool close);
// Without request_id: no ack expected.
std::string encode_server_side_emit_request(std::string_view uid,
                                            std::optional<std::string_view> request_id,
                                            const json& data);
// msgpack {uid, requestId, type: 7, packet: {type, data, nsp}, opts: {rooms, except, flags}}
std::string encode_broadcast_request(std::string_view uid, std::string_view request_id,
                                     const wire_packet& packet, const broadcast_opts& opts);

// Responses as the Node adapter writes them.
std::string encode_sockets_response(std::string_view request_id,
                                    const std::vector<std::string>& ids);
std::string encode_all_rooms_response(std::string_view request_id,
                                      const std::vector<std::string>& rooms);
// sockets: [{id, handshake, rooms, data}, ...]
std::string encode_fetch_sockets_response(std::string_view request_id, const json& sockets);
std::string encode_remote_done_response(std::string_view request_id);  // {"requestId":...}
std::string encode_server_side_emit_response(std::string_view request_id, const json& data);
std::string encode_broadcast_client_count(std::string_view request_id, std::size_t count);
std::string encode_broadcast_ack(std::string_view request_id, const json& arg);  // msgpack

// opts of a request ({rooms, except[, flags]}); missing arrays read as empty, non-strings
// refused.
result<broadcast_opts> opts_from_json(const json& opts);
json opts_to_json(const broadcast_opts& opts, bool with_flags);

}  // namespace sio::adapter::redis
