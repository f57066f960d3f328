// sio-cli: interactive and scriptable Socket.IO / WebSocket client
#include "common/cli.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <string>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{"sio-cli", "interactive and scriptable Socket.IO / WebSocket client", "sio-cli [options] URL"};


struct cli_options {
    std::string url;
};

int run_cli(const cli_options& options) {
    fmt::print(stderr, "{}: the client is not available in this version (asked for {})\n",
               info.name, options.url);
    return exit_failure;
}

}  // namespace

int main(int argc, char* argv[]) {
    cli_options options;
    command_line cmd{standard_options(), {}, {}};
    cmd.hidden.add_options()("url", po::value(&options.url)->required(), "server URL");
    cmd.positional.add("url", 1);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    return run_cli(options);
}
