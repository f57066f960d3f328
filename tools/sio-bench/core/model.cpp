#include "sio-bench/core/model.hpp"

#include "sio/codec/engine_io.hpp"
#include "sio/codec/socket_io.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

namespace sio::bench {

std::optional<std::chrono::microseconds> parse_duration(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double v = 0;
    try {
        std::size_t used = 0;
        v = std::stod(std::string(s.substr(0, i)), &used);
        if (used != i) return std::nullopt;
    } catch (...) {
        return std::nullopt;
    }
    const std::string_view unit = s.substr(i);
    double mult = 0;
    if (unit.empty() || unit == "s") mult = 1e6;
    else if (unit == "ms") mult = 1e3;
    else if (unit == "us") mult = 1;
    else if (unit == "m") mult = 60e6;
    else if (unit == "h") mult = 3600e6;
    else return std::nullopt;
    const double us = v * mult;
    if (!std::isfinite(us) || us < 0 || us > 1e15) return std::nullopt;
    return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(us)));
}

schedule schedule::make(double rate, unsigned client, unsigned clients) {
    schedule s;
    if (rate <= 0) return s;
    s.interval = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
    if (clients > 0) s.phase = s.interval * static_cast<std::int64_t>(client) / static_cast<std::int64_t>(clients);
    return s;
}

std::uint64_t schedule::count_before(std::chrono::nanoseconds span) const {
    if (span <= phase) return 0;
    if (interval.count() <= 0) return 0;
    return static_cast<std::uint64_t>((span - phase - std::chrono::nanoseconds(1)) / interval) + 1;
}

void counters::merge(const counters& o) {
    sent += o.sent;
    received += o.received;
    connected += o.connected;
    for (const auto& [k, v] : o.errors) errors[k] += v;
    latency.merge(o.latency);
    latency_uncorrected.merge(o.latency_uncorrected);
    connect.merge(o.connect);
    fanout.merge(o.fanout);
}

std::uint64_t counters::error_total() const {
    std::uint64_t n = 0;
    for (const auto& [k, v] : errors) n += v;
    return n;
}

std::size_t ws_header_size(std::size_t payload, bool masked) {
    std::size_t n = 2;
    if (payload >= 126) n += payload <= 65535 ? 2 : 8;
    if (masked) n += 4;
    return n;
}

wire_bytes echo_wire_bytes(std::string_view transport, std::string_view nsp, std::string_view event,
                           std::size_t payload, std::uint64_t ack_id) {
    using namespace sio::codec;
    const std::string body(payload, 'x');
    socketio::packet out{socketio::packet_type::event, std::string(nsp), ack_id, json::array({std::string(event), body})};
    socketio::packet back{socketio::packet_type::ack, std::string(nsp), ack_id, json::array({body})};
    const auto out_text = eio::encode_text(eio::packet{eio::packet_type::message, socketio::encode(out).text, false});
    const auto back_text = eio::encode_text(eio::packet{eio::packet_type::message, socketio::encode(back).text, false});
    wire_bytes w;
    w.payload = 2.0 * static_cast<double>(payload);
    w.protocol = static_cast<double>(out_text.size() + back_text.size()) - w.payload;
    if (transport == "websocket") {
        w.ws_framing = static_cast<double>(ws_header_size(out_text.size(), true) + ws_header_size(back_text.size(), false));
    } else {
        w.http_known = false;  // header bytes and batching are not visible through the client API
    }
    return w;
}

process_usage self_usage() {
    process_usage u;
    rusage ru{};
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        u.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                        static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    }
    std::ifstream f("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    if (f >> size >> resident) u.rss_kib = resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
    return u;
}

std::optional<std::uint64_t> parse_vmrss_kib(std::string_view text) {
    const auto at = text.find("VmRSS:");
    if (at == std::string_view::npos) return std::nullopt;
    std::size_t i = at + 6;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + text.size(), v);
    if (ec != std::errc{} || p == text.data() + i) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> process_rss_kib(long pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    if (!f) return std::nullopt;
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_vmrss_kib(ss.str());
}

namespace {
nlohmann::json pct_json(const histogram& h) {
    return {{"p50", h.percentile(0.5)}, {"p90", h.percentile(0.9)}, {"p99", h.percentile(0.99)},
            {"p999", h.percentile(0.999)}, {"max", h.max()}};
}
}  // namespace

std::string to_json(const run_result& r) {
    nlohmann::json errors = nlohmann::json::object();
    for (const auto& [k, v] : r.totals.errors) errors[k] = v;
    nlohmann::json j{{"scenario", r.scenario},
                     {"transport", r.transport},
                     {"clients", r.clients},
                     {"duration_s", r.duration_s},
                     {"sent", r.totals.sent},
                     {"received", r.totals.received},
                     {"connected", r.totals.connected},
                     {"errors", r.totals.error_total()},
                     {"errors_by_kind", errors},
                     {"msgs_per_s", r.msgs_per_s()},
                     {"latency_us", pct_json(r.totals.latency)},
                     {"latency_uncorrected_us", pct_json(r.totals.latency_uncorrected)},
                     {"connect_us", pct_json(r.totals.connect)},
                     {"bytes_per_msg",
                      {{"total", r.bytes.http_known ? nlohmann::json(r.bytes.total()) : nlohmann::json(nullptr)},
                       {"http", r.bytes.http_known ? nlohmann::json(r.bytes.http) : nlohmann::json(nullptr)},
                       {"ws_framing", r.bytes.ws_framing},
                       {"protocol", r.bytes.protocol},
                       {"payload", r.bytes.payload}}},
                     {"http_requests_per_msg", r.http_requests_per_msg ? nlohmann::json(*r.http_requests_per_msg) : nlohmann::json(nullptr)},
                     {"client_cpu_pct", r.client_cpu_pct},
                     {"client_rss_kib", r.client_rss_kib}};
    if (r.scenario == "broadcast") {
        j["fanout_us"] = pct_json(r.totals.fanout);
        if (r.expected) j["expected"] = *r.expected;
    }
    if (r.server_rss_kib_after) {
        j["server_rss_kib"] = *r.server_rss_kib_after;
        if (r.server_rss_kib_before && r.totals.connected > 0) {
            j["server_rss_kib_per_conn"] =
                (static_cast<double>(*r.server_rss_kib_after) - static_cast<double>(*r.server_rss_kib_before)) /
                static_cast<double>(r.totals.connected);
        }
    }
    return j.dump();
}

