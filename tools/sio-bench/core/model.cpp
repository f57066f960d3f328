#include "sio-bench/core/model.hpp"

#include "sio/codec/engine_io.hpp"
#include "sio/codec/socket_io.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
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
    phase_engine_open.merge(o.phase_engine_open);
    phase_upgrade.merge(o.phase_upgrade);
    phase_namespace.merge(o.phase_namespace);
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

std::optional<std::uint64_t> parse_proc_stat_cpu_ticks(std::string_view line) {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted
    // after the last ')'. utime and stime are fields 14 and 15, that is the 12th and 13th after it.
    const auto close = line.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = line.substr(close + 1);
    std::uint64_t total = 0;
    for (int field = 3; field <= 15; ++field) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        const auto end = rest.find(' ');
        const std::string_view token = rest.substr(0, end);
        if (token.empty()) return std::nullopt;
        if (field >= 14) {
            std::uint64_t v = 0;
            auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
            if (ec != std::errc{} || p != token.data() + token.size()) return std::nullopt;
            total += v;
        }
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    }
    return total;
}

std::optional<double> process_cpu_seconds(long pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!f || !std::getline(f, line)) return std::nullopt;
    const auto ticks = parse_proc_stat_cpu_ticks(line);
    const long hz = sysconf(_SC_CLK_TCK);
    if (!ticks || hz <= 0) return std::nullopt;
    return static_cast<double>(*ticks) / static_cast<double>(hz);
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
    if (r.totals.phase_engine_open.count() > 0) {
        nlohmann::json phases{{"engine_open", pct_json(r.totals.phase_engine_open)},
                              {"namespace_connect", pct_json(r.totals.phase_namespace)}};
        if (r.totals.phase_upgrade.count() > 0) phases["upgrade"] = pct_json(r.totals.phase_upgrade);
        j["connect_phases_us"] = std::move(phases);
    }
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
    if (r.server_cpu_pct) {
        j["server_cpu_pct"] = *r.server_cpu_pct;
        if (auto ms = r.server_cpu_ms_per_1000()) j["server_cpu_ms_per_1000"] = *ms;
    }
    return j.dump();
}

std::string csv_header() {
    std::string h = "scenario,transport,clients,duration_s,sent,received,connected,errors,msgs_per_s";
    for (const char* k : {"latency", "latency_uncorrected", "connect", "fanout"})
        for (const char* q : {"p50", "p90", "p99", "p999", "max"}) h += fmt::format(",{}_{}_us", k, q);
    h += ",bytes_total,bytes_http,bytes_ws_framing,bytes_protocol,bytes_payload,http_requests_per_msg,"
         "client_cpu_pct,client_rss_kib,server_rss_kib\n";
    return h;
}

namespace {
std::string csv_cell(std::string_view v) {
    if (v.find_first_of(",\"\n") == std::string_view::npos) return std::string(v);
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}
std::string num(double v) { return fmt::format("{}", v); }
}  // namespace

std::string to_csv_row(const run_result& r) {
    std::string row = fmt::format("{},{},{},{},{},{},{},{},{}", csv_cell(r.scenario), csv_cell(r.transport), r.clients,
                                  num(r.duration_s), r.totals.sent, r.totals.received, r.totals.connected,
                                  r.totals.error_total(), num(r.msgs_per_s()));
    for (const histogram* h : {&r.totals.latency, &r.totals.latency_uncorrected, &r.totals.connect, &r.totals.fanout})
        for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) row += fmt::format(",{}", h->percentile(q));
    if (r.bytes.http_known) row += fmt::format(",{},{}", num(r.bytes.total()), num(r.bytes.http));
    else row += ",,";
    row += fmt::format(",{},{},{}", num(r.bytes.ws_framing), num(r.bytes.protocol), num(r.bytes.payload));
    row += "," + (r.http_requests_per_msg ? num(*r.http_requests_per_msg) : std::string());
    row += fmt::format(",{},{},", num(r.client_cpu_pct), r.client_rss_kib);
    if (r.server_rss_kib_after) row += std::to_string(*r.server_rss_kib_after);
    return row + "\n";
}

