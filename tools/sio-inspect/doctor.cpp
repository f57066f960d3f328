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
#include <memory>
#include <optional>
#include <vector>
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

// One run of the checks: what one check learns and the next ones need (the connection, the
// open packet, the cookies, whether the session is still there). Each check is a function of
// its own that reports its findings.
struct doctor_state {
    doctor_state(net_options options, target where_to, std::ostream& out)
        : o(std::move(options)), t(std::move(where_to)), rep(o, out), where(fmt::format("{}:{}", t.host, t.port)),
          nsp(o.nsp.empty() ? t.nsp : (o.nsp.front() == '/' ? o.nsp : "/" + o.nsp)), timeout(o.timeout_ms) {}

    net_options o;
    target t;
    report rep;
    const std::string where;
    const std::string nsp;
    const dur timeout;
    std::unique_ptr<probe_connection> conn;  // the first connection: open, CONNECT, polls
    std::unique_ptr<probe_connection> ws;    // the upgrade
    std::optional<tls_report> tls;
    http::response<http::string_body> open_response;
    std::optional<eio::handshake> hs;
    std::string sid;
    std::string cookies;
    std::vector<std::string> joined;
    std::vector<std::string> end_errors;
    bool polling_ok = false;
    bool session_gone = false;      // every request naming it was refused
    bool closed_at_connect = false;  // the server dropped the session instead of answering CONNECT
    bool on_websocket = false;       // the upgrade completed
};

asio::awaitable<bool> check_refused_open(doctor_state& d, int status);
asio::awaitable<void> check_without_polling(doctor_state& d, int status);

// 1. Reachable (DNS, TCP, TLS handshake).
asio::awaitable<bool> check_reachable(doctor_state& d) {
    connect_report cr;
    d.conn = co_await probe_connection::open(d.t, d.o.tls, cr, d.timeout, true);
    if (!d.conn) {
        finding f{"reachable", level::fail, cr.error, "", "", inspect_unreachable};
        if (cr.failed_phase == "dns") {
            f.meaning = "the host name does not resolve";
            f.fix = "check the URL's host name (and the resolver)";
        } else if (cr.failed_phase == "tcp") {
            const bool refused = cr.error.find("refused") != std::string::npos;
            f.meaning = refused ? fmt::format("nothing is listening on {}", d.where)
                                : "the packets go unanswered: a firewall, or a wrong address";
            f.fix = refused ? "start the server, or point the client at the port it listens on" : "check the address and any firewall";
        } else {
            f.code = inspect_tls;
            f.meaning = "the TLS handshake itself failed (a plain HTTP server on this port, or no protocol or cipher in common)";
            f.fix = "use http:// if the server does not speak TLS; otherwise check its TLS settings";
        }
        d.rep.add(f);
        co_return false;
    }
    d.rep.add(finding{"reachable", level::ok, fmt::format("{} accepts connections ({:.1f} ms)", d.where, cr.tcp.count())});
    d.tls = cr.tls_details;
    co_return true;
}

