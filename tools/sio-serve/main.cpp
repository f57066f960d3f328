// sio-serve: a zero-code Socket.IO v4 server with a chat demo and a browser page.
#include "admin.hpp"
#include "chat.hpp"
#include "ops.hpp"
#include "rules.hpp"
#include "common/cli.hpp"
#include "common/duration.hpp"

#include <sio/engine/server.hpp>
#include <sio/cluster.hpp>
#include <sio/server.hpp>
#include <sio/transport/client_connect.hpp>
#include <sio/transport/server_tls.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/crypto.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern const std::string_view sio_serve_index_html;
extern const std::string_view sio_serve_client_bundle;
extern const std::string_view sio_serve_client_bundle_msgpack;

namespace po = boost::program_options;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace sio::tools;

namespace {

constexpr tool_info info{
    "sio-serve", "zero-code Socket.IO server: chat demo, rooms, namespaces, acks",
    "sio-serve [options]",
    "Serves Socket.IO v4 clients (Engine.IO v4 over WebSocket and HTTP long-polling) on\n"
    "PATH, the chat page on /, the browser client on /socket.io/socket.io.js, /healthz\n"
    "and Prometheus metrics on /metrics.\n"
    "Every namespace runs the chat demo: 'set name', 'chat message', 'join', 'leave',\n"
    "typing, private messages, call signaling, read receipts and 'echo' (acks its\n"
    "arguments); see THE CHAT DEMO in sio-serve(1).\n"
    "--mode echo answers every event instead; --on and --on-connect add rules on top of any\n"
    "mode (see MODES AND RULES in sio-serve(1)).\n"};


// Sessions a quarter of this machine's memory holds at 16 KiB each (an idle polling session, the
// larger kind, with room to spare), between 1,000 and 100,000.
std::size_t default_max_sessions() {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return 100000;
    const auto bytes = static_cast<unsigned long long>(pages) * static_cast<unsigned long long>(page);
    return static_cast<std::size_t>(std::clamp<unsigned long long>(bytes / 4 / (16 * 1024), 1000, 100000));
}

struct serve_options {
    std::string host = "127.0.0.1";
    unsigned short port = 3000;
    unsigned threads = 0;  // 0: one per core
    std::string path = "/socket.io/";
    std::vector<std::string> namespaces;
    unsigned ping_interval_ms = 25000;
    unsigned ping_timeout_ms = 20000;
    std::uint64_t max_payload = 1'000'000;
    unsigned connect_timeout_ms = 45000;
    unsigned recovery_window_ms = 0;          // 0: connection state recovery off
    std::size_t recovery_max_packets = 10000;  // per namespace
    std::size_t max_buffered_bytes = std::size_t(1) << 30;  // queued for sending, every session together
    std::string transports = "polling,websocket";
    std::string auth_token;
    std::string tls_cert;  // --tls-cert/--tls-key: serve https and wss
    std::string tls_key;
    std::string client_js;  // file served as /socket.io/socket.io.js instead of the built-in one
    std::string parser = "json";  // --parser: json | msgpack (socket.io-msgpack-parser)
    std::size_t max_message_len = 500;  // chat demo: longest message text, in characters
    unsigned rate_limit = 20;           // chat demo: messages per second per socket; 0: off
    std::string mode = "chat";
    std::vector<std::string> on_rules;          // --on [/NSP:]EVENT=ACTION
    std::vector<std::string> on_connect_rules;  // --on-connect [/NSP:]emit:NAME[:FIELD]
    std::vector<std::string> cors_origins;  // --cors-origin; "*": every origin, echoed
    std::string log_format = "text";
    unsigned shutdown_timeout_ms = 5000;
    std::size_t max_connections = 10000;   // 0: no limit
    std::size_t max_connections_per_ip = 0;  // 0: no limit (behind a proxy every client shares its address)
    std::size_t max_sessions = default_max_sessions();  // Engine.IO sessions (a polling one outlives its requests)
    std::size_t max_sessions_per_ip = 0;
    std::size_t max_tls_handshakes = 512;    // TLS handshakes under way at once (about 86 KiB each)
    unsigned request_timeout_ms = 10000;
    std::vector<std::string> allowed_origins;  // --allowed-origin: others are refused (403)
    std::string metrics_listen;                // HOST:PORT serving /metrics instead of the main port
    std::string metrics_token;                 // /metrics needs "Authorization: Bearer TOKEN"
    std::string redis_url;                     // --redis redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: join a cluster
    std::string redis_key = "socket.io";       // --redis-key: channel prefix
    std::string redis_tls_ca;                  // --redis-tls-ca/-cert/-key/-insecure: rediss:// settings
    std::string redis_tls_cert;
    std::string redis_tls_key;
    bool redis_tls_insecure = false;
    sio::serve::admin_options admin;  // --admin-ui and its flags
    bool quiet = false;
    bool verbose = false;
};

http::response<http::string_body> respond(const http::request<http::string_body>& req, http::status status,
                                          std::string_view type, std::string body) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "sio-serve");
    res.set(http::field::content_type, type);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

