#include "probe.hpp"

#include "common/net_options.hpp"

#include <sio/transport/client_connect.hpp>
#include <sio/transport/ws_handshake.hpp>
#include <sio/version.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include <fmt/core.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <deque>

namespace sio::inspect {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ws = codec::ws;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto tok = asio::as_tuple(asio::use_awaitable);
using clock_type = std::chrono::steady_clock;

ms since(clock_type::time_point t) { return clock_type::now() - t; }

std::string name_text(const X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

std::string time_text(const ASN1_TIME* t) {
    BIO* bio = BIO_new(BIO_s_mem());
    ASN1_TIME_print(bio, t);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

certificate_info describe(X509* cert) {
    certificate_info c;
    c.subject = name_text(X509_get_subject_name(cert));
    c.issuer = name_text(X509_get_issuer_name(cert));
    c.not_before = time_text(X509_get0_notBefore(cert));
    c.not_after = time_text(X509_get0_notAfter(cert));
    c.expired = X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
    c.not_yet_valid = X509_cmp_current_time(X509_get0_notBefore(cert)) > 0;
    c.self_signed = X509_check_issued(cert, cert) == X509_V_OK;
    return c;
}

bool is_ip(const std::string& host) {
    error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

// The upgrade request as it goes out, read back into fields so that it is shown as sent. A
// request line that does not parse (a --query with a space) goes out all the same, for the
// server to judge; it is then shown by its target alone.
http::request<http::empty_body> parse_request_head(const std::string& head, const std::string& target_path) {
    http::request_parser<http::empty_body> parser;
    error_code ec;
    parser.put(asio::buffer(head), ec);
    if (ec || !parser.is_header_done()) return http::request<http::empty_body>{http::verb::get, target_path, 11};
    return parser.release();
}

// How a WebSocket ended, for a read or write that finds it so.
std::string ended_text(const transport::ws_end& end) {
    using kind = transport::ws_end::kind;
    if (end.how == kind::peer_closed && end.code != ws::close_code::abnormal) {
        if (end.code == ws::close_code::no_status) return "the server closed the WebSocket";
        return fmt::format("the server closed the WebSocket (code {}{}{})", end.code, end.reason.empty() ? "" : ", ",
                           end.reason);
    }
    if (end.how == kind::failed && end.code != ws::close_code::abnormal)
        return fmt::format("the server broke the WebSocket protocol: {} (closed with code {})", end.reason, end.code);
    if (end.how == kind::closed) return "the WebSocket is closed";
    return end.reason;  // the connection ended without a close frame, or a read or write failed
}

}  // namespace

// What the WebSocket delivers, kept until read_frame takes it. The stream calls it on the
// io_context's one thread, between the probe's own steps; any news cancels `wake`, which the
// waiting read_frame or write_frame sleeps on.
struct probe_connection::ws_inbox final : transport::ws_owner {
    explicit ws_inbox(asio::any_io_executor ex) : wake(std::move(ex)) {}

    void on_ws_message(std::string_view data, bool binary) override {
        frames.push_back(frame{true, {}, std::string{data}, binary, ms{0}});
        wake.cancel();
    }
    void on_ws_writable() override { wake.cancel(); }
    void on_ws_end(const transport::ws_end& e) override {
        end = e;
        wake.cancel();
    }

    std::deque<frame> frames;
    std::optional<transport::ws_end> end;
    asio::steady_timer wake;
};

std::vector<std::string> subprotocol_list(std::string_view value) {
    std::vector<std::string> out;
    while (!value.empty()) {
        const auto comma = value.find(',');
        auto item = value.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return out;
}

std::optional<target> parse_target(std::string_view what, const std::string& url, std::string& error) {
    transport::url u;
    if (!tools::read_url(what, url, tools::url_role::server, u, error)) return std::nullopt;
    target t;
    t.scheme = u.scheme;
    t.tls = u.secure;
    t.host = u.host;
    t.port = u.port;
    t.host_header = u.default_port() ? (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) : u.authority();
    if (u.path != "/") t.nsp = u.path;
    t.query = u.query;
    return t;
}

probe_connection::probe_connection(target t, std::variant<plain_stream, tls_stream> s)
    : target_(std::move(t)), stream_(std::move(s)) {}

probe_connection::~probe_connection() {
    // The stream reads until it is stopped: left open, it would keep the io_context running.
    if (ws_) ws_->abort();
}

beast::tcp_stream& probe_connection::lowest() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); }, stream_);
}

