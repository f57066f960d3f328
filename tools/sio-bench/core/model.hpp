// The pure parts of sio-bench: option values, the open-model schedule, per-thread counters,
// bytes on the wire per layer, process figures and the report.
#pragma once

#include "sio-bench/core/histogram.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio::bench {

// "250ms", "2s", "1.5m", "100us"; a bare number is seconds. nullopt when malformed or negative.
std::optional<std::chrono::microseconds> parse_duration(std::string_view);

// Open model: message k of a client is due at start + phase + k * interval, fixed in advance
// whatever happens to earlier messages. Latency counted from due() is corrected for coordinated
// omission; from the actual send time it is not.
struct schedule {
    std::chrono::nanoseconds interval{0};  // 1 / rate
    std::chrono::nanoseconds phase{0};     // spreads clients evenly over one interval
    static schedule make(double rate_per_s, unsigned client, unsigned clients);
    std::chrono::nanoseconds due(std::uint64_t k) const { return phase + interval * static_cast<std::int64_t>(k); }
    // How many messages fall due in [0, span).
    std::uint64_t count_before(std::chrono::nanoseconds span) const;
};

// Counters of one thread; summed at the end.
struct counters {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;   // acks (echo) or deliveries (broadcast)
    std::uint64_t connected = 0;
    std::map<std::string, std::uint64_t> errors;  // by kind
    histogram latency;             // from the intended send time, microseconds
    histogram latency_uncorrected; // from the actual send time
    histogram connect;             // open() to namespace connected
    histogram fanout;              // broadcast: intended send time to the last receiver's receipt
    // Phases of connect: open() to the Engine.IO open packet (TCP, TLS, handshake), the open
    // packet to the upgrade (upgrade transport), the open packet to the namespace CONNECT answer.
    histogram phase_engine_open, phase_upgrade, phase_namespace;
    void merge(const counters& o);
    std::uint64_t error_total() const;
};

// Bytes on the wire for one message and its answer, by layer. Computed from the codec's own
// encoding and RFC 6455 header sizes (client frames masked), not measured on the socket.
struct wire_bytes {
    double http = 0;        // HTTP request/response headers (polling); unknown: measured = false
    double ws_framing = 0;  // WebSocket frame headers
    double protocol = 0;    // Engine.IO + Socket.IO prefixes and JSON around the payload
    double payload = 0;     // user payload bytes
    bool http_known = true;
    double total() const { return http + ws_framing + protocol + payload; }
};
// RFC 6455 5.2: 2 bytes, +2 when the payload is 126..65535, +8 above, +4 when masked.
std::size_t ws_header_size(std::size_t payload, bool masked);
// Echo with ack: the EVENT out and the ACK back, on the given transport ("websocket" or "polling").
wire_bytes echo_wire_bytes(std::string_view transport, std::string_view nsp, std::string_view event,
                           std::size_t payload, std::uint64_t ack_id);

// Own process figures.
struct process_usage {
    double cpu_seconds = 0;  // user + system
    std::uint64_t rss_kib = 0;
};
process_usage self_usage();
// VmRSS of another process from /proc/PID/status; nullopt when unreadable.
std::optional<std::uint64_t> process_rss_kib(long pid);
std::optional<std::uint64_t> parse_vmrss_kib(std::string_view status_text);
// CPU time (user + system, seconds) another process has used, from /proc/PID/stat; nullopt when
// unreadable. parse_proc_stat_cpu_ticks reads utime + stime in clock ticks from that line.
std::optional<double> process_cpu_seconds(long pid);
std::optional<std::uint64_t> parse_proc_stat_cpu_ticks(std::string_view stat_line);

// Latency over time: one point per second of the run (since the first connection) in which
// answers came in. With several threads, each thread has its own points; merge_timeline sums the
// counts and keeps the highest percentile of the threads for each second.
struct timeline_point {
    std::int64_t second = 0;
    std::uint64_t count = 0;
    std::uint64_t p50_us = 0, p99_us = 0, max_us = 0;
};
std::vector<timeline_point> merge_timeline(const std::vector<std::vector<timeline_point>>& per_thread);

