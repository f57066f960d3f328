// Command-line values that shape a client connection, shared by sio-cli and sio-bench: headers,
// query pairs, the proxy chosen from --proxy and the environment, and the exit code each kind of
// failure maps to (sio-cli's codes, named in its namespace).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace sio::cli {

// Exit codes of sio-cli (stable; listed in sio-cli(1)).
enum cli_exit : int {
    cli_ok = 0,
    cli_runtime = 1,
    cli_usage = 2,
    cli_connect_failed = 3,  // refused, DNS, timeout, proxy, Engine.IO handshake refused
    cli_tls_failed = 4,
    cli_connect_error = 5,   // CONNECT_ERROR: auth refused or invalid namespace
    cli_ack_timeout = 6,
    cli_wait_timeout = 7,
};

// "Name: value" (blanks around the value trimmed). nullopt when there is no ':' or the name is
// empty or holds characters a header name cannot.
std::optional<std::pair<std::string, std::string>> parse_header(std::string_view text);

// "key=value" (value may be empty, "key" alone means an empty value). nullopt for an empty key.
std::optional<std::pair<std::string, std::string>> parse_query(std::string_view text);

struct url_parts {
    std::string scheme;  // lower case
    std::string host;    // without brackets for IPv6
    unsigned short port = 0;
    std::string path;    // "/" at least
};
// Splits http(s)/ws(s) URLs; nullopt when not one of those or no host.
std::optional<url_parts> parse_url(std::string_view url);

// Whether `host` is excluded from proxying by a no_proxy list ("*", "example.com",
// ".example.com", "10.0.0.1", entries comma or blank separated, optional :port ignored).
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

// The proxy to use for `url`: --proxy when given (the string "none" or "" means direct), else
// https_proxy/HTTPS_PROXY for https/wss, http_proxy/HTTP_PROXY for http/ws, unless no_proxy
// (NO_PROXY) names the host. `env` looks a variable up (nullptr when unset).
std::string select_proxy(std::string_view url, const std::optional<std::string>& flag,
                         const std::function<const char*(const char*)>& env);

// The exit code for a failure: client_errc codes (category "sio.client") by kind, the
// Socket.IO ack timeout (category "sio.socket") as 6, anything else 1.
int exit_code_for(const std::error_code& ec);

}  // namespace sio::cli