// 2. For TLS, a certificate clients trust.
void check_tls(doctor_state& d) {
    if (!d.tls) return;
    const auto& tls = *d.tls;
    if (tls.verified) {
        d.rep.add(finding{"tls", level::ok, fmt::format("{} with a certificate trusted for {}", tls.version, d.t.host)});
        return;
    }
    finding f{"tls", level::fail, "the certificate is not trusted: " + tls.verify_error, "", "", inspect_tls};
    const auto* leaf = tls.chain.empty() ? nullptr : &tls.chain.front();
    if (leaf && leaf->expired) {
        f.meaning = fmt::format("the certificate expired on {}; clients refuse it", leaf->not_after);
        f.fix = "renew the certificate and reload the server";
    } else if (leaf && leaf->not_yet_valid) {
        f.meaning = fmt::format("the certificate is not valid before {} (a clock problem?)", leaf->not_before);
        f.fix = "check the clocks of the server and the client";
    } else if (!tls.host_matches) {
        f.meaning = fmt::format("the certificate is for {}, not for {}", leaf ? leaf->subject : "another name", d.t.host);
        f.fix = "use the host name the certificate names, or get a certificate for this one";
    } else if (leaf && (leaf->self_signed || tls.chain.size() == 1)) {
        f.meaning = "a self-signed certificate (or one from a private CA): browsers and Node clients refuse it";
        f.fix = "use a certificate from a public CA, or make clients trust yours (Node: the ca option or "
                "NODE_EXTRA_CA_CERTS; sio-cli/sio-inspect: --ca)";
    } else {
        f.meaning = "the chain does not lead to a trusted CA (a missing intermediate certificate?)";
        f.fix = "serve the full chain (the certificate, then its intermediates)";
    }
    d.rep.add(f);
}

// 3. An Engine.IO server at the path, opened over polling.
asio::awaitable<bool> check_socketio(doctor_state& d) {
    auto open_req = make_request(http::verb::get, engine_target(d.o, d.t, "polling", ""), d.o);
    auto r = co_await d.conn->exchange(std::move(open_req), d.timeout);
    if (!r.ok) {
        d.rep.add(finding{"socket.io", level::fail, fmt::format("GET {}: {}", d.o.path, r.error),
                          "the server accepted the connection but did not answer over HTTP", "check that this port serves HTTP",
                          inspect_not_socketio});
        co_return false;
    }
    d.open_response = std::move(r.response);
    const int status = d.open_response.result_int();
    if (status != 200) {
        const bool go_on = co_await check_refused_open(d, status);
        co_return go_on;
    }
    std::string why;
    auto packets = decode_body(d.o, d.open_response.body(), why);
    if (packets && !packets->empty() && packets->front().type == eio::packet_type::open) {
        if (auto h = eio::decode_handshake(packets->front().data)) d.hs = *h;
    }
    if (!d.hs && d.o.eio == 4) {
        // A socket.io 2.x server answers in the v3 format whatever EIO says.
        auto v3 = eio::v3::decode_text_payload(d.open_response.body());
        if (v3 && !v3->empty() && v3->front().type == eio::packet_type::open) {
            d.rep.add(finding{"socket.io", level::fail, "the server answers in Engine.IO v3: it is a socket.io 2.x server",
                              "socket.io-client 3.x and 4.x cannot talk to it (nor can it talk to them)",
                              "upgrade the server to socket.io 4, or use a 2.x client (sio-cli --eio 3, sio-inspect --eio 3)",
                              inspect_not_socketio});
            co_return false;
        }
    }
    if (!d.hs) {
        d.rep.add(finding{"socket.io", level::fail, fmt::format("GET {} answered 200 but not with an Engine.IO open packet", d.o.path),
                          "something else serves this path (a web page, another application)",
                          "check the path: the client's path option must match the server's (default /socket.io/)",
                          inspect_not_socketio});
        co_return false;
    }
    d.polling_ok = true;
    d.sid = d.hs->sid;
    d.rep.add(finding{"socket.io", level::ok,
                      fmt::format("Engine.IO v{} server at {} (sid {}, upgrades [{}])", d.o.eio, d.o.path, d.hs->sid,
                                  fmt::format("{}", fmt::join(d.hs->upgrades, ", ")))});
    co_return true;
}

