#include "handshake.hpp"

#include "engine_steps.hpp"
#include "traffic.hpp"

#include "common/terminal.hpp"

#include "common/net_options.hpp"

#include <sio/codec/engine_io.hpp>
#include <sio/codec/json.hpp>
#include <sio/codec/socket_io.hpp>
#include <sio/transport/client_connect.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/http.hpp>

#include <fmt/core.h>

#include <ostream>
#include <random>

namespace sio::inspect {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace eio = codec::eio;
namespace sp = codec::socketio;
using codec::json;
using tools::neutralize;

// --- shared by handshake and doctor -------------------------------------------------------------

namespace detail {

using dur = std::chrono::milliseconds;

std::string random_token() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string out;
    for (int i = 0; i < 7; ++i) out += alphabet[rng() % (sizeof alphabet - 1)];
    return out;
}

// The request target of an Engine.IO request.
std::string engine_target(const net_options& o, const target& t, std::string_view transport, std::string_view sid) {
    std::string path = o.path.empty() ? "/socket.io/" : o.path;
    if (path.front() != '/') path.insert(path.begin(), '/');
    std::string q = fmt::format("EIO={}&transport={}", o.eio, transport);
    if (transport == "polling") q += "&t=" + random_token();
    // The server's sid, encoded as the reference client encodes it: whatever it holds, the
    // request line stays one line.
    if (!sid.empty()) q += "&sid=" + transport::url_encode(sid);
    if (!t.query.empty()) q += "&" + t.query;
    for (const auto& kv : o.query) q += "&" + kv;
    return path + "?" + q;
}

std::vector<std::pair<std::string, std::string>> extra_headers(const net_options& o) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string error;  // main checked them: none is refused here
    tools::read_headers(o.headers, out, error);
    if (!o.origin.empty()) out.emplace_back("Origin", o.origin);
    return out;
}

http::request<http::string_body> make_request(http::verb verb, const std::string& target_path, const net_options& o) {
    http::request<http::string_body> req{verb, target_path, 11};
    req.keep_alive(true);
    req.set(http::field::accept, "*/*");
    for (const auto& [k, v] : extra_headers(o)) req.set(k, v);
    return req;
}

std::optional<std::vector<eio::packet>> decode_body(const net_options& o, std::string_view body, std::string& why) {
    auto r = o.eio == 3 ? eio::v3::decode_text_payload(body) : eio::decode_payload(body);
    if (!r) {
        why = r.err().reason;
        return std::nullopt;
    }
    return std::move(*r);
}

std::string encode_body(const net_options& o, const std::vector<eio::packet>& packets) {
    return o.eio == 3 ? eio::v3::encode_text_payload(packets) : eio::encode_payload(packets);
}

std::string headers_text(const http::fields& f, const std::string& indent) {
    std::string out;
    for (const auto& h : f)
        out += fmt::format("{}{}: {}\n", indent, neutralize(h.name_string()), neutralize(h.value()));
    return out;
}

json headers_json(const http::fields& f) {
    json out = json::object();
    for (const auto& h : f) out[std::string(h.name_string())] = std::string(h.value());
    return out;
}

eio::packet sio_message(const net_options& o, const sp::packet& p) {
    if (o.parser == sp::wire_parser::msgpack) return eio::packet{eio::packet_type::message, sp::encode_msgpack(p), true};
    return eio::packet{eio::packet_type::message, sp::encode(p, o.eio == 3 ? sp::protocol::v4 : sp::protocol::v5).text, false};
}

std::optional<sp::packet> sio_read(const net_options& o, const eio::packet& p) {
    if (p.type != eio::packet_type::message) return std::nullopt;
    if (o.parser == sp::wire_parser::msgpack) {
        if (!p.binary) return std::nullopt;
        auto decoded = sp::decode_msgpack(p.data);
        if (!decoded) return std::nullopt;
        return std::move(*decoded);
    }
    if (p.binary) return std::nullopt;
    auto decoded = sp::decode_text(p.data, {o.eio == 3 ? sp::protocol::v4 : sp::protocol::v5});
    if (!decoded) return std::nullopt;
    return std::move(*decoded);
}

