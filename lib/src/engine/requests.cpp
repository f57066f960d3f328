// The Engine.IO requests (the reference's verify(), CORS, polling GET and POST, the WebSocket
// upgrade, other paths), as the HTTP listener hands them over: each one's session part runs on
// the session's executor (on_session), the answer is written on the connection's.
#include "requests.hpp"

#include "session.hpp"

#include "sio/transport/ws_handshake.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace sio::engine::detail {

namespace websocket = beast::websocket;
using core_ptr = std::shared_ptr<server::impl>;

void add_cors(const server::impl& core, std::string_view origin, response_type& res) {
    if (core.options.cors_origins.empty()) return;
    // The answer depends on the Origin header whenever CORS is configured: caches must know.
    res.set(http::field::vary, "Origin");
    if (!core.cors_allowed(origin)) return;
    // Echoed even for "*": a literal "*" is refused by browsers on credentialed requests.
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_allow_credentials, "true");
}

// Watches the connection of a parked GET: if the client goes away, the session learns it at once
// (as the reference does) rather than at the next ping timeout.
void watch_parked_get(std::shared_ptr<connection> c, std::shared_ptr<session> s,
                      std::shared_ptr<bool> done) {
    auto& sock = c->socket();
    sock.async_wait(tcp::socket::wait_read, [c, s, done](error_code ec) {
        if (*done || ec == asio::error::operation_aborted) return;
        if (!ec) {
            // Readable: either the peer closed or it sent the next request early (pipelining).
            char probe = 0;
            error_code rec;
            c->socket().non_blocking(true, rec);
            const auto n = c->socket().receive(asio::buffer(&probe, 1),
                                                      tcp::socket::message_peek, rec);
            if (!rec && n > 0) return;  // data: the client is alive
            if (rec == asio::error::would_block) return;
        }
        asio::post(s->strand(), [s, id = c->id()] { s->polling_get_lost(id); });
    });
}

handshake_request make_handshake_request(connection& c, const request_type& req,
                                         std::map<std::string, std::string> query,
                                         std::string transport) {
    handshake_request h;
    h.remote_address = c.peer_address();
    h.transport = std::move(transport);
    h.query = std::move(query);
    for (const auto& f : req) h.headers[lower(f.name_string())] = std::string{f.value()};
    return h;
}

// Answers `req` with `res`, with the CORS headers the server's options call for.
asio::awaitable<next_step> respond(connection& c, const server::impl& core, const request_type& req,
                                   response_type res, bool keep_alive = true) {
    add_cors(core, req[http::field::origin], res);
    return c.respond(req, std::move(res), keep_alive);
}

// Reads the rest of a request whose headers are in `parser`, up to maxPayload. False on any
// failure; `too_large` tells the body limit apart.
asio::awaitable<bool> read_body(connection& c, http::request_parser<http::string_body>& parser,
                                const server::impl& core, bool& too_large) {
    return c.read_body(parser, core.options.session.max_payload, too_large);
}

// The connection becomes the WebSocket of a session running on `strand`; null when its socket
// is gone. `pending` gets what was read past the upgrade request.
std::shared_ptr<transport::ws_stream> take_socket(connection& c, const strand_type& strand,
                                                  const std::shared_ptr<server::impl>& core, std::string& pending) {
    transport::ws_stream_options o;
    o.role = codec::ws::role::server;
    o.limits.max_message = static_cast<std::size_t>(core->options.session.max_payload);
    o.close_timeout = core->options.request_timeout;
    o.hold = std::make_shared<ws_hold>(core);
    o.cork = core->loop_for(strand).cork;
    return c.take_websocket(strand, std::move(o), pending);
}

// What one Engine.IO request is, for reporting and answering it. Held by value in the coroutine
// that answers, so that the routing (handle_engine, synchronous) leaves no frame behind it.
struct engine_request {
    core_ptr core;
    std::shared_ptr<connection> c;
    unsigned version = 11;
    std::string transport, sid, origin, remote, method;
    bool has_origin = false;
    session_place place;  // a handshake's place under max_sessions, until its session holds it