// The open request refused: the Engine.IO error codes, or nothing Engine.IO at all.
asio::awaitable<bool> check_refused_open(doctor_state& d, int status) {
    const std::string& body = d.open_response.body();
    const int code = json_code(body);
    const std::string msg = json_message(body);
    if (code == 0) {
        d.rep.add(finding{"polling", level::warn, "HTTP long-polling is refused: " + msg, "the server accepts WebSocket only",
                          "clients must use transports: ['websocket'] (sio-cli --transport websocket)"});
        co_return true;
    }
    if (code == 5) {
        d.rep.add(finding{"socket.io", level::fail, "unsupported protocol version: " + msg,
                          d.o.eio == 3 ? "a socket.io 3+/4 server refuses Engine.IO v3 clients (socket.io-client 2.x)"
                                       : "the server does not speak Engine.IO v4",
                          d.o.eio == 3 ? "set allowEIO3: true on the server, or upgrade the client"
                                       : "use --eio 3 for a socket.io 2.x server",
                          inspect_not_socketio});
        co_return false;
    }
    if (code == 4 || status == 403) {
        d.rep.add(finding{"socket.io", level::fail, "the server refuses the handshake: " + msg,
                          d.o.origin.empty() ? "its allowRequest hook (or an allowed-origin list) rejects this request"
                                             : fmt::format("requests from the origin {} are not allowed", d.o.origin),
                          "allow this origin on the server (allowRequest, sio-serve --allowed-origin)", inspect_refused});
        co_return false;
    }
    co_await check_without_polling(d, status);
    co_return false;
}

// Nothing Engine.IO over polling: a wrong path, or a plain WebSocket server?
asio::awaitable<void> check_without_polling(doctor_state& d, int status) {
    const std::string what = fmt::format("GET {} answered HTTP {}", d.o.path, status);
    connect_report wr;
    auto ws_conn = co_await probe_connection::open(d.t, d.o.tls, wr, d.timeout, true);
    if (ws_conn) {
        const auto ws_target = engine_target(d.o, d.t, "websocket", "");
        const auto hdrs = extra_headers(d.o);
        auto up = co_await ws_conn->upgrade(ws_target, hdrs, d.timeout);
        if (up.ok) {
            auto f = co_await ws_conn->read_frame(dur(std::min<unsigned>(d.o.timeout_ms, 2000)));
            auto p = f.ok ? eio::decode_text(f.data, d.o.eio) : codec::result<eio::packet>(codec::error{});
            if (!p || p->type != eio::packet_type::open) {
                d.rep.add(finding{"socket.io", level::fail,
                                  what + ", and a WebSocket there is accepted but sends no Engine.IO open packet",
                                  "a plain WebSocket server, not Socket.IO: Socket.IO clients cannot talk to it",
                                  "use a WebSocket client (sio-cli --raw, ws://), or run a Socket.IO server there",
                                  inspect_not_socketio});
                const std::string error = co_await ws_conn->close_websocket(d.timeout);
                if (!error.empty()) d.end_errors.push_back(error);
                co_return;
            }
            d.rep.add(finding{"polling", level::warn, what + ", but WebSocket works",
                              "the server (or a proxy in front) refuses long-polling", "clients must use transports: ['websocket']"});
            // That WebSocket opened an Engine.IO session (no namespace): close it.
            const std::vector<std::string> none;
            const std::string error = co_await end_websocket_session(*ws_conn, d.o, none);
            if (!error.empty()) d.end_errors.push_back(error);
            co_return;
        }
    }
    d.rep.add(finding{"socket.io", level::fail, what + (d.open_response.body().empty() ? "" : ": " + d.open_response.body().substr(0, 120)),
                      status == 404 ? "nothing serves Engine.IO at this path" : "this is not a Socket.IO server, or it refuses the request",
                      "check the path: the client's path option must match the server's (default /socket.io/; --path here)",
                      inspect_not_socketio});
}

