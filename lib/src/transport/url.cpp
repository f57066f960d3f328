// Absolute http(s)/ws(s) URLs: the clients' and the tools' one reader.
#include "sio/transport/url.hpp"

#include "sio/codec/percent.hpp"

#include <algorithm>
#include <cctype>

namespace sio::transport {

std::string url::authority() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + port;
}

bool url::default_port() const { return port == (secure ? "443" : "80"); }

std::optional<url> parse_url(std::string_view text, std::string& error) {
    url u;
    const auto colon = text.find("://");
    if (colon == std::string_view::npos) {
        error = "not an absolute URL (expected http://, https://, ws:// or wss://)";
        return std::nullopt;
    }
    for (char c : text.substr(0, colon)) u.scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (u.scheme == "http" || u.scheme == "ws") {
        u.secure = false;
    } else if (u.scheme == "https" || u.scheme == "wss") {
        u.secure = true;
    } else {
        error = "unsupported URL scheme '" + u.scheme + "' (expected http, https, ws or wss)";
        return std::nullopt;
    }
    std::string_view rest = text.substr(colon + 3);
    if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
    const auto auth_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, auth_end);
    std::string_view tail = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const auto info = authority.substr(0, at);
        const auto sep = info.find(':');
        u.user = codec::percent_decode(info.substr(0, sep));
        if (sep != std::string_view::npos) u.password = codec::percent_decode(info.substr(sep + 1));
        authority = authority.substr(at + 1);
    }
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            error = "unterminated IPv6 address (expected [ADDRESS]:PORT)";
            return std::nullopt;
        }
        u.host = std::string{authority.substr(1, close - 1)};
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                error = "unexpected text after the IPv6 address (expected [ADDRESS]:PORT)";
                return std::nullopt;
            }
            port = after.substr(1);
        }
    } else {
        const auto sep = authority.find(':');
        u.host = std::string{authority.substr(0, sep)};
        if (sep != std::string_view::npos) port = authority.substr(sep + 1);
        if (port.find(':') != std::string_view::npos) {
            error = "an IPv6 address goes in brackets: [::1]:3000";
            return std::nullopt;
        }
    }
    if (u.host.empty()) {
        error = "no host";
        return std::nullopt;
    }
    if (port.empty()) {
        u.port = u.secure ? "443" : "80";
    } else {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoul(std::string{port}) == 0 || std::stoul(std::string{port}) > 65535) {
            error = "invalid port '" + std::string{port} + "' (expected 1 to 65535)";
            return std::nullopt;
        }
        u.port = std::string{port};
    }
    const auto q = tail.find('?');
    u.path = std::string{tail.substr(0, q)};
    if (u.path.empty()) u.path.push_back('/');  // not = "/": GCC 12 warns wrongly (-Wrestrict) on that
    if (q != std::string_view::npos) u.query = std::string{tail.substr(q + 1)};
    return u;
}

std::string url_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

}  // namespace sio::transport
