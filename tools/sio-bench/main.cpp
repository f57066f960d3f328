// sio-bench: load generator: HTTP long-polling vs WebSocket side by side
#include "common/cli.hpp"
#include "sio-bench/runner.hpp"
#include "sio-cli/core/net_options.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>
#include <fstream>
#include <string>

namespace po = boost::program_options;
using namespace sio::tools;
using namespace sio::bench;

namespace {

constexpr tool_info info{
    "sio-bench", "load generator: HTTP long-polling vs WebSocket side by side", "sio-bench [options] URL",
    "Scenarios: echo (each client emits with an ack; the ack round trip is the latency),\n"
    "broadcast (--clients listen, --senders emit --event [LISTEN-EVENT, data] and the server\n"
    "sends LISTEN-EVENT to the others, as sio-serve's 'broadcast' does), connect (connect and\n"
    "disconnect in a loop: connections per second, time to connected), idle (hold the\n"
    "connections; with --server-pid the server's memory per connection).\n"
    "Open model: send times are fixed in advance; latency counts from the scheduled time and\n"
    "is also given uncorrected (from the actual send). A run lasts --ramp-up + --duration and\n"
    "at most --timeout + 1 s more to collect answers.\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 usage, 3 no client could connect, 8 errors\n"
    "during the run, 9 an --ensure condition failed (with --ensure, errors alone are not 8),\n"
    "130 interrupted by Ctrl-C (the figures so far are printed).\n"};

constexpr int exit_no_connection = 3;
constexpr int exit_run_errors = 8;
constexpr int exit_ensure_failed = 9;
constexpr unsigned max_clients = 50000;

std::string error_summary(const run_result& r) {
    std::string s;
    for (const auto& [k, v] : r.totals.errors) s += fmt::format("{}{} x{}", s.empty() ? "" : ", ", k, v);
    return s.empty() ? std::string("no answer") : s;
}

void print_progress(const std::string& transport, const live_figures& f) {
    fmt::print(stderr, "\r\x1b[K{}: {:.1f}/{:.1f}s  connected {}  received {} ({:.0f}/s)  p99(1s) {} us  errors {}",
               transport, f.elapsed_s, f.total_s, f.connected, f.received, f.received_per_s, f.recent_p99_us, f.errors);
    std::fflush(stderr);
}

int run_bench(const bench_options& options, const std::vector<ensure_condition>& ensure, const std::string& command) {
    std::vector<std::string> transports;
    if (options.raw) transports = {"websocket"};
    else if (options.transport == "all") transports = {"websocket", "polling", "upgrade"};
    else transports = {options.transport};
    std::vector<run_result> results;
    int code = exit_ok;
    bool ensure_failed = false;
    if (options.csv) {
        fmt::print("{}", csv_header());
        std::fflush(stdout);
    }
    for (const auto& t : transports) {
        if (interrupt_requested.load()) break;
        std::function<void(const live_figures&)> progress;
        if (options.progress) progress = [&t](const live_figures& f) { print_progress(t, f); };
        results.push_back(run_scenario(options, t, progress));
        if (options.progress) fmt::print(stderr, "\r\x1b[K");
        const auto& r = results.back();
        if (options.json) {
            fmt::print("{}\n", to_json(r));
            std::fflush(stdout);
        }
        if (options.csv) {
            fmt::print("{}", to_csv_row(r));
            std::fflush(stdout);
        }
        for (const auto& f : check_ensure(ensure, r)) {
            fmt::print(stderr, "{}: {}: failed: {}\n", info.name, r.transport, f);
            ensure_failed = true;
        }
        if (r.totals.connected == 0) {
            fmt::print(stderr, "{}: could not connect to {} over {}: {}\n", info.name, options.url, r.transport,
                       error_summary(r));
            code = exit_no_connection;
        } else if (r.totals.error_total() > 0 && code == exit_ok) {
            code = exit_run_errors;
        }
        if (r.saturated())
            fmt::print(stderr,
                       "{}: warning: sio-bench used {:.0f}% of its {} thread(s) on {}: the figures may measure "
                       "the generator itself; add --threads or lower the load\n",
                       info.name, r.client_cpu_pct, options.threads, r.transport);
    }
    if (!options.json && !options.csv) fmt::print("{}", format_table(results));
    if (!options.html.empty()) {
        std::ofstream f(options.html, std::ios::binary | std::ios::trunc);
        f << to_html(results, command);
        f.close();
        if (!f) {
            fmt::print(stderr, "{}: could not write the report to {}\n", info.name, options.html);
            return exit_failure;
        }
    }
    if (interrupt_requested.load()) return 130;
    if (code == exit_no_connection) return code;
    if (!ensure.empty()) return ensure_failed ? exit_ensure_failed : exit_ok;
    return code;
}

}  // namespace