// 4. Sticky sessions: the same sid, over new connections, must reach the same session.
// Each request POSTs a pong ("3"), a packet clients send and every server takes without
// effect beyond its heartbeat (a noop, "6", is the server's own: python-engineio closes the
// session on it). Cookies the open answer set (a load balancer's stickiness cookie) are sent
// back the way a browser would; if the requests only stick with them, clients that keep no
// cookies (Node clients without a cookie jar) will lose their sessions.
asio::awaitable<void> check_sticky(doctor_state& d) {
    for (const auto& field : d.open_response) {
        if (field.name() != http::field::set_cookie) continue;
        const auto value = std::string(field.value());
        const auto pair = value.substr(0, value.find(';'));
        if (pair.find('=') == std::string::npos) continue;
        if (!d.cookies.empty()) d.cookies += "; ";
        d.cookies += pair;
    }
    const int tries = 6;
    std::string refusal;  // the server's words for an unknown session
    int other = 0;        // answers that are neither 200 nor an unknown session
    std::string other_text;
    auto count_unknown = [&](bool with_cookies) -> asio::awaitable<int> {
        int unknown = 0;
        for (int i = 0; i < tries; ++i) {
            connect_report sr;
            auto c = co_await probe_connection::open(d.t, d.o.tls, sr, d.timeout, true);
            if (!c) break;
            auto post = make_request(http::verb::post, engine_target(d.o, d.t, "polling", d.sid), d.o);
            post.set(http::field::content_type, "text/plain;charset=UTF-8");
            if (with_cookies) post.set(http::field::cookie, d.cookies);
            post.body() = encode_body(d.o, {eio::packet{eio::packet_type::pong, "", false}});
            auto pr = co_await c->exchange(std::move(post), d.timeout);
            std::string message;
            if (pr.ok && unknown_session(pr.response, message)) {
                ++unknown;
                refusal = message;
            } else if (!pr.ok || pr.response.result() != http::status::ok) {
                ++other;
                other_text = pr.ok ? fmt::format("HTTP {} {}", pr.response.result_int(), pr.response.body().substr(0, 120)) : pr.error;
            }
        }
        co_return unknown;
    };
    const int unknown_bare = co_await count_unknown(false);
    int unknown = unknown_bare;
    if (unknown_bare > 0 && !d.cookies.empty()) unknown = co_await count_unknown(true);
    if (unknown == 0 && unknown_bare > 0) {
        d.rep.add(finding{"sticky", level::warn,
                          fmt::format("requests stick to the session only with the cookie the server set ({}); without it "
                                      "{} of {} were answered \"{}\"",
                                      d.cookies, unknown_bare, tries, refusal),
                          "a load balancer keeps sessions on one instance by a cookie: browsers send it, clients that keep "
                          "no cookies do not",
                          "Node clients need a cookie jar (socket.io-client's withCredentials with a fetch that keeps "
                          "cookies) or transports: ['websocket']; or make the load balancer stick by client IP"});
    } else if (unknown == tries) {
        // Every request refused, the first included: the session is gone for this server,
        // not spread over instances (a round robin alternates).
        d.session_gone = true;
        d.rep.add(finding{"sticky", level::fail,
                          fmt::format("all {} requests naming the session were answered \"{}\"", tries, refusal),
                          "the server no longer knows the session it just opened: it closed it, or every request "
                          "reaches an instance that does not share sessions (a load balancer without sticky sessions)",
                          "enable sticky sessions at the load balancer (a cookie, or the client IP); if there is none, "
                          "look at the server's log for why it closed the session",
                          inspect_path});
    } else if (unknown > 0) {
        d.rep.add(finding{"sticky", level::fail,
                          fmt::format("{} of {} requests naming the session were answered \"{}\"", unknown, tries, refusal),
                          "requests reach several server instances that do not share sessions: a load balancer without sticky sessions",
                          "enable sticky sessions at the load balancer (a cookie, or the client IP), or have clients use "
                          "WebSocket only (no polling requests to spread)",
                          inspect_path});
    } else if (other > 0) {
        d.rep.add(finding{"sticky", level::warn,
                          fmt::format("{} of {} requests naming the session were not accepted: {}", other, tries, other_text),
                          "the server (or something in front of it) refuses requests a client sends in a session",
                          "check the server's log and any proxy in front of it"});
    } else {
        d.rep.add(finding{"sticky", level::ok, fmt::format("{} requests over new connections reached the same session", tries)});
    }
    // From here on, requests carry the cookies as a browser's would (behind a cookie-sticky
    // load balancer, the session lives on the instance the cookie names).
    if (!d.cookies.empty()) d.o.headers.push_back("Cookie: " + d.cookies);
}

