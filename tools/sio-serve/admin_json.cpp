// The Admin UI's JSON forms (see admin_json.hpp).
#include "admin_json.hpp"

#include <sio/namespace.hpp>

#include <fmt/core.h>

#include <array>
#include <ctime>

namespace sio::serve::admin_json {

std::int64_t epoch_ms(wall_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string iso_time(wall_clock::time_point t) {
    const auto ms = epoch_ms(t);
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

std::string date_string(wall_clock::time_point t) {
    static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t secs = wall_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{} {} {:02} {:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)", days.at(tm.tm_wday),
                       months.at(tm.tm_mon), tm.tm_mday, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

json local_socket(const sio::socket& s, const std::string& transport, std::vector<std::string> rooms,
                  std::string_view engine_path, bool tls) {
    const auto& hs = s.handshake();
    json data = s.data();
    if (data.is_object()) data.erase("_admin");  // the feed's own, shown as clientId and transport
    auto header = [&](const char* name) -> const std::string* {
        auto it = hs.headers.find(name);
        return it != hs.headers.end() && !it->second.empty() ? &it->second : nullptr;
    };
    const std::string* forwarded = header("cf-connecting-ip");
    if (!forwarded) forwarded = header("x-forwarded-for");
    std::string url{engine_path};
    char sep = '?';
    for (const auto& [key, value] : hs.query) {
        url += fmt::format("{}{}={}", sep, key, value);
        sep = '&';
    }
    json handshake = {
        {"address", forwarded ? *forwarded : hs.address},
        {"headers", hs.headers},
        {"query", hs.query},
        {"issued", epoch_ms(hs.time)},
        {"secure", tls},
        {"time", date_string(hs.time)},
        {"url", std::move(url)},
        {"xdomain", header("origin") != nullptr},
    };
    return json{{"id", s.id()},
                {"clientId", hs.session_id.substr(0, 12)},
                {"transport", transport},
                {"nsp", s.nsp().name()},
                {"data", std::move(data)},
                {"handshake", std::move(handshake)},
                {"rooms", std::move(rooms)}};
}

// A socket as another server's fetchSockets answer describes it ({id, handshake, rooms, data}), in
// the form all_sockets carries. A Node server instrumented by the Admin UI keeps the client id and
// the transport in data._admin; a sio-serve's answer has only the handshake's query to tell the
// transport it opened with.
json remote_socket(const std::string& nsp, const json& d) {
    json data = d.contains("data") && d["data"].is_object() ? d["data"] : json::object();
    json out = {{"id", d.at("id").get<std::string>()}, {"nsp", nsp}};
    const json handshake_in = d.contains("handshake") && d["handshake"].is_object() ? d["handshake"] : json::object();
    if (auto admin = data.find("_admin"); admin != data.end()) {
        if (admin->is_object()) {
            if (auto c = admin->find("clientId"); c != admin->end() && c->is_string()) out["clientId"] = *c;
            if (auto t = admin->find("transport"); t != admin->end() && t->is_string()) out["transport"] = *t;
        }
        data.erase("_admin");
    }
    if (!out.contains("transport")) {
        auto q = handshake_in.find("query");
        if (q != handshake_in.end() && q->is_object() && q->contains("transport") && (*q)["transport"].is_string())
            out["transport"] = (*q)["transport"];
    }
    json handshake = json::object();
    for (const char* key : {"headers", "query", "issued", "secure", "time", "url", "xdomain", "address"}) {
        if (auto it = handshake_in.find(key); it != handshake_in.end()) handshake[key] = *it;
    }
    if (auto h = handshake_in.find("headers"); h != handshake_in.end() && h->is_object()) {
        for (const char* forwarded : {"x-forwarded-for", "cf-connecting-ip"}) {
            if (auto f = h->find(forwarded); f != h->end() && f->is_string() && !f->get_ref<const std::string&>().empty())
                handshake["address"] = *f;
        }
    }
    out["data"] = std::move(data);
    out["handshake"] = std::move(handshake);
    out["rooms"] = d.contains("rooms") && d["rooms"].is_array() ? d["rooms"] : json::array();
    return out;
}

void set_admin_data(sio::socket& s, const std::string& transport) {
    json data = s.data();
    if (!data.is_object()) data = json::object();
    data["_admin"] = {{"clientId", s.handshake().session_id.substr(0, 12)},
                      {"transport", transport.empty() ? "polling" : transport}};
    s.set_data(std::move(data));
}

}  // namespace sio::serve::admin_json
