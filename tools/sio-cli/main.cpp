// sio-cli: interactive and scriptable Socket.IO / WebSocket client
#include "sio-cli/core/options.hpp"
#include "run.hpp"
#include "common/cli.hpp"

#include <fmt/core.h>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{
    "sio-cli", "interactive and scriptable Socket.IO / WebSocket client", "sio-cli URL [options]",
    "Connects to the Socket.IO server at URL (http:// or https://; a path names the namespace)\n"
    "or, with --raw or a ws:// / wss:// URL, to a plain WebSocket server.\n"
    "On a terminal it starts a REPL (type help); with --emit, --wait-for or --listen, or with\n"
    "commands or NDJSON lines on standard input, it runs as a script.\n"
    "REPL commands: emit [--ack[=TIMEOUT]] EVENT [ARG...], on EVENT, off EVENT, ns [/NAMESPACE],\n"
    "connect, disconnect, status, raw PACKET, history, help, quit; raw mode: /binary, /ping,\n"
    "/close, /history, /help, /quit.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage, 3 could not connect, 4 TLS failure,\n"
    "5 CONNECT_ERROR, 6 ack timeout, 7 wait timeout, 130 interrupted while waiting.\n"};

}  // namespace

int main(int argc, char* argv[]) {
    sio::cli::cli_options options;
    command_line cmd{standard_options(), {}, {}};
    sio::cli::add_options(cmd, options);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    sio::cli::run_plan plan;
    if (auto error = sio::cli::make_plan(options, plan)) return usage_error(info, *error);
    return sio::cli::run(plan);
}
