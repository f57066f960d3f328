// sio-inspect: handshake inspector, traffic decoder, decoding proxy and doctor.
#include "common/cli.hpp"
#include "common/duration.hpp"
#include "common/net_options.hpp"
#include "sio/transport/url.hpp"
#include "decode.hpp"
#include "handshake.hpp"
#include "proxy.hpp"
#include "replay.hpp"
#include "watch.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <unistd.h>
#include <string>
#include <vector>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{"sio-inspect",
                         "handshake inspector, traffic decoder, decoding proxy and doctor",
                         "sio-inspect [options] COMMAND [ARGS...]",
                         "Commands:\n"
                         "  decode [PACKET | -]  explain a raw Engine.IO/Socket.IO packet or polling\n"
                         "                       payload (\\x1e separates packets; - reads stdin)\n"
                         "  proxy --upstream URL [--listen HOST:PORT]\n"
                         "                       a decoding man-in-the-middle: point clients at it, see\n"
                         "                       every packet both ways decoded (--record FILE: NDJSON)\n"
                         "  handshake URL        connect step by step and show every phase with its\n"
                         "                       timing: DNS, TCP, TLS, Engine.IO open, CONNECT, WebSocket\n"
                         "                       upgrade, probe, first ping\n"
                         "  doctor URL           run the checks of the Socket.IO troubleshooting guide:\n"
                         "                       say what is wrong, what it means and how to fix it\n"
                         "  watch URL            connect as a client and print every packet both ways,\n"
                         "                       decoded, with ack round trips and heartbeat health\n"
                         "  replay FILE URL      play the client side of a proxy --record recording\n"
                         "                       against a server and report what differs\n"};

struct inspect_options {
    std::string command;
    std::vector<std::string> args;
    sio::inspect::decode_options decode;
    sio::inspect::proxy_options proxy;
    sio::inspect::net_options net;
    bool no_color = false;
    bool no_ping = false;
    sio::inspect::watch_options watch;
    bool no_reconnect = false;
    bool exact = false;
    std::string parser = "json";  // --parser: json or msgpack (socket.io-msgpack-parser)
};

// --parser, checked against the command: replay sends what the recording holds, as recorded.
int apply_parser(inspect_options& options) {
    if (options.parser != "json" && options.parser != "msgpack")
        return usage_error(info, fmt::format("--parser '{}': use json or msgpack", options.parser));
    const bool msgpack = options.parser == "msgpack";
    if (msgpack && options.command == "replay")
        return usage_error(info, "--parser does not apply to replay (the recording holds the packets as they were sent)");
    if (msgpack && options.decode.eio == 3)
        return usage_error(info, "--parser msgpack needs Engine.IO v4 (socket.io-msgpack-parser is for socket.io 3+)");
    if (msgpack && !options.decode.socket_io)
        return usage_error(info, "--parser msgpack decodes Socket.IO packets: it does not go with --engine-only");
    options.decode.msgpack = msgpack;
    options.proxy.traffic.msgpack = msgpack;
    options.net.parser = msgpack ? sio::codec::socketio::wire_parser::msgpack : sio::codec::socketio::wire_parser::json;
    return 0;
}

int run_replay_command(inspect_options& options) {
    if (options.args.size() != 2) return usage_error(info, "replay takes a recording FILE and a server URL");
    sio::inspect::replay_options r;
    r.file = options.args[0];
    r.url = options.args[1];
    r.path = options.proxy.path;
    r.eio = options.decode.eio;
    r.timeout_ms = options.net.timeout_ms;
    r.exact = options.exact;
    r.ca_file = options.proxy.ca_file;
    r.insecure = options.proxy.insecure;
    if (r.timeout_ms == 0) return usage_error(info, "--timeout must be positive");
    return sio::inspect::run_replay(r, std::cout, std::cerr);
}

int run_net_command(inspect_options& options, bool doctor) {
    if (options.args.size() != 1) return usage_error(info, fmt::format("{} takes one URL", options.command));
    auto& n = options.net;
    n.url = options.args[0];
    n.eio = options.decode.eio;
    n.json = options.decode.json;
    n.color = !options.no_color && !n.json && isatty(STDOUT_FILENO) == 1;
    n.path = options.proxy.path;
    n.tls.ca_file = options.proxy.ca_file;
    n.tls.insecure = options.proxy.insecure;
    n.wait_ping = !options.no_ping;
    // The URL and the headers as every tool reads them (common/net_options.hpp).
    std::string error;
    sio::transport::url url;
    if (!sio::tools::read_url("URL", n.url, sio::tools::url_role::server, url, error)) return usage_error(info, error);
    std::vector<std::pair<std::string, std::string>> headers;
    if (!sio::tools::read_headers(n.headers, headers, error)) return usage_error(info, error);
    for (const auto& q : n.query) {
        if (q.find('=') == std::string::npos || q.front() == '=') return usage_error(info, fmt::format("--query '{}': use key=value", q));
    }
    if (n.timeout_ms == 0) return usage_error(info, "--timeout must be positive");
    if (options.command == "watch") {
        options.watch.net = n;
        options.watch.reconnect = !options.no_reconnect;
        options.watch.duration = options.proxy.duration;
        return sio::inspect::run_watch(options.watch, std::cout, std::cerr);
    }
    return doctor ? sio::inspect::run_doctor(n, std::cout, std::cerr) : sio::inspect::run_handshake(n, std::cout, std::cerr);
}