std::string sio_shown(const eio::packet& p) {
    if (!p.binary) return p.data;
    auto decoded = sp::decode_msgpack(p.data);
    return fmt::format("<msgpack, {} bytes> {}", p.data.size(), decoded ? sp::describe(*decoded) : "(does not decode)");
}

std::optional<eio::packet> sio_connect(const net_options& o, const std::string& nsp, std::string& why) {
    sp::packet p{sp::packet_type::connect, nsp, std::nullopt, std::nullopt};
    if (!o.auth.empty()) {
        if (o.eio == 3) {
            why = "--auth needs Socket.IO v5 (socket.io 3+): v4 servers take credentials in the query (--query)";
            return std::nullopt;
        }
        auto parsed = json::parse(o.auth, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object()) {
            why = "--auth must be a JSON object, e.g. '{\"token\":\"abc\"}'";
            return std::nullopt;
        }
        p.data = std::move(parsed);
    }
    return sio_message(o, p);
}

// The Socket.IO answer to CONNECT among `packets`: true when found (`ok` tells which).
bool connect_answer(const net_options& o, const std::string& nsp, const std::vector<eio::packet>& packets, bool& ok,
                    json& data) {
    for (const auto& p : packets) {
        auto sp_packet = sio_read(o, p);
        if (!sp_packet || sp_packet->nsp != nsp) continue;
        if (sp_packet->type == sp::packet_type::connect) {
            ok = true;
            data = sp_packet->data.value_or(json::object());
            return true;
        }
        if (sp_packet->type == sp::packet_type::connect_error) {
            ok = false;
            data = sp_packet->data.value_or(json(nullptr));
            return true;
        }
    }
    return false;
}

bool unknown_session(const http::response<http::string_body>& r, std::string& message) {
    if (r.result() != http::status::bad_request) return false;
    const auto& body = r.body();
    auto j = json::parse(body, nullptr, false);
    // Node's engine.io: {"code":1,"message":"Session ID unknown"}.
    if (j.is_object() && j.contains("code") && j["code"].is_number_integer() && j["code"].get<int>() == 1) {
        message = j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : "Session ID unknown";
        return true;
    }
    // python-engineio: "Invalid session <sid>", as a JSON string in a text/plain body.
    std::string text = j.is_string() ? j.get<std::string>() : body;
    if (text.rfind("Invalid session", 0) == 0) {
        message = text.substr(0, 120);
        return true;
    }
    return false;
}

asio::awaitable<std::string> end_polling_session(probe_connection* conn, const net_options& o, const target& t,
                                                 const std::string& sid, const std::vector<std::string>& joined) {
    // Two POSTs, as socket.io-client sends them: the DISCONNECTs, then (once they are taken) the
    // close. In one body the Node server would close the session before it reads the DISCONNECT.
    std::vector<std::vector<eio::packet>> bodies;
    if (!joined.empty()) {
        bodies.emplace_back();
        for (const auto& nsp : joined)
            bodies.back().push_back(sio_message(o, sp::packet{sp::packet_type::disconnect, nsp, std::nullopt, std::nullopt}));
    }
    bodies.push_back({eio::packet{eio::packet_type::close, "", false}});
    const dur timeout{o.timeout_ms};
    std::unique_ptr<probe_connection> fresh;
    for (const auto& body : bodies) {
        std::string error;
        bool sent = false;
        for (int attempt = 0; attempt < 2 && !sent; ++attempt) {
            if (conn == nullptr) {
                connect_report cr;
                fresh = co_await probe_connection::open(t, o.tls, cr, timeout, true);
                if (!fresh) co_return cr.error;
                conn = fresh.get();
            }
            auto post = make_request(http::verb::post, engine_target(o, t, "polling", sid), o);
            post.set(http::field::content_type, "text/plain;charset=UTF-8");
            post.body() = encode_body(o, body);
            auto r = co_await conn->exchange(std::move(post), timeout);
            if (r.ok) {
                if (r.response.result() != http::status::ok)
                    co_return fmt::format("HTTP {} {}", r.response.result_int(), r.response.body().substr(0, 120));
                sent = true;
            } else {
                error = r.error;
                conn = nullptr;  // the kept-alive connection is gone: once more on a new one
            }
        }
        if (!sent) co_return error;
    }
    co_return std::string{};
}

