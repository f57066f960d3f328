#include "sio-cli/core/options.hpp"

#include "sio-cli/core/command.hpp"
#include "common/duration.hpp"
#include "common/net_options.hpp"
#include "sio/transport/url.hpp"

#include <fmt/core.h>

#include <cstdlib>

namespace po = boost::program_options;

namespace sio::cli {

void add_options(tools::command_line& cmd, cli_options& o) {
    po::options_description conn("Connection options");
    conn.add_options()
        ("transport", po::value(&o.transport)->default_value(o.transport),
         "websocket, polling, or upgrade (polling then WebSocket)")
        ("path", po::value(&o.path)->default_value(o.path), "Engine.IO path on the server")
        ("query", po::value(&o.query)->composing(), "k=v added to the connection's query (repeatable)")
        ("header,H", po::value(&o.headers)->composing(), "'Name: value' HTTP header (repeatable)")
        ("auth", po::value(&o.auth), "JSON object sent as the Socket.IO auth payload")
        ("namespace,n", po::value(&o.nsp), "namespace to connect to (default: the URL's path, else /)")
        ("eio", po::value(&o.eio)->default_value(o.eio), "Engine.IO version: 4, or 3 for socket.io 2.x servers")
        ("parser", po::value(&o.parser)->default_value(o.parser),
         "the server's Socket.IO parser: json (the default one), or msgpack (socket.io-msgpack-parser)")
        ("raw", po::bool_switch(&o.raw), "plain WebSocket, no Socket.IO (implied by a ws:// or wss:// URL)")
        ("subprotocol", po::value(&o.subprotocols)->composing(), "raw mode: WebSocket subprotocol to offer (repeatable)")
        ("ca", po::value(&o.ca), "PEM file of CA certificates to verify the server with")
        ("cert", po::value(&o.cert), "client certificate (PEM), with --key")
        ("key", po::value(&o.key), "private key of --cert (PEM)")
        ("insecure,k", po::bool_switch(&o.insecure), "do not verify the server's TLS certificate")
        ("proxy", po::value<std::string>()->notifier([&o](const std::string& v) { o.proxy = v; }),
         "HTTP CONNECT proxy URL ('none': direct; default: https_proxy/http_proxy, no_proxy)")
        ("connect-timeout", po::value(&o.connect_timeout)->default_value(o.connect_timeout),
         "give up one connection attempt after this long (500ms, 5s, 1m; a bare number is milliseconds)")
        ("no-reconnect", po::bool_switch(&o.no_reconnect), "do not reconnect when the connection drops")
        ("reconnect-attempts", po::value<unsigned>()->notifier([&o](unsigned v) { o.reconnect_attempts = v; }),
         "give up after this many reconnection attempts (default: no limit)")
        ("reconnect-delay", po::value(&o.reconnect_delay)->default_value(o.reconnect_delay),
         "first delay before reconnecting, doubled each attempt (500ms, 5s, 1m; a bare number is milliseconds)")
        ("reconnect-delay-max", po::value(&o.reconnect_delay_max)->default_value(o.reconnect_delay_max),
         "longest delay between reconnection attempts (500ms, 5s, 1m; a bare number is milliseconds)");
    po::options_description script("Scripting options");
    script.add_options()
        ("emit", po::value(&o.emit)->multitoken(),
         "EVENT [ARG...]: emit one event once connected, then exit (an ARG that starts like JSON must be JSON; any "
         "other word is a string)")
        ("ack", po::bool_switch(&o.ack), "with --emit: ask for an ack, print it, exit 6 if none comes in time")
        ("timeout", po::value<std::string>()->notifier([&o](const std::string& v) { o.timeout = v; }),
         "limit for --ack (default 10s), --wait-for and --listen (default none) (500ms, 5s, 1m; a bare number is "
         "milliseconds)")
        ("wait-for", po::value<std::string>()->notifier([&o](const std::string& v) { o.wait_for = v; }),
         "wait for an incoming EVENT (glob), print it and exit; 7 on --timeout")
        ("count", po::value<unsigned>()->notifier([&o](unsigned v) { o.count = v; }),
         "with --wait-for: wait for N such events (default 1)")
        ("listen", po::bool_switch(&o.listen), "print incoming events until --timeout or Ctrl-C");
    po::options_description out("Output options");
    out.add_options()
        ("json", po::bool_switch(&o.json), "one JSON object per line on stdout for everything sent, received and every outcome")
        ("only", po::value(&o.only)->composing(), "show only incoming events matching this glob (repeatable)")
        ("ignore", po::value(&o.ignore)->composing(), "hide incoming events matching this glob (repeatable)")
        ("no-color", po::bool_switch(&o.no_color), "no colours (also when NO_COLOR is set or stdout is not a terminal)")
        ("show-ping", po::bool_switch(&o.show_ping), "show Engine.IO pings and WebSocket ping/pong frames")
        ("history-file", po::value(&o.history_file),
         "REPL history file (default: $XDG_STATE_HOME/sio/cli_history)");
    cmd.visible.add(conn).add(script).add(out);
    cmd.hidden.add_options()("url", po::value(&o.url)->required(), "server URL");
    cmd.positional.add("url", 1);
}

std::string default_history_file() {
    if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state == '/') {
        return std::string(state) + "/sio/cli_history";
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        return std::string(home) + "/.local/state/sio/cli_history";
    }
    return {};
}

