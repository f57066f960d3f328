// `sio-inspect doctor URL`: the Socket.IO troubleshooting guide, automated. Each check reports
// what it saw, what that means and how to fix it; the exit status is that of the first failure.
#include "engine_steps.hpp"
#include "handshake.hpp"

#include "common/terminal.hpp"

#include <sio/codec/engine_io.hpp>
#include <sio/codec/json.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/http.hpp>

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <ostream>

namespace sio::inspect {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace eio = codec::eio;
using codec::json;
using namespace detail;

namespace {

using dur = std::chrono::milliseconds;

enum class level { ok, info, warn, fail };

struct finding {
    finding(std::string c, level l, std::string s, std::string m = {}, std::string f = {}, int exit_code = inspect_ok)
        : check(std::move(c)), status(l), seen(std::move(s)), meaning(std::move(m)), fix(std::move(f)), code(exit_code) {}
    std::string check;
    level status = level::ok;
    std::string seen;
    std::string meaning;
    std::string fix;
    int code = inspect_ok;
};

class report {
public:
    report(const net_options& o, std::ostream& out) : o_(o), out_(out) {}

    void add(finding f) {
        if (f.status == level::fail && first_failure_ == inspect_ok) first_failure_ = f.code;
        if (f.status == level::fail) ++failures_;
        if (f.status == level::warn) ++warnings_;
        if (o_.json) {
            static constexpr const char* names[] = {"ok", "info", "warn", "fail"};
            json line{{"check", f.check}, {"status", names[static_cast<int>(f.status)]}, {"seen", f.seen}};
            if (!f.meaning.empty()) line["meaning"] = f.meaning;
            if (!f.fix.empty()) line["fix"] = f.fix;
            out_ << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
        } else {
            static constexpr const char* marks[] = {"✓", "·", "!", "✗"};
            static constexpr const char* colours[] = {"\x1b[32m", "", "\x1b[33m", "\x1b[31m"};
            const int i = static_cast<int>(f.status);
            const std::string c = o_.color ? colours[i] : "";
            const std::string r = o_.color && *colours[i] ? "\x1b[0m" : "";
            // What was seen, and what it means, quote the server: neutralised for the terminal.
            out_ << fmt::format("{}{} {:<12}{} {}\n", c, marks[i], f.check, r, tools::neutralize(f.seen));
            if (!f.meaning.empty()) out_ << "    what it means: " << tools::neutralize(f.meaning) << '\n';
            if (!f.fix.empty()) out_ << "    how to fix:    " << tools::neutralize(f.fix) << '\n';
        }
        out_.flush();
    }