    void refused(std::optional<handshake_error> e, unsigned status, std::string detail) const {
        server_event ev;
        ev.type = server_event::kind::request_refused;
        ev.sid = sid;
        ev.transport = transport;
        ev.remote_address = remote;
        ev.error = e;
        ev.http_status = status;
        ev.detail = std::move(detail);
        core->emit(ev);
    }
    // Every Engine.IO error answer goes through here: counted by code and reported with why.
    response_type fail(handshake_error e, std::string why = {}, std::string_view eio = {}) const {
        server_metrics::add(core->metrics.handshake_errors[static_cast<std::size_t>(e)]);
        if (why.empty()) {
            switch (e) {
            case handshake_error::unknown_transport:
                why = fmt::format("unknown or disabled transport \"{}\"", transport);
                break;
            case handshake_error::unknown_sid:
                why = fmt::format("unknown sid \"{}\" (expired, or a load balancer without "
                                  "sticky sessions?)",
                                  sid);
                break;
            case handshake_error::bad_handshake_method:
                why = fmt::format("handshake with method {} (only GET opens a session)", method);
                break;
            case handshake_error::forbidden:
                why = !origin.empty() ? fmt::format("forbidden origin \"{}\"", origin)
                      : has_origin        ? std::string{"forbidden origin: the Origin header is empty"}
                                          : std::string{"refused by the server"};
                break;
            case handshake_error::unsupported_protocol_version:
                why = fmt::format("unsupported protocol version EIO=\"{}\" (this server speaks 4)", eio);
                break;
            case handshake_error::bad_request: why = "bad request"; break;
            }
        }
        refused(e, http_status(e), std::move(why));
        return error_response(e, version, true);
    }
    std::string too_large_detail(const char* what, const http::request_parser<http::string_body>& parser) const {
        server_metrics::add(core->metrics.payloads_too_large);
        const auto max = core->options.session.max_payload;
        const auto len = parser.content_length();
        return len ? fmt::format("{} of {} bytes is over maxPayload ({} bytes)", what, *len, max)
                   : fmt::format("{} of more than {} bytes is over maxPayload ({} bytes)", what, max, max);
    }
    response_type status_response(request_status st,
                                  const http::request_parser<http::string_body>& parser) const {
        switch (st) {
        case request_status::ok: break;
        case request_status::overlap:
            refused(std::nullopt, 400,
                    fmt::format("overlapping polling {} (one at a time per session); closing the session", method));
            return make_response(http::status::bad_request, version, true, {}, {});
        case request_status::transport_mismatch:
            return fail(handshake_error::bad_request, "polling request for a session on WebSocket");
        case request_status::payload_too_large:
            refused(std::nullopt, 413, too_large_detail("polling POST body", parser));
            return make_response(http::status::payload_too_large, version, false, {}, {});
        case request_status::session_closed: return fail(handshake_error::unknown_sid);
        }
        return make_response(http::status::ok, version, true, "ok", "text/html");
    }
};

// Answers with `res`; first reads the request's body unless `read_first` is false (the
// connection then closes after the answer).
asio::awaitable<next_step> answer(engine_request r, http::request_parser<http::string_body>& parser,
                                  response_type res, bool read_first) {
    bool keep = false;
    if (read_first) {
        bool too_large = false;
        keep = co_await read_body(*r.c, parser, *r.core, too_large);
    }
    co_return co_await respond(*r.c, *r.core, parser.get(), std::move(res), keep);
}