namespace {
bool is_latency_metric(std::string_view m) {
    return m == "p50" || m == "p90" || m == "p99" || m == "p999" || m == "max";
}
double metric_value(const run_result& r, std::string_view m) {
    if (m == "p50") return static_cast<double>(r.totals.latency.percentile(0.5));
    if (m == "p90") return static_cast<double>(r.totals.latency.percentile(0.9));
    if (m == "p99") return static_cast<double>(r.totals.latency.percentile(0.99));
    if (m == "p999") return static_cast<double>(r.totals.latency.percentile(0.999));
    if (m == "max") return static_cast<double>(r.totals.latency.max());
    if (m == "errors") return static_cast<double>(r.totals.error_total());
    if (m == "received") return static_cast<double>(r.totals.received);
    if (m == "sent") return static_cast<double>(r.totals.sent);
    if (m == "connected") return static_cast<double>(r.totals.connected);
    return r.msgs_per_s();  // msgs_per_s
}
std::string show(std::string_view metric, double v) {
    if (is_latency_metric(metric)) return fmt::format("{:.1f}ms", v / 1000.0);
    return fmt::format("{}", v);
}
std::string_view trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}
}  // namespace

std::optional<std::vector<ensure_condition>> parse_ensure(std::string_view text, std::string& error) {
    std::vector<ensure_condition> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const auto comma = text.find(',', pos);
        const std::string_view part = trim(text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
        pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
        const auto at = part.find_first_of("<>=");
        if (part.empty() || at == std::string_view::npos || at == 0) {
            error = fmt::format("'{}': expected METRIC<VALUE, e.g. p99<50ms or errors=0", part);
            return std::nullopt;
        }
        ensure_condition c;
        c.text = std::string(part);
        c.metric = std::string(trim(part.substr(0, at)));
        std::size_t op_len = 1;
        if (at + 1 < part.size() && part[at + 1] == '=') op_len = 2;
        c.op = std::string(part.substr(at, op_len));
        if (c.op == "==") c.op = "=";
        if (c.op == "=<" || c.op == "=>") {
            error = fmt::format("'{}': use <= or >=", part);
            return std::nullopt;
        }
        const std::string_view value = trim(part.substr(at + op_len));
        static constexpr std::string_view metrics[] = {"p50", "p90", "p99", "p999", "max", "errors",
                                                       "received", "sent", "connected", "msgs_per_s"};
        if (std::find(std::begin(metrics), std::end(metrics), c.metric) == std::end(metrics)) {
            error = fmt::format("'{}': unknown metric '{}' (p50, p90, p99, p999, max, errors, received, sent, "
                                "connected, msgs_per_s)", part, c.metric);
            return std::nullopt;
        }
        if (is_latency_metric(c.metric)) {
            const bool has_unit = !value.empty() && std::isalpha(static_cast<unsigned char>(value.back()));
            const auto d = has_unit ? parse_duration(value) : std::nullopt;
            if (!d) {
                error = fmt::format("'{}': a latency needs a value with a unit (us, ms or s)", part);
                return std::nullopt;
            }
            c.value = static_cast<double>(d->count());
        } else {
            double v = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (value.empty() || ec != std::errc{} || p != value.data() + value.size() || v < 0) {
                error = fmt::format("'{}': expected a number after {}", part, c.op);
                return std::nullopt;
            }
            c.value = v;
        }
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<std::string> check_ensure(const std::vector<ensure_condition>& conds, const run_result& r) {
    std::vector<std::string> failed;
    for (const auto& c : conds) {
        const double v = metric_value(r, c.metric);
        bool ok = false;
        if (c.op == "<") ok = v < c.value;
        else if (c.op == "<=") ok = v <= c.value;
        else if (c.op == ">") ok = v > c.value;
        else if (c.op == ">=") ok = v >= c.value;
        else ok = v == c.value;
        if (!ok) failed.push_back(fmt::format("{} (was {})", c.text, show(c.metric, v)));
    }
    return failed;
}

std::vector<timeline_point> merge_timeline(const std::vector<std::vector<timeline_point>>& per_thread) {
    std::map<std::int64_t, timeline_point> by_second;
    for (const auto& points : per_thread) {
        for (const auto& p : points) {
            auto& m = by_second[p.second];
            m.second = p.second;
            m.count += p.count;
            m.p50_us = std::max(m.p50_us, p.p50_us);
            m.p99_us = std::max(m.p99_us, p.p99_us);
            m.max_us = std::max(m.max_us, p.max_us);
        }
    }
    std::vector<timeline_point> out;
    for (const auto& [s, p] : by_second) out.push_back(p);
    return out;
}

namespace {
std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

constexpr const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
constexpr double plot_w = 640, plot_h = 280, margin_l = 70, margin_b = 40, margin_t = 20, margin_r = 20;

// A tick value as written on an axis: 0.2, 5, 100, 2500 (no trailing zeros, no exponent).
std::string tick_label(double v) {
    std::string t = fmt::format("{:.6f}", v);
    while (t.back() == '0') t.pop_back();
    if (t.back() == '.') t.pop_back();
    return t;
}

std::string svg_open(std::string_view title) {
    return fmt::format("<h2>{}</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
                       "font-family=\"sans-serif\" font-size=\"11\">\n",
                       html_escape(title), plot_w + margin_l + margin_r, plot_h + margin_t + margin_b);
}

// The frame, and the y scale in milliseconds at the given ticks (the last one is the top).
std::string svg_axes(const std::vector<double>& y_ticks_ms, std::string_view x_label) {
    std::string s = fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
                                margin_l, margin_t, plot_w, plot_h);
    const double top = y_ticks_ms.back();
    for (double v : y_ticks_ms) {
        const double y = margin_t + plot_h - plot_h * v / top;
        s += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
                         "<text class=\"tick-y\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{} ms</text>\n",
                         margin_l, margin_l + plot_w, y, y, margin_l - 6, y + 4, tick_label(v));
    }
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", margin_l + plot_w / 2,
                     margin_t + plot_h + 32, html_escape(x_label));
    return s;
}

