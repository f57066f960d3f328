#include "run.hpp"

#include "admin.hpp"
#include "chat.hpp"

#include <sio/adapter/redis_forward.hpp>
#include <sio/cluster.hpp>
#include <sio/server.hpp>
#include <sio/transport/server_tls.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/core.h>
#include <openssl/crypto.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern const std::string_view sio_serve_index_html;
extern const std::string_view sio_serve_client_bundle;
extern const std::string_view sio_serve_client_bundle_msgpack;

namespace sio::serve {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view tool = "sio-serve";

// `client_js` is the Socket.IO browser client served under the Engine.IO path: the bundle built
// in, or the file given with --client-js.
http::response<http::string_body> serve_page(const http::request<http::string_body>& req,
                                             std::string_view client_js) {
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        auto res = plain_answer(req, http::status::method_not_allowed, "text/plain; charset=utf-8",
                           "method not allowed\n");
        res.set(http::field::allow, "GET, HEAD");
        return res;
    }
    if (target == "/" || target == "/index.html") {
        return plain_answer(req, http::status::ok, "text/html; charset=utf-8", std::string(sio_serve_index_html));
    }
    if (target == "/socket.io/socket.io.js" || target == "/socket.io/socket.io.min.js") {
        if (client_js.empty()) {
            return plain_answer(req, http::status::not_found, "text/plain; charset=utf-8",
                           "this sio-serve was built without the Socket.IO browser client "
                           "(run scripts/setup, which installs it, and rebuild, or use --client-js)\n");
        }
        auto res = plain_answer(req, http::status::ok, "application/javascript; charset=utf-8",
                           std::string(client_js));
        res.set(http::field::cache_control, "public, max-age=3600");
        return res;
    }
    if (target == "/health") return plain_answer(req, http::status::ok, "text/plain; charset=utf-8", "ok\n");
    return plain_answer(req, http::status::not_found, "text/plain; charset=utf-8", "not found\n");
}