asio::awaitable<std::string> end_websocket_session(probe_connection& ws, const net_options& o,
                                                   const std::vector<std::string>& joined) {
    for (const auto& nsp : joined) {
        const auto p = sio_message(o, sp::packet{sp::packet_type::disconnect, nsp, std::nullopt, std::nullopt});
        const std::string frame = p.binary ? p.data : eio::encode_text(p, o.eio);
        auto error = co_await ws.write_frame(frame, p.binary);
        if (!error.empty()) co_return error;
    }
    const dur timeout{o.timeout_ms};
    auto error = co_await ws.close_websocket(timeout);
    co_return error;
}

std::string connect_error_message(const json& data) {
    if (data.is_object() && data.contains("message") && data["message"].is_string()) return data["message"].get<std::string>();
    if (data.is_string()) return data.get<std::string>();
    return data.dump();
}

int run_flow(const net_options& options, std::ostream& err,
             const std::function<asio::awaitable<int>(net_options, target)>& flow) {
    std::string why;
    auto t = parse_target("URL", options.url, why);
    if (!t) {
        err << "sio-inspect: " << why << "\n";
        return inspect_usage;
    }
    asio::io_context ioc;
    auto result = asio::co_spawn(ioc, flow(options, *t), asio::use_future);
    ioc.run();
    try {
        return result.get();
    } catch (const std::exception& e) {
        err << "sio-inspect: " << e.what() << "\n";
        return inspect_runtime;
    }
}

}  // namespace detail

using namespace detail;

namespace {

using dur = std::chrono::milliseconds;

class timeline {
public:
    timeline(const net_options& o, std::ostream& out) : o_(o), out_(out) {}

