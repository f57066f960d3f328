#include "sio-cli/core/format.hpp"

#include <fmt/core.h>

#include <ctime>

namespace sio::cli {

namespace {

constexpr std::string_view reset = "\x1b[0m";
constexpr std::string_view dim = "\x1b[2m";
constexpr std::string_view bold = "\x1b[1m";
constexpr std::string_view red = "\x1b[31m";
constexpr std::string_view yellow = "\x1b[33m";
constexpr std::string_view cyan = "\x1b[36m";

std::string paint(std::string_view color, std::string_view text, bool on) {
    if (!on) return std::string(text);
    return fmt::format("{}{}{}", color, text, reset);
}

std::string local_time(std::chrono::system_clock::time_point ts) {
    const auto t = std::chrono::system_clock::to_time_t(ts);
    std::tm tm{};
    localtime_r(&t, &tm);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count() % 1000;
    return fmt::format("{:02}:{:02}:{:02}.{:03}", tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

}  // namespace

std::string format_json(const record& r) {
    json o = json::object();
    o["ts"] = std::chrono::duration_cast<std::chrono::milliseconds>(r.ts.time_since_epoch()).count();
    o["dir"] = r.dir;
    o["nsp"] = r.nsp.empty() ? json(nullptr) : json(r.nsp);
    o["type"] = r.type;
    o["event"] = r.event ? json(*r.event) : json(nullptr);
    o["args"] = r.args.is_array() ? portable(r.args) : json::array({portable(r.args)});
    o["id"] = r.id ? json(*r.id) : json(nullptr);
    o["transport"] = r.transport.empty() ? json(nullptr) : json(r.transport);
    // Non-ASCII kept as UTF-8, but what a terminal would act on is escaped: still valid JSON.
    return neutralize(o.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string format_human(const record& r, bool color) {
    std::string line = paint(dim, local_time(r.ts), color);
    line += ' ';
    if (r.dir == "info") {
        const bool bad = r.type == "error" || r.type == "connect_error";
        line += paint(bad ? red : yellow, "-- " + neutralize(r.text), color);
        return line;
    }
    if (!r.nsp.empty()) {
        line += paint(cyan, neutralize(r.nsp), color);
        line += ' ';
    }
    line += r.dir == "in" ? "<-" : "->";
    line += ' ';
    if (r.type == "event") {
        line += paint(bold, neutralize(r.event.value_or("")), color);
    } else {
        line += paint(r.type == "connect_error" ? red : dim, r.type, color);
    }
    if (r.args.is_array()) {
        for (const auto& a : r.args) {
            line += ' ';
            line += render_json(a, color);
        }
    } else if (!r.args.is_null()) {
        line += ' ';
        line += render_json(r.args, color);
    }
    if (r.id) line += paint(dim, fmt::format(" #{}", *r.id), color);
    return line;
}

}  // namespace sio::cli