// 5. The namespace, with the auth given.
asio::awaitable<void> check_namespace(doctor_state& d) {
    if (d.session_gone) {
        d.rep.add(finding{"namespace", level::info, "not checked: the session is gone (see sticky)"});
        co_return;
    }
    std::string why;
    const auto connect_packet = sio_connect(d.o, d.nsp, why);
    if (!connect_packet) {
        d.rep.add(finding{"namespace", level::fail, why, "", "", inspect_usage});
        co_return;
    }
    std::string post_refused;
    std::string post_unknown;  // the POST reached a server that does not know the session
    if (!(d.o.eio == 3 && d.nsp == "/")) {
        auto post = make_request(http::verb::post, engine_target(d.o, d.t, "polling", d.sid), d.o);
        post.set(http::field::content_type, "text/plain;charset=UTF-8");
        post.body() = encode_body(d.o, {*connect_packet});
        auto pr = co_await d.conn->exchange(std::move(post), d.timeout);
        std::string message;
        if (!pr.ok) post_refused = pr.error;
        else if (unknown_session(pr.response, message)) post_unknown = message;
        else if (pr.response.result() != http::status::ok)
            post_refused = fmt::format("HTTP {} {}", pr.response.result_int(), pr.response.body().substr(0, 120));
    }
    bool ok = false;
    json data;
    std::string unknown;  // the server's words when a poll names a session it does not know
    for (int polls = 0; polls < 4 && post_refused.empty() && post_unknown.empty(); ++polls) {
        auto get = make_request(http::verb::get, engine_target(d.o, d.t, "polling", d.sid), d.o);
        auto gr = co_await d.conn->exchange(std::move(get), d.timeout);
        if (!gr.ok || gr.response.result_int() != 200) {
            // A 400 naming the session: the server dropped it on the CONNECT.
            d.closed_at_connect = gr.ok && gr.response.result_int() == 400;
            if (gr.ok) unknown_session(gr.response, unknown);
            if (!gr.ok) post_refused = gr.error;
            break;
        }
        auto packets = decode_body(d.o, gr.response.body(), why);
        if (packets && connect_answer(d.o, d.nsp, *packets, ok, data)) break;
        if (packets && std::any_of(packets->begin(), packets->end(),
                                   [](const eio::packet& p) { return p.type == eio::packet_type::close; })) {
            d.closed_at_connect = true;
            break;
        }
        data = nullptr;
    }
    if (ok) {
        d.joined.push_back(d.nsp);
        d.rep.add(finding{"namespace", level::ok,
                          fmt::format("CONNECT {} accepted{}", d.nsp, d.o.auth.empty() ? "" : " with the given auth")});
    } else if (!post_unknown.empty()) {
        d.rep.add(finding{"namespace", level::fail, fmt::format("the POST with CONNECT {} was answered \"{}\"", d.nsp, post_unknown),
                           "it reached a server that does not know the session (see sticky)",
                           "make the requests of one session reach one instance (sticky sessions)", inspect_path});
    } else if (!post_refused.empty()) {
        d.rep.add(finding{"namespace", level::fail, fmt::format("CONNECT {} not delivered: {}", d.nsp, post_refused),
                          "the server refused the request that carries the CONNECT", "check the server's log",
                          inspect_refused});
    } else if (data.is_null() && d.closed_at_connect) {
        const bool msgpack = d.o.parser == codec::socketio::wire_parser::msgpack;
        d.rep.add(finding{"namespace", level::fail,
                          fmt::format("the server closed the session on CONNECT {} without answering it{}", d.nsp,
                                      unknown.empty() ? "" : fmt::format(" (then \"{}\")", unknown)),
                          msgpack ? "it could not read the CONNECT: the server does not use socket.io-msgpack-parser"
                                  : "it could not read the CONNECT: a server created with socket.io-msgpack-parser (or "
                                    "another custom parser) closes the session on the default parser's packets",
                          msgpack ? "talk to it with the default parser (without --parser msgpack)"
                                  : "if the server uses socket.io-msgpack-parser, talk to it with that parser: "
                                    "sio-inspect --parser msgpack, sio-cli --parser msgpack, sio-bench --parser msgpack "
                                    "(browser: the socket.io.msgpack.min.js build)",
                          inspect_not_socketio});
    } else if (data.is_null()) {
        d.rep.add(finding{"namespace", level::fail, fmt::format("no answer to CONNECT {}", d.nsp),
                          "the server does not answer the Socket.IO CONNECT (a bare Engine.IO server, or a slow middleware)",
                          "check the server's namespaces and middlewares", inspect_refused});
    } else {
        const std::string message = connect_error_message(data);
        const bool invalid_nsp = message == "Invalid namespace";
        d.rep.add(finding{"namespace", level::fail, fmt::format("CONNECT {} refused: {}", d.nsp, message),
                          invalid_nsp ? fmt::format("the server has no namespace {}", d.nsp)
                                      : "a middleware of the namespace refused the connection (usually authentication)",
                          invalid_nsp ? fmt::format("declare it on the server (io.of(\"{}\"), sio-serve -n {}), or fix the URL's path",
                                                    d.nsp, d.nsp)
                                      : "send the credentials it expects in the auth payload (--auth '{\"token\":\"...\"}')",
                          inspect_refused});
    }
}