std::string svg_polyline(const std::vector<std::pair<double, double>>& pts, std::string_view color, bool dashed) {
    std::string s = fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{} points=\"", color,
                                dashed ? " stroke-dasharray=\"4 3\"" : "");
    for (const auto& [x, y] : pts) s += fmt::format("{:.1f},{:.1f} ", x, y);
    return s + "\"/>\n";
}

std::string about_table(const report_about& about) {
    std::string machine;
    if (!about.cpu.empty() || about.cores > 0 || !about.system.empty())
        machine = about.cpu.empty() ? std::string("unknown CPU") : about.cpu;
    if (about.cores > 0) machine += fmt::format(", {} core{}", about.cores, about.cores == 1 ? "" : "s");
    if (!about.system.empty()) machine += ", " + about.system;
    const std::vector<std::pair<std::string, std::string>> rows{
        {"date", about.date},
        {"version", about.version.empty() ? std::string() : "sio " + about.version},
        {"command", about.command},
        {"machine", machine}};
    std::string t = "<table class=\"about\">\n";
    for (const auto& [key, value] : rows) {
        if (value.empty()) continue;
        t += fmt::format("<tr><th>{}</th><td class=\"{}\">{}</td></tr>\n", key, key,
                         key == "command" ? "<code>" + html_escape(value) + "</code>" : html_escape(value));
    }
    return t + "</table>\n";
}
}  // namespace

std::vector<double> axis_ticks(double max_value, int max_intervals) {
    if (!(max_value > 0) || !std::isfinite(max_value)) max_value = 1;
    if (max_intervals < 1) max_intervals = 1;
    const double rough = max_value / max_intervals;
    double step = 0;
    for (double p = std::pow(10.0, std::floor(std::log10(rough))); step == 0; p *= 10) {
        for (double m : {1.0, 2.0, 5.0}) {
            // A little tolerance: 0.1 * 3 is not quite 0.3.
            if (m * p >= rough * (1 - 1e-9)) {
                step = m * p;
                break;
            }
        }
    }
    std::vector<double> ticks{0};
    for (int i = 1; ticks.back() < max_value * (1 - 1e-9); ++i) {
        const double v = step * i;
        // Rounded to the step's own precision, so that 3 x 0.1 prints as 0.3.
        const double digits = std::pow(10.0, std::max(0.0, -std::floor(std::log10(step))));
        ticks.push_back(std::round(v * digits) / digits);
    }
    return ticks;
}

