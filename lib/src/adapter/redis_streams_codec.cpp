#include "sio/adapter/redis_streams_codec.hpp"

#include "sio/codec/base64.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace sio::adapter::redis::streams {

namespace {

using codec::errc;
using codec::make_error;

}  // namespace

bool may_hold_binary(int type) {
    switch (static_cast<message_type>(type)) {
    case message_type::broadcast:
    case message_type::fetch_sockets_response:
    case message_type::server_side_emit:
    case message_type::server_side_emit_response:
    case message_type::broadcast_ack: return true;
    default: return false;
    }
}

namespace {

std::optional<std::uint64_t> decimal(std::string_view s) {
    std::uint64_t v = 0;
    if (s.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> split_id(std::string_view id) {
    const auto dash = id.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto ms = decimal(id.substr(0, dash));
    auto seq = decimal(id.substr(dash + 1));
    if (!ms || !seq) return std::nullopt;
    return std::pair{*ms, *seq};
}

json strings(const std::vector<std::string>& v) {
    json a = json::array();
    for (const auto& s : v) a.push_back(s);
    return a;
}

// Data as text: JSON when it starts with '{', else base64 of msgpack.
result<json> decode_data(std::string_view text) {
    if (!text.empty() && text.front() == '{') {
        auto v = json::parse(text, nullptr, false);
        if (v.is_discarded()) return make_error(errc::invalid_payload, "data is not valid JSON");
        return v;
    }
    auto bytes = codec::base64_decode(text);
    if (!bytes) return make_error(errc::invalid_payload, "data is neither JSON nor base64");
    return from_msgpack(*bytes);
}

}  // namespace

result<message> message_from(const json& m) {
    if (!m.is_object()) return make_error(errc::invalid_payload, "message is not a map");
    message out;
    auto uid = m.find("uid");
    auto nsp = m.find("nsp");
    auto type = m.find("type");
    if (uid == m.end() || !uid->is_string()) return make_error(errc::invalid_payload, "message without uid");
    if (nsp == m.end() || !nsp->is_string()) return make_error(errc::invalid_payload, "message without nsp");
    if (type == m.end() || !type->is_number_integer()) return make_error(errc::invalid_payload, "message without type");
    out.uid = uid->get<std::string>();
    out.nsp = nsp->get<std::string>();
    out.type = type->get<int>();
    if (auto d = m.find("data"); d != m.end()) out.data = *d;
    return out;
}

std::string public_channel(std::string_view prefix, std::string_view nsp) {
    std::string out(prefix);
    out.append("#").append(nsp).append("#");
    return out;
}

std::string private_channel(std::string_view prefix, std::string_view nsp, std::string_view uid) {
    auto out = public_channel(prefix, nsp);
    out.append(uid).append("#");
    return out;
}

fields encode_entry(const message& m) {
    fields out{{"uid", m.uid}, {"nsp", m.nsp}, {"type", std::to_string(m.type)}};
    if (!m.data.is_null()) {
        if (may_hold_binary(m.type) && has_binary(m.data))
            out.emplace_back("data", codec::base64_encode(to_msgpack(m.data)));
        else
            out.emplace_back("data", to_json_text(m.data));
    }
    return out;
}

result<message> decode_entry(const fields& f) {
    message out;
    const std::string* type = nullptr;
    const std::string* data = nullptr;
    bool uid = false;
    bool nsp = false;
    for (const auto& [k, v] : f) {
        if (k == "uid") out.uid = v, uid = true;
        else if (k == "nsp") out.nsp = v, nsp = true;
        else if (k == "type") type = &v;
        else if (k == "data") data = &v;
    }
    if (!uid || !nsp || !type) return make_error(errc::invalid_payload, "entry without uid, nsp or type");
    auto t = decimal(*type);
    if (!t || *t > 1000) return make_error(errc::invalid_payload, "entry type is not a small number");
    out.type = static_cast<int>(*t);
    if (data && !data->empty()) {
        auto d = decode_data(*data);
        if (!d) return d.err();
        out.data = std::move(*d);
    }
    return out;
}

json message_object(const message& m) {
    json o = json::object();
    o["type"] = m.type;
    if (!m.data.is_null()) o["data"] = m.data;
    o["uid"] = m.uid;
    o["nsp"] = m.nsp;
    return o;
}

std::string encode_published(const message& m) {
    return to_msgpack(message_object(m));
}

result<message> decode_published(std::string_view bytes) {
    auto v = from_msgpack(bytes);
    if (!v) return v.err();
    return message_from(*v);
}

json broadcast_data(const wire_packet& packet, const broadcast_opts& opts,
                    std::optional<std::string_view> request_id) {
    // socket.io's broadcast packet: {type, data}; the namespace is the message's.
    json p = json::object();
    p["type"] = packet.type;
    p["data"] = packet.data;
    if (packet.id) p["id"] = *packet.id;
    json d = json::object();
    d["packet"] = std::move(p);
    if (request_id) d["requestId"] = *request_id;
    d["opts"] = opts_to_json(opts, true);
    return d;
}

json rooms_data(const broadcast_opts& opts, const std::vector<std::string>& rooms) {
    json d = json::object();
    d["opts"] = opts_to_json(opts, true);
    d["rooms"] = strings(rooms);
    return d;
}

json disconnect_data(const broadcast_opts& opts, bool close) {
    json d = json::object();
    d["opts"] = opts_to_json(opts, true);
    d["close"] = close;
    return d;
}

bool is_stream_id(std::string_view id) { return split_id(id).has_value(); }

std::optional<std::string> next_id(std::string_view id) {
    auto p = split_id(id);
    if (!p) return std::nullopt;
    if (p->second == UINT64_MAX) return std::to_string(p->first + 1) + "-0";
    return std::to_string(p->first) + "-" + std::to_string(p->second + 1);
}

bool id_less(std::string_view a, std::string_view b) {
    auto x = split_id(a);
    auto y = split_id(b);
    return x && y && *x < *y;
}

std::string encode_session(const session_record& s) {
    json o = json::object();
    o["sid"] = s.sid;
    o["pid"] = s.pid;
    o["rooms"] = strings(s.rooms);
    o["data"] = s.data;
    if (!s.since.empty()) o["since"] = s.since;
    return codec::base64_encode(to_msgpack(o));
}

result<session_record> decode_session(std::string_view text) {
    auto bytes = codec::base64_decode(text);
    if (!bytes) return make_error(errc::invalid_payload, "session record is not base64");
    auto v = from_msgpack(*bytes);
    if (!v) return v.err();
    if (!v->is_object()) return make_error(errc::invalid_payload, "session record is not a map");
    session_record out;
    auto sid = v->find("sid");
    auto pid = v->find("pid");
    if (sid == v->end() || !sid->is_string() || pid == v->end() || !pid->is_string())
        return make_error(errc::invalid_payload, "session record without sid or pid");
    out.sid = sid->get<std::string>();
    out.pid = pid->get<std::string>();
    if (auto r = v->find("rooms"); r != v->end() && r->is_array()) {
        for (const auto& e : *r) {
            if (e.is_string()) out.rooms.push_back(e.get<std::string>());
        }
    }
    if (auto d = v->find("data"); d != v->end()) out.data = *d;
    if (auto s = v->find("since"); s != v->end() && s->is_string() && is_stream_id(s->get<std::string>()))
        out.since = s->get<std::string>();
    return out;
}

bool reaches(const std::vector<std::string>& rooms, const broadcast_opts& opts) {
    auto in = [](const std::vector<std::string>& v, const std::string& x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    };
    const bool included =
        opts.rooms.empty() || std::any_of(rooms.begin(), rooms.end(), [&](const auto& r) { return in(opts.rooms, r); });
    const bool excluded = std::any_of(rooms.begin(), rooms.end(), [&](const auto& r) { return in(opts.except, r); });
    return included && !excluded;
}

}  // namespace sio::adapter::redis::streams