// Each connection is a descriptor: raise the soft limit toward the hard one so that
// --max-connections, not the descriptor limit, is what refuses clients; warn when it cannot.
void raise_descriptor_limit(std::size_t max_connections, log_sink& log) {
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

// One event loop per thread. Loop 0 (`main`, run by the calling thread) also runs the acceptor,
// the signals, the metrics endpoint and the Redis adapter; connections are spread over all of
// them, and each session lives on the loop of the connection that opened it.
struct event_loops {
    explicit event_loops(unsigned threads) : executors{main.get_executor()} {
        for (unsigned i = 1; i < threads; ++i) {
            more.push_back(std::make_unique<asio::io_context>());
            keep_running.push_back(asio::make_work_guard(*more.back()));
            executors.push_back(more.back()->get_executor());
        }
    }

    void stop() {
        for (auto& g : keep_running) g.reset();
        for (auto& l : more) l->stop();
        main.stop();
    }

    // Every loop on a thread of its own, loop 0 on this one, until they are stopped.
    void run() {
        std::vector<std::thread> pool;
        for (auto& l : more) pool.emplace_back([&l] { l->run(); });
        main.run();
        stop();  // however loop 0 ended
        for (auto& t : pool) t.join();
    }

    // Runs what is ready on every loop, twice, on this thread (the only one left).
    void drain() {
        for (int pass = 0; pass < 2; ++pass) {
            main.restart();
            main.poll();
            for (auto& l : more) {
                l->restart();
                l->poll();
            }
        }
    }

    asio::io_context main;
    std::vector<std::unique_ptr<asio::io_context>> more;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    std::vector<asio::any_io_executor> executors;
};

// Everything serving holds, in the order it is made and destroyed in reverse: the loops outlive
// the servers that run on them, the log everything that logs.
struct serving {
    explicit serving(const serve_plan& p) : plan(p), loops(p.threads), log(p.log, p.level) {}

    std::function<void(std::string_view)> log_line() {
        return [this](std::string_view line) { log(line); };
    }

    const serve_plan& plan;
    event_loops loops;
    log_sink log;
    std::shared_ptr<engine::server> engine;
    std::shared_ptr<sio::server> io;
    std::shared_ptr<engine::server> metrics_server;
    std::vector<std::shared_ptr<void>> chats;
    std::shared_ptr<adapter::redis::cluster> cluster;
    std::shared_ptr<adapter::redis::forwarder> forwarder;  // --redis without --no-forward-requests
    std::shared_ptr<admin_server> admin;  // --admin-ui
};

sio::server_options socket_server_options(serving& s) {
    const auto& o = s.plan.options;
    sio::server_options so;
    so.connect_timeout = std::chrono::milliseconds(o.connect_timeout_ms);
    if (o.parser == "msgpack") so.parser = codec::socketio::wire_parser::msgpack;
    so.recovery.window = std::chrono::milliseconds(o.recovery_window_ms);
    // A packet a client missed because its connection was already dead (unnoticed until the
    // ping timeout) must outlive the window by that much.
    so.recovery.grace = std::chrono::milliseconds(o.ping_interval_ms) + std::chrono::milliseconds(o.ping_timeout_ms);
    so.recovery.max_packets = o.recovery_max_packets;
    so.recovery.max_sessions = o.max_connections != 0 ? o.max_connections : 100000;
    so.log = s.log_line();
    so.on_event = [&log = s.log](const sio::server_event& e) { log.socket_event(e); };
    return so;
}

// --redis: requests for the sessions of other servers are forwarded to them through Redis, so
// that the load balancer in front needs no sticky sessions (redis_forward.hpp). Not with --tls:
// the owner asks its own listener over plain HTTP.
std::shared_ptr<adapter::redis::forwarder> make_forwarder(serving& s) {
    const auto& p = s.plan;
    if (!p.redis || p.options.no_forward_requests) return nullptr;
    if (p.engine.tls) {
        s.log.notice("forwarding_off",
                     "cluster: requests are not forwarded between servers with --tls: the load balancer needs sticky "
                     "sessions",
                     {});
        return nullptr;
    }
    auto redis = *p.redis;
    redis.log = s.log_line();
    adapter::redis::forward_options fo;
    fo.answer_timeout = std::chrono::milliseconds(p.options.ping_interval_ms) +
                        std::chrono::milliseconds(p.options.request_timeout_ms);
    fo.max_answer_bytes = std::max(fo.max_answer_bytes, 2 * static_cast<std::size_t>(p.engine.session.max_payload));
    s.forwarder = adapter::redis::forwarder::create(s.loops.main.get_executor(), std::move(redis), fo);
    return s.forwarder;
}

// The Engine.IO server on every loop, the Socket.IO server on it, and what the main port serves
// besides: the page, the browser client, and /metrics unless --metrics-listen moves it.
void start_servers(serving& s) {
    auto eo = s.plan.engine;
    const auto& admin_options = s.plan.options.admin;
    if (admin_options.enabled) {
        s.admin = admin_server::create({.options = admin_options,
                                        .home = s.loops.main.get_executor(),
                                        .tls = eo.tls != nullptr,
                                        .engine_path = eo.path,
                                        .log = s.log_line(),
                                        .warn = [&log = s.log](std::string_view line) { log.notice("admin_open", line, {}); }});
    }
    eo.on_event = [&log = s.log, admin = s.admin](const engine::server_event& e) {
        log.engine_event(e);
        if (admin) admin->engine_event(e);
    };
    eo.forwarder = make_forwarder(s);
    s.engine = engine::server::create(s.loops.executors, eo);
    const auto so = socket_server_options(s);
    s.io = sio::server::create(s.loops.main.get_executor(), s.engine, so);
    auto client_js = std::make_shared<std::string>(so.parser == codec::socketio::wire_parser::msgpack
                                                       ? sio_serve_client_bundle_msgpack
                                                       : sio_serve_client_bundle);
    if (s.plan.client_js) *client_js = *s.plan.client_js;
    const metrics_access here{!s.plan.metrics_endpoint, s.plan.options.metrics_token};
    std::optional<std::string> admin_nsp;
    if (admin_options.enabled) admin_nsp = admin_options.nsp;
    const bool msgpack = so.parser == codec::socketio::wire_parser::msgpack;
    s.engine->set_http_handler(ops_http_handler(
        [client_js, admin_nsp, path = eo.path, msgpack](const http::request<http::string_body>& req) {
            if (admin_nsp) {
                if (auto res = serve_admin_ui(req, *admin_nsp, path, msgpack)) return std::move(*res);
            }
            return serve_page(req, *client_js);
        },
        s.engine, s.io, here));
}

// --metrics-listen: /metrics and /healthz on a listener of their own (no Engine.IO there).
bool listen_metrics(serving& s) {
    if (!s.plan.metrics_endpoint) return true;
    engine::server_options mo;
    mo.allow_polling = mo.allow_websocket = false;
    mo.tls = s.plan.engine.tls;
    mo.server_name = s.plan.engine.server_name;
    s.metrics_server = engine::server::create(s.loops.main.get_executor(), mo);
    s.metrics_server->set_http_handler(ops_http_handler(
        [](const http::request<http::string_body>& req) {
            return plain_answer(req, http::status::not_found, "text/plain; charset=utf-8",
                           "this listener serves /metrics and /healthz only\n");
        },
        s.engine, s.io, {true, s.plan.options.metrics_token}));
    if (auto ec = s.metrics_server->listen(*s.plan.metrics_endpoint)) {
        fmt::print(stderr, "{}: cannot listen on {} (--metrics-listen): {}\n", tool, s.plan.options.metrics_listen,
                   ec.message());
        return false;
    }
    return true;
}

// --auth-token: a middleware refusing sockets whose auth payload lacks {"token": TOKEN}.
sio::middleware check_token(std::string token) {
    return [token = std::move(token)](const std::shared_ptr<sio::socket>& s, sio::next_fn next) {
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
    };
}

// Each namespace: the token check, the chat (in chat mode), then the mode's handlers and the rules.
void install_namespaces(serving& s) {
    for (const auto& name : s.plan.namespaces) {
        auto& nsp = s.io->of(name);
        if (!s.plan.options.auth_token.empty()) nsp.use(check_token(s.plan.options.auth_token));
        if (s.plan.mode == serve_mode::chat) {
            s.chats.push_back(install_chat(nsp, {.max_message_len = s.plan.options.max_message_len,
                                                 .rate_limit = s.plan.options.rate_limit,
                                                 .log = s.log_line()}));
        }
        install_rules(nsp, {.mode = s.plan.mode, .rules = &s.plan.rules, .log = s.log_line()});
    }
}

// --redis: rooms and broadcasts shared with the other servers on that Redis.
void join_cluster(serving& s) {
    auto redis = *s.plan.redis;
    redis.log = s.log_line();
    s.cluster = attach_redis(s.io, s.loops.main.get_executor(), redis);
    const bool v6 = redis.host.find(':') != std::string::npos;
    const bool sharded = redis.kind == adapter::redis::adapter_kind::sharded;
    s.log(fmt::format("cluster: Redis {}{}{}:{}/{}{}{} ({} adapter{}{}, key {}), node {}", v6 ? "[" : "", redis.host,
                      v6 ? "]" : "", redis.port, redis.db,
                      !redis.tls ? "" : redis.tls_verify ? ", TLS" : ", TLS without verifying the server",
                      redis.password.empty() ? "" : redis.username.empty() ? ", AUTH" : ", AUTH as " + redis.username,
                      adapter::redis::kind_name(redis.kind), sharded ? ", subscription mode " : "",
                      sharded ? adapter::redis::mode_name(redis.subscription) : "", redis.prefix, s.cluster->uid()));
    // A serverSideEmit with an acknowledgement waits for every server of the cluster: each
    // namespace answers it with this node's id and its socket count.
    for (const auto& name : s.plan.namespaces) {
        auto nsp = s.io->find(name);
        if (!nsp) continue;
        std::weak_ptr<sio::namespace_> weak = nsp;
        nsp->on_server_side_emit([weak, uid = s.cluster->uid()](sio::json, std::function<void(sio::json)> ack) {
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

std::string url_of(const asio::ip::tcp::endpoint& ep, bool tls) {
    const auto address = ep.address().to_string();
    return fmt::format("{}://{}:{}", tls ? "https" : "http", ep.address().is_v6() ? "[" + address + "]" : address,
                       ep.port());
}

// The "listening on URL" line (tests and scripts wait for it) and the metrics one.
void announce(serving& s) {
    const bool tls = s.plan.engine.tls != nullptr;
    std::string nsp_list;
    for (const auto& n : s.plan.namespaces) nsp_list += (nsp_list.empty() ? "" : ", ") + n;
    const auto url = url_of(s.engine->local_endpoint(), tls);
    const auto threads = s.plan.threads;
    s.log.notice("listening",
                 fmt::format("listening on {} (path {}, namespaces {}, {} thread{})", url, s.plan.engine.path, nsp_list,
                             threads, threads == 1 ? "" : "s"),
                 {{"url", url}});
    if (s.admin) {
        const auto aurl = fmt::format("{}{}", url, admin_ui_path);
        const auto& a = s.plan.options.admin;
        s.log.notice("admin_ui",
                     fmt::format("Admin UI on {} (namespace {}, {} mode{})", aurl, a.nsp, a.mode, a.read_only ? ", read-only" : ""),
                     {{"url", aurl}});
    }
    if (s.metrics_server) {
        const auto murl = url_of(s.metrics_server->local_endpoint(), tls) + "/metrics";
        s.log.notice("metrics", fmt::format("metrics on {}", murl), {{"url", murl}});
    }
}

// SIGHUP: read the certificate and key again (a renewed certificate); connections already open
// keep the one they started with. `wait` outlives the loop's run: its handlers call it again.
void reload_tls_on_hangup(serving& s, asio::signal_set& hangup, std::function<void()>& wait) {
    hangup.add(SIGHUP);
    wait = [&s, &hangup, &wait] {
        hangup.async_wait([&s, &wait](boost::system::error_code ec, int) {
            if (ec) return;
            std::string error;
            const auto& o = s.plan.options;
            if (auto ctx = transport::make_server_tls_context({o.tls_cert, o.tls_key}, error)) {
                s.engine->set_tls_context(std::move(ctx));
                s.log.notice("tls_reload", "SIGHUP: certificate and key reloaded", {});
            } else {
                s.log.notice("tls_reload_failed", fmt::format("SIGHUP: keeping the current certificate: {}", error), {});
            }
            wait();
        });
    };
    wait();
}

}  // namespace

int run_serve(const serve_plan& plan) {
    serving s(plan);
    start_servers(s);
    if (!listen_metrics(s)) return tools::exit_failure;
    install_namespaces(s);
    if (plan.redis) join_cluster(s);
    if (s.admin) s.admin->attach(s.io, plan.namespaces);
    // Replaces the open handler the Socket.IO server set: sessions never reach its namespaces.
    if (plan.mode == serve_mode::engine_echo) install_engine_echo(*s.engine, s.log_line());
    if (auto ec = s.engine->listen({plan.address, plan.options.port})) {
        fmt::print(stderr, "{}: cannot listen on {}:{}: {}\n", tool, plan.options.host, plan.options.port, ec.message());
        return tools::exit_failure;
    }
    if (s.forwarder) {
        s.forwarder->start(s.engine->local_endpoint());
        s.log(fmt::format("cluster: requests for other servers' sessions are forwarded through Redis (sids start with {})",
                          s.forwarder->node()));
    }
    raise_descriptor_limit(plan.options.max_connections, s.log);
    announce(s);

    asio::signal_set signals(s.loops.main, SIGINT, SIGTERM);
    asio::steady_timer grace(s.loops.main);
    shutdown_on_signal(signals, grace, s.engine, s.io, std::chrono::milliseconds(plan.options.shutdown_timeout_ms),
                       s.log, [&s] {
                           if (s.admin) s.admin->stop();
                           if (s.forwarder) s.forwarder->stop();
                           s.loops.stop();
                       });
    asio::signal_set hangup(s.loops.main);
    std::function<void()> wait_hangup;
    if (plan.engine.tls) reload_tls_on_hangup(s, hangup, wait_hangup);

    s.loops.run();
    // What a cut-off shutdown left: every socket closed now, and what that completes at once run
    // here, so that no operation of one loop still holds an object of another when the loops
    // are destroyed.
    s.engine->stop();
    if (s.metrics_server) s.metrics_server->stop();
    s.loops.drain();
    return tools::exit_ok;
}

}  // namespace sio::serve