    int finish() {
        if (o_.json) {
            out_ << json{{"summary", failures_ == 0 ? "healthy" : "problems"}, {"failures", failures_}, {"warnings", warnings_},
                         {"exit", first_failure_}}
                        .dump()
                 << '\n';
        } else if (failures_ == 0) {
            out_ << fmt::format("\nhealthy{}\n", warnings_ ? fmt::format(" ({} warning{})", warnings_, warnings_ == 1 ? "" : "s") : "");
        } else {
            out_ << fmt::format("\n{} problem{} found\n", failures_, failures_ == 1 ? "" : "s");
        }
        return first_failure_;
    }

private:
    const net_options& o_;
    std::ostream& out_;
    int first_failure_ = inspect_ok;
    int failures_ = 0;
    int warnings_ = 0;
};

std::string json_message(const std::string& body) {
    auto j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        std::string m = j["message"].get<std::string>();
        if (j.contains("code") && j["code"].is_number()) m += fmt::format(" (Engine.IO error {})", j["code"].dump());
        return m;
    }
    return body.substr(0, 200);
}

int json_code(const std::string& body) {
    auto j = json::parse(body, nullptr, false);
    return j.is_object() && j.contains("code") && j["code"].is_number_integer() ? j["code"].get<int>() : -1;
}

asio::awaitable<int> doctor_flow(net_options o, target t, std::ostream& out) {
    report rep{o, out};
    const std::string where = fmt::format("{}:{}", t.host, t.port);
    const std::string nsp = o.nsp.empty() ? t.nsp : (o.nsp.front() == '/' ? o.nsp : "/" + o.nsp);
    const dur timeout{o.timeout_ms};

    // 1. Reachable, and for TLS, trusted.
    connect_report cr;
    auto conn = co_await probe_connection::open(t, o.tls, cr, timeout, true);
    if (!conn) {
        finding f{"reachable", level::fail, cr.error, "", "", inspect_unreachable};
        if (cr.failed_phase == "dns") {
            f.meaning = "the host name does not resolve";
            f.fix = "check the URL's host name (and the resolver)";
        } else if (cr.failed_phase == "tcp") {
            const bool refused = cr.error.find("refused") != std::string::npos;
            f.meaning = refused ? fmt::format("nothing is listening on {}", where)
                                : "the packets go unanswered: a firewall, or a wrong address";
            f.fix = refused ? "start the server, or point the client at the port it listens on" : "check the address and any firewall";
        } else {
            f.code = inspect_tls;
            f.meaning = "the TLS handshake itself failed (a plain HTTP server on this port, or no protocol or cipher in common)";
            f.fix = "use http:// if the server does not speak TLS; otherwise check its TLS settings";
        }
        rep.add(f);
        co_return rep.finish();
    }
    rep.add(finding{"reachable", level::ok, fmt::format("{} accepts connections ({:.1f} ms)", where, cr.tcp.count())});
    if (cr.tls_details) {
        const auto& tls = *cr.tls_details;
        if (tls.verified) {
            rep.add(finding{"tls", level::ok, fmt::format("{} with a certificate trusted for {}", tls.version, t.host)});
        } else {
            finding f{"tls", level::fail, "the certificate is not trusted: " + tls.verify_error, "", "", inspect_tls};
            const auto* leaf = tls.chain.empty() ? nullptr : &tls.chain.front();
            if (leaf && leaf->expired) {
                f.meaning = fmt::format("the certificate expired on {}; clients refuse it", leaf->not_after);
                f.fix = "renew the certificate and reload the server";
            } else if (leaf && leaf->not_yet_valid) {
                f.meaning = fmt::format("the certificate is not valid before {} (a clock problem?)", leaf->not_before);
                f.fix = "check the clocks of the server and the client";
            } else if (!tls.host_matches) {
                f.meaning = fmt::format("the certificate is for {}, not for {}", leaf ? leaf->subject : "another name", t.host);
                f.fix = "use the host name the certificate names, or get a certificate for this one";
            } else if (leaf && (leaf->self_signed || tls.chain.size() == 1)) {
                f.meaning = "a self-signed certificate (or one from a private CA): browsers and Node clients refuse it";
                f.fix = "use a certificate from a public CA, or make clients trust yours (Node: the ca option or "
                        "NODE_EXTRA_CA_CERTS; sio-cli/sio-inspect: --ca)";
            } else {
                f.meaning = "the chain does not lead to a trusted CA (a missing intermediate certificate?)";
                f.fix = "serve the full chain (the certificate, then its intermediates)";
            }
            rep.add(f);
        }
    }

    // 2. Socket.IO at the path?
    auto open_req = make_request(http::verb::get, engine_target(o, t, "polling", ""), o);
    auto r = co_await conn->exchange(std::move(open_req), timeout);
    std::optional<eio::handshake> hs;
    bool polling_ok = false;
    if (!r.ok) {
        rep.add(finding{"socket.io", level::fail, fmt::format("GET {}: {}", o.path, r.error),
                 "the server accepted the connection but did not answer over HTTP", "check that this port serves HTTP", inspect_not_socketio});
        co_return rep.finish();
    }
    const int status = r.response.result_int();
    std::string why;
    if (status == 200) {
        auto packets = decode_body(o, r.response.body(), why);
        if (packets && !packets->empty() && packets->front().type == eio::packet_type::open) {
            if (auto h = eio::decode_handshake(packets->front().data)) hs = *h;
        }
        if (!hs && o.eio == 4) {
            // A socket.io 2.x server answers in the v3 format whatever EIO says.
            auto v3 = eio::v3::decode_text_payload(r.response.body());
            if (v3 && !v3->empty() && v3->front().type == eio::packet_type::open) {
                rep.add(finding{"socket.io", level::fail, "the server answers in Engine.IO v3: it is a socket.io 2.x server",
                         "socket.io-client 3.x and 4.x cannot talk to it (nor can it talk to them)",
                         "upgrade the server to socket.io 4, or use a 2.x client (sio-cli --eio 3, sio-inspect --eio 3)",
                         inspect_not_socketio});
                co_return rep.finish();
            }
        }
        if (!hs) {
            rep.add(finding{"socket.io", level::fail, fmt::format("GET {} answered 200 but not with an Engine.IO open packet", o.path),
                     "something else serves this path (a web page, another application)",
                     "check the path: the client's path option must match the server's (default /socket.io/)", inspect_not_socketio});
            co_return rep.finish();
        }
        polling_ok = true;
        rep.add(finding{"socket.io", level::ok,
                 fmt::format("Engine.IO v{} server at {} (sid {}, upgrades [{}])", o.eio, o.path, hs->sid,
                             fmt::format("{}", fmt::join(hs->upgrades, ", ")))});
    } else {
        const int code = json_code(r.response.body());
        const std::string msg = json_message(r.response.body());
        if (code == 0) {
            rep.add(finding{"polling", level::warn, "HTTP long-polling is refused: " + msg,
                     "the server accepts WebSocket only", "clients must use transports: ['websocket'] (sio-cli --transport websocket)"});
        } else if (code == 5) {
            rep.add(finding{"socket.io", level::fail, "unsupported protocol version: " + msg,
                     o.eio == 3 ? "a socket.io 3+/4 server refuses Engine.IO v3 clients (socket.io-client 2.x)"
                                : "the server does not speak Engine.IO v4",
                     o.eio == 3 ? "set allowEIO3: true on the server, or upgrade the client" : "use --eio 3 for a socket.io 2.x server",
                     inspect_not_socketio});
            co_return rep.finish();
        } else if (code == 4 || status == 403) {
            rep.add(finding{"socket.io", level::fail, "the server refuses the handshake: " + msg,
                     o.origin.empty() ? "its allowRequest hook (or an allowed-origin list) rejects this request"
                                      : fmt::format("requests from the origin {} are not allowed", o.origin),
                     "allow this origin on the server (allowRequest, sio-serve --allowed-origin)", inspect_refused});
            co_return rep.finish();
        } else {
            // Nothing Engine.IO here: a wrong path, or a plain WebSocket server?
            std::string what = fmt::format("GET {} answered HTTP {}", o.path, status);
            connect_report wr;
            auto ws_conn = co_await probe_connection::open(t, o.tls, wr, timeout, true);
            if (ws_conn) {
                const auto ws_target = engine_target(o, t, "websocket", "");
                const auto hdrs = extra_headers(o);
                auto up = co_await ws_conn->upgrade(ws_target, hdrs, timeout);
                if (up.ok) {
                    auto f = co_await ws_conn->read_frame(dur(std::min<unsigned>(o.timeout_ms, 2000)));
                    auto p = f.ok ? eio::decode_text(f.data, o.eio) : codec::result<eio::packet>(codec::error{});
                    if (!p || p->type != eio::packet_type::open) {
                        rep.add(finding{"socket.io", level::fail, what + ", and a WebSocket there is accepted but sends no Engine.IO open packet",
                                 "a plain WebSocket server, not Socket.IO: Socket.IO clients cannot talk to it",
                                 "use a WebSocket client (sio-cli --raw, ws://), or run a Socket.IO server there", inspect_not_socketio});
                        co_return rep.finish();
                    }
                    rep.add(finding{"polling", level::warn, what + ", but WebSocket works",
                             "the server (or a proxy in front) refuses long-polling", "clients must use transports: ['websocket']"});
                    co_return rep.finish();
                }
            }
            rep.add(finding{"socket.io", level::fail, what + (r.response.body().empty() ? "" : ": " + r.response.body().substr(0, 120)),
                     status == 404 ? "nothing serves Engine.IO at this path" : "this is not a Socket.IO server, or it refuses the request",
                     fmt::format("check the path: the client's path option must match the server's (default /socket.io/; "
                                 "--path here)"),
                     inspect_not_socketio});
            co_return rep.finish();
        }
    }

    if (hs && polling_ok) {
        // 3. Sticky sessions: the same sid, over new connections, must reach the same session.
        // Cookies the open answer set (a load balancer's stickiness cookie) are sent back the
        // way a browser would; if the requests only stick with them, clients that keep no
        // cookies (Node clients without a cookie jar) will lose their sessions.
        std::string cookies;
        for (const auto& field : r.response) {
            if (field.name() != http::field::set_cookie) continue;
            const auto value = std::string(field.value());
            const auto pair = value.substr(0, value.find(';'));
            if (pair.find('=') == std::string::npos) continue;
            if (!cookies.empty()) cookies += "; ";
            cookies += pair;
        }
        const int tries = 6;
        auto count_unknown = [&](bool with_cookies) -> boost::asio::awaitable<int> {
            int unknown = 0;
            for (int i = 0; i < tries; ++i) {
                connect_report sr;
                auto c = co_await probe_connection::open(t, o.tls, sr, timeout, true);
                if (!c) break;
                auto post = make_request(http::verb::post, engine_target(o, t, "polling", hs->sid), o);
                post.set(http::field::content_type, "text/plain;charset=UTF-8");
                if (with_cookies) post.set(http::field::cookie, cookies);
                post.body() = encode_body(o, {eio::packet{eio::packet_type::noop, "", false}});
                auto pr = co_await c->exchange(std::move(post), timeout);
                if (pr.ok && pr.response.result_int() == 400 && json_code(pr.response.body()) == 1) ++unknown;
            }
            co_return unknown;
        };
        const int unknown_bare = co_await count_unknown(false);
        int unknown = unknown_bare;
        if (unknown_bare > 0 && !cookies.empty()) unknown = co_await count_unknown(true);
        if (unknown == 0 && unknown_bare > 0) {
            rep.add(finding{"sticky", level::warn,
                     fmt::format("requests stick to the session only with the cookie the server set ({}); without it "
                                 "{} of {} were answered \"Session ID unknown\"", cookies, unknown_bare, tries),
                     "a load balancer keeps sessions on one instance by a cookie: browsers send it, clients that keep "
                     "no cookies do not",
                     "Node clients need a cookie jar (socket.io-client's withCredentials with a fetch that keeps "
                     "cookies) or transports: ['websocket']; or make the load balancer stick by client IP"});
        } else if (unknown > 0) {
            rep.add(finding{"sticky", level::fail,
                     fmt::format("{} of {} requests naming the session were answered \"Session ID unknown\"", unknown, tries),
                     "requests reach several server instances that do not share sessions: a load balancer without sticky sessions",
                     "enable sticky sessions at the load balancer (a cookie, or the client IP), or have clients use "
                     "WebSocket only (no polling requests to spread)",
                     inspect_path});
        } else {
            rep.add(finding{"sticky", level::ok, fmt::format("{} requests over new connections reached the same session", tries)});
        }

        // From here on, requests carry the cookies as a browser's would (behind a cookie-sticky
        // load balancer, the session lives on the instance the cookie names).
        if (!cookies.empty()) o.headers.push_back("Cookie: " + cookies);

        // 4. The namespace, with the auth given.
        bool closed_at_connect = false;  // the server dropped the session instead of answering
        const std::string connect_text = sio_connect_text(o, nsp, why);
        if (connect_text.empty()) {
            rep.add(finding{"namespace", level::fail, why, "", "", inspect_usage});
        } else {
            auto post = make_request(http::verb::post, engine_target(o, t, "polling", hs->sid), o);
            post.set(http::field::content_type, "text/plain;charset=UTF-8");
            if (!(o.eio == 3 && nsp == "/")) {
                post.body() = encode_body(o, {eio::packet{eio::packet_type::message, connect_text, false}});
                co_await conn->exchange(std::move(post), timeout);
            }
            bool ok = false;
            json data;
            for (int polls = 0; polls < 4; ++polls) {
                auto get = make_request(http::verb::get, engine_target(o, t, "polling", hs->sid), o);
                auto gr = co_await conn->exchange(std::move(get), timeout);
                if (!gr.ok || gr.response.result_int() != 200) {
                    // A 400 naming the session: the server dropped it on the CONNECT.
                    closed_at_connect = gr.ok && gr.response.result_int() == 400;
                    break;
                }
                auto packets = decode_body(o, gr.response.body(), why);
                if (packets && connect_answer(o, nsp, *packets, ok, data)) break;
                if (packets && std::any_of(packets->begin(), packets->end(),
                                           [](const eio::packet& p) { return p.type == eio::packet_type::close; })) {
                    closed_at_connect = true;
                    break;
                }
                data = nullptr;
            }
            if (ok) {
                rep.add(finding{"namespace", level::ok, fmt::format("CONNECT {} accepted{}", nsp, o.auth.empty() ? "" : " with the given auth")});
            } else if (data.is_null() && closed_at_connect) {
                rep.add(finding{"namespace", level::fail,
                         fmt::format("the server closed the session on CONNECT {} without answering it", nsp),
                         "it could not read the CONNECT: a server created with socket.io-msgpack-parser (or another "
                         "custom parser) closes the session on the default parser's packets",
                         "if the server uses socket.io-msgpack-parser, talk to it with that parser: sio-cli --parser "
                         "msgpack, sio-bench --parser msgpack (browser: the socket.io.msgpack.min.js build)",
                         inspect_not_socketio});
            } else if (data.is_null()) {
                rep.add(finding{"namespace", level::fail, fmt::format("no answer to CONNECT {}", nsp),
                         "the server does not answer the Socket.IO CONNECT (a bare Engine.IO server, or a slow middleware)",
                         "check the server's namespaces and middlewares", inspect_refused});
            } else {
                const std::string message = connect_error_message(data);
                const bool invalid_nsp = message == "Invalid namespace";
                rep.add(finding{"namespace", level::fail, fmt::format("CONNECT {} refused: {}", nsp, message),
                         invalid_nsp ? fmt::format("the server has no namespace {}", nsp)
                                     : "a middleware of the namespace refused the connection (usually authentication)",
                         invalid_nsp ? fmt::format("declare it on the server (io.of(\"{}\"), sio-serve -n {}), or fix the URL's path", nsp, nsp)
                                     : "send the credentials it expects in the auth payload (--auth '{\"token\":\"...\"}')",
                         inspect_refused});
            }
        }

        // 5. CORS, for a browser on --origin.
        if (!o.origin.empty()) {
            const std::string allow{r.response[http::field::access_control_allow_origin]};
            const std::string credentials{r.response[http::field::access_control_allow_credentials]};
            if (allow.empty()) {
                rep.add(finding{"cors", level::fail, fmt::format("no Access-Control-Allow-Origin for the origin {}", o.origin),
                         "browsers on that origin cannot read the polling answers (\"xhr poll error\", CORS errors in the console)",
                         fmt::format("allow it on the server: cors: {{ origin: \"{}\", credentials: true }} (sio-serve --cors-origin {})",
                                     o.origin, o.origin),
                         inspect_path});
            } else if (allow != o.origin && allow != "*") {
                rep.add(finding{"cors", level::fail, fmt::format("Access-Control-Allow-Origin is {}, not {}", allow, o.origin),
                         "browsers on the given origin are refused", "add this origin to the server's CORS configuration", inspect_path});
            } else {
                rep.add(finding{"cors", allow == "*" && credentials == "true" ? level::warn : level::ok,
                         fmt::format("Access-Control-Allow-Origin: {}{}", allow, credentials == "true" ? ", with credentials" : ""),
                         allow == "*" && credentials == "true" ? "browsers refuse \"*\" together with credentials" : "",
                         allow == "*" && credentials == "true" ? "echo the origin instead of \"*\"" : ""});
            }
        }

        // 6. The upgrade.
        if (closed_at_connect) {
            // Its session is gone: an upgrade naming it would fail for that reason alone.
            rep.add(finding{"websocket", level::info, "not checked: the server closed the session at the CONNECT"});
        } else if (std::find(hs->upgrades.begin(), hs->upgrades.end(), "websocket") == hs->upgrades.end()) {
            rep.add(finding{"websocket", level::warn, "the server offers no upgrade to WebSocket",
                     "every message travels over HTTP long-polling (two requests per message, more latency)",
                     "allow the websocket transport on the server, unless polling only is intended"});
        } else {
            connect_report wr;
            auto ws_conn = co_await probe_connection::open(t, o.tls, wr, timeout, true);
            std::string failure;
            if (!ws_conn) {
                failure = wr.error;
            } else {
                const auto ws_target = engine_target(o, t, "websocket", hs->sid);
                const auto hdrs = extra_headers(o);
                auto up = co_await ws_conn->upgrade(ws_target, hdrs, timeout);
                if (!up.ok) {
                    failure = up.error + (up.response.body().empty() ? "" : ": " + json_message(up.response.body()));
                } else {
                    const std::string probe = eio::encode_text({eio::packet_type::ping, "probe", false}, o.eio);
                    co_await ws_conn->write_frame(probe);
                    auto f = co_await ws_conn->read_frame(timeout);
                    auto p = f.ok ? eio::decode_text(f.data, o.eio) : codec::result<eio::packet>(codec::error{});
                    if (!p || p->type != eio::packet_type::pong) failure = f.ok ? "unexpected answer to the probe: " + f.data : f.error;
                }
            }
            if (failure.empty()) {
                rep.add(finding{"websocket", level::ok, "the upgrade to WebSocket works (101, then 2probe → 3probe)"});
            } else {
                rep.add(finding{"websocket", level::fail, "long-polling works but the WebSocket upgrade fails: " + failure,
                         "something between the client and the server does not pass WebSocket through; most often a reverse "
                         "proxy that drops the Upgrade and Connection headers",
                         "nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "
                         "\"upgrade\"; (other proxies: enable WebSocket support)",
                         inspect_path});
            }
        }

        // 7. Limits worth knowing.
        if (hs->max_payload) {
            rep.add(finding{"limits", level::info,
                     fmt::format("maxPayload {} bytes; pingInterval {} ms, pingTimeout {} ms", *hs->max_payload, hs->ping_interval_ms,
                                 hs->ping_timeout_ms),
                     "a message or polling body larger than maxPayload closes the connection", ""});
        }
        if (hs->ping_interval_ms + hs->ping_timeout_ms > 60000) {
            rep.add(finding{"heartbeat", level::warn,
                     fmt::format("pingInterval + pingTimeout = {} ms", hs->ping_interval_ms + hs->ping_timeout_ms),
                     "proxies commonly close connections idle for 60 s (nginx proxy_read_timeout) before a dead peer is noticed",
                     "keep pingInterval + pingTimeout under the proxies' idle timeout"});
        }
    }
    co_return rep.finish();
}

}  // namespace

int run_doctor(const net_options& options, std::ostream& out, std::ostream& err) {
    return run_flow(options, err, [&out](net_options o, target t) { return doctor_flow(std::move(o), std::move(t), out); });
}

}  // namespace sio::inspect
