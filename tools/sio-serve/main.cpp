// sio-serve: a zero-code Socket.IO v4 server with a chat demo and a browser page.
#include "chat.hpp"
#include "common/cli.hpp"

#include <sio/engine/server.hpp>
#include <sio/server.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/crypto.h>

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern const std::string_view sio_serve_index_html;
extern const std::string_view sio_serve_client_bundle;

namespace po = boost::program_options;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace sio::tools;

namespace {

constexpr tool_info info{
    "sio-serve", "zero-code Socket.IO server: chat demo, rooms, namespaces, acks",
    "sio-serve [options]",
    "Serves Socket.IO v4 clients (Engine.IO v4 over WebSocket and HTTP long-polling) on\n"
    "PATH, the chat page on /, the browser client on /socket.io/socket.io.js and /health.\n"
    "Every namespace runs the chat demo: events 'chat message', 'join', 'leave',\n"
    "'set name', 'echo' (acks its arguments) and 'broadcast'; see sio-serve(1).\n"};

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
    std::string transports = "polling,websocket";
    std::string auth_token;
    std::vector<std::string> allowed_origins;
    bool quiet = false;
};

// Log lines go to stderr, one at a time, with control characters escaped so a client's name
// cannot forge a line or drive the terminal.
class logger {
public:
    explicit logger(bool quiet) : quiet_(quiet) {}
    void operator()(std::string_view line) {
        if (quiet_) return;
        std::string safe;
        safe.reserve(line.size());
        for (unsigned char c : line) {
            if (c < 0x20 || c == 0x7f) safe += fmt::format("\\x{:02x}", c);
            else safe += static_cast<char>(c);
        }
        std::lock_guard lock(mutex_);
        fmt::print(stderr, "sio-serve: {}\n", safe);
    }

private:
    bool quiet_;
    std::mutex mutex_;
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

http::response<http::string_body> serve_page(const http::request<http::string_body>& req) {
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
        if (sio_serve_client_bundle.empty()) {
            return respond(req, http::status::not_found, "text/plain; charset=utf-8",
                           "this sio-serve was built without the Socket.IO browser client "
                           "(run scripts/setup, which installs it, and rebuild)\n");
        }
        auto res = respond(req, http::status::ok, "application/javascript; charset=utf-8",
                           std::string(sio_serve_client_bundle));
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

int run_serve(const serve_options& options) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options.host, ec);
    if (ec) return usage_error(info, fmt::format("--host '{}' is not an IP address", options.host));
    if (options.path.empty() || options.path.front() != '/') {
        return usage_error(info, fmt::format("--path '{}' must start with '/'", options.path));
    }
    sio::engine::server_options eo;
    if (!parse_transports(options.transports, eo)) {
        return usage_error(info, fmt::format("--transports '{}': use polling, websocket or both, "
                                             "comma-separated", options.transports));
    }
    eo.path = options.path.back() == '/' ? options.path : options.path + "/";
    eo.session.ping_interval = std::chrono::milliseconds(options.ping_interval_ms);
    eo.session.ping_timeout = std::chrono::milliseconds(options.ping_timeout_ms);
    eo.session.max_payload = options.max_payload;
    eo.allowed_origins = options.allowed_origins;

    const unsigned threads = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    asio::io_context ioc(static_cast<int>(threads));
    logger log(options.quiet);

    auto engine = sio::engine::server::create(ioc.get_executor(), eo);
    sio::server_options so;
    so.connect_timeout = std::chrono::milliseconds(options.connect_timeout_ms);
    so.log = [&log](std::string_view line) { log(line); };
    auto io = sio::server::create(ioc.get_executor(), engine, so);
    engine->set_http_handler(serve_page);

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
                const auto* given = auth.is_object() && auth.contains("token") && auth["token"].is_string()
                                        ? &auth["token"].get_ref<const std::string&>()
                                        : nullptr;
                // Compared in constant time, so the answer's timing does not reveal the token.
                bool ok = given != nullptr && given->size() == token.size() &&
                          CRYPTO_memcmp(given->data(), token.data(), token.size()) == 0;
                next(ok ? std::nullopt : std::optional<sio::connect_error>(sio::connect_error{"not authorized", std::nullopt}));
            });
        }
        chats.push_back(sio::serve::install_chat(nsp, {.log = [&log](std::string_view line) { log(line); }}));
    }

    ec = engine->listen({address, options.port});
    if (ec) {
        fmt::print(stderr, "{}: cannot listen on {}:{}: {}\n", info.name, options.host, options.port, ec.message());
        return exit_failure;
    }
    const auto ep = engine->local_endpoint();
    const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    std::string nsp_list;
    for (const auto& n : names) nsp_list += (nsp_list.empty() ? "" : ", ") + n;
    fmt::print(stderr, "{}: listening on http://{}:{} (path {}, namespaces {}, {} thread{})\n", info.name, host,
               ep.port(), eo.path, nsp_list, threads, threads == 1 ? "" : "s");

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    asio::steady_timer grace(ioc);
    signals.async_wait([&](const boost::system::error_code& error, int signal) {
        if (error) return;
        log(fmt::format("signal {}: closing {} session(s)", signal, engine->session_count()));
        engine->stop();
        // Sessions say goodbye; whatever is still running after a moment is cut off.
        grace.expires_after(std::chrono::seconds(2));
        grace.async_wait([&ioc](const boost::system::error_code&) { ioc.stop(); });
    });

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
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
        ("ping-interval", po::value(&options.ping_interval_ms)->default_value(options.ping_interval_ms),
         "milliseconds between the server's pings")
        ("ping-timeout", po::value(&options.ping_timeout_ms)->default_value(options.ping_timeout_ms),
         "milliseconds a client has to answer a ping")
        ("max-payload", po::value(&options.max_payload)->default_value(options.max_payload),
         "largest message or polling body in bytes")
        ("connect-timeout", po::value(&options.connect_timeout_ms)->default_value(options.connect_timeout_ms),
         "milliseconds a client has to connect to a namespace")
        ("auth-token", po::value(&options.auth_token), "refuse clients whose auth payload lacks {\"token\": TOKEN}")
        ("allowed-origin", po::value(&options.allowed_origins)->composing(),
         "origin allowed for CORS and WebSocket (repeatable; default: any)")
        ("quiet,q", po::bool_switch(&options.quiet), "no log lines on stderr");
    cmd.visible.add(serve);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    if (options.ping_interval_ms == 0 || options.ping_timeout_ms == 0) {
        return usage_error(info, "--ping-interval and --ping-timeout must be positive");
    }
    if (options.max_payload == 0) return usage_error(info, "--max-payload must be positive");
    if (options.threads > 256) return usage_error(info, "--threads must be at most 256");
    return run_serve(options);
}
