// Command-line values that shape a client connection, shared by the client tools (sio-cli,
// sio-bench, sio-inspect): the URL, headers, query pairs, the proxy chosen from --proxy and the
// environment, and the exit code each kind of failure maps to.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace sio::transport {
struct url;
}

namespace sio::tools {

// Exit codes of the client tools (stable; listed in sio-cli(1); sio-bench uses 3 and 4 alike).
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

// "Name: value" (blanks around the value trimmed): the one header reader of the tools. nullopt
// when there is no ':', the name is empty or holds characters a header name cannot, or the value
// holds CR, LF or NUL.
std::optional<std::pair<std::string, std::string>> parse_header(std::string_view text);

// "key=value" (value may be empty, "key" alone means an empty value). nullopt for an empty key.
std::optional<std::pair<std::string, std::string>> parse_query(std::string_view text);

// Which URL a flag names: a server's (no user information: credentials go in a header, -H) or
// an HTTP CONNECT proxy's (http:// only; user:password@ allowed, sent as Proxy-Authorization).
enum class url_role { server, proxy };

// The one URL reader of the tools: the clients' own (transport::parse_url: http, https, ws, wss;
// a host; [IPv6]; a port 1-65535), and the role's rule. False with `error` set to
// "WHAT 'TEXT': REASON" (WHAT says which: "URL", "--proxy", "--upstream").
bool read_url(std::string_view what, std::string_view text, url_role role, transport::url& out, std::string& error);

// -H 'Name: value' values, in order: false with `error` set to "-H 'TEXT': expected 'Name: value'"
// on the first that parse_header refuses.
bool read_headers(const std::vector<std::string>& texts, std::vector<std::pair<std::string, std::string>>& out,
                  std::string& error);

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

}  // namespace sio::tools