asio::awaitable<next_step> upgrade_to_websocket(engine_request r, http::request_parser<http::string_body>& parser,
                                                std::shared_ptr<session> existing,
                                                std::map<std::string, std::string> query) {
    auto& c = r.c;
    auto& core = r.core;
    bool too_large = false;
    const bool drained = co_await read_body(*c, parser, *core, too_large);
    if (!drained) co_return next_step::close;
    auto handshake = transport::answer_ws_upgrade(parser.get(), core->options.server_name);
    if (!handshake.accepted) {
        r.refused(std::nullopt, handshake.status, handshake.reason);
        auto res = make_response(static_cast<http::status>(handshake.status), r.version, false,
                                 handshake.reason + "\n", "text/plain; charset=utf-8");
        if (handshake.status == 426) res.set(http::field::sec_websocket_version, "13");
        co_return co_await respond(*c, *core, parser.get(), std::move(res), false);
    }
    std::shared_ptr<session> s = existing;
    bool wanted = true;
    if (existing) {
        if (!core->options.allow_upgrades) {
            co_return co_await respond(*c, *core, parser.get(),
                                       r.fail(handshake_error::bad_request, "WebSocket upgrade refused (upgrades are off)"));
        }
        // A session already upgrading or on WebSocket: the handshake completes and the new
        // WebSocket is closed at once, the first untouched (as the reference does).
        wanted = co_await asio::co_spawn(existing->strand(), existing->attach_probe(), asio::use_awaitable);
        if (!wanted)
            r.refused(std::nullopt, 101,
                      "second WebSocket for a session already upgrading or on WebSocket: closed after its handshake");
    } else {
        auto strand = core->session_executor_for(c->executor());
        s = std::make_shared<session>(core, strand, transport_kind::websocket);
        s->take_place(std::move(r.place));
        const bool accepted = co_await asio::co_spawn(
            strand, s->start(make_handshake_request(*c, parser.get(), std::move(query), "websocket"), c->id()),
            asio::use_awaitable);
        if (!accepted)
            co_return co_await respond(*c, *core, parser.get(),
                                       r.fail(handshake_error::forbidden, "session refused by the server"));
    }
    const bool switched = co_await c->write_raw(handshake.head);
    std::string pending;
    auto w = switched ? take_socket(*c, s->strand(), core, pending) : nullptr;
    if (!w) {
        if (wanted) asio::post(s->strand(), [s] { s->websocket_lost(); });
        co_return next_step::close;
    }
    if (wanted) {
        asio::post(s->strand(), [s, w, pending = std::move(pending)]() mutable {
            s->attach_websocket(std::move(w), std::move(pending));
        });
    } else {
        asio::post(s->strand(), [w] { session::close_unwanted(*w); });
    }
    co_return next_step::handed_over;
}

// Runs `a`, a session's coroutine, on the session's executor: through co_spawn when the server
// has strands, directly when it runs on one thread (the session's executor is then this one),
// which spares a post and the co_spawn frames (about 0.9 KiB while a GET is parked).
template <class T>
asio::awaitable<T> on_session(const session& s, const server::impl& core, asio::awaitable<T> a) {
    if (core.options.single_threaded && running_on(s.strand())) return a;
    return asio::co_spawn(s.strand(), std::move(a), asio::use_awaitable);
}

// Opens a polling session for a handshake GET; null when the server refused it (`refusal` is
// then the answer). Its own coroutine, so that the parked GET's frame does not hold its locals.
asio::awaitable<std::shared_ptr<session>> open_polling_session(engine_request& r, const request_type& req,
                                                               std::map<std::string, std::string> query,
                                                               response_type& refusal) {
    auto strand = r.core->session_executor_for(r.c->executor());
    auto s = std::make_shared<session>(r.core, strand, transport_kind::polling);
    s->take_place(std::move(r.place));
    auto start = on_session(*s, *r.core, s->start(make_handshake_request(*r.c, req, std::move(query), "polling"), r.c->id()));
    const bool accepted = co_await std::move(start);
    if (accepted) co_return s;
    refusal = r.fail(handshake_error::forbidden, "session refused by the server");
    co_return nullptr;
}