// `client_js` is the Socket.IO browser client served under the Engine.IO path: the bundle built
// in, or the file given with --client-js.
http::response<http::string_body> serve_page(const http::request<http::string_body>& req,
                                             std::string_view client_js) {
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        auto res = respond(req, http::status::method_not_allowed, "text/plain; charset=utf-8",
                           "method not allowed\n");
        res.set(http::field::allow, "GET, HEAD");
        return res;
    }
    if (target == "/" || target == "/index.html") {
        return respond(req, http::status::ok, "text/html; charset=utf-8", std::string(sio_serve_index_html));
    }
    if (target == "/socket.io/socket.io.js" || target == "/socket.io/socket.io.min.js") {
        if (client_js.empty()) {
            return respond(req, http::status::not_found, "text/plain; charset=utf-8",
                           "this sio-serve was built without the Socket.IO browser client "
                           "(run scripts/setup, which installs it, and rebuild, or use --client-js)\n");
        }
        auto res = respond(req, http::status::ok, "application/javascript; charset=utf-8",
                           std::string(client_js));
        res.set(http::field::cache_control, "public, max-age=3600");
        return res;
    }
    if (target == "/health") return respond(req, http::status::ok, "text/plain; charset=utf-8", "ok\n");
    return respond(req, http::status::not_found, "text/plain; charset=utf-8", "not found\n");
}

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

// "HOST:PORT" or "[V6]:PORT" as an endpoint; nullopt when it is neither.
std::optional<asio::ip::tcp::endpoint> parse_host_port(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    unsigned port = 0;
    for (const char c : text.substr(colon + 1)) {
        if (c < '0' || c > '9' || port > 65535) return std::nullopt;
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port > 65535) return std::nullopt;
    return asio::ip::tcp::endpoint{address, static_cast<unsigned short>(port)};
}

// Each connection is a descriptor: raise the soft limit toward the hard one so that
// --max-connections, not the descriptor limit, is what refuses clients; warn when it cannot.
void raise_descriptor_limit(std::size_t max_connections, sio::serve::log_sink& log) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    const rlim_t want = max_connections == 0 ? lim.rlim_max : static_cast<rlim_t>(max_connections) + 256;
    if (lim.rlim_cur < want) {
        lim.rlim_cur = std::min(want, lim.rlim_max);
        setrlimit(RLIMIT_NOFILE, &lim);
        getrlimit(RLIMIT_NOFILE, &lim);
    }
    if (max_connections != 0 && lim.rlim_cur < want) {
        log.notice("descriptor_limit",
                   fmt::format("the descriptor limit ({}) is below --max-connections ({}) plus a margin: "
                               "connections beyond it will fail to be accepted (raise `ulimit -n`)",
                               static_cast<unsigned long long>(lim.rlim_cur), max_connections),
                   {});
    }
}