// 6. CORS, for a browser on --origin.
void check_cors(doctor_state& d) {
    if (d.o.origin.empty()) return;
    const std::string allow{d.open_response[http::field::access_control_allow_origin]};
    const std::string credentials{d.open_response[http::field::access_control_allow_credentials]};
    if (allow.empty()) {
        d.rep.add(finding{"cors", level::fail, fmt::format("no Access-Control-Allow-Origin for the origin {}", d.o.origin),
                          "browsers on that origin cannot read the polling answers (\"xhr poll error\", CORS errors in the console)",
                          fmt::format("allow it on the server: cors: {{ origin: \"{}\", credentials: true }} (sio-serve --cors-origin {})",
                                      d.o.origin, d.o.origin),
                          inspect_path});
    } else if (allow != d.o.origin && allow != "*") {
        d.rep.add(finding{"cors", level::fail, fmt::format("Access-Control-Allow-Origin is {}, not {}", allow, d.o.origin),
                          "browsers on the given origin are refused", "add this origin to the server's CORS configuration",
                          inspect_path});
    } else {
        const bool star_with_credentials = allow == "*" && credentials == "true";
        d.rep.add(finding{"cors", star_with_credentials ? level::warn : level::ok,
                          fmt::format("Access-Control-Allow-Origin: {}{}", allow, credentials == "true" ? ", with credentials" : ""),
                          star_with_credentials ? "browsers refuse \"*\" together with credentials" : "",
                          star_with_credentials ? "echo the origin instead of \"*\"" : ""});
    }
}

