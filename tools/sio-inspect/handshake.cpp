#include "handshake.hpp"

#include "engine_steps.hpp"
#include "traffic.hpp"

#include "common/terminal.hpp"

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
    for (const auto& h : o.headers) {
        const auto colon = h.find(':');
        if (colon == std::string::npos) continue;
        std::string value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        out.emplace_back(h.substr(0, colon), value);
    }
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

std::string sio_connect_text(const net_options& o, const std::string& nsp, std::string& why) {
    sp::packet p{sp::packet_type::connect, nsp, std::nullopt, std::nullopt};
    if (!o.auth.empty()) {
        if (o.eio == 3) {
            why = "--auth needs Socket.IO v5 (socket.io 3+): v4 servers take credentials in the query (--query)";
            return {};
        }
        auto parsed = json::parse(o.auth, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object()) {
            why = "--auth must be a JSON object, e.g. '{\"token\":\"abc\"}'";
            return {};
        }
        p.data = std::move(parsed);
    }
    return sp::encode(p, o.eio == 3 ? sp::protocol::v4 : sp::protocol::v5).text;
}

// The Socket.IO answer to CONNECT among `packets`: true when found (`ok` tells which).
bool connect_answer(const net_options& o, const std::string& nsp, const std::vector<eio::packet>& packets, bool& ok,
                    json& data) {
    for (const auto& p : packets) {
        if (p.type != eio::packet_type::message || p.binary) continue;
        auto sp_packet = sp::decode_text(p.data, {o.eio == 3 ? sp::protocol::v4 : sp::protocol::v5});
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

std::string connect_error_message(const json& data) {
    if (data.is_object() && data.contains("message") && data["message"].is_string()) return data["message"].get<std::string>();
    if (data.is_string()) return data.get<std::string>();
    return data.dump();
}

int run_flow(const net_options& options, std::ostream& err,
             const std::function<asio::awaitable<int>(net_options, target)>& flow) {
    std::string why;
    auto t = parse_target(options.url, why);
    if (!t) {
        err << "sio-inspect: URL '" << options.url << "': " << why << "\n";
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

asio::awaitable<int> handshake_flow(net_options o, target t, std::ostream& out) {
    timeline tl{o, out};
    int code = inspect_ok;
    const std::string nsp = o.nsp.empty() ? t.nsp : (o.nsp.front() == '/' ? o.nsp : "/" + o.nsp);
    std::string why;
    const std::string connect_text = sio_connect_text(o, nsp, why);
    if (connect_text.empty()) {
        tl.phase("options", std::nullopt, false, why);
        co_return inspect_usage;
    }
    std::optional<eio::handshake> hs;
    std::unique_ptr<probe_connection> ws;  // the WebSocket, once open
    auto session_start = std::chrono::steady_clock::now();  // reset when the open packet arrives

    if (o.transport != "websocket") {
        auto conn = co_await connect_phases(o, t, tl, code, false);
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
            post.body() = encode_body(o, {eio::packet{eio::packet_type::message, connect_text, false}});
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
                co_return inspect_refused;
            }
            auto more = decode_body(o, gr.response.body(), why);
            if (more) answer_packets = std::move(*more);
        }
        if (!ok) {
            if (data.is_null() && answer_packets.empty()) {
                tl.phase("connect", connect_took, false, fmt::format("no answer to CONNECT {}", nsp));
                co_return inspect_refused;
            }
            tl.phase("connect", connect_took, false,
                     fmt::format("CONNECT {} refused: {}", nsp, connect_error_message(data)),
                     fmt::format("    > {}\n    < CONNECT_ERROR {}\n", connect_text, data.dump()), {{"connect_error", data}});
            co_return inspect_refused;
        }
        tl.phase("connect", connect_took, true,
                 fmt::format("namespace {} connected{}", nsp,
                             data.is_object() && data.contains("sid") && data["sid"].is_string()
                                 ? ", socket id " + data["sid"].get<std::string>()
                                 : ""),
                 fmt::format("    > {}\n    < {}\n", connect_text, data.dump()), {{"answer", data}});
        if (o.transport == "polling") co_return inspect_ok;
        if (std::find(hs->upgrades.begin(), hs->upgrades.end(), "websocket") == hs->upgrades.end()) {
            tl.phase("upgrade", std::nullopt, true, "the server offers no WebSocket upgrade: the session stays on polling");
            co_return inspect_ok;
        }
    }

    // WebSocket: a new connection, then the upgrade (with the sid after polling).
    auto conn = co_await connect_phases(o, t, tl, code, o.transport != "websocket");
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
        session_start = std::chrono::steady_clock::now();
        tl.phase("open", f.elapsed, true, fmt::format("Engine.IO v{} session {} over WebSocket", o.eio, hs->sid),
                 open_text(*hs), {{"handshake", open_json(*hs)}});
        const bool implicit = o.eio == 3 && nsp == "/";
        ms took{0};
        const std::string connect_frame = eio::encode_text({eio::packet_type::message, connect_text, false}, o.eio);
        if (!implicit) co_await conn->write_frame(connect_frame);
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
            if (auto q = eio::decode_text(g.data, o.eio)) got = {*q};
        }
        if (!ok) {
            tl.phase("connect", took, false, fmt::format("CONNECT {} refused: {}", nsp, connect_error_message(data)), {},
                     {{"connect_error", data}});
            co_return inspect_refused;
        }
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

}  // namespace

int run_handshake(const net_options& options, std::ostream& out, std::ostream& err) {
    if (options.transport != "polling" && options.transport != "websocket" && options.transport != "upgrade") {
        err << "sio-inspect: --transport '" << options.transport << "': use polling, websocket or upgrade\n";
        return inspect_usage;
    }
    return run_flow(options, err, [&out](net_options o, target t) { return handshake_flow(std::move(o), std::move(t), out); });
}

}  // namespace sio::inspect
