// sio-serve's command line: every flag, checked and turned into what serving needs.
#pragma once

#include "common/cli.hpp"
#include "admin.hpp"
#include "ops.hpp"
#include "rules.hpp"

#include <sio/adapter/redis.hpp>
#include <sio/engine/server.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sio::serve {

// Sessions a quarter of this machine's memory holds at 16 KiB each (an idle polling session, the
// larger kind, with room to spare), between 1,000 and 100,000.
std::size_t default_max_sessions();

// The flags as typed.
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
    std::string redis_key = "socket.io";       // --redis-key: channel prefix (and stream name)
    std::string redis_adapter = "pubsub";      // --redis-adapter pubsub|streams|sharded: the Node adapter spoken
    std::string redis_subscription_mode;       // --redis-subscription-mode static|dynamic|dynamic-private (sharded)
    std::string redis_tls_ca;                  // --redis-tls-ca/-cert/-key/-insecure: rediss:// settings
    std::string redis_tls_cert;
    std::string redis_tls_key;
    bool redis_tls_insecure = false;
    bool no_forward_requests = false;          // --no-forward-requests: rely on a sticky load balancer
    admin_options admin;  // --admin-ui and its flags
    bool quiet = false;
    bool verbose = false;
};

// What the checks make of the flags.
struct serve_plan {
    serve_options options;
    boost::asio::ip::address address;
    engine::server_options engine;  // everything but the event callback and the loops
    serve_mode mode = serve_mode::chat;
    rule_set rules;
    std::vector<std::string> namespaces;  // "/" first, each once, each with its '/'
    std::optional<adapter::redis::options> redis;
    std::optional<boost::asio::ip::tcp::endpoint> metrics_endpoint;
    std::optional<std::string> client_js;  // --client-js, read; else the bundle built in
    log_format log = log_format::text;
    log_level level = log_level::info;
    unsigned threads = 1;
};

// Adds sio-serve's options to `cmd`, bound to `options`.
void add_options(tools::command_line& cmd, serve_options& options);

// Why a plan could not be made: a usage error (exit 2, with the hint to --help) or a file that
// cannot be used (exit 1).
struct plan_error {
    bool usage = true;
    std::string message;
};

// Checks the values and fills `plan`, the first problem first; nullopt when all is well.
std::optional<plan_error> make_plan(const serve_options& options, serve_plan& plan);

}  // namespace sio::serve