// 7. The upgrade: 101, then 2probe → 3probe and the 5 that moves the session there.
// One upgrade of the session to WebSocket with its probe, finished as a client finishes it: ""
// when it worked, else why not. `refusal` gets the server's words when it answered that it does
// not know the session (the failure is then empty too, and d.ws unusable).
asio::awaitable<std::string> try_upgrade(doctor_state& d, std::string& refusal) {
    refusal.clear();
    connect_report wr;
    d.ws = co_await probe_connection::open(d.t, d.o.tls, wr, d.timeout, true);
    if (!d.ws) co_return wr.error;
    const auto ws_target = engine_target(d.o, d.t, "websocket", d.sid);
    const auto hdrs = extra_headers(d.o);
    auto up = co_await d.ws->upgrade(ws_target, hdrs, d.timeout);
    if (!up.ok) {
        if (unknown_session(up.response, refusal)) co_return std::string{};
        co_return up.error + (up.response.body().empty() ? "" : ": " + json_message(up.response.body()));
    }
    const std::string probe = eio::encode_text({eio::packet_type::ping, "probe", false}, d.o.eio);
    co_await d.ws->write_frame(probe);
    auto f = co_await d.ws->read_frame(d.timeout);
    auto p = f.ok ? eio::decode_text(f.data, d.o.eio) : codec::result<eio::packet>(codec::error{});
    if (!p || p->type != eio::packet_type::pong) co_return f.ok ? "unexpected answer to the probe: " + f.data : f.error;
    // Finish the upgrade as a client does: the session then ends over WebSocket.
    const std::string upgrade = eio::encode_text({eio::packet_type::upgrade, "", false}, d.o.eio);
    const auto error = co_await d.ws->write_frame(upgrade);
    if (!error.empty()) co_return "cannot send the upgrade packet: " + error;
    d.on_websocket = true;
    co_return std::string{};
}

asio::awaitable<void> check_websocket(doctor_state& d) {
    if (d.closed_at_connect || d.session_gone) {
        // Its session is gone: an upgrade naming it would fail for that reason alone.
        d.rep.add(finding{"websocket", level::info,
                          d.closed_at_connect ? "not checked: the server closed the session at the CONNECT"
                                              : "not checked: the session is gone (see sticky)"});
        co_return;
    }
    if (std::find(d.hs->upgrades.begin(), d.hs->upgrades.end(), "websocket") == d.hs->upgrades.end()) {
        d.rep.add(finding{"websocket", level::warn, "the server offers no upgrade to WebSocket",
                          "every message travels over HTTP long-polling (two requests per message, more latency)",
                          "allow the websocket transport on the server, unless polling only is intended"});
        co_return;
    }
    // Behind a load balancer without sticky sessions whose servers forward polling requests to
    // the session's own server (sio-serve --redis), an upgrade that reaches another server is
    // answered "Session ID unknown": a few tries find whether one reaching it works.
    const int tries = 4;
    int elsewhere = 0;
    std::string failure, refusal;
    for (int i = 0; i < tries; ++i) {
        failure = co_await try_upgrade(d, refusal);
        if (refusal.empty()) break;
        ++elsewhere;
    }
    if (elsewhere == tries) {
        d.rep.add(finding{"websocket", level::warn,
                          fmt::format("all {} WebSocket upgrades were answered \"{}\", while polling requests naming the "
                                      "session work",
                                      tries, refusal),
                          "the upgrades reach server instances that do not hold the session; polling requests reach it "
                          "(sticky, or forwarded between the instances), upgrades are not forwarded: clients stay on "
                          "long-polling",
                          "make the load balancer keep each client on one instance (a cookie, or the client IP) if "
                          "WebSocket matters, or have clients use transports: ['websocket']"});
        co_return;
    }
    if (elsewhere > 0 && failure.empty()) {
        d.rep.add(finding{"websocket", level::info,
                          fmt::format("{} of {} WebSocket upgrades were answered \"Session ID unknown\" before one reached "
                                      "the session's instance",
                                      elsewhere, elsewhere + 1),
                          "requests are spread over instances that forward polling requests to the session's own "
                          "instance but not upgrades: a client's upgrade fails unless it lands there, and the client then "
                          "stays on long-polling",
                          "nothing is lost; for WebSocket on every session, make the load balancer sticky for upgrades"});
    }
    if (failure.empty()) {
        d.rep.add(finding{"websocket", level::ok, "the upgrade to WebSocket works (101, then 2probe → 3probe)"});
    } else {
        d.rep.add(finding{"websocket", level::fail, "long-polling works but the WebSocket upgrade fails: " + failure,
                          "something between the client and the server does not pass WebSocket through; most often a reverse "
                          "proxy that drops the Upgrade and Connection headers",
                          "nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "
                          "\"upgrade\"; (other proxies: enable WebSocket support)",
                          inspect_path});
    }
}