int run_serve(const serve_options& options) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options.host, ec);
    if (ec) return usage_error(info, fmt::format("--host '{}' is not an IP address", options.host));
    if (options.parser != "json" && options.parser != "msgpack")
        return usage_error(info, fmt::format("--parser '{}': use json or msgpack", options.parser));
    if (options.path.empty() || options.path.front() != '/') {
        return usage_error(info, fmt::format("--path '{}' must start with '/'", options.path));
    }
    sio::engine::server_options eo;
    if (!parse_transports(options.transports, eo)) {
        return usage_error(info, fmt::format("--transports '{}': use polling, websocket or both, "
                                             "comma-separated", options.transports));
    }
    const auto mode = sio::serve::parse_mode(options.mode);
    if (!mode) {
        return usage_error(info, fmt::format("--mode '{}': use chat, echo, none or engine-echo", options.mode));
    }
    if (*mode == sio::serve::serve_mode::engine_echo &&
        (!options.on_rules.empty() || !options.on_connect_rules.empty())) {
        return usage_error(info, "--on and --on-connect need Socket.IO: --mode engine-echo has no events");
    }
    if (*mode == sio::serve::serve_mode::engine_echo && options.admin.enabled)
        return usage_error(info, "--admin-ui needs Socket.IO: --mode engine-echo has no namespaces");
    if (*mode == sio::serve::serve_mode::engine_echo && options.parser != "json")
        return usage_error(info, "--parser needs Socket.IO: --mode engine-echo has no Socket.IO packets");
    std::vector<std::string> declared{"/"};
    for (const auto& n : options.namespaces) declared.push_back(n.empty() || n.front() != '/' ? "/" + n : n);
    auto rules = sio::serve::parse_rules(options.on_rules, options.on_connect_rules, declared);
    if (!rules.value) return usage_error(info, rules.error);
    eo.path = options.path.back() == '/' ? options.path : options.path + "/";
    eo.session.ping_interval = std::chrono::milliseconds(options.ping_interval_ms);
    eo.session.ping_timeout = std::chrono::milliseconds(options.ping_timeout_ms);
    eo.session.max_payload = options.max_payload;
    eo.session.max_total_queue_bytes = options.max_buffered_bytes;
    eo.cors_origins = options.cors_origins;
    for (const auto& o : options.admin.origins) eo.cors_origins.push_back(o);
    eo.allowed_origins = options.allowed_origins;
    eo.max_connections = options.max_connections;
    eo.max_connections_per_ip = options.max_connections_per_ip;
    eo.max_sessions = options.max_sessions;
    eo.max_sessions_per_ip = options.max_sessions_per_ip;
    eo.max_tls_handshakes = options.max_tls_handshakes;
    eo.server_name = "sio-serve";
    eo.request_timeout = std::chrono::milliseconds(options.request_timeout_ms);
    if (options.tls_cert.empty() != options.tls_key.empty())
        return usage_error(info, "--tls-cert and --tls-key go together");
    if (!options.tls_cert.empty()) {
        std::string error;
        eo.tls = sio::transport::make_server_tls_context({options.tls_cert, options.tls_key}, error);
        if (!eo.tls) {
            fmt::print(stderr, "{}: TLS: {}\n", info.name, error);
            return exit_failure;
        }
    }

    std::optional<sio::adapter::redis::options> redis;
    if (!options.redis_url.empty()) {
        redis = sio::adapter::redis::parse_url(options.redis_url);
        if (!redis) {
            // Not echoed: the URL may hold a password.
            return usage_error(info, "--redis: use redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (rediss:// for TLS), "
                                     "e.g. redis://127.0.0.1:6379 or redis://:secret@127.0.0.1:6379/2 (percent-encode "
                                     "special characters in USER and PASSWORD)");
        }
        if (options.redis_key.empty()) return usage_error(info, "--redis-key must not be empty");
        redis->prefix = options.redis_key;
    }
    const bool redis_tls_flags = !options.redis_tls_ca.empty() || !options.redis_tls_cert.empty() ||
                                 !options.redis_tls_key.empty() || options.redis_tls_insecure;
    if (redis_tls_flags && !(redis && redis->tls))
        return usage_error(info, "--redis-tls-ca, --redis-tls-cert, --redis-tls-key and --redis-tls-insecure "
                                 "need --redis rediss://...");
    if (options.redis_tls_cert.empty() != options.redis_tls_key.empty())
        return usage_error(info, "--redis-tls-cert and --redis-tls-key go together");
    if (redis && redis->tls) {
        std::string error;
        redis->tls_verify = !options.redis_tls_insecure;
        sio::transport::tls_settings tls;
        tls.verify = redis->tls_verify;
        tls.ca_file = options.redis_tls_ca;
        tls.cert_file = options.redis_tls_cert;
        tls.key_file = options.redis_tls_key;
        redis->tls_context = sio::transport::make_client_tls_context(tls, error);
        if (!redis->tls_context) {
            fmt::print(stderr, "{}: --redis: TLS: {}\n", info.name, error);
            return exit_failure;
        }
    }

    const unsigned threads = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    // One event loop per thread. Loop 0 (`ioc`, run by this thread) also runs the acceptor, the
    // signals, the metrics endpoint and the Redis adapter; connections are spread over all of
    // them, and each session lives on the loop of the connection that opened it.
    asio::io_context ioc;
    std::vector<std::unique_ptr<asio::io_context>> more_loops;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    std::vector<asio::any_io_executor> loops{ioc.get_executor()};
    for (unsigned i = 1; i < threads; ++i) {
        more_loops.push_back(std::make_unique<asio::io_context>());
        keep_running.push_back(asio::make_work_guard(*more_loops.back()));
        loops.push_back(more_loops.back()->get_executor());
    }
    const auto stop_loops = [&] {
        for (auto& g : keep_running) g.reset();
        for (auto& l : more_loops) l->stop();
        ioc.stop();
    };
    if (options.log_format != "text" && options.log_format != "json") {
        return usage_error(info, fmt::format("--log-format '{}': use text or json", options.log_format));
    }
    if (options.quiet && options.verbose) return usage_error(info, "-q and -v exclude each other");
    sio::serve::log_sink log(options.log_format == "json" ? sio::serve::log_format::json : sio::serve::log_format::text,
                             options.quiet     ? sio::serve::log_level::error
                             : options.verbose ? sio::serve::log_level::debug
                                               : sio::serve::log_level::info);
    std::shared_ptr<sio::serve::admin_server> admin;
    if (options.admin.enabled) {
        if (std::find(declared.begin(), declared.end(), options.admin.nsp) != declared.end())
            return usage_error(info, fmt::format("--admin-ui-namespace {} is also a chat namespace (--namespace)",
                                                 options.admin.nsp));
        admin = sio::serve::admin_server::create(
            {.options = options.admin, .home = ioc.get_executor(), .tls = eo.tls != nullptr, .engine_path = eo.path,
             .log = [&log](std::string_view line) { log(line); },
             .warn = [&log](std::string_view line) { log.notice("admin_open", line, {}); }});
    }
    eo.on_event = [&log, admin](const sio::engine::server_event& e) {
        log.engine_event(e);
        if (admin) admin->engine_event(e);
    };
    // Each loop is run by one thread: no strands.
    eo.single_threaded = true;

    auto engine = sio::engine::server::create(loops, eo);
    sio::server_options so;
    so.connect_timeout = std::chrono::milliseconds(options.connect_timeout_ms);
    if (options.parser == "msgpack") so.parser = sio::codec::socketio::wire_parser::msgpack;
    so.recovery.window = std::chrono::milliseconds(options.recovery_window_ms);
    // A packet a client missed because its connection was already dead (unnoticed until the
    // ping timeout) must outlive the window by that much.
    so.recovery.grace = std::chrono::milliseconds(options.ping_interval_ms) +
                        std::chrono::milliseconds(options.ping_timeout_ms);
    so.recovery.max_packets = options.recovery_max_packets;
    so.recovery.max_sessions = options.max_connections != 0 ? options.max_connections : 100000;
    so.log = [&log](std::string_view line) { log(line); };
    so.on_event = [&log](const sio::server_event& e) { log.socket_event(e); };
    auto io = sio::server::create(ioc.get_executor(), engine, so);
    auto client_js = std::make_shared<std::string>(so.parser == sio::codec::socketio::wire_parser::msgpack
                                                       ? sio_serve_client_bundle_msgpack
                                                       : sio_serve_client_bundle);
    if (!options.client_js.empty()) {
        std::ifstream file(options.client_js, std::ios::binary);
        std::ostringstream text;
        text << file.rdbuf();
        if (!file || text.str().empty()) {
            fmt::print(stderr, "{}: --client-js {}: cannot read the file, or it is empty\n", info.name,
                       options.client_js);
            return exit_failure;
        }
        *client_js = std::move(text).str();
    }
    std::optional<asio::ip::tcp::endpoint> metrics_endpoint;
    if (!options.metrics_listen.empty()) {
        metrics_endpoint = parse_host_port(options.metrics_listen);
        if (!metrics_endpoint)
            return usage_error(info, fmt::format("--metrics-listen '{}': use HOST:PORT, e.g. 127.0.0.1:9100",
                                                 options.metrics_listen));
    }
    const sio::serve::metrics_access here{!metrics_endpoint, options.metrics_token};
    engine->set_http_handler(sio::serve::ops_http_handler(
        [client_js, admin = options.admin.enabled ? std::optional(options.admin.nsp) : std::nullopt, path = eo.path,
         msgpack = so.parser == sio::codec::socketio::wire_parser::msgpack](const http::request<http::string_body>& req) {
            if (admin) {
                if (auto res = sio::serve::serve_admin_ui(req, *admin, path, msgpack)) return std::move(*res);
            }
            return serve_page(req, *client_js);
        },
        engine, io, here));
    // --metrics-listen: /metrics and /healthz on a listener of their own (no Engine.IO there).
    std::shared_ptr<sio::engine::server> metrics_server;
    if (metrics_endpoint) {
        sio::engine::server_options mo;
        mo.allow_polling = mo.allow_websocket = false;
        mo.tls = eo.tls;
        mo.server_name = eo.server_name;
        metrics_server = sio::engine::server::create(ioc.get_executor(), mo);
        metrics_server->set_http_handler(sio::serve::ops_http_handler(
            [](const http::request<http::string_body>& req) {
                return respond(req, http::status::not_found, "text/plain; charset=utf-8",
                               "this listener serves /metrics and /healthz only\n");
            },
            engine, io, {true, options.metrics_token}));
        ec = metrics_server->listen(*metrics_endpoint);
        if (ec) {
            fmt::print(stderr, "{}: cannot listen on {} (--metrics-listen): {}\n", info.name,
                       options.metrics_listen, ec.message());
            return exit_failure;
        }
    }

    std::vector<std::string> names{"/"};
    for (const auto& n : options.namespaces) {
        std::string name = n.empty() || n.front() != '/' ? "/" + n : n;
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    std::vector<std::shared_ptr<void>> chats;
    for (const auto& name : names) {
        auto& nsp = io->of(name);
        if (!options.auth_token.empty()) {
            nsp.use([token = options.auth_token](const std::shared_ptr<sio::socket>& s, sio::next_fn next) {
                const auto& auth = s->handshake().auth;
                const sio::json* given = auth.is_object() && auth.contains("token") ? &auth["token"] : nullptr;
                // No token at all (absent, null or "") and a wrong one are told apart, as a client
                // prompting for a token needs to know which.
                if (given == nullptr || given->is_null() || (given->is_string() && given->get_ref<const std::string&>().empty())) {
                    return next(sio::connect_error{"Authentication required", std::nullopt});
                }
                const auto* text = given->is_string() ? &given->get_ref<const std::string&>() : nullptr;
                // Compared in constant time, so the answer's timing does not reveal the token.
                bool ok = text != nullptr && text->size() == token.size() &&
                          CRYPTO_memcmp(text->data(), token.data(), token.size()) == 0;
                next(ok ? std::nullopt : std::optional<sio::connect_error>(sio::connect_error{"Invalid token", std::nullopt}));
            });
        }
        if (*mode == sio::serve::serve_mode::chat) {
            chats.push_back(sio::serve::install_chat(nsp, {.max_message_len = options.max_message_len,
                                                           .rate_limit = options.rate_limit,
                                                           .log = [&log](std::string_view line) { log(line); }}));
        }
        sio::serve::install_rules(nsp, {.mode = *mode, .rules = &*rules.value,
                                        .log = [&log](std::string_view line) { log(line); }});
    }
    std::shared_ptr<sio::adapter::redis::cluster> cluster;
    if (redis) {
        redis->log = [&log](std::string_view line) { log(line); };
        cluster = sio::attach_redis(io, ioc.get_executor(), *redis);
        const bool v6 = redis->host.find(':') != std::string::npos;
        log(fmt::format("cluster: Redis {}{}{}:{}/{}{}{} (key {}), node {}", v6 ? "[" : "", redis->host,
                        v6 ? "]" : "", redis->port, redis->db,
                        !redis->tls ? "" : redis->tls_verify ? ", TLS" : ", TLS without verifying the server",
                        redis->password.empty() ? "" : redis->username.empty() ? ", AUTH" : ", AUTH as " + redis->username,
                        redis->prefix, cluster->uid()));
        // A serverSideEmit with an acknowledgement waits for every server of the cluster: each
        // namespace answers it with this node's id and its socket count.
        for (const auto& name : names) {
            auto nsp = io->find(name);
            if (!nsp) continue;
            std::weak_ptr<sio::namespace_> weak = nsp;
            nsp->on_server_side_emit([weak, uid = cluster->uid()](sio::json, std::function<void(sio::json)> ack) {
                auto n = weak.lock();
                if (!ack || !n) return;
                sio::json answer = sio::json::object();
                answer["server"] = "sio-serve";
                answer["node"] = uid;
                answer["sockets"] = n->socket_count();
                ack(std::move(answer));
            });
        }
    }
    if (admin) admin->attach(io, names);
    // Replaces the open handler the Socket.IO server set: sessions never reach its namespaces.
    if (*mode == sio::serve::serve_mode::engine_echo) {
        sio::serve::install_engine_echo(*engine, [&log](std::string_view line) { log(line); });
    }

    ec = engine->listen({address, options.port});
    if (ec) {
        fmt::print(stderr, "{}: cannot listen on {}:{}: {}\n", info.name, options.host, options.port, ec.message());
        return exit_failure;
    }
    raise_descriptor_limit(options.max_connections, log);
    const auto ep = engine->local_endpoint();
    const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    std::string nsp_list;
    for (const auto& n : names) nsp_list += (nsp_list.empty() ? "" : ", ") + n;
    const auto url = fmt::format("{}://{}:{}", eo.tls ? "https" : "http", host, ep.port());
    log.notice("listening",
               fmt::format("listening on {} (path {}, namespaces {}, {} thread{})", url, eo.path, nsp_list,
                           threads, threads == 1 ? "" : "s"),
               {{"url", url}});
    if (admin) {
        const auto aurl = fmt::format("{}{}", url, sio::serve::admin_ui_path);
        log.notice("admin_ui", fmt::format("Admin UI on {} (namespace {}, {} mode{})", aurl, options.admin.nsp,
                                           options.admin.mode, options.admin.read_only ? ", read-only" : ""),
                   {{"url", aurl}});
    }
    if (metrics_server) {
        const auto mep = metrics_server->local_endpoint();
        const std::string mhost = mep.address().is_v6() ? "[" + mep.address().to_string() + "]" : mep.address().to_string();
        const auto murl = fmt::format("{}://{}:{}/metrics", eo.tls ? "https" : "http", mhost, mep.port());
        log.notice("metrics", fmt::format("metrics on {}", murl), {{"url", murl}});
    }

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    asio::steady_timer grace(ioc);
    sio::serve::shutdown_on_signal(signals, grace, engine, io, std::chrono::milliseconds(options.shutdown_timeout_ms),
                                   log, [&] {
                                       if (admin) admin->stop();
                                       stop_loops();
                                   });

    // SIGHUP: read the certificate and key again (a renewed certificate); connections already open
    // keep the one they started with.
    asio::signal_set hangup(ioc);
    std::function<void()> wait_hangup;  // outlives ioc.run(): its handlers call it again
    if (eo.tls) {
        hangup.add(SIGHUP);
        wait_hangup = [&] {
            hangup.async_wait([&](boost::system::error_code sec, int) {
                if (sec) return;
                std::string error;
                if (auto ctx = sio::transport::make_server_tls_context({options.tls_cert, options.tls_key}, error)) {
                    engine->set_tls_context(std::move(ctx));
                    log.notice("tls_reload", "SIGHUP: certificate and key reloaded", {});
                } else {
                    log.notice("tls_reload_failed",
                               fmt::format("SIGHUP: keeping the current certificate: {}", error), {});
                }
                wait_hangup();
            });
        };
        wait_hangup();
    }

    std::vector<std::thread> pool;
    for (auto& l : more_loops) pool.emplace_back([&l] { l->run(); });
    ioc.run();
    stop_loops();  // however loop 0 ended
    for (auto& t : pool) t.join();
    // What a cut-off shutdown left: every socket closed now, and what that completes at once run
    // here (this thread is the only one left), so that no operation of one loop still holds an
    // object of another when the loops are destroyed.
    engine->stop();
    if (metrics_server) metrics_server->stop();
    for (int pass = 0; pass < 2; ++pass) {
        ioc.restart();
        ioc.poll();
        for (auto& l : more_loops) {
            l->restart();
            l->poll();
        }
    }
    return exit_ok;
}

}  // namespace