struct run_result {
    std::string scenario;
    std::string transport;
    unsigned clients = 0;
    double duration_s = 0;
    counters totals;
    wire_bytes bytes;
    std::optional<double> http_requests_per_msg;
    std::optional<std::uint64_t> expected;  // broadcast: deliveries due (sent x listeners)
    std::vector<timeline_point> timeline;
    double client_cpu_pct = 0;
    std::uint64_t client_rss_kib = 0;
    std::optional<std::uint64_t> server_rss_kib_before, server_rss_kib_after;
    // With --server-pid: the server's CPU over the measured window (100 = one core), and what
    // that costs per thousand messages received.
    std::optional<double> server_cpu_pct;
    std::optional<double> server_cpu_ms_per_1000() const {
        if (!server_cpu_pct || msgs_per_s() <= 0) return std::nullopt;
        return *server_cpu_pct * 10'000.0 / msgs_per_s();
    }
    // Why the first client that never connected could not (the library's sentence, e.g. "cannot
    // connect to 127.0.0.1:1: Connection refused"); empty when every client connected.
    std::string connect_failure;
    // That failure happened on the way to the server (name, TCP, TLS, proxy), before any
    // transport: a run over another transport fails the same way.
    bool unreachable = false;
    // That failure was TLS's (handshake, certificate): exit status 4, as sio-cli's.
    bool tls_failed = false;
    double msgs_per_s() const { return duration_s > 0 ? static_cast<double>(totals.received) / duration_s : 0; }
    bool saturated() const { return client_cpu_pct >= 90.0; }
};

std::string to_json(const run_result&);
// --csv: one header line, then one row per run (the JSON fields, flattened: latency_us.p99 ->
// latency_p99_us, bytes_per_msg.http -> bytes_http; empty cells for unknown values).
std::string csv_header();
std::string to_csv_row(const run_result&);

// --ensure 'p99<50ms,errors=0': conditions on a run, for CI. Metrics: p50 p90 p99 p999 max
// (corrected latency; values need a unit: us, ms or s), errors, received, sent, connected,
// msgs_per_s. Operators: < <= > >= = (also ==).
struct ensure_condition {
    std::string metric;
    std::string op;
    double value = 0;  // latency in microseconds
    std::string text;  // as written, for messages
};
// nullopt and `error` set when malformed.
std::optional<std::vector<ensure_condition>> parse_ensure(std::string_view text, std::string& error);
// The conditions that do not hold, each as "p99<50ms (was 72.3ms)".
std::vector<std::string> check_ensure(const std::vector<ensure_condition>&, const run_result&);
// What the report says about the run itself: when, with which sio, how it was started and on
// which machine.
struct report_about {
    std::string command;   // the command line, quoted as a shell would need it
    std::string date;      // when the first run started, ISO 8601 UTC ("2026-12-06T21:40:01Z")
    std::string version;   // sio's version
    std::string cpu;       // CPU model; empty when unknown
    unsigned cores = 0;    // logical CPUs online; 0 when unknown
    std::string system;    // kernel and architecture ("Linux 6.1.0-13-amd64 x86_64")
};
// The CPU model named in /proc/cpuinfo's text ("model name", else "Hardware" or "cpu model");
// empty when there is none.
std::string cpu_model_from_cpuinfo(std::string_view cpuinfo);
// This machine: cpu, cores and system of report_about.
report_about describe_machine();
// An ISO 8601 UTC time with seconds ("2026-12-06T21:40:01Z").
std::string iso8601_utc(std::chrono::system_clock::time_point);
// The argument as a POSIX shell reads it back: unchanged when it holds only safe characters,
// else in single quotes.
std::string shell_quote(std::string_view arg);

// Ticks of an axis from 0 that shows values up to `max_value`: a step of 1, 2 or 5 times a power
// of ten, the smallest that needs at most `max_intervals` intervals; the last tick is the first
// at or above max_value (at least one step). A max_value of 0 or less is taken as 1.
std::vector<double> axis_ticks(double max_value, int max_intervals = 5);

// --html: a self-contained page (no scripts, no network): when, with which sio, the command and
// the machine; the table, latency over time and the latency by percentile of every run, as
// inline SVG with round axis ticks.
std::string to_html(const std::vector<run_result>&, const report_about&);
// The same, knowing only the command line.
std::string to_html(const std::vector<run_result>&, std::string_view command_line);
// The final table; several results print side by side with ratios to the first.
std::string format_table(const std::vector<run_result>&);

}  // namespace sio::bench