std::optional<std::string> make_plan(const cli_options& o, run_plan& plan) {
    std::string error;
    transport::url url;
    if (!tools::read_url("URL", o.url, tools::url_role::server, url, error)) return error;
    plan.raw = o.raw || url.scheme == "ws" || url.scheme == "wss";

    // A bare number is milliseconds, as everywhere else in the tools.
    auto duration = [](const char* flag, const std::string& text, std::chrono::milliseconds& out) {
        return tools::read_duration(flag, text, tools::bare_unit::milliseconds, out);
    };
    std::chrono::milliseconds connect_timeout{};
    if (auto e = duration("connect-timeout", o.connect_timeout, connect_timeout)) return e;
    if (connect_timeout.count() == 0) return "--connect-timeout must be more than 0";
    if (o.timeout) {
        std::chrono::milliseconds t{};
        if (auto e = duration("timeout", *o.timeout, t)) return e;
        if (t.count() == 0) return "--timeout must be more than 0";
        plan.timeout = t;
        plan.ack_timeout = t;
    }

    std::vector<std::pair<std::string, std::string>> headers;
    if (!tools::read_headers(o.headers, headers, error)) return error;
    tls_client_options tls;
    tls.verify = !o.insecure;
    tls.ca_file = o.ca;
    tls.cert_file = o.cert;
    tls.key_file = o.key;
    if (o.cert.empty() != o.key.empty()) return "--cert and --key go together";
    const std::string proxy = tools::select_proxy(o.url, o.proxy, [](const char* n) { return std::getenv(n); });
    if (!proxy.empty()) {
        transport::url p;
        const char* what = o.proxy ? "--proxy" : "environment proxy";  // https_proxy, http_proxy
        if (!tools::read_url(what, proxy, tools::url_role::proxy, p, error))
            return error;
    }

    if (o.ack && o.emit.empty()) return "--ack goes with --emit";
    if (o.count && !o.wait_for) return "--count goes with --wait-for";
    if (o.count && *o.count == 0) return "--count must be at least 1";
    if (o.wait_for && o.wait_for->empty()) return "--wait-for needs an event name";
    if (o.wait_for && o.listen) return "--wait-for and --listen exclude each other";
    if (!o.emit.empty()) plan.emit = o.emit;
    plan.ack = o.ack;
    plan.wait_for = o.wait_for;
    plan.count = o.count.value_or(1);
    plan.listen = o.listen;
    plan.json_output = o.json;
    plan.color = !o.no_color && !o.json && std::getenv("NO_COLOR") == nullptr;
    plan.show_ping = o.show_ping;
    plan.filter = event_filter(o.only, o.ignore);
    plan.history_file = o.history_file.empty() ? default_history_file() : o.history_file;

    if (plan.raw) {
        if (!o.auth.empty() || !o.nsp.empty() || o.eio != 4 || !o.query.empty() || o.transport != "upgrade" ||
            o.parser != "json") {
            return "--auth, --namespace, --eio, --parser, --query and --transport need Socket.IO; not with --raw or a "
                   "ws:// URL";
        }
        if (o.ack) return "--ack needs Socket.IO; not with --raw or a ws:// URL";
        plan.ws.url = o.url;
        plan.ws.headers = headers;
        plan.ws.subprotocols = o.subprotocols;
        plan.ws.tls = tls;
        plan.ws.proxy = proxy;
        plan.ws.connect_timeout = connect_timeout;
        return std::nullopt;
    }
    if (!o.subprotocols.empty()) return "--subprotocol is for raw WebSocket (--raw or a ws:// URL)";

    auto& c = plan.client;
    // The URL's path names the namespace (below), never the Engine.IO path: the library gets
    // scheme, authority and query only.
    const std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    c.url = url.scheme + "://" + (url.default_port() ? host : url.authority());
    if (!url.query.empty()) c.url += "/?" + url.query;
    if (o.path.empty() || o.path.front() != '/') return fmt::format("--path '{}' must start with '/'", o.path);
    c.path = o.path;
    for (const auto& q : o.query) {
        auto parsed = tools::parse_query(q);
        if (!parsed) return fmt::format("--query '{}': expected KEY=VALUE", q);
        c.query.push_back(std::move(*parsed));
    }
    c.headers = headers;
    if (o.transport == "websocket") c.transport = client_transport::websocket;
    else if (o.transport == "polling") c.transport = client_transport::polling;
    else if (o.transport == "upgrade") c.transport = client_transport::upgrade;
    else return fmt::format("--transport '{}': use websocket, polling or upgrade", o.transport);
    if (o.eio != 3 && o.eio != 4) return fmt::format("--eio {}: use 4, or 3 for socket.io 2.x servers", o.eio);
    c.eio_version = o.eio;
    if (o.eio == 3) c.decoder.version = codec::socketio::protocol::v4;
    if (o.parser == "msgpack") {
        if (o.eio == 3) return "--parser msgpack needs Socket.IO v5 (socket.io 3.x/4.x); not with --eio 3";
        c.parser = client_parser::msgpack;
    } else if (o.parser != "json") {
        return fmt::format("--parser '{}': use json or msgpack", o.parser);
    }
    c.tls = tls;
    c.proxy = proxy;
    c.connect_timeout = connect_timeout;
    c.reconnection.enabled = !o.no_reconnect;
    if (o.reconnect_attempts) {
        if (o.no_reconnect) return "--reconnect-attempts and --no-reconnect exclude each other";
        c.reconnection.max_attempts = *o.reconnect_attempts;
        plan.explicit_attempts = true;
    }
    if (auto e = duration("reconnect-delay", o.reconnect_delay, c.reconnection.delay)) return e;
    if (auto e = duration("reconnect-delay-max", o.reconnect_delay_max, c.reconnection.delay_max)) return e;
    if (c.reconnection.delay > c.reconnection.delay_max) return "--reconnect-delay is longer than --reconnect-delay-max";
    c.ack_timeout = plan.ack_timeout;

    if (!o.auth.empty()) {
        auto a = json::parse(o.auth, nullptr, false);
        if (a.is_discarded() || !a.is_object()) return fmt::format("--auth '{}' is not a JSON object", o.auth);
        if (o.eio == 3) return "--auth needs Socket.IO v5 (socket.io 3.x/4.x); with --eio 3 use --query";
        plan.auth = std::move(a);
    }
    // The namespace: -n, else the URL's path (as io("http://h/admin") does), else "/".
    std::string nsp = o.nsp;
    if (nsp.empty() && url.path.size() > 1) nsp = url.path;
    if (nsp.empty()) nsp = "/";
    if (nsp.front() != '/') nsp = "/" + nsp;
    if (nsp.find(',') != std::string::npos) return fmt::format("namespace '{}' cannot contain ','", nsp);
    plan.nsp = nsp;
    if (plan.emit) {
        const auto& event = plan.emit->front();
        if (codec::socketio::is_reserved_event_name(event)) return fmt::format("--emit: '{}' is a reserved event name", event);
        for (std::size_t i = 1; i < plan.emit->size(); ++i) {
            if (!parse_arg((*plan.emit)[i], error)) return fmt::format("--emit: argument {}: {}", i, error);
        }
    }
    return std::nullopt;
}

}  // namespace sio::cli
