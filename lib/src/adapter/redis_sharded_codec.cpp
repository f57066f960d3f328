#include "sio/adapter/redis_sharded_codec.hpp"

namespace sio::adapter::redis::sharded {

namespace {

// socket.io's room ids of sockets are 20 characters; the Node adapter goes by the length alone.
bool looks_like_socket_id(std::string_view room) { return room.size() == 20; }

}  // namespace

std::string room_channel(std::string_view prefix, std::string_view nsp, std::string_view room) {
    auto out = streams::public_channel(prefix, nsp);
    out.append(room).append("#");
    return out;
}

std::string channel_for(std::string_view prefix, subscription_mode mode, const message& m) {
    // A broadcast with acks is answered by every node (the server count is the cluster's), so it
    // never goes on a room's channel.
    if (m.type == static_cast<int>(streams::message_type::broadcast) && m.data.is_object() &&
        !m.data.contains("requestId") && mode != subscription_mode::static_mode) {
        auto o = m.data.find("opts");
        if (o != m.data.end() && o->is_object()) {
            auto rooms = o->find("rooms");
            if (rooms != o->end() && rooms->is_array() && rooms->size() == 1 && (*rooms)[0].is_string()) {
                const auto& room = (*rooms)[0].get_ref<const std::string&>();
                if (mode == subscription_mode::dynamic_private || !looks_like_socket_id(room))
                    return room_channel(prefix, m.nsp, room);
            }
        }
    }
    return streams::public_channel(prefix, m.nsp);
}

bool has_own_channel(subscription_mode mode, bool private_room) {
    return mode == subscription_mode::dynamic_private || (mode == subscription_mode::dynamic && !private_room);
}

std::string encode(const message& m) {
    const json o = streams::message_object(m);
    if (streams::may_hold_binary(m.type) && has_binary(m.data)) return to_msgpack(o);
    return to_json_text(o);
}

result<message> decode(std::string_view bytes) {
    if (!bytes.empty() && bytes.front() == '{') {
        auto v = json::parse(bytes, nullptr, false);
        if (v.is_discarded()) return codec::make_error(codec::errc::invalid_payload, "message is not valid JSON");
        return streams::message_from(v);
    }
    auto v = from_msgpack(bytes);
    if (!v) return v.err();
    return streams::message_from(*v);
}

}  // namespace sio::adapter::redis::sharded
