// The wire format of @socket.io/redis-streams-adapter 0.3.x (on socket.io-adapter's
// ClusterAdapter), sans I/O.
//
// For a prefix P (default "socket.io") and a namespace N:
//   stream P                 XADD P MAXLEN ~ 10000 * uid U nsp N type T data D: broadcasts
//                            without acks (3), socketsJoin (4), socketsLeave (5),
//                            disconnectSockets (6). T is the type as decimal text; D is
//                            JSON.stringify(data), or, when data holds binary and the type may
//                            carry it, base64(msgpack(data)). A reader tells them apart by the
//                            first character ('{': JSON). Every node reads it with XREAD BLOCK.
//   channel P#N#             PUBLISH msgpack {type, data, uid, nsp}: the messages nobody needs
//                            later (a broadcast with acks, serverSideEmit, fetchSockets). Every
//                            node SUBSCRIBEs; PUBSUB NUMSUB of it counts the nodes.
//   channel P#N#UID#         PUBLISH msgpack {type, data, uid, nsp}: the responses to node UID.
//   key sio:session:PID      SET base64(msgpack {sid, pid, rooms, data}) PX <recovery window>:
//                            a socket that dropped, for connection state recovery; taken with
//                            MULTI GET DEL EXEC, its missed broadcasts read back with XRANGE
//                            from the offset (a stream entry id) the client last saw.
//
// A broadcast's offset, the last argument of a stored EVENT when recovery is on, is the id of
// its stream entry ("1700000000000-0"), the same on every node.
//
// Nothing here throws on bad input: decoders return codec::result with the reason.
#pragma once

#include "sio/adapter/redis_codec.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sio::adapter::redis::streams {

// socket.io-adapter's MessageType.
enum class message_type : int {
    initial_heartbeat = 1,
    heartbeat = 2,
    broadcast = 3,
    sockets_join = 4,
    sockets_leave = 5,
    disconnect_sockets = 6,
    fetch_sockets = 7,
    fetch_sockets_response = 8,
    server_side_emit = 9,
    server_side_emit_response = 10,
    broadcast_client_count = 11,
    broadcast_ack = 12,
    adapter_close = 13,
};

struct message {
    std::string uid;
    std::string nsp;
    int type = 0;
    json data;  // null when absent
};

using fields = std::vector<std::pair<std::string, std::string>>;

// The types whose data the Node adapters send as msgpack when it holds binary.
bool may_hold_binary(int type);
// A decoded {uid, nsp, type[, data]} map as a message; an error when a field is missing.
result<message> message_from(const json& m);

std::string public_channel(std::string_view prefix, std::string_view nsp);                      // P#N#
std::string private_channel(std::string_view prefix, std::string_view nsp, std::string_view uid);  // P#N#UID#

// A stream entry's fields, in the Node adapter's order (uid, nsp, type, data).
fields encode_entry(const message& m);
result<message> decode_entry(const fields& f);

// msgpack {type, data, uid, nsp}, for the channels.
// A message as the ClusterAdapter writes it: {type, data (when any), uid, nsp}.
json message_object(const message& m);
std::string encode_published(const message& m);
result<message> decode_published(std::string_view bytes);

// The data of the messages this node sends.
json broadcast_data(const wire_packet& packet, const broadcast_opts& opts,
                    std::optional<std::string_view> request_id = std::nullopt);
json rooms_data(const broadcast_opts& opts, const std::vector<std::string>& rooms);
json disconnect_data(const broadcast_opts& opts, bool close);

// Stream entry ids: "MS-SEQ", both decimal. next_id: the smallest id after `id` (XRANGE's
// exclusive start before Redis 6.2).
bool is_stream_id(std::string_view id);
std::optional<std::string> next_id(std::string_view id);
// a < b as stream ids (both valid).
bool id_less(std::string_view a, std::string_view b);

// A session record: base64(msgpack {sid, pid, rooms, data}).
struct session_record {
    std::string sid;
    std::string pid;
    std::vector<std::string> rooms;
    json data = json::object();
    // Not in the Node adapter's record (which ignores it): the stream id when the socket first
    // connected, so that a client that never saw an offset can be recovered by this server.
    std::string since;
};
std::string encode_session(const session_record& s);
result<session_record> decode_session(std::string_view text);

// Whether a stored broadcast with these options reaches a socket in `rooms` (the Node adapter's
// rule: no rooms or one of them, and none of the excepted).
bool reaches(const std::vector<std::string>& rooms, const broadcast_opts& opts);

}  // namespace sio::adapter::redis::streams