// 8. Limits worth knowing.
void check_limits(doctor_state& d) {
    if (d.hs->max_payload) {
        d.rep.add(finding{"limits", level::info,
                          fmt::format("maxPayload {} bytes; pingInterval {} ms, pingTimeout {} ms", *d.hs->max_payload,
                                      d.hs->ping_interval_ms, d.hs->ping_timeout_ms),
                          "a message or polling body larger than maxPayload closes the connection", ""});
    }
    if (d.hs->ping_interval_ms + d.hs->ping_timeout_ms > 60000) {
        d.rep.add(finding{"heartbeat", level::warn,
                          fmt::format("pingInterval + pingTimeout = {} ms", d.hs->ping_interval_ms + d.hs->ping_timeout_ms),
                          "proxies commonly close connections idle for 60 s (nginx proxy_read_timeout) before a dead peer is noticed",
                          "keep pingInterval + pingTimeout under the proxies' idle timeout"});
    }
}

// Leaves as a client does (DISCONNECT, then the Engine.IO close), so that the server shows
// no ghost of the session until its ping timeout. Not a check: a failure goes to `err`.
asio::awaitable<void> end_session(doctor_state& d, std::ostream& err) {
    if (!d.sid.empty() && !d.closed_at_connect && !d.session_gone) {
        std::string error;
        if (d.on_websocket) {
            error = co_await end_websocket_session(*d.ws, d.o, d.joined);
        } else {
            if (d.ws && d.ws->is_websocket()) {
                const std::string ws_error = co_await d.ws->close_websocket(d.timeout);
                if (!ws_error.empty()) d.end_errors.push_back(ws_error);
            }
            error = co_await end_polling_session(d.conn.get(), d.o, d.t, d.sid, d.joined);
        }
        if (!error.empty()) d.end_errors.push_back(error);
    }
    for (const auto& e : d.end_errors) err << "sio-inspect: could not end the session cleanly: " << tools::neutralize(e) << "\n";
}

asio::awaitable<int> run_checks(doctor_state& d, std::ostream& err) {
    // Results go through named locals: GCC 12 mishandles a co_await inside a condition.
    const bool reachable = co_await check_reachable(d);
    if (reachable) {
        check_tls(d);
        const bool engine_io = co_await check_socketio(d);
        if (engine_io && d.hs && d.polling_ok) {
            co_await check_sticky(d);
            co_await check_namespace(d);
            check_cors(d);
            co_await check_websocket(d);
            check_limits(d);
        }
    }
    co_await end_session(d, err);
    co_return d.rep.finish();
}

asio::awaitable<int> doctor_flow(net_options o, target t, std::ostream& out, std::ostream& err) {
    // On the heap, where every check's frame can refer to it.
    auto d = std::make_unique<doctor_state>(std::move(o), std::move(t), out);
    const int code = co_await run_checks(*d, err);
    co_return code;
}

}  // namespace

int run_doctor(const net_options& options, std::ostream& out, std::ostream& err) {
    if (options.parser == codec::socketio::wire_parser::msgpack && options.eio == 3) {
        err << "sio-inspect: --parser msgpack needs Engine.IO v4 (socket.io-msgpack-parser is for socket.io 3+)\n";
        return inspect_usage;
    }
    return run_flow(options, err, [&out, &err](net_options o, target t) {
        return doctor_flow(std::move(o), std::move(t), out, err);
    });
}

}  // namespace sio::inspect
