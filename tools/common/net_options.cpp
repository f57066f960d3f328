#include "common/net_options.hpp"

#include "sio/client.hpp"
#include "sio/codec/http.hpp"
#include "sio/socket_error.hpp"
#include "sio/transport/url.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace sio::tools {

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

bool read_url(std::string_view what, std::string_view text, url_role role, transport::url& out, std::string& error) {
    std::string why;
    const auto sep = text.find("://");
    if (role == url_role::proxy && (sep == std::string_view::npos || lower(text.substr(0, sep)) != "http")) {
        why = "a proxy is an http://[USER:PASSWORD@]HOST:PORT URL";
    } else if (auto u = transport::parse_url(text, why)) {
        if (role == url_role::server && (!u->user.empty() || !u->password.empty()))
            why = "user information (USER:PASSWORD@) is not sent to a server; use -H 'Authorization: ...'";
        else
            out = std::move(*u);
    }
    if (why.empty()) return true;
    error = fmt::format("{} '{}': {}", what, text, why);
    return false;
}

bool read_headers(const std::vector<std::string>& texts, std::vector<std::pair<std::string, std::string>>& out,
                  std::string& error) {
    for (const auto& text : texts) {
        auto parsed = parse_header(text);
        if (!parsed) {
            error = fmt::format("-H '{}': expected 'Name: value'", text);
            return false;
        }
        out.push_back(std::move(*parsed));
    }
    return true;
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
    std::string error;
    const auto parts = transport::parse_url(url, error);
    if (!parts) return {};
    auto get = [&](const char* a, const char* b) -> std::string {
        const char* v = env(a);
        if (v == nullptr || *v == '\0') v = env(b);
        return v != nullptr ? std::string(v) : std::string();
    };
    std::string proxy = parts->secure ? get("https_proxy", "HTTPS_PROXY") : get("http_proxy", "HTTP_PROXY");
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

}  // namespace sio::tools
