// Absolute http(s)/ws(s) URLs, as the clients (and the tools, through them) read them. No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sio::transport {

struct url {
    std::string scheme;  // "http", "https", "ws" or "wss" (lower case)
    bool secure = false; // https or wss
    std::string host;    // without the brackets of an IPv6 literal
    std::string port;    // always set: from the URL, else 80 / 443
    std::string path;    // "/" when absent
    std::string query;   // without the '?', still percent-encoded
    std::string user;    // user info, percent-decoded (proxies)
    std::string password;

    // "host:port", with brackets around an IPv6 literal: the Host header and the CONNECT target.
    std::string authority() const;
    bool default_port() const;
};

// Parses an absolute http(s)/ws(s) URL: the one URL grammar of the clients and the tools.
// Fragments are dropped; an IPv6 host is written in brackets ([::1]:3000). Empty result and
// `error` set (a reason, without the URL: callers say which URL) when the scheme is another one,
// the host is missing, an IPv6 address has no brackets, or the port is not a number 1-65535.
std::optional<url> parse_url(std::string_view text, std::string& error);

// application/x-www-form-urlencoded style escaping of a query key or value.
std::string url_encode(std::string_view);

}  // namespace sio::transport
