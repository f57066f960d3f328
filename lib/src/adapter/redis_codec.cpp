#include "sio/adapter/redis_codec.hpp"

namespace sio::adapter::redis {

namespace {

using codec::errc;
using codec::make_error;

std::string join(std::initializer_list<std::string_view> parts) {
    std::string out;
    std::size_t n = 0;
    for (auto p : parts) n += p.size();
    out.reserve(n);
    for (auto p : parts) out.append(p);
    return out;
}

result<std::vector<std::string>> string_list(const json& o, const char* key) {
    std::vector<std::string> out;
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return out;
    if (!it->is_array()) return make_error(errc::invalid_payload, std::string(key) + " is not an array");
    for (const auto& e : *it) {
        if (!e.is_string()) return make_error(errc::invalid_payload, std::string(key) + " holds a non-string");
        out.push_back(e.get<std::string>());
    }
    return out;
}

json strings(const std::vector<std::string>& v) {
    json a = json::array();
    for (const auto& s : v) a.push_back(s);
    return a;
}

json buffers_as_node(const json& v) {
    if (v.is_binary()) {
        json data = json::array();
        for (auto b : v.get_binary()) data.push_back(static_cast<unsigned>(b));
        return json{{"type", "Buffer"}, {"data", std::move(data)}};
    }
    if (v.is_array()) {
        json a = json::array();
        for (const auto& e : v) a.push_back(buffers_as_node(e));
        return a;
    }
    if (v.is_object()) {
        json o = json::object();
        for (const auto& [k, e] : v.items()) o[k] = buffers_as_node(e);
        return o;
    }
    return v;
}

json packet_to_json(const wire_packet& p) {
    json o = json::object();
    o["type"] = p.type;
    o["data"] = p.data;
    o["nsp"] = p.nsp;
    if (p.id) o["id"] = *p.id;
    return o;
}

json opts_json(const std::vector<std::string>& rooms, const std::vector<std::string>& except) {
    json o = json::object();
    o["rooms"] = strings(rooms);
    o["except"] = strings(except);
    return o;
}

}  // namespace

// --- channels --------------------------------------------------------------------------------

std::string broadcast_channel(std::string_view prefix, std::string_view nsp) {
    return join({prefix, "#", nsp, "#"});
}
std::string broadcast_pattern(std::string_view prefix, std::string_view nsp) {
    return join({prefix, "#", nsp, "#*"});
}
std::string room_channel(std::string_view prefix, std::string_view nsp, std::string_view room) {
    return join({prefix, "#", nsp, "#", room, "#"});
}
std::string request_channel(std::string_view prefix, std::string_view nsp) {
    return join({prefix, "-request#", nsp, "#"});
}
std::string response_channel(std::string_view prefix, std::string_view nsp) {
    return join({prefix, "-response#", nsp, "#"});
}
std::string specific_response_channel(std::string_view prefix, std::string_view nsp,
                                      std::string_view uid) {
    return join({prefix, "-response#", nsp, "#", uid, "#"});
}

std::optional<std::string> room_of_channel(std::string_view prefix, std::string_view nsp,
                                           std::string_view channel) {
    const auto base = broadcast_channel(prefix, nsp);
    if (channel.size() < base.size() || channel.substr(0, base.size()) != base) return std::nullopt;
    auto rest = channel.substr(base.size());
    if (rest.empty()) return std::string();
    // The Node adapter takes everything between the prefix and the last character.
    if (rest.back() != '#') return std::nullopt;
    rest.remove_suffix(1);
    return std::string(rest);
}

bool has_binary(const json& v) {
    if (v.is_binary()) return true;
    if (v.is_array() || v.is_object()) {
        for (const auto& e : v) {
            if (has_binary(e)) return true;
        }
    }
    return false;
}

std::string to_json_text(const json& value) {
    if (!has_binary(value)) return value.dump(-1, ' ', false, json::error_handler_t::replace);
    return buffers_as_node(value).dump(-1, ' ', false, json::error_handler_t::replace);
}

// --- messages --------------------------------------------------------------------------------

bool broadcast_opts::flag(std::string_view name) const {
    if (!flags.is_object()) return false;
    auto it = flags.find(name);
    return it != flags.end() && it->is_boolean() && it->get<bool>();
}

result<broadcast_opts> opts_from_json(const json& o) {
    if (!o.is_object()) return make_error(errc::invalid_payload, "opts is not an object");
    broadcast_opts out;
    auto rooms = string_list(o, "rooms");
    if (!rooms) return rooms.err();
    auto except = string_list(o, "except");
    if (!except) return except.err();
    out.rooms = std::move(*rooms);
    out.except = std::move(*except);
    if (auto it = o.find("flags"); it != o.end() && it->is_object()) out.flags = *it;
    return out;
}

json opts_to_json(const broadcast_opts& opts, bool with_flags) {
    json o = opts_json(opts.rooms, opts.except);
    if (with_flags) o["flags"] = opts.flags.is_object() ? opts.flags : json::object();
    return o;
}

std::string encode_broadcast(const broadcast_message& m) {
    json a = json::array();
    a.push_back(m.uid);
    a.push_back(packet_to_json(m.packet));
    a.push_back(opts_to_json(m.opts, true));
    return to_msgpack(a);
}

namespace {

result<wire_packet> packet_from_json(const json& p) {
    if (!p.is_object()) return make_error(errc::invalid_payload, "packet is not an object");
    wire_packet out;
    auto type = p.find("type");
    if (type == p.end() || !type->is_number_integer()) {
        return make_error(errc::invalid_payload, "packet type is not an integer");
    }
    out.type = type->get<int>();
    if (auto data = p.find("data"); data != p.end()) out.data = *data;
    if (auto nsp = p.find("nsp"); nsp != p.end() && !nsp->is_null()) {
        if (!nsp->is_string()) return make_error(errc::invalid_payload, "packet nsp is not a string");
        out.nsp = nsp->get<std::string>();
    }
    if (auto id = p.find("id"); id != p.end() && id->is_number_unsigned()) out.id = id->get<std::uint64_t>();
    return out;
}

}  // namespace

result<broadcast_message> decode_broadcast(std::string_view bytes) {
    auto v = from_msgpack(bytes);
    if (!v) return v.err();
    const json& a = *v;
    if (!a.is_array() || a.size() < 3) {
        return make_error(errc::invalid_payload, "broadcast is not [uid, packet, opts]");
    }
    broadcast_message m;
    if (!a[0].is_string()) return make_error(errc::invalid_payload, "broadcast uid is not a string");
    m.uid = a[0].get<std::string>();
    auto p = packet_from_json(a[1]);
    if (!p) return p.err();
    m.packet = std::move(*p);
    auto o = opts_from_json(a[2]);
    if (!o) return o.err();
    m.opts = std::move(*o);
    return m;
}

std::string channel_for(std::string_view prefix, std::string_view nsp, const broadcast_opts& o) {
    if (o.rooms.size() == 1) return room_channel(prefix, nsp, o.rooms.front());
    return broadcast_channel(prefix, nsp);
}

result<json> decode_message(std::string_view bytes) {
    if (bytes.empty()) return make_error(errc::empty_input, "empty message");
    json v;
    if (bytes.front() == '{') {
        v = json::parse(bytes, nullptr, false);
        if (v.is_discarded()) return make_error(errc::invalid_json, "message is not valid JSON");
    } else {
        auto m = from_msgpack(bytes);
        if (!m) return m.err();
        v = std::move(*m);
    }
    if (!v.is_object()) return make_error(errc::invalid_payload, "message is not an object");
    return v;
}

std::string encode_all_rooms_request(std::string_view uid, std::string_view request_id) {
    json o = json::object();
    o["uid"] = uid;
    o["requestId"] = request_id;
    o["type"] = static_cast<int>(request_type::all_rooms);
    return to_json_text(o);
}

std::string encode_sockets_request(std::string_view uid, std::string_view request_id,
                                   const std::vector<std::string>& rooms) {
    json o = json::object();
    o["uid"] = uid;
    o["requestId"] = request_id;
    o["type"] = static_cast<int>(request_type::sockets);
    o["rooms"] = strings(rooms);
    return to_json_text(o);
}

std::string encode_fetch_sockets_request(std::string_view uid, std::string_view request_id,
                                         const broadcast_opts& opts) {
    json o = json::object();
    o["uid"] = uid;
    o["requestId"] = request_id;
    o["type"] = static_cast<int>(request_type::remote_fetch);
    o["opts"] = opts_to_json(opts, false);
    return to_json_text(o);
}

namespace {
std::string rooms_request(std::string_view uid, request_type t, const broadcast_opts& opts,
                          const std::vector<std::string>& rooms) {
    json o = json::object();
    o["uid"] = uid;
    o["type"] = static_cast<int>(t);
    o["opts"] = opts_to_json(opts, false);
    o["rooms"] = strings(rooms);
    return to_json_text(o);
}
}  // namespace

std::string encode_remote_join_request(std::string_view uid, const broadcast_opts& opts,
                                       const std::vector<std::string>& rooms) {
    return rooms_request(uid, request_type::remote_join, opts, rooms);
}

std::string encode_remote_leave_request(std::string_view uid, const broadcast_opts& opts,
                                        const std::vector<std::string>& rooms) {
    return rooms_request(uid, request_type::remote_leave, opts, rooms);
}

std::string encode_remote_disconnect_request(std::string_view uid, const broadcast_opts& opts,
                                             bool close) {
    json o = json::object();
    o["uid"] = uid;
    o["type"] = static_cast<int>(request_type::remote_disconnect);
    o["opts"] = opts_to_json(opts, false);
    o["close"] = close;
    return to_json_text(o);
}

std::string encode_server_side_emit_request(std::string_view uid,
                                            std::optional<std::string_view> request_id,
                                            const json& data) {
    json o = json::object();
    o["uid"] = uid;
    if (request_id) o["requestId"] = *request_id;
    o["type"] = static_cast<int>(request_type::server_side_emit);
    o["data"] = data;
    return to_json_text(o);
}

std::string encode_broadcast_request(std::string_view uid, std::string_view request_id,
                                     const wire_packet& packet, const broadcast_opts& opts) {
    json o = json::object();
    o["uid"] = uid;
    o["requestId"] = request_id;
    o["type"] = static_cast<int>(request_type::broadcast);
    o["packet"] = packet_to_json(packet);
    o["opts"] = opts_to_json(opts, true);
    return to_msgpack(o);
}

std::string encode_sockets_response(std::string_view request_id,
                                    const std::vector<std::string>& ids) {
    json o = json::object();
    o["requestId"] = request_id;
    o["sockets"] = strings(ids);
    return to_json_text(o);
}

std::string encode_all_rooms_response(std::string_view request_id,
                                      const std::vector<std::string>& rooms) {
    json o = json::object();
    o["requestId"] = request_id;
    o["rooms"] = strings(rooms);
    return to_json_text(o);
}

std::string encode_fetch_sockets_response(std::string_view request_id, const json& sockets) {
    json o = json::object();
    o["requestId"] = request_id;
    o["sockets"] = sockets.is_array() ? sockets : json::array();
    return to_json_text(o);
}

std::string encode_remote_done_response(std::string_view request_id) {
    json o = json::object();
    o["requestId"] = request_id;
    return to_json_text(o);
}

std::string encode_server_side_emit_response(std::string_view request_id, const json& data) {
    json o = json::object();
    o["type"] = static_cast<int>(request_type::server_side_emit);
    o["requestId"] = request_id;
    o["data"] = data;
    return to_json_text(o);
}

std::string encode_broadcast_client_count(std::string_view request_id, std::size_t count) {
    json o = json::object();
    o["type"] = static_cast<int>(request_type::broadcast_client_count);
    o["requestId"] = request_id;
    o["clientCount"] = count;
    return to_json_text(o);
}

std::string encode_broadcast_ack(std::string_view request_id, const json& arg) {
    json o = json::object();
    o["type"] = static_cast<int>(request_type::broadcast_ack);
    o["requestId"] = request_id;
    o["packet"] = arg;
    return to_msgpack(o);
}

}  // namespace sio::adapter::redis
