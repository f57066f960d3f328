// sio-inspect: handshake inspector, traffic decoder, decoding proxy and doctor.
#include "common/cli.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <string>
#include <vector>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{"sio-inspect",
                         "handshake inspector, traffic decoder, decoding proxy and doctor",
                         "sio-inspect [options] COMMAND [ARGS...]"};

struct inspect_options {
    std::string command;
    std::vector<std::string> args;
};

int run_inspect(const inspect_options& options) {
    fmt::print(stderr, "{}: '{}' is not available in this version\n", info.name, options.command);
    return exit_failure;
}

}  // namespace

int main(int argc, char* argv[]) {
    inspect_options options;
    command_line cmd{standard_options(), {}, {}};
    cmd.hidden.add_options()
        ("command", po::value(&options.command)->required(), "subcommand")
        ("args", po::value(&options.args), "arguments of the subcommand");
    cmd.positional.add("command", 1).add("args", -1);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    return run_inspect(options);
}
