// sio-bench: load generator: HTTP long-polling vs WebSocket side by side
#include "common/cli.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <string>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{"sio-bench", "load generator: HTTP long-polling vs WebSocket side by side", "sio-bench [options] URL"};


struct bench_options {
    std::string url;
};

int run_bench(const bench_options& options) {
    fmt::print(stderr, "{}: the load generator is not available in this version (asked for {})\n",
               info.name, options.url);
    return exit_failure;
}

}  // namespace

int main(int argc, char* argv[]) {
    bench_options options;
    command_line cmd{standard_options(), {}, {}};
    cmd.hidden.add_options()("url", po::value(&options.url)->required(), "server URL");
    cmd.positional.add("url", 1);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    return run_bench(options);
}