// A parked GET, between its request and its answer: what the answer needs (the request itself
// is gone with the connection loop's run), and the hand-over between the session, which has the
// answer, and the connection, which parks. Both sides run on the connection's executor.
struct parked_get {
    core_ptr core;
    std::shared_ptr<connection> c;
    unsigned version = 11;
    bool keep_alive = true;
    std::string origin;
    bool parked = false;                                // the connection loop has ended
    std::optional<std::optional<std::string>> early;  // an answer that came before that
    std::shared_ptr<bool> done = std::make_shared<bool>(false);  // ends watch_parked_get
};

// Writes the parked GET's answer (nullopt: the GET is lost, the connection closes).
void answer_parked_get(parked_get& p, std::optional<std::string> body) {
    *p.done = true;
    error_code ignored;
    p.c->socket().cancel(ignored);  // the watch, the only operation pending on it
    if (!body) {
        connection::answer_parked(std::move(p.c), std::nullopt);
        return;
    }
    auto res = make_response(http::status::ok, p.version, p.keep_alive, std::move(*body), "text/plain; charset=UTF-8");
    add_cors(*p.core, p.origin, res);
    connection::answer_parked(std::move(p.c), std::move(res));
}

// A polling GET: opens the session when `s` is null (the handshake), then parks the connection
// until the session has something to send: no coroutine, parser or read buffer is held
// meanwhile, only the `parked_get` record.
asio::awaitable<next_step> polling_get(engine_request r, http::request_parser<http::string_body>& parser,
                                       std::shared_ptr<session> s, std::map<std::string, std::string> query) {
    bool ok = false;
    {
        bool too_large = false;
        auto read = read_body(*r.c, parser, *r.core, too_large);
        ok = co_await std::move(read);
    }
    if (!ok) co_return next_step::close;
    response_type res;
    const bool handshake = !s;
    if (handshake) {
        auto open = open_polling_session(r, parser.get(), std::move(query), res);
        s = co_await std::move(open);
    }
    query.clear();
    if (s) {
        // No request timeout while parked, and no read buffer held when nothing was sent after
        // the request.
        r.c->idle();
        auto p = std::make_shared<parked_get>();
        p->core = r.core;
        p->c = r.c;
        p->version = r.version;
        p->keep_alive = parser.get().keep_alive();
        p->origin = r.origin;
        auto waiter = [p](std::optional<std::string> body) {
            auto executor = p->c->executor();
            asio::post(executor, [p, body = std::move(body)]() mutable {
                if (!p->parked) {
                    p->early.emplace(std::move(body));
                    return;
                }
                answer_parked_get(*p, std::move(body));
            });
        };
        auto park = on_session(*s, *r.core, s->park_get(r.c->id(), handshake, std::move(waiter)));
        const auto got = co_await std::move(park);
        if (got.parked) {
            if (!handshake) watch_parked_get(r.c, s, p->done);
            p->parked = true;
            if (p->early) {
                asio::post(r.c->executor(), [p] { answer_parked_get(*p, std::move(*p->early)); });
            }
            co_return next_step::parked;
        }
        if (got.status == request_status::ok) co_return next_step::close;
        res = r.status_response(got.status, parser);
    }
    auto reply = respond(*r.c, *r.core, parser.get(), std::move(res));
    co_return co_await std::move(reply);
}

asio::awaitable<next_step> polling_post(engine_request r, http::request_parser<http::string_body>& parser,
                                        std::shared_ptr<session> existing) {
    auto& c = r.c;
    auto& core = r.core;
    bool too_large = false;
    auto begin = on_session(*existing, *core, existing->begin_post());
    const auto st = co_await std::move(begin);
    if (st != request_status::ok) {
        const bool drained = co_await read_body(*c, parser, *core, too_large);
        co_return co_await respond(*c, *core, parser.get(), r.status_response(st, parser), drained);
    }
    const bool ok = co_await read_body(*c, parser, *core, too_large);
    if (!ok) {
        auto abandon = on_session(*existing, *core, existing->abandon_post(!too_large));
        co_await std::move(abandon);
        if (!too_large) co_return next_step::close;
        // The rest of the body is unread: answer, then close the connection.
        co_return co_await respond(*c, *core, parser.get(),
                                   r.status_response(request_status::payload_too_large, parser), false);
    }
    auto finish = on_session(*existing, *core, existing->finish_post(std::move(parser.get().body())));
    const auto fst = co_await std::move(finish);
    co_return co_await respond(*c, *core, parser.get(), r.status_response(fst, parser));
}