asio::awaitable<std::unique_ptr<probe_connection>> probe_connection::open(const target& t, const tls_settings& s,
                                                                          connect_report& report,
                                                                          std::chrono::milliseconds timeout,
                                                                          bool continue_unverified) {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver{ex};
    auto start = clock_type::now();
    auto [rec, results] = co_await resolver.async_resolve(t.host, t.port, tok);
    report.dns = since(start);
    if (rec) {
        report.failed_phase = "dns";
        report.error = fmt::format("cannot resolve {}: {}", t.host, rec.message());
        co_return nullptr;
    }
    for (const auto& r : results) report.addresses.push_back(r.endpoint().address().to_string());

    beast::tcp_stream tcp_stream{ex};
    tcp_stream.expires_after(timeout);
    start = clock_type::now();
    auto [cec, ep] = co_await tcp_stream.async_connect(results, tok);
    report.tcp = since(start);
    if (cec) {
        report.failed_phase = "tcp";
        report.error = cec == beast::error::timeout
                           ? fmt::format("no answer from {}:{} within {} ms (a firewall dropping packets?)", t.host,
                                         t.port, timeout.count())
                           : fmt::format("cannot connect to {}:{}: {}", t.host, t.port, cec.message());
        co_return nullptr;
    }
    report.connected_to = ep.address().to_string();
    error_code ignored;
    tcp_stream.socket().set_option(tcp::no_delay(true), ignored);
    if (!t.tls) {
        report.ok = true;
        co_return std::unique_ptr<probe_connection>(
            new probe_connection(t, std::variant<plain_stream, tls_stream>{std::in_place_type<plain_stream>, std::move(tcp_stream)}));
    }

    // TLS: the handshake itself never fails on verification (the chain is wanted either way);
    // OpenSSL still verifies it, with the host name, and the result decides what happens next.
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_verify_mode(asio::ssl::verify_none);
    error_code vec;
    if (!s.ca_file.empty()) ctx->load_verify_file(s.ca_file, vec);
    else ctx->set_default_verify_paths(vec);
    if (vec) {
        report.failed_phase = "tls";
        report.error = fmt::format("cannot load the CA bundle {}: {}", s.ca_file.empty() ? "(system)" : s.ca_file, vec.message());
        co_return nullptr;
    }
    std::variant<plain_stream, tls_stream> v{std::in_place_type<tls_stream>, std::move(tcp_stream), *ctx};
    auto& ssl = std::get<tls_stream>(v);
    SSL* native = ssl.native_handle();
    if (!is_ip(t.host)) SSL_set_tlsext_host_name(native, t.host.c_str());
    SSL_set1_host(native, t.host.c_str());
    static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(native, alpn, sizeof alpn);
    start = clock_type::now();
    auto [hec] = co_await ssl.async_handshake(asio::ssl::stream_base::client, tok);
    report.tls = since(start);
    if (hec) {
        report.failed_phase = "tls";
        report.error = fmt::format("TLS handshake failed: {}", hec.message());
        co_return nullptr;
    }
    tls_report tr;
    tr.version = SSL_get_version(native);
    tr.cipher = SSL_get_cipher_name(native);
    const unsigned char* selected = nullptr;
    unsigned selected_len = 0;
    SSL_get0_alpn_selected(native, &selected, &selected_len);
    tr.alpn.assign(reinterpret_cast<const char*>(selected), selected_len);
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(native)) {
        for (int i = 0; i < sk_X509_num(chain); ++i) tr.chain.push_back(describe(sk_X509_value(chain, i)));
    }
    if (X509* leaf = SSL_get1_peer_certificate(native)) {
        tr.host_matches = is_ip(t.host) ? X509_check_ip_asc(leaf, t.host.c_str(), 0) == 1
                                         : X509_check_host(leaf, t.host.c_str(), t.host.size(), 0, nullptr) == 1;
        X509_free(leaf);
    }
    const long verify = SSL_get_verify_result(native);
    tr.verified = verify == X509_V_OK;
    if (!tr.verified) tr.verify_error = X509_verify_cert_error_string(verify);
    report.tls_details = tr;
    if (!tr.verified && !s.insecure && !continue_unverified) {
        report.failed_phase = "tls";
        report.error = fmt::format("the server's certificate is not trusted: {}", tr.verify_error);
        co_return nullptr;
    }
    report.ok = true;
    auto conn = std::unique_ptr<probe_connection>(new probe_connection(t, std::move(v)));
    conn->context_ = std::move(ctx);
    co_return conn;
}