std::string cpu_model_from_cpuinfo(std::string_view text) {
    std::string found;
    int found_rank = 0;
    while (!text.empty()) {
        const auto eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view key = line.substr(0, colon), value = line.substr(colon + 1);
        while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.remove_suffix(1);
        while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.remove_prefix(1);
        while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
        const int rank = key == "model name" ? 3 : key == "Hardware" ? 2 : key == "cpu model" ? 1 : 0;
        if (rank > found_rank && !value.empty()) {
            found = std::string(value);
            found_rank = rank;
        }
    }
    return found;
}

report_about describe_machine() {
    report_about a;
    std::ifstream in("/proc/cpuinfo");
    std::stringstream text;
    text << in.rdbuf();
    a.cpu = cpu_model_from_cpuinfo(text.str());
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    a.cores = online > 0 ? static_cast<unsigned>(online) : 0;
    utsname u{};
    if (uname(&u) == 0) a.system = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
    return a;
}

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
    const auto secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string shell_quote(std::string_view arg) {
    const bool safe = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("%+,-./:=@_").find(c) != std::string_view::npos;
    });
    if (safe) return std::string(arg);
    std::string out = "'";
    for (char c : arg) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

std::string to_html(const std::vector<run_result>& rs, std::string_view command_line) {
    report_about about;
    about.command = std::string(command_line);
    return to_html(rs, about);
}