// A request for a session of another server of the cluster: a polling request is forwarded to
// it; a WebSocket upgrade is refused as for an unknown sid (the client's probe fails and it goes
// on polling, through the forwarding).
asio::awaitable<next_step> to_owner(engine_request r, http::request_parser<http::string_body>& parser, bool upgrade,
                                    std::string owner) {
    if (!upgrade) return forward_to_owner(std::move(r.core), std::move(r.c), parser, std::move(r.sid), std::move(owner));
    server_metrics::add(r.core->metrics.forward_upgrades_refused);
    auto res = r.fail(handshake_error::unknown_sid,
                      fmt::format("WebSocket upgrade for session \"{}\" of server {}: not forwarded (the client "
                                  "stays on polling)",
                                  r.sid, owner));
    return answer(std::move(r), parser, std::move(res), true);
}

// Routes an Engine.IO request: checks it as the reference's verify() does, then hands it to the
// coroutine that answers it. Not a coroutine itself, so that a parked GET holds only the frame
// of the path it took.
asio::awaitable<next_step> handle_engine(core_ptr core, std::shared_ptr<connection> c,
                                         http::request_parser<http::string_body>& parser,
                                         std::string_view query_text) {
    const auto& opts = core->options;
    auto& req = parser.get();
    const bool upgrade = websocket::is_upgrade(req);
    auto query = parse_query(query_text);
    engine_request r;
    r.version = req.version();
    r.transport = query_value(query, "transport");
    r.sid = query_value(query, "sid");
    r.origin = std::string{req[http::field::origin]};
    r.has_origin = req.find(http::field::origin) != req.end();
    r.remote = c->peer_address();
    r.method = std::string{req.method_string()};
    r.core = core;
    r.c = c;
    const auto& transport = r.transport;

    if (req.method() == http::verb::options) {
        // CORS preflight. Without a CORS match it is answered without CORS headers, which is
        // how the browser learns that the real request is not allowed.
        if (!core->origin_allowed(r.origin, r.has_origin)) {
            auto res = r.fail(handshake_error::forbidden);
            return answer(std::move(r), parser, std::move(res), false);
        }
        response_type res{http::status::no_content, r.version};
        if (core->cors_allowed(r.origin)) {
            res.set(http::field::access_control_allow_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
            if (const auto h = req[http::field::access_control_request_headers]; !h.empty())
                res.set(http::field::access_control_allow_headers, h);
        } else if (!r.origin.empty()) {
            r.refused(std::nullopt, 204,
                      fmt::format("CORS preflight from origin \"{}\" not in the CORS origins "
                                  "(answered without CORS headers)",
                                  r.origin));
        }
        res.keep_alive(true);
        res.prepare_payload();
        return answer(std::move(r), parser, std::move(res), true);
    }

    // The reference's verify(), in its order.
    const bool transport_ok = (transport == "polling" && opts.allow_polling) ||
                              (transport == "websocket" && opts.allow_websocket);
    std::optional<handshake_error> error;
    if (!transport_ok) {
        error = handshake_error::unknown_transport;
    } else if (!core->origin_allowed(r.origin, r.has_origin)) {
        error = handshake_error::forbidden;
    }
    std::shared_ptr<session> existing;
    if (!error && !r.sid.empty()) {
        existing = core->find_session(r.sid);
        if (!existing) {
            if (auto owner = core->owner_elsewhere(r.sid)) return to_owner(std::move(r), parser, upgrade, std::move(*owner));
            error = handshake_error::unknown_sid;
        }
    } else if (!error) {
        if (req.method() != http::verb::get) {
            error = handshake_error::bad_handshake_method;
        } else if (transport == "websocket" && !upgrade) {
            error = handshake_error::bad_request;
        } else if (query_value(query, "EIO") != "4") {
            error = handshake_error::unsupported_protocol_version;
        }
    }
    if (!error && upgrade && transport != "websocket") error = handshake_error::bad_request;
    if (!error && !upgrade && transport == "websocket") error = handshake_error::bad_request;
    if (error) {
        auto res = r.fail(*error, {}, query_value(query, "EIO"));
        return answer(std::move(r), parser, std::move(res), true);
    }
    // A session on another loop: a plain connection goes there first, so that every request of
    // the session is read on its loop, in the order it arrives (the request is routed again
    // there). A TLS connection stays, and its requests hop (on_session).
    if (existing && core->options.single_threaded && !running_on(existing->strand()) && c->move_to(existing->strand()))
        return moved_step();
    if (!existing) {
        // A handshake: a place under the session limits first.
        if (auto why = core->take_session_place(r.remote)) {
            r.refused(std::nullopt, 503, *why);
            auto res = make_response(http::status::service_unavailable, r.version, true, *why + "\n",
                                     "text/plain; charset=utf-8");
            res.set(http::field::retry_after, "5");
            return answer(std::move(r), parser, std::move(res), true);
        }
        r.place = session_place{core.get(), core->options.max_sessions_per_ip != 0 ? r.remote : std::string{}};
    }
    if (upgrade) return upgrade_to_websocket(std::move(r), parser, std::move(existing), std::move(query));
    if (req.method() == http::verb::get) return polling_get(std::move(r), parser, std::move(existing), std::move(query));
    if (req.method() == http::verb::post) return polling_post(std::move(r), parser, std::move(existing));
    auto res = r.fail(handshake_error::bad_request);
    return answer(std::move(r), parser, std::move(res), true);
}

asio::awaitable<next_step> handle_other(core_ptr core, std::shared_ptr<connection> c,
                                        http::request_parser<http::string_body>& parser) {
    bool too_large = false;
    const bool ok = co_await read_body(*c, parser, *core, too_large);
    auto& req = parser.get();
    if (!ok) {
        if (!too_large) co_return next_step::close;
        co_return co_await respond(*c, *core, req,
                                   make_response(http::status::payload_too_large, req.version(),
                                                 false, "Payload Too Large\n", "text/plain"),
                                   false);
    }
    response_type res;
    if (auto handler = core->get_http_handler()) {
        try {
            res = handler(req);
            res.prepare_payload();
        } catch (const std::exception&) {
            res = make_response(http::status::internal_server_error, req.version(), false,
                                "Internal Server Error\n", "text/plain");
        }
    } else {
        res = make_response(http::status::not_found, req.version(), true, "Not Found\n",
                            "text/plain");
    }
    if (res.version() == 0) res.version(req.version());
    co_return co_await respond(*c, *core, req, std::move(res), true);
}

// The listener's request handler: Engine.IO answers its path itself; what lies below it (the
// browser client at /socket.io/socket.io.js, as the reference serves it) and every other path
// goes to the HTTP handler.
asio::awaitable<next_step> route(core_ptr core, std::shared_ptr<connection> c,
                                 http::request_parser<http::string_body>& parser) {
    const std::string_view target{parser.get().target()};
    const auto qpos = target.find('?');
    const auto path = target.substr(0, qpos);
    const auto query = qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);
    const auto& prefix = core->options.path;
    const bool engine = path == prefix || path == std::string_view{prefix}.substr(0, prefix.size() - 1);
    if (engine) return handle_engine(std::move(core), std::move(c), parser, query);
    return handle_other(std::move(core), std::move(c), parser);
}

asio::awaitable<next_step> closed_step() { co_return next_step::close; }

asio::awaitable<next_step> moved_step() { co_return next_step::moved; }


}  // namespace sio::engine::detail