int run_proxy_command(inspect_options& options) {
    if (!options.args.empty()) return usage_error(info, "proxy takes no arguments (use --upstream URL)");
    if (options.proxy.upstream.empty()) return usage_error(info, "proxy needs --upstream URL (the real server)");
    options.proxy.traffic.json = options.decode.json;
    options.proxy.traffic.eio = options.decode.eio;
    options.proxy.traffic.color = !options.no_color && !options.decode.json && isatty(STDOUT_FILENO) == 1;
    return sio::inspect::run_proxy(options.proxy, std::cout, std::cerr);
}

int run_decode_command(inspect_options& options) {
    if (options.args.size() > 1) {
        return usage_error(info, "decode takes one PACKET argument (quote it), or - to read stdin");
    }
    if (options.args.empty() || options.args[0] == "-") {
        options.decode.input.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
        options.decode.input = sio::inspect::unescape_input(options.args[0]);
    }
    return sio::inspect::run_decode(options.decode, std::cout, std::cerr);
}

int run_inspect(inspect_options& options) {
    if (const int code = apply_parser(options); code != 0) return code;
    if (options.command == "decode") return run_decode_command(options);
    if (options.command == "proxy") return run_proxy_command(options);
    if (options.command == "handshake") return run_net_command(options, false);
    if (options.command == "doctor") return run_net_command(options, true);
    if (options.command == "watch") return run_net_command(options, false);
    if (options.command == "replay") return run_replay_command(options);
    return usage_error(info, fmt::format("unknown command '{}' (commands: decode, handshake, "
                                         "watch, proxy, replay, doctor)",
                                         options.command));
}

}  // namespace

int main(int argc, char* argv[]) {
    inspect_options options;
    command_line cmd{standard_options(), {}, {}};
    po::options_description decode("decode options (sio-inspect decode [PACKET | -])");
    decode.add_options()
        ("eio", po::value(&options.decode.eio)->default_value(4)->notifier([](int v) {
            if (v != 3 && v != 4) throw po::validation_error(po::validation_error::invalid_option_value, "eio", std::to_string(v));
        }), "Engine.IO revision of the input: 4, or 3 for socket.io 2.x (length-prefixed payloads)")
        ("json", po::bool_switch(&options.decode.json), "one JSON object per packet")
        ("engine-only", "do not decode message data as Socket.IO")
        ("parser", po::value(&options.parser)->default_value(options.parser),
         "the Socket.IO parser spoken: json (the default one) or msgpack (socket.io-msgpack-parser); for decode, "
         "handshake, doctor, watch and proxy, not replay. decode --parser msgpack takes a binary frame as hex or "
         "base64 (or b + base64 in a packet or polling body)");
    cmd.visible.add(decode);
    po::options_description proxy("proxy options (sio-inspect proxy --upstream URL)");
    proxy.add_options()
        ("upstream", po::value(&options.proxy.upstream), "the real server: http(s)://HOST:PORT or ws(s)://HOST:PORT")
        ("listen", po::value(&options.proxy.listen)->default_value(options.proxy.listen),
         "HOST:PORT clients connect to (port 0: any free port, printed on the first line)")
        ("path", po::value(&options.proxy.path)->default_value(options.proxy.path), "Engine.IO path whose traffic is decoded")
        ("record", po::value(&options.proxy.record_file), "write every packet to FILE as NDJSON (for replay)")
        ("ca", po::value(&options.proxy.ca_file), "verify an https upstream against this PEM CA bundle")
        ("insecure,k", po::bool_switch(&options.proxy.insecure), "do not verify an https upstream's certificate")
        ("duration", duration_value("duration", bare_unit::seconds, &options.proxy.duration),
         "proxy, watch: stop after this long, 0: on SIGINT/SIGTERM (500ms, 5s, 1m; a bare number is seconds)")
        ("no-color", po::bool_switch(&options.no_color), "no colours, even on a terminal");
    cmd.visible.add(proxy);
    po::options_description net("handshake and doctor options (sio-inspect handshake|doctor URL)");
    net.add_options()
        ("transport", po::value(&options.net.transport)->default_value(options.net.transport),
         "handshake: polling, websocket (direct) or upgrade (polling, then probe and upgrade)")
        ("auth", po::value(&options.net.auth), "JSON object sent with the Socket.IO CONNECT")
        ("namespace,n", po::value(&options.net.nsp), "namespace to connect to (default: the URL's path, or /)")
        ("header,H", po::value(&options.net.headers)->composing(), "extra request header 'Name: value' (repeatable)")
        ("query", po::value(&options.net.query)->composing(), "extra query parameter key=value (repeatable)")
        ("origin", po::value(&options.net.origin), "doctor: check that browsers on this origin are allowed (CORS)")
        ("timeout", duration_value("timeout", bare_unit::milliseconds, &options.net.timeout_ms),
         "time allowed per step (500ms, 5s, 1m; a bare number is milliseconds)")
        ("no-ping", po::bool_switch(&options.no_ping), "handshake: do not wait for the first heartbeat");
    cmd.visible.add(net);
    po::options_description watch("watch options (sio-inspect watch URL)");
    watch.add_options()
        ("emit", po::value(&options.watch.emit)->composing(),
         "send EVENT, or EVENT=JSON (an array of arguments, or one value), once connected (repeatable)")
        ("ack", po::bool_switch(&options.watch.ack), "ask for an acknowledgement of each --emit")
        ("no-reconnect", po::bool_switch(&options.no_reconnect), "do not reconnect when the connection drops")
        ("exact", po::bool_switch(&options.exact), "replay: compare arguments by value, not by shape");
    cmd.visible.add(watch);
    cmd.hidden.add_options()
        ("command", po::value(&options.command)->required(), "subcommand")
        ("args", po::value(&options.args), "arguments of the subcommand");
    cmd.positional.add("command", 1).add("args", -1);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    options.decode.socket_io = vm.count("engine-only") == 0;
    return run_inspect(options);
}
