#include "common/net_options.hpp"

#include "sio/client.hpp"
#include "sio/codec/http.hpp"
#include "sio/socket_error.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

namespace sio::cli {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> parse_header(std::string_view text) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto name = trim(text.substr(0, colon));
    const auto value = trim(text.substr(colon + 1));
    if (!sio::codec::check_header(name, value).empty()) return std::nullopt;
    return std::pair{std::string(name), std::string(value)};
}

std::optional<std::pair<std::string, std::string>> parse_query(std::string_view text) {
    const auto eq = text.find('=');
    const auto key = text.substr(0, eq);
    if (key.empty()) return std::nullopt;
    return std::pair{std::string(key), eq == std::string_view::npos ? std::string() : std::string(text.substr(eq + 1))};
}

std::optional<url_parts> parse_url(std::string_view url) {
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    url_parts p;
    p.scheme = lower(url.substr(0, sep));
    unsigned short default_port = 0;
    if (p.scheme == "http" || p.scheme == "ws") default_port = 80;
    else if (p.scheme == "https" || p.scheme == "wss") default_port = 443;
    else return std::nullopt;
    auto rest = url.substr(sep + 3);
    const auto path_at = rest.find_first_of("/?#");
    auto authority = rest.substr(0, path_at);
    p.path = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
    if (p.path.empty() || p.path.front() != '/') p.path = "/" + p.path;
    if (auto at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        p.host = std::string(authority.substr(1, close - 1));
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port_text = after.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        p.host = lower(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (p.host.empty()) return std::nullopt;
    p.port = default_port;
    if (!port_text.empty()) {
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || value == 0 || value > 65535) {
            return std::nullopt;
        }
        p.port = static_cast<unsigned short>(value);
    }
    return p;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host_in) {
    const std::string host = lower(host_in);
    std::size_t i = 0;
    while (i < no_proxy.size()) {
        const auto end = no_proxy.find_first_of(", ", i);
        auto entry = no_proxy.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
        i = end == std::string_view::npos ? no_proxy.size() : end + 1;
        entry = trim(entry);
        if (entry.empty()) continue;
        if (entry == "*") return true;
        // Drop a :port unless the entry is a bare IPv6 address.
        if (entry.front() == '[') {
            auto close = entry.find(']');
            entry = entry.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
        } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
            entry = entry.substr(0, entry.find(':'));
        }
        std::string e = lower(entry);
        if (!e.empty() && e.front() == '*') e.erase(0, 1);
        if (!e.empty() && e.front() == '.') e.erase(0, 1);
        if (e.empty()) continue;
        if (host == e) return true;
        if (host.size() > e.size() && host.ends_with(e) && host[host.size() - e.size() - 1] == '.') return true;
    }
    return false;
}

std::string select_proxy(std::string_view url, const std::optional<std::string>& flag,
                         const std::function<const char*(const char*)>& env) {
    if (flag) return *flag == "none" ? std::string() : *flag;
    const auto parts = parse_url(url);
    if (!parts) return {};
    auto get = [&](const char* a, const char* b) -> std::string {
        const char* v = env(a);
        if (v == nullptr || *v == '\0') v = env(b);
        return v != nullptr ? std::string(v) : std::string();
    };
    const bool secure = parts->scheme == "https" || parts->scheme == "wss";
    std::string proxy = secure ? get("https_proxy", "HTTPS_PROXY") : get("http_proxy", "HTTP_PROXY");
    if (proxy.empty()) return {};
    if (no_proxy_matches(get("no_proxy", "NO_PROXY"), parts->host)) return {};
    return proxy;
}

int exit_code_for(const std::error_code& ec) {
    if (!ec) return cli_ok;
    const std::string_view category = ec.category().name();
    if (category == "sio.client") {
        // Compared by value: the category object lives in the network library.
        using e = client_errc;
        switch (static_cast<e>(ec.value())) {
        case e::bad_url: return cli_usage;
        case e::resolve_failed:
        case e::connect_failed:
        case e::timeout:
        case e::proxy_failed:
        case e::handshake_failed: return cli_connect_failed;
        case e::tls_failed: return cli_tls_failed;
        case e::connect_error: return cli_connect_error;
        default: return cli_runtime;  // protocol_error, ping_timeout, transport_closed
        }
    }
    if (category == "sio.socket" && ec.value() == static_cast<int>(socket_errc::ack_timeout)) return cli_ack_timeout;
    return cli_runtime;
}

}  // namespace sio::cli