std::string format_table(const std::vector<run_result>& rs) {
    if (rs.empty()) return {};
    std::string out;
    auto row = [&](std::string_view label, auto cell) {
        out += fmt::format("{:<24}", label);
        for (std::size_t i = 0; i < rs.size(); ++i) {
            std::string c = cell(rs[i]);
            out += fmt::format(" {:>18}", c);
        }
        out += '\n';
    };
    auto ratio = [&](const run_result& r, double v, double base) {
        if (&r == &rs.front() || rs.size() < 2 || base <= 0) return fmt::format("{:.0f}", v);
        return fmt::format("{:.0f} (x{:.2f})", v, v / base);
    };
    row("", [](const run_result& r) { return r.transport; });
    row("scenario", [](const run_result& r) { return r.scenario; });
    row("clients connected", [](const run_result& r) { return fmt::format("{}/{}", r.totals.connected, r.clients); });
    row("duration s", [](const run_result& r) { return fmt::format("{:.2f}", r.duration_s); });
    row("sent", [](const run_result& r) { return std::to_string(r.totals.sent); });
    row("received", [](const run_result& r) { return std::to_string(r.totals.received); });
    row("errors", [](const run_result& r) { return std::to_string(r.totals.error_total()); });
    row("msgs/s", [&](const run_result& r) { return ratio(r, r.msgs_per_s(), rs.front().msgs_per_s()); });
    for (auto [label, q] : {std::pair{"latency p50 us", 0.5}, {"latency p90 us", 0.9}, {"latency p99 us", 0.99},
                            {"latency p99.9 us", 0.999}, {"latency max us", 1.0}}) {
        row(label, [&, q = q](const run_result& r) {
            return ratio(r, static_cast<double>(r.totals.latency.percentile(q)),
                         static_cast<double>(rs.front().totals.latency.percentile(q)));
        });
    }
    if (rs.front().scenario == "broadcast") {
        row("fan-out p50 us", [](const run_result& r) { return std::to_string(r.totals.fanout.percentile(0.5)); });
        row("fan-out p99 us", [](const run_result& r) { return std::to_string(r.totals.fanout.percentile(0.99)); });
        row("deliveries expected", [](const run_result& r) { return r.expected ? std::to_string(*r.expected) : std::string("-"); });
    }
    row("uncorrected p99 us", [](const run_result& r) { return std::to_string(r.totals.latency_uncorrected.percentile(0.99)); });
    row("connect p50 us", [](const run_result& r) { return std::to_string(r.totals.connect.percentile(0.5)); });
    row("connect p99 us", [](const run_result& r) { return std::to_string(r.totals.connect.percentile(0.99)); });
    row("bytes/msg ws framing", [](const run_result& r) { return fmt::format("{:.0f}", r.bytes.ws_framing); });
    row("bytes/msg protocol", [](const run_result& r) { return fmt::format("{:.0f}", r.bytes.protocol); });
    row("bytes/msg payload", [](const run_result& r) { return fmt::format("{:.0f}", r.bytes.payload); });
    row("bytes/msg http", [](const run_result& r) { return r.bytes.http_known ? fmt::format("{:.0f}", r.bytes.http) : std::string("n/a"); });
    row("bytes/msg total", [](const run_result& r) { return r.bytes.http_known ? fmt::format("{:.0f}", r.bytes.total()) : std::string("n/a"); });
    row("http requests/msg", [](const run_result& r) { return r.http_requests_per_msg ? fmt::format("{:.2f}", *r.http_requests_per_msg) : std::string("-"); });
    row("client cpu %", [](const run_result& r) { return fmt::format("{:.0f}", r.client_cpu_pct); });
    row("client rss KiB", [](const run_result& r) { return std::to_string(r.client_rss_kib); });
    for (const auto& r : rs) {
        for (const auto& [k, v] : r.totals.errors) out += fmt::format("{}: error {}: {}\n", r.transport, k, v);
        if (r.server_rss_kib_after) {
            out += fmt::format("{}: server rss {} KiB", r.transport, *r.server_rss_kib_after);
            if (r.server_rss_kib_before && r.totals.connected > 0)
                out += fmt::format(" ({:+.1f} KiB per connection)",
                                   (static_cast<double>(*r.server_rss_kib_after) - static_cast<double>(*r.server_rss_kib_before)) /
                                       static_cast<double>(r.totals.connected));
            out += '\n';
        }
    }
    return out;
}

}  // namespace sio::bench