int main(int argc, char* argv[]) {
    serve_options options;
    command_line cmd{standard_options(), {}, {}};
    po::options_description serve("Server options");
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
         "(repeatable)")
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
         "prefix of the Redis channels (the Node adapter's 'key' option)")
        ("redis-tls-ca", po::value(&options.redis_tls_ca),
         "PEM file of the CA certificates a rediss:// server is verified against (default: the system's)")
        ("redis-tls-cert", po::value(&options.redis_tls_cert),
         "PEM client certificate for a rediss:// server that asks for one (tls-auth-clients; with --redis-tls-key)")
        ("redis-tls-key", po::value(&options.redis_tls_key), "PEM private key of --redis-tls-cert")
        ("redis-tls-insecure", po::bool_switch(&options.redis_tls_insecure),
         "do not verify a rediss:// server's certificate or name (a test Redis with a self-signed certificate)")
        ("quiet,q", po::bool_switch(&options.quiet), "log errors only")
        ("verbose,v", po::bool_switch(&options.verbose), "log debug details too (every refused request)");
    cmd.visible.add(serve);
    po::options_description admin_flags("Admin UI options");
    sio::serve::add_admin_flags(admin_flags, options.admin);
    cmd.visible.add(admin_flags);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    if (options.ping_interval_ms == 0 || options.ping_timeout_ms == 0) {
        return usage_error(info, "--ping-interval and --ping-timeout must be positive");
    }
    if (options.max_payload == 0) return usage_error(info, "--max-payload must be positive");
    if (options.recovery_window_ms != 0 && options.recovery_max_packets == 0)
        return usage_error(info, "--recovery-max-packets must be positive when --recovery-window is set");
    if (options.request_timeout_ms == 0) return usage_error(info, "--request-timeout must be positive");
    if (options.max_message_len == 0) return usage_error(info, "--max-message-len must be positive");
    if (options.threads > 256) return usage_error(info, "--threads must be at most 256");
    if (auto error = sio::serve::check_admin_options(options.admin); !error.empty()) return usage_error(info, error);
    return run_serve(options);
}