asio::awaitable<probe_connection::exchange_result> probe_connection::exchange(http::request<http::string_body> req,
                                                                             std::chrono::milliseconds timeout) {
    exchange_result r;
    req.set(http::field::host, target_.host_header);
    if (req[http::field::user_agent].empty())
        req.set(http::field::user_agent, fmt::format("sio-inspect/{}", sio::version_string));
    req.prepare_payload();
    const auto start = clock_type::now();
    lowest().expires_after(timeout);
    auto [wec, w] = co_await std::visit([&](auto& s) { return http::async_write(s, req, tok); }, stream_);
    (void)w;
    if (wec) {
        r.error = "cannot send the request: " + wec.message();
        co_return r;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    if (req.method() == http::verb::head) parser.skip(true);
    auto [rec, n] = co_await std::visit([&](auto& s) { return http::async_read(s, buffer_, parser, tok); }, stream_);
    (void)n;
    r.elapsed = since(start);
    lowest().expires_never();
    if (rec) {
        r.error = rec == beast::error::timeout ? fmt::format("no answer within {} ms", timeout.count())
                  : rec == http::error::end_of_stream ? "the server closed the connection without answering"
                                                      : "no HTTP answer: " + rec.message();
        co_return r;
    }
    r.response = parser.release();
    r.ok = true;
    co_return r;
}

asio::awaitable<probe_connection::upgrade_result> probe_connection::upgrade(
    const std::string& target_path, const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout) {
    upgrade_result r;
    // Ours first: a -H User-Agent given replaces it (of two of one name, the later is sent).
    std::vector<std::pair<std::string, std::string>> extra;
    extra.emplace_back("User-Agent", fmt::format("sio-inspect/{}", sio::version_string));
    std::vector<std::string> offered;
    for (const auto& h : headers) {
        if (beast::iequals(h.first, "Sec-WebSocket-Protocol")) offered = subprotocol_list(h.second);
        extra.push_back(h);
    }
    auto request = transport::make_ws_upgrade_request(target_.host_header, target_path, extra, offered);
    r.request = parse_request_head(request.head, target_path);
    r.expected_accept = transport::ws_accept_key(request.key);

    auto ex = co_await asio::this_coro::executor;
    transport::ws_stream_options options;
    options.limits.max_message = 64u << 20;
    lowest().expires_after(timeout);  // the handshake's deadline
    auto stream = std::make_unique<transport::any_stream>(std::move(stream_));
    const auto start = clock_type::now();
    auto h = co_await transport::ws_client_handshake(std::move(stream), std::move(request), offered, ex, options);
    r.elapsed = since(start);
    r.response = std::move(h.response);
    r.accept_matches = r.response[http::field::sec_websocket_accept] == r.expected_accept;
    if (h.error != transport::failure::none) {
        r.error = r.response.result_int() != 0 && r.response.result() != http::status::switching_protocols
                      ? fmt::format("the server answered HTTP {} instead of 101", r.response.result_int())
                      : h.message;
        co_return r;
    }
    inbox_ = std::make_shared<ws_inbox>(ex);
    ws_ = std::move(h.ws);
    ws_->start(inbox_, std::move(h.pending));
    r.ok = true;
    co_return r;
}

asio::awaitable<probe_connection::frame> probe_connection::read_frame(std::chrono::milliseconds timeout) {
    frame f;
    if (!ws_) {
        f.error = "not a WebSocket";
        co_return f;
    }
    const auto start = clock_type::now();
    const auto deadline = start + timeout;
    for (;;) {
        if (!inbox_->frames.empty()) {
            f = std::move(inbox_->frames.front());
            inbox_->frames.pop_front();
            f.elapsed = since(start);
            co_return f;
        }
        if (inbox_->end) {
            f.error = ended_text(*inbox_->end);
            break;
        }
        if (clock_type::now() >= deadline) {
            f.error = fmt::format("nothing within {} ms", timeout.count());
            break;
        }
        inbox_->wake.expires_at(deadline);
        co_await inbox_->wake.async_wait(tok);  // woken early by news from the stream
    }
    f.elapsed = since(start);
    co_return f;
}

asio::awaitable<std::string> probe_connection::write_frame(const std::string& data, bool binary) {
    if (!ws_) co_return "not a WebSocket";
    if (!ws_->send(binary, {}, std::make_shared<const std::string>(data)))
        co_return inbox_->end ? ended_text(*inbox_->end) : "the WebSocket is closing";
    // Written once the outbox is empty (on_ws_writable says so), or never when the stream ends.
    while (ws_->queued_bytes() != 0 && !inbox_->end) {
        inbox_->wake.expires_after(std::chrono::hours(24));
        co_await inbox_->wake.async_wait(tok);
    }
    co_return inbox_->end ? ended_text(*inbox_->end) : std::string{};
}

asio::awaitable<std::string> probe_connection::close_websocket(std::chrono::milliseconds timeout) {
    if (!ws_) co_return "not a WebSocket";
    if (!inbox_->end) ws_->close(ws::close_code::normal);
    const auto deadline = clock_type::now() + timeout;
    while (!inbox_->end && clock_type::now() < deadline) {
        inbox_->wake.expires_at(deadline);
        co_await inbox_->wake.async_wait(tok);  // woken by the end of the stream
    }
    if (!inbox_->end) co_return fmt::format("the server did not answer the close frame within {} ms", timeout.count());
    const auto& end = *inbox_->end;
    // Our close answered by the server's (closed), or the server's close frame crossing ours.
    if (end.how == transport::ws_end::kind::closed || end.how == transport::ws_end::kind::peer_closed) co_return std::string{};
    co_return ended_text(end);
}

}  // namespace sio::inspect
