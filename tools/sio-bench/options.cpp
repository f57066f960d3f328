#include "sio-bench/options.hpp"

#include "common/duration.hpp"
#include "common/net_options.hpp"
#include "sio/transport/url.hpp"

#include <sio/version.hpp>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <fstream>

namespace sio::bench {

namespace po = boost::program_options;

namespace {
constexpr unsigned max_clients = 50000;

bool is_one_of(const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
        if (v == a) return true;
    return false;
}

}  // namespace

void add_options(tools::command_line& cmd, bench_flags& f) {
    auto& o = f.options;
    cmd.visible.add_options()
        ("scenario", po::value(&o.scenario)->default_value(o.scenario), "echo, broadcast, connect or idle")
        ("transport", po::value(&o.transport)->default_value(o.transport), "websocket, polling, upgrade or all (one run each, side by side)")
        ("parser", po::value(&f.parser)->default_value(f.parser),
         "the server's Socket.IO parser: json (the default one), or msgpack (socket.io-msgpack-parser)")
        ("clients", po::value(&o.clients)->default_value(o.clients), "clients (broadcast: listeners), 1..50000")
        ("senders", po::value(&o.senders)->default_value(o.senders), "broadcast: clients that emit, 1..1000")
        ("ramp-up", po::value(&f.ramp_up)->default_value(f.ramp_up), "spread the connections over this time, at most 1h (500ms, 5s, 1m; a bare number is seconds)")
        ("duration", po::value(&f.duration)->default_value(f.duration), "measured time after the ramp-up, above 0, at most 1h (500ms, 5s, 1m; a bare number is seconds)")
        ("rate", po::value(&o.rate)->default_value(o.rate), "messages per second per client or sender (open model)")
        ("payload", po::value(&o.payload)->default_value(o.payload), "payload bytes per message, 0..1048576")
        ("in-flight", po::value(&o.in_flight)->default_value(o.in_flight), "echo: messages awaiting an answer per client, 1..10000")
        ("threads", po::value(&o.threads)->default_value(o.threads), "event loops (threads), clients spread over them, 1..256")
        ("event", po::value(&o.event), "echo: the event emitted with an ack (default echo); broadcast: the event asking the server to broadcast (default broadcast)")
        ("listen-event", po::value(&o.listen_event)->default_value(o.listen_event), "broadcast: the event listeners receive")
        ("namespace", po::value(&o.nsp)->default_value(o.nsp), "Socket.IO namespace")
        ("auth", po::value(&o.auth), "CONNECT auth payload (JSON object)")
        ("header,H", po::value(&f.headers), "extra HTTP header 'Name: value' (repeatable)")
        ("path", po::value(&o.path)->default_value(o.path), "Engine.IO path on the server")
        ("query", po::value(&f.query), "k=v added to every request's query (repeatable)")
        ("ca", po::value(&o.ca_file), "PEM file of CA certificates to verify the server with (https://, wss://)")
        ("cert", po::value(&o.cert_file), "client certificate (PEM), with --key")
        ("key", po::value(&o.key_file), "private key of --cert (PEM)")
        ("insecure,k", po::bool_switch(&f.insecure), "do not verify the server's TLS certificate")
        ("raw", po::bool_switch(&o.raw), "echo over plain WebSocket (no Engine.IO / Socket.IO)")
        ("server-pid", po::value(&o.server_pid), "server process to report the memory and CPU of (/proc/PID): its RSS, and its CPU over the measured window")
        ("timeout", po::value(&f.timeout)->default_value(f.timeout), "connect and ack timeout, 1ms to 10m; also bounds the drain after --duration (500ms, 5s, 1m; a bare number "
         "is seconds)")
        ("json", po::bool_switch(&o.json), "one JSON object per scenario and transport run on stdout")
        ("html", po::value(&o.html), "also write a self-contained HTML report (date, version, command, machine, table, latency over time, percentiles) to FILE")
        ("csv", po::bool_switch(&o.csv), "the same as CSV: a header line, then one row per run")
        ("ensure", po::value(&o.ensure), "conditions for the exit status, e.g. 'p99<50ms,errors=0' (exit 9 when one fails)");
    cmd.hidden.add_options()("url", po::value(&o.url)->required(), "server URL");
    cmd.positional.add("url", 1);
}

std::optional<std::string> make_plan(const po::variables_map& vm, const bench_flags& f, int argc,
                                     const char* const argv[], bench_plan& plan) {
    bench_options o = f.options;
    if (!is_one_of(o.transport, {"websocket", "polling", "upgrade", "all"}))
        return "--transport '" + o.transport + "': use websocket, polling, upgrade or all";
    if (!is_one_of(o.scenario, {"echo", "broadcast", "connect", "idle"}))
        return "--scenario '" + o.scenario + "': use echo, broadcast, connect or idle";
    if (o.clients < 1 || o.clients > max_clients) return fmt::format("--clients must be from 1 to {}", max_clients);
    if (o.senders < 1 || o.senders > 1000) return "--senders must be from 1 to 1000";
    if (o.threads < 1 || o.threads > 256) return "--threads must be from 1 to 256";
    if (o.in_flight < 1 || o.in_flight > 10000) return "--in-flight must be from 1 to 10000";
    if (!(o.rate > 0 && o.rate <= 1e6)) return "--rate must be above 0 and at most 1000000";
    if (o.payload > 1024u * 1024) return "--payload must be at most 1048576 bytes";
    // A bare number is seconds here, as it always was for sio-bench.
    constexpr auto bare = tools::bare_unit::seconds;
    std::chrono::milliseconds d{}, ru{}, to{};
    if (auto e = tools::read_duration("duration", f.duration, bare, d)) return e;
    if (d.count() == 0 || d > std::chrono::hours(1)) return "--duration '" + f.duration + "': expected a duration above 0 and at most 1h";
    o.duration = d;
    if (auto e = tools::read_duration("ramp-up", f.ramp_up, bare, ru)) return e;
    if (ru > std::chrono::hours(1)) return "--ramp-up '" + f.ramp_up + "': expected a duration of at most 1h";
    o.ramp_up = ru;
    if (auto e = tools::read_duration("timeout", f.timeout, bare, to)) return e;
    if (to < std::chrono::milliseconds(1) || to > std::chrono::minutes(10))
        return "--timeout '" + f.timeout + "': expected a duration from 1ms to 10m";
    o.timeout = to;
    if (vm.count("auth")) {
        const auto j = nlohmann::json::parse(o.auth, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return "--auth '" + o.auth + "' is not a JSON object";
    }
    std::string error;
    if (!sio::tools::read_headers(f.headers, o.headers, error)) return error;
    if (o.nsp.empty() || o.nsp.front() != '/') return "--namespace '" + o.nsp + "' must start with '/'";
    if (o.path.empty() || o.path.front() != '/') return "--path '" + o.path + "' must start with '/'";
    for (const auto& q : f.query) {
        auto parsed = sio::tools::parse_query(q);
        if (!parsed) return "--query '" + q + "': expected KEY=VALUE";
        o.query.push_back(std::move(*parsed));
    }
    o.tls_verify = !f.insecure;
    transport::url url;
    if (!sio::tools::read_url("URL", o.url, sio::tools::url_role::server, url, error)) return error;
    const bool secure = url.secure;
    if (!secure && (f.insecure || vm.count("ca") || vm.count("cert") || vm.count("key")))
        return "--ca, --cert, --key and --insecure go with an https:// or wss:// URL";
    if (o.cert_file.empty() != o.key_file.empty()) return "--cert and --key go together";
    for (const auto& [flag, file] : {std::pair{"--ca", &o.ca_file}, {"--cert", &o.cert_file}, {"--key", &o.key_file}}) {
        if (!file->empty() && !std::ifstream(*file)) return fmt::format("{} '{}': cannot read it", flag, *file);
    }
    if (vm.count("event") == 0) o.event = o.scenario == "broadcast" ? "broadcast" : "echo";
    if (o.event.empty()) return "--event must not be empty";
    if (f.parser != "json" && f.parser != "msgpack") return "--parser '" + f.parser + "': use json or msgpack";
    o.msgpack = f.parser == "msgpack";
    if (o.raw && o.msgpack) return "--parser needs Socket.IO, not --raw";
    if (o.raw && o.transport != "websocket") return "--raw runs over WebSocket only (no --transport)";
    if (o.raw && o.scenario != "echo") return "--raw runs the echo scenario only";
    if (o.raw && (vm.count("auth") || vm.count("event") || !vm["namespace"].defaulted() || !vm["path"].defaulted() ||
                  !f.query.empty()))
        return "--auth, --event, --namespace, --path and --query need Socket.IO, not --raw";
    if (vm.count("server-pid") && o.server_pid <= 0) return "--server-pid must be a process id";
    if (o.json && o.csv) return "--json and --csv exclude each other";
    plan.ensure.clear();
    if (vm.count("ensure")) {
        auto parsed = parse_ensure(o.ensure, error);
        if (!parsed) return "--ensure " + error;
        plan.ensure = std::move(*parsed);
    }
    if (vm.count("html")) {
        if (o.html.empty()) return "--html needs a file name";
        std::ofstream probe(o.html, std::ios::app);
        if (!probe) return "--html: cannot write to '" + o.html + "'";
    }
    if (o.server_pid > 0 && !process_rss_kib(o.server_pid))
        return fmt::format("--server-pid {}: no such process (or /proc/{}/status unreadable)", o.server_pid, o.server_pid);
    plan.about = describe_machine();
    plan.about.version = sio::version_string;
    plan.about.command = "sio-bench";
    for (int i = 1; i < argc; ++i) plan.about.command += " " + shell_quote(argv[i]);
    o.progress = !o.json && !o.csv && isatty(STDERR_FILENO) != 0;
    plan.options = std::move(o);
    return std::nullopt;
}

}  // namespace sio::bench