int main(int argc, char* argv[]) {
    bench_options o;
    std::string ramp_up = "0s", duration = "10s", timeout = "10s";
    std::vector<std::string> headers;
    std::vector<std::string> query;
    bool insecure = false;
    std::string parser = "json";
    command_line cmd{standard_options(), {}, {}};
    cmd.visible.add_options()
        ("scenario", po::value(&o.scenario)->default_value(o.scenario), "echo, broadcast, connect or idle")
        ("transport", po::value(&o.transport)->default_value(o.transport), "websocket, polling, upgrade or all (one run each, side by side)")
        ("parser", po::value(&parser)->default_value(parser),
         "the server's Socket.IO parser: json (the default one), or msgpack (socket.io-msgpack-parser)")
        ("clients", po::value(&o.clients)->default_value(o.clients), "clients (broadcast: listeners), 1..50000")
        ("senders", po::value(&o.senders)->default_value(o.senders), "broadcast: clients that emit, 1..1000")
        ("ramp-up", po::value(&ramp_up)->default_value(ramp_up), "spread the connections over this time (at most 1h)")
        ("duration", po::value(&duration)->default_value(duration), "measured time after the ramp-up (above 0, at most 1h)")
        ("rate", po::value(&o.rate)->default_value(o.rate), "messages per second per client or sender (open model)")
        ("payload", po::value(&o.payload)->default_value(o.payload), "payload bytes per message, 0..1048576")
        ("in-flight", po::value(&o.in_flight)->default_value(o.in_flight), "echo: messages awaiting an answer per client, 1..10000")
        ("threads", po::value(&o.threads)->default_value(o.threads), "event loops (threads), clients spread over them, 1..256")
        ("event", po::value(&o.event), "echo: the event emitted with an ack (default echo); broadcast: the event asking the server to broadcast (default broadcast)")
        ("listen-event", po::value(&o.listen_event)->default_value(o.listen_event), "broadcast: the event listeners receive")
        ("namespace", po::value(&o.nsp)->default_value(o.nsp), "Socket.IO namespace")
        ("auth", po::value(&o.auth), "CONNECT auth payload (JSON object)")
        ("header,H", po::value(&headers), "extra HTTP header 'Name: value' (repeatable)")
        ("path", po::value(&o.path)->default_value(o.path), "Engine.IO path on the server")
        ("query", po::value(&query), "k=v added to every request's query (repeatable)")
        ("ca", po::value(&o.ca_file), "PEM file of CA certificates to verify the server with (https://, wss://)")
        ("cert", po::value(&o.cert_file), "client certificate (PEM), with --key")
        ("key", po::value(&o.key_file), "private key of --cert (PEM)")
        ("insecure,k", po::bool_switch(&insecure), "do not verify the server's TLS certificate")
        ("raw", po::bool_switch(&o.raw), "echo over plain WebSocket (no Engine.IO / Socket.IO)")
        ("server-pid", po::value(&o.server_pid), "server process to report the memory and CPU of (/proc/PID): its RSS, and its CPU over the measured window")
        ("timeout", po::value(&timeout)->default_value(timeout), "connect and ack timeout; also bounds the drain after --duration")
        ("json", po::bool_switch(&o.json), "one JSON object per scenario and transport run on stdout")
        ("html", po::value(&o.html), "also write a self-contained HTML report (table, latency over time, percentiles) to FILE")
        ("csv", po::bool_switch(&o.csv), "the same as CSV: a header line, then one row per run")
        ("ensure", po::value(&o.ensure), "conditions for the exit status, e.g. 'p99<50ms,errors=0' (exit 9 when one fails)");
    cmd.hidden.add_options()("url", po::value(&o.url)->required(), "server URL");
    cmd.positional.add("url", 1);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;

    if (o.transport != "websocket" && o.transport != "polling" && o.transport != "upgrade" && o.transport != "all")
        return usage_error(info, "--transport '" + o.transport + "': use websocket, polling, upgrade or all");
    if (o.scenario != "echo" && o.scenario != "broadcast" && o.scenario != "connect" && o.scenario != "idle")
        return usage_error(info, "--scenario '" + o.scenario + "': use echo, broadcast, connect or idle");
    if (o.clients < 1 || o.clients > max_clients) return usage_error(info, fmt::format("--clients must be from 1 to {}", max_clients));
    if (o.senders < 1 || o.senders > 1000) return usage_error(info, "--senders must be from 1 to 1000");
    if (o.threads < 1 || o.threads > 256) return usage_error(info, "--threads must be from 1 to 256");
    if (o.in_flight < 1 || o.in_flight > 10000) return usage_error(info, "--in-flight must be from 1 to 10000");
    if (!(o.rate > 0 && o.rate <= 1e6)) return usage_error(info, "--rate must be above 0 and at most 1000000");
    if (o.payload > 1024u * 1024) return usage_error(info, "--payload must be at most 1048576 bytes");
    const auto d = parse_duration(duration);
    if (!d || d->count() == 0 || *d > std::chrono::hours(1))
        return usage_error(info, "--duration '" + duration + "': expected a duration such as 10s, 500ms or 2m, above 0 and at most 1h");
    o.duration = *d;
    const auto ru = parse_duration(ramp_up);
    if (!ru || *ru > std::chrono::hours(1))
        return usage_error(info, "--ramp-up '" + ramp_up + "': expected a duration such as 2s, at most 1h");
    o.ramp_up = *ru;
    const auto to = parse_duration(timeout);
    if (!to || *to < std::chrono::milliseconds(1) || *to > std::chrono::minutes(10))
        return usage_error(info, "--timeout '" + timeout + "': expected a duration from 1ms to 10m");
    o.timeout = *to;
    if (vm.count("auth")) {
        const auto j = nlohmann::json::parse(o.auth, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return usage_error(info, "--auth '" + o.auth + "' is not a JSON object");
    }
    for (const auto& h : headers) {
        auto parsed = sio::cli::parse_header(h);  // a token name, no CR or LF in the value
        if (!parsed) return usage_error(info, "-H '" + h + "': expected 'Name: value'");
        o.headers.push_back(std::move(*parsed));
    }
    if (o.nsp.empty() || o.nsp.front() != '/') return usage_error(info, "--namespace '" + o.nsp + "' must start with '/'");
    if (o.path.empty() || o.path.front() != '/') return usage_error(info, "--path '" + o.path + "' must start with '/'");
    for (const auto& q : query) {
        auto parsed = sio::cli::parse_query(q);
        if (!parsed) return usage_error(info, "--query '" + q + "': expected KEY=VALUE");
        o.query.push_back(std::move(*parsed));
    }
    o.tls_verify = !insecure;
    const bool secure = o.url.rfind("https://", 0) == 0 || o.url.rfind("wss://", 0) == 0;
    if (!secure && (insecure || vm.count("ca") || vm.count("cert") || vm.count("key")))
        return usage_error(info, "--ca, --cert, --key and --insecure go with an https:// or wss:// URL");
    if (o.cert_file.empty() != o.key_file.empty()) return usage_error(info, "--cert and --key go together");
    for (const auto& [flag, file] : {std::pair{"--ca", &o.ca_file}, {"--cert", &o.cert_file}, {"--key", &o.key_file}}) {
        if (!file->empty() && !std::ifstream(*file)) return usage_error(info, fmt::format("{} '{}': cannot read it", flag, *file));
    }
    if (vm.count("event") == 0) o.event = o.scenario == "broadcast" ? "broadcast" : "echo";
    if (o.event.empty()) return usage_error(info, "--event must not be empty");
    if (parser != "json" && parser != "msgpack")
        return usage_error(info, "--parser '" + parser + "': use json or msgpack");
    o.msgpack = parser == "msgpack";
    if (o.raw && o.msgpack) return usage_error(info, "--parser needs Socket.IO, not --raw");
    if (o.raw && o.transport != "websocket") return usage_error(info, "--raw runs over WebSocket only (no --transport)");
    if (o.raw && o.scenario != "echo") return usage_error(info, "--raw runs the echo scenario only");
    if (o.raw && (vm.count("auth") || vm.count("event") || !vm["namespace"].defaulted() || !vm["path"].defaulted() ||
                  !query.empty()))
        return usage_error(info, "--auth, --event, --namespace, --path and --query need Socket.IO, not --raw");
    if (vm.count("server-pid") && o.server_pid <= 0) return usage_error(info, "--server-pid must be a process id");
    if (o.url.rfind("http://", 0) != 0 && o.url.rfind("https://", 0) != 0 && o.url.rfind("ws://", 0) != 0 &&
        o.url.rfind("wss://", 0) != 0)
        return usage_error(info, "'" + o.url + "' is not an http://, https://, ws:// or wss:// URL");
    if (o.json && o.csv) return usage_error(info, "--json and --csv exclude each other");
    std::vector<ensure_condition> ensure;
    if (vm.count("ensure")) {
        std::string error;
        auto parsed = parse_ensure(o.ensure, error);
        if (!parsed) return usage_error(info, "--ensure " + error);
        ensure = std::move(*parsed);
    }
    if (vm.count("html")) {
        if (o.html.empty()) return usage_error(info, "--html needs a file name");
        std::ofstream probe(o.html, std::ios::app);
        if (!probe) return usage_error(info, "--html: cannot write to '" + o.html + "'");
    }
    std::string command = "sio-bench";
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    if (o.server_pid > 0 && !process_rss_kib(o.server_pid))
        return usage_error(info, fmt::format("--server-pid {}: no such process (or /proc/{}/status unreadable)", o.server_pid, o.server_pid));
    o.progress = !o.json && !o.csv && isatty(STDERR_FILENO) != 0;
    // Every client holds a socket (two while polling): raise the soft limit on open files to
    // the hard one, and say so when even that is short.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
        if (files.rlim_cur < files.rlim_max) {
            files.rlim_cur = files.rlim_max;
            setrlimit(RLIMIT_NOFILE, &files);
            getrlimit(RLIMIT_NOFILE, &files);
        }
        const rlim_t needed = static_cast<rlim_t>(o.clients + o.senders) * (o.transport == "websocket" ? 1 : 2) + 64;
        if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < needed)
            fmt::print(stderr, "{}: warning: {} clients may need {} open files; the limit is {} (ulimit -n)\n", info.name,
                       o.clients, needed, files.rlim_cur);
    }
    // Ctrl-C ends the run early and still reports it; a second one ends the process.
    std::signal(SIGINT, [](int) {
        if (interrupt_requested.exchange(true)) std::_Exit(130);
    });
    try {
        return run_bench(o, ensure, command);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", info.name, e.what());
        return exit_failure;
    }
}
