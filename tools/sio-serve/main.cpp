// sio-serve: a zero-code Socket.IO v4 server with a chat demo and a browser page.
#include "common/cli.hpp"
#include "options.hpp"
#include "run.hpp"

#include <fmt/core.h>

#include <cstdio>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{
    "sio-serve", "zero-code Socket.IO server: chat demo, rooms, namespaces, acks",
    "sio-serve [options]",
    "Serves Socket.IO v4 clients (Engine.IO v4 over WebSocket and HTTP long-polling) on\n"
    "PATH, the chat page on /, the browser client on /socket.io/socket.io.js, /healthz\n"
    "and Prometheus metrics on /metrics.\n"
    "Every namespace runs the chat demo: 'set name', 'chat message', 'join', 'leave',\n"
    "typing, private messages, call signaling, read receipts and 'echo' (acks its\n"
    "arguments); see THE CHAT DEMO in sio-serve(1).\n"
    "--mode echo answers every event instead; --on and --on-connect add rules on top of any\n"
    "mode (see MODES AND RULES in sio-serve(1)).\n"};

}  // namespace

int main(int argc, char* argv[]) {
    sio::serve::serve_options options;
    command_line cmd{standard_options(), {}, {}};
    sio::serve::add_options(cmd, options);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    sio::serve::serve_plan plan;
    if (auto error = sio::serve::make_plan(options, plan)) {
        if (error->usage) return usage_error(info, error->message);
        fmt::print(stderr, "{}: {}\n", info.name, error->message);
        return exit_failure;
    }
    return sio::serve::run_serve(plan);
}