std::string to_html(const std::vector<run_result>& rs, const report_about& about) {
    std::string h = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sio-bench report</title>\n"
                    "<style>body{font-family:sans-serif;margin:2em;max-width:60em}pre{background:#f6f6f6;padding:1em;"
                    "overflow-x:auto}.legend span{margin-right:1.5em}table.about th{text-align:left;padding-right:1em;"
                    "font-weight:normal;color:#555}</style></head><body>\n<h1>sio-bench report</h1>\n";
    h += about_table(about);
    h += fmt::format("<pre>{}</pre>\n", html_escape(format_table(rs)));
    h += "<p class=\"legend\">";
    for (std::size_t i = 0; i < rs.size(); ++i)
        h += fmt::format("<span style=\"color:{}\">&#9632; {} {}</span>", palette[i % std::size(palette)],
                         html_escape(rs[i].scenario), html_escape(rs[i].transport));
    h += "</p>\n";

    // Latency over time: p99 solid, p50 dashed, per run.
    double t_max = 1, y_max = 0;
    for (const auto& r : rs)
        for (const auto& p : r.timeline) {
            t_max = std::max(t_max, static_cast<double>(p.second + 1));
            y_max = std::max(y_max, static_cast<double>(p.p99_us) / 1000.0);
        }
    const auto y_ticks = axis_ticks(y_max);
    const auto t_ticks = axis_ticks(t_max, 8);
    const double y_top = y_ticks.back(), t_top = t_ticks.back();
    h += svg_open("Latency over time (p99 solid, p50 dashed; from the scheduled send time)");
    h += svg_axes(y_ticks, "seconds since the first connection");
    for (double t : t_ticks) {
        const double x = margin_l + plot_w * t / t_top;
        h += fmt::format("<text class=\"tick-x\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x,
                         margin_t + plot_h + 14, tick_label(t));
    }
    auto ty = [&](double ms) { return margin_t + plot_h - plot_h * std::min(ms, y_top) / y_top; };
    for (std::size_t i = 0; i < rs.size(); ++i) {
        std::vector<std::pair<double, double>> p99, p50;
        for (const auto& p : rs[i].timeline) {
            const double x = margin_l + plot_w * (static_cast<double>(p.second) + 0.5) / t_top;
            p99.emplace_back(x, ty(static_cast<double>(p.p99_us) / 1000.0));
            p50.emplace_back(x, ty(static_cast<double>(p.p50_us) / 1000.0));
        }
        h += svg_polyline(p99, palette[i % std::size(palette)], false);
        h += svg_polyline(p50, palette[i % std::size(palette)], true);
    }
    h += "</svg>\n";

    // Latency by percentile, on a scale that spreads the tail: x = log10(1 / (1 - q)).
    static constexpr double qs[] = {0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999};
    double q_max = 0;
    for (const auto& r : rs) q_max = std::max(q_max, static_cast<double>(r.totals.latency.max()) / 1000.0);
    const auto q_ticks = axis_ticks(q_max);
    const double q_top = q_ticks.back();
    h += svg_open("Latency by percentile (corrected solid, uncorrected dashed)");
    h += svg_axes(q_ticks, "percentile");
    constexpr double x_span = 4.3;  // up to 99.99 % and the maximum
    auto qx = [&](double q) { return margin_l + plot_w * std::log10(1.0 / (1.0 - q)) / x_span; };
    for (auto [q, label] : {std::pair{0.0, "0%"}, {0.9, "90%"}, {0.99, "99%"}, {0.999, "99.9%"}, {0.9999, "99.99%"}})
        h += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", qx(q), margin_t + plot_h + 14, label);
    h += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">max</text>\n", margin_l + plot_w, margin_t + plot_h + 14);
    auto qy = [&](double ms) { return margin_t + plot_h - plot_h * std::min(ms, q_top) / q_top; };
    for (std::size_t i = 0; i < rs.size(); ++i) {
        for (const histogram* hist : {&rs[i].totals.latency, &rs[i].totals.latency_uncorrected}) {
            if (hist->count() == 0) continue;
            std::vector<std::pair<double, double>> pts;
            for (double q : qs) pts.emplace_back(qx(q), qy(static_cast<double>(hist->percentile(q)) / 1000.0));
            pts.emplace_back(margin_l + plot_w, qy(static_cast<double>(hist->max()) / 1000.0));
            h += svg_polyline(pts, palette[i % std::size(palette)], hist == &rs[i].totals.latency_uncorrected);
        }
    }
    h += "</svg>\n</body></html>\n";
    return h;
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
    if (rs.front().totals.phase_engine_open.count() > 0) {
        row(" engine.io open p50 us", [](const run_result& r) { return std::to_string(r.totals.phase_engine_open.percentile(0.5)); });
        row(" upgrade p50 us", [](const run_result& r) {
            return r.totals.phase_upgrade.count() ? std::to_string(r.totals.phase_upgrade.percentile(0.5)) : std::string("-");
        });
        row(" namespace p50 us", [](const run_result& r) { return std::to_string(r.totals.phase_namespace.percentile(0.5)); });
    }
    row("bytes/msg ws framing", [](const run_result& r) { return fmt::format("{:.0f}", r.bytes.ws_framing); });
    row("bytes/msg protocol", [](const run_result& r) { return fmt::format("{:.0f}", r.bytes.protocol); });
    row("bytes/msg payload", [](const run_result& r) { return fmt::format("{:.0f}", r.bytes.payload); });
    row("bytes/msg http", [](const run_result& r) { return r.bytes.http_known ? fmt::format("{:.0f}", r.bytes.http) : std::string("n/a"); });
    row("bytes/msg total", [](const run_result& r) { return r.bytes.http_known ? fmt::format("{:.0f}", r.bytes.total()) : std::string("n/a"); });
    row("http requests/msg", [](const run_result& r) { return r.http_requests_per_msg ? fmt::format("{:.2f}", *r.http_requests_per_msg) : std::string("-"); });
    row("client cpu %", [](const run_result& r) { return fmt::format("{:.0f}", r.client_cpu_pct); });
    row("client rss KiB", [](const run_result& r) { return std::to_string(r.client_rss_kib); });
    bool server_cpu = false;
    for (const auto& r : rs) server_cpu = server_cpu || r.server_cpu_pct.has_value();
    if (server_cpu) {
        row("server cpu %", [](const run_result& r) { return r.server_cpu_pct ? fmt::format("{:.0f}", *r.server_cpu_pct) : std::string("-"); });
        row("server cpu ms/1000 msgs", [](const run_result& r) {
            const auto ms = r.server_cpu_ms_per_1000();
            return ms ? fmt::format("{:.1f}", *ms) : std::string("-");
        });
    }
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