    // One phase: a title line with its duration, then indented details. In text, the summary
    // and every line of the details are neutralised: they quote what the server sent (pieces of
    // it that may hold a line break are neutralised where the details are made).
    void phase(std::string_view name, std::optional<ms> took, bool ok, const std::string& summary,
               const std::string& details = {}, json extra = json::object()) {
        if (o_.json) {
            json line{{"phase", name}, {"ok", ok}, {"summary", summary}};
            if (took) line["ms"] = static_cast<double>(static_cast<long long>(took->count() * 1000)) / 1000.0;
            for (auto it = extra.begin(); it != extra.end(); ++it) line[it.key()] = it.value();
            out_ << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
        } else {
            const char* mark = ok ? "✓" : "✗";
            const std::string colour = !o_.color ? "" : ok ? "\x1b[32m" : "\x1b[31m";
            const std::string reset = o_.color ? "\x1b[0m" : "";
            out_ << fmt::format("{}{} {:<10}{} {:>9} {}\n", colour, mark, name, reset,
                                took ? fmt::format("{:.1f} ms", took->count()) : std::string{}, neutralize(summary));
            if (!details.empty()) out_ << tools::neutralize_lines(details);
        }
        out_.flush();
    }

private:
    const net_options& o_;
    std::ostream& out_;
};

std::string tls_details_text(const tls_report& t) {
    std::string out = fmt::format("    {} {}{}\n", t.version, t.cipher, t.alpn.empty() ? "" : ", ALPN " + t.alpn);
    for (std::size_t i = 0; i < t.chain.size(); ++i) {
        const auto& c = t.chain[i];
        out += fmt::format("    [{}] subject {}\n        issuer  {}\n        valid   {} → {}{}{}{}\n", i, c.subject, c.issuer,
                           c.not_before, c.not_after, c.expired ? "  EXPIRED" : "", c.not_yet_valid ? "  NOT YET VALID" : "",
                           c.self_signed ? "  self-signed" : "");
    }
    out += t.verified ? "    certificate verified for this host\n"
                      : fmt::format("    NOT verified: {}{}\n", t.verify_error,
                                    t.host_matches ? "" : " (and the certificate does not name this host)");
    return out;
}

json tls_json(const tls_report& t) {
    json chain = json::array();
    for (const auto& c : t.chain)
        chain.push_back({{"subject", c.subject}, {"issuer", c.issuer}, {"not_before", c.not_before},
                         {"not_after", c.not_after}, {"expired", c.expired}, {"self_signed", c.self_signed}});
    return {{"version", t.version}, {"cipher", t.cipher}, {"alpn", t.alpn}, {"chain", chain},
            {"verified", t.verified}, {"verify_error", t.verify_error}, {"host_matches", t.host_matches}};
}

// Connects and reports DNS, TCP and TLS; null (and `code` set) when it failed.
asio::awaitable<std::unique_ptr<probe_connection>> connect_phases(const net_options& o, const target& t, timeline& tl,
                                                                  int& code, bool quiet) {
    connect_report r;
    auto conn = co_await probe_connection::open(t, o.tls, r, dur(o.timeout_ms));
    if (!quiet || !r.ok) {
        std::string addrs;
        for (const auto& a : r.addresses) addrs += (addrs.empty() ? "" : ", ") + a;
        if (r.failed_phase == "dns") {
            tl.phase("dns", r.dns, false, r.error);
        } else {
            tl.phase("dns", r.dns, true, fmt::format("{} → {}", t.host, addrs), {}, {{"addresses", r.addresses}});
            if (r.failed_phase == "tcp") tl.phase("tcp", r.tcp, false, r.error);
            else tl.phase("tcp", r.tcp, true, fmt::format("connected to {} port {}", r.connected_to, t.port));
        }
        if (r.tls_details || r.failed_phase == "tls") {
            tl.phase("tls", r.tls, r.ok, r.ok ? "TLS established" : r.error,
                     r.tls_details ? tls_details_text(*r.tls_details) : std::string{},
                     r.tls_details ? json{{"tls", tls_json(*r.tls_details)}} : json::object());
        }
    }
    if (!r.ok) code = r.failed_phase == "tls" ? inspect_tls : inspect_unreachable;
    co_return conn;
}

std::string open_text(const eio::handshake& h) {
    std::string upgrades;
    for (const auto& u : h.upgrades) upgrades += (upgrades.empty() ? "" : ", ") + neutralize(u);
    std::string out = fmt::format(
        "    sid           {}  (the Engine.IO session; every later request names it)\n"
        "    upgrades      [{}]  (transports the session may move to)\n"
        "    pingInterval  {} ms  (the server pings this often)\n"
        "    pingTimeout   {} ms  (the client has this long to answer; silence for {} ms means the server is gone)\n",
        neutralize(h.sid), upgrades, h.ping_interval_ms, h.ping_timeout_ms, h.ping_interval_ms + h.ping_timeout_ms);
    if (h.max_payload) out += fmt::format("    maxPayload    {} bytes  (largest message or polling body accepted)\n", *h.max_payload);
    return out;
}

json open_json(const eio::handshake& h) {
    json j{{"sid", h.sid}, {"upgrades", h.upgrades}, {"pingInterval", h.ping_interval_ms}, {"pingTimeout", h.ping_timeout_ms}};
    if (h.max_payload) j["maxPayload"] = *h.max_payload;
    return j;
}

// What the handshake opened, to be ended once it is over, whatever its outcome.
struct open_session {
    std::string sid;                               // empty: no Engine.IO session yet
    std::vector<std::string> joined;               // namespaces connected
    std::unique_ptr<probe_connection> polling;     // the polling connection
    std::unique_ptr<probe_connection> ws;          // the WebSocket (after the probe or directly)
    bool on_websocket = false;                     // the session moved to (or opened on) ws
};

asio::awaitable<int> handshake_steps(const net_options& o, const target& t, std::ostream& out, std::ostream& err,
                                     open_session& session) {
    timeline tl{o, out};
    int code = inspect_ok;
    const std::string nsp = o.nsp.empty() ? t.nsp : (o.nsp.front() == '/' ? o.nsp : "/" + o.nsp);
    std::string why;
    const auto connect_packet = sio_connect(o, nsp, why);
    if (!connect_packet) {
        tl.phase("options", std::nullopt, false, why);
        co_return inspect_usage;
    }
    const std::string connect_shown = sio_shown(*connect_packet);
    std::optional<eio::handshake> hs;
    auto session_start = std::chrono::steady_clock::now();  // reset when the open packet arrives

    if (o.transport != "websocket") {
        session.polling = co_await connect_phases(o, t, tl, code, false);
        auto* conn = session.polling.get();
        if (!conn) co_return code;
        // Engine.IO open.
        const auto open_target = engine_target(o, t, "polling", "");
        auto req = make_request(http::verb::get, open_target, o);
        auto sent = req;
        auto r = co_await conn->exchange(std::move(sent), dur(o.timeout_ms));
        if (!r.ok) {
            tl.phase("open", r.elapsed, false, "GET " + open_target + ": " + r.error);
            co_return inspect_not_socketio;
        }
        std::string details = "    > GET " + open_target + "\n" + headers_text(req, "    > ") +
                              fmt::format("    < HTTP {} {}\n", r.response.result_int(), std::string_view(r.response.reason())) +
                              headers_text(r.response, "    < ");
        if (r.response.result() != http::status::ok) {
            tl.phase("open", r.elapsed, false,
                     fmt::format("the server refused the handshake: HTTP {} {}", r.response.result_int(), r.response.body().substr(0, 200)),
                     details);
            co_return r.response.result_int() == 404 ? inspect_not_socketio : inspect_refused;
        }
        auto packets = decode_body(o, r.response.body(), why);
        if (!packets || packets->empty() || packets->front().type != eio::packet_type::open) {
            tl.phase("open", r.elapsed, false,
                     fmt::format("not an Engine.IO v{} open packet: {}", o.eio, packets ? "first packet is not 'open'" : why),
                     details + "    body: " + neutralize(r.response.body().substr(0, 200)) + "\n");
            co_return inspect_not_socketio;
        }
        auto decoded = eio::decode_handshake(packets->front().data);
        if (!decoded) {
            tl.phase("open", r.elapsed, false, "the open packet does not parse: " + decoded.err().reason, details);
            co_return inspect_not_socketio;
        }
        hs = *decoded;
        session.sid = hs->sid;
        session_start = std::chrono::steady_clock::now();
        tl.phase("open", r.elapsed, true, fmt::format("Engine.IO v{} session {} over polling", o.eio, hs->sid),
                 details + open_text(*hs), {{"request", headers_json(req)}, {"status", r.response.result_int()},
                                            {"response", headers_json(r.response)}, {"handshake", open_json(*hs)}});

        // Socket.IO CONNECT (v4 servers connect "/" by themselves).
        std::vector<eio::packet> answer_packets(packets->begin() + 1, packets->end());
        const bool implicit = o.eio == 3 && nsp == "/";
        ms connect_took{0};
        if (!implicit) {
            auto post = make_request(http::verb::post, engine_target(o, t, "polling", hs->sid), o);
            post.set(http::field::content_type, "text/plain;charset=UTF-8");
            post.body() = encode_body(o, {*connect_packet});
            auto pr = co_await conn->exchange(post, dur(o.timeout_ms));
            connect_took += pr.elapsed;
            if (!pr.ok || pr.response.result() != http::status::ok) {
                tl.phase("connect", pr.elapsed, false,
                         pr.ok ? fmt::format("POST refused: HTTP {} {}", pr.response.result_int(), pr.response.body()) : pr.error);
                co_return inspect_refused;
            }
        }
        bool ok = false;
        json data;
        for (int polls = 0; polls < 4 && !connect_answer(o, nsp, answer_packets, ok, data); ++polls) {
            auto get = make_request(http::verb::get, engine_target(o, t, "polling", hs->sid), o);
            auto gr = co_await conn->exchange(std::move(get), dur(o.timeout_ms));
            connect_took += gr.elapsed;
            if (!gr.ok || gr.response.result() != http::status::ok) {
                tl.phase("connect", connect_took, false,
                         gr.ok ? fmt::format("GET refused: HTTP {} {}", gr.response.result_int(), gr.response.body()) : gr.error);
                // The session is gone (or the connection is): nothing left to end.
                if (gr.ok) session.sid.clear();
                co_return inspect_refused;
            }
            auto more = decode_body(o, gr.response.body(), why);
            if (more) answer_packets = std::move(*more);
            if (std::any_of(answer_packets.begin(), answer_packets.end(),
                            [](const eio::packet& p) { return p.type == eio::packet_type::close; })) {
                session.sid.clear();  // the server closed the session
                break;
            }
        }
        if (!ok) {
            if (data.is_null() && answer_packets.empty()) {
                tl.phase("connect", connect_took, false, fmt::format("no answer to CONNECT {}", nsp));
                co_return inspect_refused;
            }
            tl.phase("connect", connect_took, false,
                     fmt::format("CONNECT {} refused: {}", nsp, connect_error_message(data)),
                     fmt::format("    > {}\n    < CONNECT_ERROR {}\n", connect_shown, data.dump()), {{"connect_error", data}});
            co_return inspect_refused;
        }
        session.joined.push_back(nsp);
        tl.phase("connect", connect_took, true,
                 fmt::format("namespace {} connected{}", nsp,
                             data.is_object() && data.contains("sid") && data["sid"].is_string()
                                 ? ", socket id " + data["sid"].get<std::string>()
                                 : ""),
                 fmt::format("    > {}\n    < {}\n", connect_shown, data.dump()), {{"answer", data}});
        if (o.transport == "polling") co_return inspect_ok;
        if (std::find(hs->upgrades.begin(), hs->upgrades.end(), "websocket") == hs->upgrades.end()) {
            tl.phase("upgrade", std::nullopt, true, "the server offers no WebSocket upgrade: the session stays on polling");
            co_return inspect_ok;
        }
    }

    // WebSocket: a new connection, then the upgrade (with the sid after polling).
    session.ws = co_await connect_phases(o, t, tl, code, o.transport != "websocket");
    auto* conn = session.ws.get();
    if (!conn) co_return code;
    const auto ws_target = engine_target(o, t, "websocket", hs ? hs->sid : "");
    const auto ws_headers = extra_headers(o);
    auto up = co_await conn->upgrade(ws_target, ws_headers, dur(o.timeout_ms));
    std::string details = "    > GET " + ws_target + "\n" + headers_text(up.request, "    > ") +
                          fmt::format("    < HTTP {} {}\n", up.response.result_int(), std::string_view(up.response.reason())) +
                          headers_text(up.response, "    < ");
    if (!up.ok) {
        tl.phase("websocket", up.elapsed, false, up.error + (up.response.body().empty() ? "" : ": " + up.response.body().substr(0, 200)),
                 details);
        co_return hs ? inspect_path : inspect_not_socketio;
    }
    details += fmt::format("    Sec-WebSocket-Accept {} (expected {})\n", up.accept_matches ? "matches" : "DOES NOT MATCH", up.expected_accept);
    tl.phase("websocket", up.elapsed, true, "101 Switching Protocols", details,
             {{"request", headers_json(up.request)}, {"response", headers_json(up.response)}, {"accept_matches", up.accept_matches}});

    if (hs) {
        // Probe, then upgrade.
        const auto start = std::chrono::steady_clock::now();
        // Frames go through named locals: GCC 12 mishandles temporaries inside co_await.
        const std::string probe_frame = eio::encode_text({eio::packet_type::ping, "probe", false}, o.eio);
        co_await conn->write_frame(probe_frame);
        auto f = co_await conn->read_frame(dur(o.timeout_ms));
        auto p = f.ok ? eio::decode_text(f.data, o.eio) : codec::result<eio::packet>(codec::error{});
        if (!f.ok || !p || p->type != eio::packet_type::pong || p->data != "probe") {
            tl.phase("probe", f.elapsed, false, f.ok ? "unexpected answer to 2probe: " + f.data : f.error);
            co_return inspect_path;
        }
        const std::string upgrade_frame = eio::encode_text({eio::packet_type::upgrade, "", false}, o.eio);
        co_await conn->write_frame(upgrade_frame);
        session.on_websocket = true;
        tl.phase("probe", ms(std::chrono::steady_clock::now() - start), true, "2probe → 3probe, then 5 (upgrade): the session is on WebSocket");
    } else {
        auto f = co_await conn->read_frame(dur(o.timeout_ms));
        auto p = f.ok ? eio::decode_text(f.data, o.eio) : codec::result<eio::packet>(codec::error{});
        std::optional<eio::handshake> decoded;
        if (p && p->type == eio::packet_type::open) {
            if (auto h = eio::decode_handshake(p->data)) decoded = *h;
        }
        if (!decoded) {
            tl.phase("open", f.elapsed, false,
                     f.ok ? "the first frame is not an Engine.IO open packet (a plain WebSocket server, not Socket.IO?): " +
                                f.data.substr(0, 120)
                          : "no Engine.IO open packet: " + f.error +
                                " (the WebSocket was accepted: a plain WebSocket server, not Socket.IO?)");
            co_return inspect_not_socketio;
        }
        hs = decoded;
        session.sid = hs->sid;
        session.on_websocket = true;
        session_start = std::chrono::steady_clock::now();
        tl.phase("open", f.elapsed, true, fmt::format("Engine.IO v{} session {} over WebSocket", o.eio, hs->sid),
                 open_text(*hs), {{"handshake", open_json(*hs)}});
        const bool implicit = o.eio == 3 && nsp == "/";
        ms took{0};
        const std::string connect_frame = connect_packet->binary ? connect_packet->data : eio::encode_text(*connect_packet, o.eio);
        if (!implicit) co_await conn->write_frame(connect_frame, connect_packet->binary);
        bool ok = false;
        json data;
        std::vector<eio::packet> got;
        for (int frames = 0; frames < 8 && !connect_answer(o, nsp, got, ok, data); ++frames) {
            auto g = co_await conn->read_frame(dur(o.timeout_ms));
            took += g.elapsed;
            if (!g.ok) {
                tl.phase("connect", took, false, "no answer to CONNECT: " + g.error);
                co_return inspect_refused;
            }
            auto q = g.binary ? eio::decode_binary_frame(g.data, o.eio) : eio::decode_text(g.data, o.eio);
            if (q) got = {*q};
        }
        if (!ok) {
            tl.phase("connect", took, false, fmt::format("CONNECT {} refused: {}", nsp, connect_error_message(data)), {},
                     {{"connect_error", data}});
            co_return inspect_refused;
        }
        session.joined.push_back(nsp);
        tl.phase("connect", took, true, fmt::format("namespace {} connected", nsp), fmt::format("    < {}\n", data.dump()),
                 {{"answer", data}});
    }

    if (!o.wait_ping) co_return inspect_ok;
    // Heartbeat: v4 servers ping; v3 clients ping and the server answers.
    if (o.eio == 3) {
        const auto start = std::chrono::steady_clock::now();
        const std::string ping_frame = eio::encode_text({eio::packet_type::ping, "", false}, 3);
        co_await conn->write_frame(ping_frame);
        for (int i = 0; i < 16; ++i) {
            auto f = co_await conn->read_frame(dur(o.timeout_ms));
            if (!f.ok) {
                tl.phase("heartbeat", f.elapsed, false, "no pong: " + f.error);
                co_return inspect_path;
            }
            auto p = eio::decode_text(f.data, 3);
            if (p && p->type == eio::packet_type::pong) {
                tl.phase("heartbeat", ms(std::chrono::steady_clock::now() - start), true, "ping → pong (v3: the client pings)");
                co_return inspect_ok;
            }
        }
        co_return inspect_ok;
    }
    // The first ping comes pingInterval after the open: up to 25 s with the default, so say so.
    if (!o.json) {
        const auto waited = std::chrono::duration_cast<dur>(std::chrono::steady_clock::now() - session_start);
        const auto left = std::max<long long>(0, static_cast<long long>(hs->ping_interval_ms) - waited.count());
        err << fmt::format("sio-inspect: waiting for the server's first ping, due in about {} ms (pingInterval {} ms; "
                           "--no-ping skips this)…\n",
                           left, hs->ping_interval_ms);
        err.flush();
    }
    const auto wait = dur(hs->ping_interval_ms + std::min<std::uint64_t>(hs->ping_timeout_ms, 5000));
    for (int i = 0; i < 64; ++i) {
        auto f = co_await conn->read_frame(wait);
        if (!f.ok) {
            tl.phase("heartbeat", std::nullopt, false,
                     fmt::format("no ping within pingInterval ({} ms) and then some: {}", hs->ping_interval_ms, f.error));
            co_return inspect_path;
        }
        auto p = eio::decode_text(f.data, o.eio);
        if (p && p->type == eio::packet_type::ping) {
            const std::string pong_frame = eio::encode_text({eio::packet_type::pong, "", false}, o.eio);
            co_await conn->write_frame(pong_frame);
            const ms since_open = std::chrono::steady_clock::now() - session_start;
            tl.phase("heartbeat", since_open, true,
                     fmt::format("first ping {:.0f} ms after the open (pingInterval {} ms); pong sent", since_open.count(),
                                 hs->ping_interval_ms));
            co_return inspect_ok;
        }
    }
    co_return inspect_ok;
}

// Leaves as a client does, so that the server does not keep a ghost of the session until its
// ping timeout: DISCONNECT for the namespaces joined, then the Engine.IO close. A failure here
// does not change the verdict; it is reported on `err`.
asio::awaitable<void> end_session(const net_options& o, const target& t, open_session& session, std::ostream& err) {
    if (session.sid.empty()) co_return;
    std::string error;
    if (session.on_websocket && session.ws && session.ws->is_websocket()) {
        error = co_await end_websocket_session(*session.ws, o, session.joined);
    } else {
        // A WebSocket that did not take the session over (a failed probe) is closed first.
        const dur timeout{o.timeout_ms};
        if (session.ws && session.ws->is_websocket()) {
            const std::string ws_error = co_await session.ws->close_websocket(timeout);
            if (!ws_error.empty()) err << "sio-inspect: could not close the WebSocket: " << neutralize(ws_error) << "\n";
        }
        error = co_await end_polling_session(session.polling.get(), o, t, session.sid, session.joined);
    }
    if (!error.empty()) err << "sio-inspect: could not end the session " << neutralize(session.sid) << ": " << neutralize(error) << "\n";
}

asio::awaitable<int> handshake_flow(net_options o, target t, std::ostream& out, std::ostream& err) {
    open_session session;
    const int code = co_await handshake_steps(o, t, out, err, session);
    co_await end_session(o, t, session, err);
    co_return code;
}

}  // namespace

int run_handshake(const net_options& options, std::ostream& out, std::ostream& err) {
    if (options.transport != "polling" && options.transport != "websocket" && options.transport != "upgrade") {
        err << "sio-inspect: --transport '" << options.transport << "': use polling, websocket or upgrade\n";
        return inspect_usage;
    }
    if (options.parser == sp::wire_parser::msgpack && options.eio == 3) {
        err << "sio-inspect: --parser msgpack needs Engine.IO v4 (socket.io-msgpack-parser is for socket.io 3+)\n";
        return inspect_usage;
    }
    return run_flow(options, err, [&out, &err](net_options o, target t) {
        return handshake_flow(std::move(o), std::move(t), out, err);
    });
}

}  // namespace sio::inspect
