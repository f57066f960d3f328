#include "options.hpp"

#include "common/duration.hpp"
#include "common/listen_address.hpp"

#include <sio/transport/client_connect.hpp>
#include <sio/transport/server_tls.hpp>

#include <boost/asio/ip/address.hpp>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

namespace sio::serve {

namespace po = boost::program_options;
namespace asio = boost::asio;
using namespace sio::tools;

namespace {

// Parses "polling,websocket" into the engine's switches; false on an unknown name.
bool parse_transports(const std::string& list, sio::engine::server_options& eo) {
    eo.allow_polling = eo.allow_websocket = false;
    std::size_t start = 0;
    while (start <= list.size()) {
        auto end = list.find(',', start);
        auto name = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (name == "polling") eo.allow_polling = true;
        else if (name == "websocket") eo.allow_websocket = true;
        else return false;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    eo.allow_upgrades = eo.allow_polling && eo.allow_websocket;
    return eo.allow_polling || eo.allow_websocket;
}

// The checks of the values alone, before any is used (main's, then --host to --transports).
std::optional<std::string> check_values(const serve_options& o) {
    if (o.ping_interval_ms == 0 || o.ping_timeout_ms == 0) return "--ping-interval and --ping-timeout must be positive";
    if (o.max_payload == 0) return "--max-payload must be positive";
    if (o.recovery_window_ms != 0 && o.recovery_max_packets == 0)
        return "--recovery-max-packets must be positive when --recovery-window is set";
    if (o.request_timeout_ms == 0) return "--request-timeout must be positive";
    if (o.max_message_len == 0) return "--max-message-len must be positive";
    if (o.threads > 256) return "--threads must be at most 256";
    return std::nullopt;
}

// --host, --parser, --path, --transports, --mode and the rules; the engine's options.
std::optional<std::string> plan_engine(const serve_options& o, serve_plan& plan) {
    boost::system::error_code ec;
    plan.address = asio::ip::make_address(o.host, ec);
    if (ec) return fmt::format("--host '{}' is not an IP address", o.host);
    if (o.parser != "json" && o.parser != "msgpack") return fmt::format("--parser '{}': use json or msgpack", o.parser);
    if (o.path.empty() || o.path.front() != '/') return fmt::format("--path '{}' must start with '/'", o.path);
    auto& eo = plan.engine;
    if (!parse_transports(o.transports, eo)) {
        return fmt::format("--transports '{}': use polling, websocket or both, comma-separated", o.transports);
    }
    const auto mode = parse_mode(o.mode);
    if (!mode) return fmt::format("--mode '{}': use chat, echo, none or engine-echo", o.mode);
    plan.mode = *mode;
    if (*mode == serve_mode::engine_echo && (!o.on_rules.empty() || !o.on_connect_rules.empty()))
        return "--on and --on-connect need Socket.IO: --mode engine-echo has no events";
    if (*mode == serve_mode::engine_echo && o.admin.enabled)
        return "--admin-ui needs Socket.IO: --mode engine-echo has no namespaces";
    if (*mode == serve_mode::engine_echo && o.parser != "json")
        return "--parser needs Socket.IO: --mode engine-echo has no Socket.IO packets";
    std::vector<std::string> declared{"/"};
    for (const auto& n : o.namespaces) declared.push_back(n.empty() || n.front() != '/' ? "/" + n : n);
    auto rules = parse_rules(o.on_rules, o.on_connect_rules, declared);
    if (!rules.value) return rules.error;
    plan.rules = std::move(*rules.value);
    if (o.admin.enabled && std::find(declared.begin(), declared.end(), o.admin.nsp) != declared.end())
        return fmt::format("--admin-ui-namespace {} is also a chat namespace (--namespace)", o.admin.nsp);
    for (const auto& name : declared) {
        if (std::find(plan.namespaces.begin(), plan.namespaces.end(), name) == plan.namespaces.end())
            plan.namespaces.push_back(name);
    }
    eo.path = o.path.back() == '/' ? o.path : o.path + "/";
    eo.session.ping_interval = std::chrono::milliseconds(o.ping_interval_ms);
    eo.session.ping_timeout = std::chrono::milliseconds(o.ping_timeout_ms);
    eo.session.max_payload = o.max_payload;
    eo.session.max_total_queue_bytes = o.max_buffered_bytes;
    eo.cors_origins = o.cors_origins;
    for (const auto& origin : o.admin.origins) eo.cors_origins.push_back(origin);
    eo.allowed_origins = o.allowed_origins;
    eo.max_connections = o.max_connections;
    eo.max_connections_per_ip = o.max_connections_per_ip;
    eo.max_sessions = o.max_sessions;
    eo.max_sessions_per_ip = o.max_sessions_per_ip;
    eo.max_tls_handshakes = o.max_tls_handshakes;
    eo.server_name = "sio-serve";
    eo.request_timeout = std::chrono::milliseconds(o.request_timeout_ms);
    // Each loop is run by one thread: no strands.
    eo.single_threaded = true;
    return std::nullopt;
}

std::optional<plan_error> plan_tls(const serve_options& o, serve_plan& plan) {
    if (o.tls_cert.empty() != o.tls_key.empty()) return plan_error{true, "--tls-cert and --tls-key go together"};
    if (o.tls_cert.empty()) return std::nullopt;
    std::string error;
    plan.engine.tls = transport::make_server_tls_context({o.tls_cert, o.tls_key}, error);
    if (!plan.engine.tls) return plan_error{false, "TLS: " + error};
    return std::nullopt;
}

// --redis and its --redis-* companions.
std::optional<plan_error> plan_redis(const serve_options& o, serve_plan& plan) {
    auto& redis = plan.redis;
    if (!o.redis_url.empty()) {
        redis = adapter::redis::parse_url(o.redis_url);
        if (!redis) {
            // Not echoed: the URL may hold a password.
            return plan_error{true, "--redis: use redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (rediss:// for TLS), "
                                    "e.g. redis://127.0.0.1:6379 or redis://:secret@127.0.0.1:6379/2 (percent-encode "
                                    "special characters in USER and PASSWORD)"};
        }
        if (o.redis_key.empty()) return plan_error{true, "--redis-key must not be empty"};
        redis->prefix = o.redis_key;
    }
    const auto kind = adapter::redis::kind_of(o.redis_adapter);
    if (!kind) return plan_error{true, "--redis-adapter: use pubsub (@socket.io/redis-adapter), sharded "
                                       "(@socket.io/redis-adapter's createShardedAdapter) or streams "
                                       "(@socket.io/redis-streams-adapter)"};
    if (!redis && *kind != adapter::redis::adapter_kind::pubsub)
        return plan_error{true, "--redis-adapter needs --redis"};
    if (!redis && o.no_forward_requests) return plan_error{true, "--no-forward-requests needs --redis"};
    if (redis) redis->kind = *kind;
    if (!o.redis_subscription_mode.empty()) {
        const auto mode = adapter::redis::mode_of(o.redis_subscription_mode);
        if (!mode) return plan_error{true, "--redis-subscription-mode: use static, dynamic or dynamic-private"};
        if (*kind != adapter::redis::adapter_kind::sharded)
            return plan_error{true, "--redis-subscription-mode needs --redis-adapter sharded"};
        if (redis) redis->subscription = *mode;
    }
    const bool redis_tls_flags =
        !o.redis_tls_ca.empty() || !o.redis_tls_cert.empty() || !o.redis_tls_key.empty() || o.redis_tls_insecure;
    if (redis_tls_flags && !(redis && redis->tls))
        return plan_error{true, "--redis-tls-ca, --redis-tls-cert, --redis-tls-key and --redis-tls-insecure "
                                "need --redis rediss://..."};
    if (o.redis_tls_cert.empty() != o.redis_tls_key.empty())
        return plan_error{true, "--redis-tls-cert and --redis-tls-key go together"};
    if (redis && redis->tls) {
        std::string error;
        redis->tls_verify = !o.redis_tls_insecure;
        transport::tls_settings tls;
        tls.verify = redis->tls_verify;
        tls.ca_file = o.redis_tls_ca;
        tls.cert_file = o.redis_tls_cert;
        tls.key_file = o.redis_tls_key;
        redis->tls_context = transport::make_client_tls_context(tls, error);
        if (!redis->tls_context) return plan_error{false, "--redis: TLS: " + error};
    }
    return std::nullopt;
}

// --log-format, -q, -v, --client-js and --metrics-listen.
std::optional<plan_error> plan_output(const serve_options& o, serve_plan& plan) {
    if (o.log_format != "text" && o.log_format != "json")
        return plan_error{true, fmt::format("--log-format '{}': use text or json", o.log_format)};
    if (o.quiet && o.verbose) return plan_error{true, "-q and -v exclude each other"};
    plan.log = o.log_format == "json" ? log_format::json : log_format::text;
    plan.level = o.quiet ? log_level::error : o.verbose ? log_level::debug : log_level::info;
    if (!o.client_js.empty()) {
        std::ifstream file(o.client_js, std::ios::binary);
        std::ostringstream text;
        text << file.rdbuf();
        if (!file || text.str().empty())
            return plan_error{false, fmt::format("--client-js {}: cannot read the file, or it is empty", o.client_js)};
        plan.client_js = std::move(text).str();
    }
    if (!o.metrics_listen.empty()) {
        plan.metrics_endpoint = parse_listen_address(o.metrics_listen);
        if (!plan.metrics_endpoint)
            return plan_error{true, fmt::format("--metrics-listen '{}': use HOST:PORT, e.g. 127.0.0.1:9100", o.metrics_listen)};
    }
    return std::nullopt;
}

}  // namespace

std::size_t default_max_sessions() {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return 100000;
    const auto bytes = static_cast<unsigned long long>(pages) * static_cast<unsigned long long>(page);
    return static_cast<std::size_t>(std::clamp<unsigned long long>(bytes / 4 / (16 * 1024), 1000, 100000));
}

namespace {

// What is served and how: the address, the protocol's settings, TLS, the chat and the rules.
void add_serving_options(po::options_description& serve, serve_options& options) {
    serve.add_options()
        ("host", po::value(&options.host)->default_value(options.host), "address to listen on")
        ("port,p", po::value(&options.port)->default_value(options.port), "port to listen on (0: any free port)")
        ("threads,t", po::value(&options.threads)->default_value(0), "threads serving connections (0: one per core)")
        ("path", po::value(&options.path)->default_value(options.path), "Engine.IO path")
        ("namespace,n", po::value(&options.namespaces)->composing(), "a namespace besides / (repeatable)")
        ("transports", po::value(&options.transports)->default_value(options.transports),
         "transports accepted: polling, websocket or both")
        ("ping-interval", duration_value("ping-interval", bare_unit::milliseconds, &options.ping_interval_ms),
         "time between the server's pings (500ms, 5s, 1m; a bare number is milliseconds)")
        ("ping-timeout", duration_value("ping-timeout", bare_unit::milliseconds, &options.ping_timeout_ms),
         "time a client has to answer a ping (500ms, 5s, 1m; a bare number is milliseconds)")
        ("max-payload", po::value(&options.max_payload)->default_value(options.max_payload),
         "largest message or polling body in bytes")
        ("connect-timeout", duration_value("connect-timeout", bare_unit::milliseconds, &options.connect_timeout_ms),
         "time a client has to connect to a namespace (500ms, 5s, 1m; a bare number is milliseconds)")
        ("max-buffered-bytes", po::value(&options.max_buffered_bytes)->default_value(options.max_buffered_bytes),
         "bytes queued for sending over every session together; past it, sessions holding more than "
         "64 KiB unsent are closed as slow consumers (0: no total limit)")
        ("parser", po::value(&options.parser)->default_value(options.parser),
         "the Socket.IO parser clients use: json (the default one), or msgpack (socket.io-msgpack-parser; "
         "/socket.io/socket.io.js is then the client built with it)")
        ("recovery-window", duration_value("recovery-window", bare_unit::milliseconds, &options.recovery_window_ms),
         "time a dropped client may take to come back and get its id, rooms and missed "
         "broadcasts (connection state recovery; 0: off) (500ms, 5s, 1m; a bare number is milliseconds)")
        ("recovery-max-packets", po::value(&options.recovery_max_packets)->default_value(options.recovery_max_packets),
         "broadcasts kept per namespace for recovery; a client that missed evicted ones is not recovered")
        ("tls-cert", po::value(&options.tls_cert),
         "PEM certificate chain: serve https and wss (with --tls-key; SIGHUP reloads both)")
        ("tls-key", po::value(&options.tls_key), "PEM private key of --tls-cert")
        ("client-js", po::value(&options.client_js),
         "serve this file as /socket.io/socket.io.js instead of the built-in socket.io-client bundle")
        ("auth-token", po::value(&options.auth_token), "refuse clients whose auth payload lacks {\"token\": TOKEN}")
        ("max-message-len", po::value(&options.max_message_len)->default_value(options.max_message_len),
         "chat demo: longest message text in characters")
        ("rate-limit", po::value(&options.rate_limit)->default_value(options.rate_limit),
         "chat demo: messages per second one client may send (0: no limit)")
        ("cors-origin", po::value(&options.cors_origins)->composing(),
         "origin whose browsers may connect cross-origin, with credentials (repeatable; * for any; "
         "default: none)")
        ("mode", po::value(&options.mode)->default_value(options.mode),
         "chat, echo (answer every event), none (rules only) or engine-echo (bare Engine.IO)")
        ("on", po::value(&options.on_rules)->composing(),
         "[/NSP:]EVENT=ACTION rule: echo, ack, emit:NAME, broadcast[:NAME], relay, to-room[:NAME], join, "
         "leave (repeatable)")
        ("on-connect", po::value(&options.on_connect_rules)->composing(),
         "[/NSP:]emit:NAME[:FIELD]: send FIELD (auth, query, headers, handshake) to each new socket "
         "(repeatable)");
}

// The log, the limits, the metrics endpoint and the cluster.
void add_running_options(po::options_description& serve, serve_options& options) {
    serve.add_options()
        ("log-format", po::value(&options.log_format)->default_value(options.log_format),
         "log lines as text or json (one JSON object per line)")
        ("shutdown-timeout", duration_value("shutdown-timeout", bare_unit::milliseconds, &options.shutdown_timeout_ms),
         "time SIGINT/SIGTERM waits for clients to be disconnected before exiting "
         "(500ms, 5s, 1m; a bare number is milliseconds)")
        ("max-connections", po::value(&options.max_connections)->default_value(options.max_connections),
         "open connections at once; more are answered 503 (0: no limit)")
        ("max-connections-per-ip", po::value(&options.max_connections_per_ip)->default_value(options.max_connections_per_ip),
         "open connections from one address; more are answered 503 (0: no limit)")
        ("max-sessions", po::value(&options.max_sessions)->default_value(options.max_sessions),
         "Engine.IO sessions open at once; more handshakes are answered 503 (0: no limit; the default is what a "
         "quarter of this machine's memory holds at 16 KiB a session, at most 100000)")
        ("max-sessions-per-ip", po::value(&options.max_sessions_per_ip)->default_value(options.max_sessions_per_ip),
         "sessions opened from one address; more handshakes are answered 503 (0: no limit)")
        ("max-tls-handshakes", po::value(&options.max_tls_handshakes)->default_value(options.max_tls_handshakes),
         "TLS handshakes under way at once; more TLS connections are closed (0: no limit)")
        ("request-timeout", duration_value("request-timeout", bare_unit::milliseconds, &options.request_timeout_ms),
         "time a client has to send a request's headers and body, or finish a WebSocket handshake "
         "(500ms, 5s, 1m; a bare number is milliseconds)")
        ("allowed-origin", po::value(&options.allowed_origins)->composing(),
         "serve only requests from this browser origin, WebSocket upgrades included; others get 403 "
         "(repeatable; default: any)")
        ("metrics-listen", po::value(&options.metrics_listen),
         "HOST:PORT serving /metrics (and /healthz) instead of the main port")
        ("metrics-token", po::value(&options.metrics_token),
         "/metrics needs the header 'Authorization: Bearer TOKEN'")
        ("redis", po::value(&options.redis_url),
         "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: share rooms and broadcasts with the other servers on "
         "this Redis (@socket.io/redis-adapter compatible); with a password, each connection sends AUTH; "
         "rediss:// for TLS")
        ("redis-key", po::value(&options.redis_key)->default_value(options.redis_key),
         "prefix of the Redis channels (the Node adapter's 'key' option; with streams, also "
         "'channelPrefix' and 'streamName')")
        ("redis-adapter", po::value(&options.redis_adapter)->default_value(options.redis_adapter),
         "the Node adapter the cluster speaks: pubsub (@socket.io/redis-adapter, classic), sharded "
         "(@socket.io/redis-adapter's createShardedAdapter: Redis 7 sharded pub/sub) or streams "
         "(@socket.io/redis-streams-adapter: a Redis stream, and connection state recovery across servers)")
        ("redis-subscription-mode", po::value(&options.redis_subscription_mode),
         "with --redis-adapter sharded, the Node adapter's subscriptionMode: static (one channel per "
         "namespace), dynamic (default: a channel per public room, subscribed while the room has members "
         "here) or dynamic-private (a channel per room, sockets' own rooms too)")
        ("redis-tls-ca", po::value(&options.redis_tls_ca),
         "PEM file of the CA certificates a rediss:// server is verified against (default: the system's)")
        ("redis-tls-cert", po::value(&options.redis_tls_cert),
         "PEM client certificate for a rediss:// server that asks for one (tls-auth-clients; with --redis-tls-key)")
        ("redis-tls-key", po::value(&options.redis_tls_key), "PEM private key of --redis-tls-cert")
        ("redis-tls-insecure", po::bool_switch(&options.redis_tls_insecure),
         "do not verify a rediss:// server's certificate or name (a test Redis with a self-signed certificate)")
        ("no-forward-requests", po::bool_switch(&options.no_forward_requests),
         "with --redis, answer a request for another server's session \"Session ID unknown\" instead of "
         "forwarding it to that server through Redis (the load balancer then needs sticky sessions)")
        ("quiet,q", po::bool_switch(&options.quiet), "log errors only")
        ("verbose,v", po::bool_switch(&options.verbose), "log debug details too (every refused request)");
}

}  // namespace

void add_options(command_line& cmd, serve_options& options) {
    po::options_description serve("Server options");
    add_serving_options(serve, options);
    add_running_options(serve, options);
    cmd.visible.add(serve);
    po::options_description admin_flags("Admin UI options");
    add_admin_flags(admin_flags, options.admin);
    cmd.visible.add(admin_flags);
}

std::optional<plan_error> make_plan(const serve_options& options, serve_plan& plan) {
    plan.options = options;
    if (auto e = check_values(options)) return plan_error{true, *e};
    if (auto e = check_admin_options(plan.options.admin); !e.empty()) return plan_error{true, e};
    if (auto e = plan_engine(plan.options, plan)) return plan_error{true, *e};
    if (auto e = plan_tls(options, plan)) return e;
    if (auto e = plan_redis(options, plan)) return e;
    if (auto e = plan_output(options, plan)) return e;
    plan.threads = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    return std::nullopt;
}

}  // namespace sio::serve
