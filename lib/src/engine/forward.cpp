// Requests for a session another server of the cluster made (server_options::forwarder): the
// request is read here, answered by the session's own server, and its answer written here. The
// connection is parked in between, as for a polling GET waiting for packets: no coroutine, parser
// or read buffer is held while the owner's parked GET waits.
#include "requests.hpp"

#include <boost/asio/post.hpp>

#include <array>
#include <cctype>

namespace sio::engine::detail {

namespace {

// Headers that belong to one connection, not to the request or answer that travels.
bool hop_by_hop(std::string_view name) {
    static constexpr std::array<std::string_view, 8> names{"connection", "keep-alive", "transfer-encoding",
                                                           "content-length", "upgrade", "te", "trailer",
                                                           "proxy-connection"};
    const auto l = lower(name);
    for (const auto n : names)
        if (l == n) return true;
    return false;
}

forwarded_request to_forwarded(request_type& req) {
    forwarded_request f;
    f.method = std::string{req.method_string()};
    f.target = std::string{req.target()};
    for (const auto& field : req) {
        if (!hop_by_hop(field.name_string())) f.headers.emplace_back(field.name_string(), field.value());
    }
    f.body = std::move(req.body());
    return f;
}

// What the client is answered: the owner's answer, or for a request the owner did not answer
// what the reference answers a sid it does not know (503 while the cluster is unreachable).
response_type answer_of(const server::impl& core, std::optional<forwarded_response> f, forward_failure why,
                        unsigned version, bool keep_alive, const std::string& origin, const std::string& sid,
                        const std::string& owner) {
    auto& m = core.metrics;
    if (f) {
        server_metrics::add(m.forwarded_answered);
        response_type res{static_cast<http::status>(f->status), version};
        for (auto& [name, value] : f->headers) {
            if (!hop_by_hop(name)) res.insert(name, value);
        }
        res.body() = std::move(f->body);
        res.keep_alive(keep_alive);
        res.prepare_payload();
        return res;
    }
    server_metrics::add(m.forward_failures[static_cast<std::size_t>(why)]);
    server_event ev;
    ev.type = server_event::kind::request_refused;
    ev.sid = sid;
    ev.transport = "polling";
    response_type res;
    if (why == forward_failure::unreachable) {
        ev.http_status = 503;
        ev.detail = fmt::format("request for session \"{}\" of server {} not forwarded: the cluster is unreachable", sid, owner);
        res = make_response(http::status::service_unavailable, version, keep_alive,
                            "the cluster is unreachable: the session's server cannot be asked\n", "text/plain; charset=utf-8");
        res.set(http::field::retry_after, "5");
    } else {
        server_metrics::add(m.handshake_errors[static_cast<std::size_t>(handshake_error::unknown_sid)]);
        ev.error = handshake_error::unknown_sid;
        ev.http_status = http_status(handshake_error::unknown_sid);
        ev.detail = why == forward_failure::timeout
                        ? fmt::format("unknown sid \"{}\": its server {} did not answer the forwarded request in time", sid, owner)
                        : fmt::format("unknown sid \"{}\": its server {} is gone", sid, owner);
        res = error_response(handshake_error::unknown_sid, version, keep_alive);
    }
    core.emit(ev);
    add_cors(core, origin, res);
    return res;
}

// The hand-over between the forwarder's answer and the connection, which parks (both on the
// connection's executor), as requests.cpp's parked_get.
struct forwarded_wait {
    std::shared_ptr<connection> c;
    bool parked = false;
    std::optional<std::optional<response_type>> early;  // an answer that came before the park
};

}  // namespace

asio::awaitable<next_step> forward_to_owner(std::shared_ptr<server::impl> core, std::shared_ptr<connection> c,
                                            transport::request_parser& parser, std::string sid, std::string owner) {
    bool too_large = false;
    const bool ok = co_await c->read_body(parser, core->options.session.max_payload, too_large);
    auto& req = parser.get();
    if (!ok) {
        if (!too_large) co_return next_step::close;
        server_metrics::add(core->metrics.payloads_too_large);
        server_event ev;
        ev.type = server_event::kind::request_refused;
        ev.sid = sid;
        ev.http_status = 413;
        ev.detail = fmt::format("polling {} body for session \"{}\" of server {} is over maxPayload ({} bytes)",
                                req.method_string(), sid, owner, core->options.session.max_payload);
        core->emit(ev);
        auto res = make_response(http::status::payload_too_large, req.version(), false, {}, {});
        add_cors(*core, req[http::field::origin], res);
        co_return co_await c->respond(req, std::move(res), false);
    }
    c->idle();
    auto w = std::make_shared<forwarded_wait>();
    w->c = c;
    std::weak_ptr<server::impl> weak = core;
    auto done = [w, weak, version = req.version(), keep = req.keep_alive(), origin = std::string{req[http::field::origin]},
                 sid, owner](std::optional<forwarded_response> f, forward_failure why) mutable {
        auto executor = w->c->executor();
        asio::post(executor, [w, weak, version, keep, origin = std::move(origin), sid = std::move(sid),
                              owner = std::move(owner), f = std::move(f), why]() mutable {
            std::optional<response_type> res;
            if (auto live = weak.lock()) res = answer_of(*live, std::move(f), why, version, keep, origin, sid, owner);
            if (!w->parked) {
                w->early.emplace(std::move(res));
                return;
            }
            connection::answer_parked(std::move(w->c), std::move(res));
        });
    };
    core->options.forwarder->forward(std::move(owner), to_forwarded(req), std::move(done));
    w->parked = true;
    if (w->early) asio::post(c->executor(), [w] { connection::answer_parked(std::move(w->c), std::move(*w->early)); });
    co_return next_step::parked;
}

}  // namespace sio::engine::detail
