// sio-bench: load generator: HTTP long-polling vs WebSocket side by side
#include "common/cli.hpp"
#include "sio-bench/options.hpp"
#include "sio-bench/run.hpp"

#include <fmt/core.h>

#include <exception>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{
    "sio-bench", "load generator: HTTP long-polling vs WebSocket side by side", "sio-bench [options] URL",
    "Scenarios: echo (each client emits with an ack; the ack round trip is the latency),\n"
    "broadcast (--clients listen, --senders emit --event [LISTEN-EVENT, data] and the server\n"
    "sends LISTEN-EVENT to the others, as sio-serve's 'broadcast' does), connect (connect and\n"
    "disconnect in a loop: connections per second, time to connected), idle (hold the\n"
    "connections; with --server-pid the server's memory per connection).\n"
    "Open model: send times are fixed in advance; latency counts from the scheduled time and\n"
    "is also given uncorrected (from the actual send). A run lasts --ramp-up + --duration and\n"
    "at most --timeout + 1 s more to collect answers.\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 usage, 3 no client could connect (one line says\n"
    "why), 4 the same from a TLS failure (as sio-cli), 8 errors during the run, 9 an --ensure\n"
    "condition failed (with --ensure, errors alone are not 8), 130 interrupted by Ctrl-C (the\n"
    "figures so far are printed; a run not started is named).\n"};

}  // namespace

int main(int argc, char* argv[]) {
    sio::bench::bench_flags flags;
    command_line cmd{standard_options(), {}, {}};
    sio::bench::add_options(cmd, flags);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    sio::bench::bench_plan plan;
    if (auto error = sio::bench::make_plan(vm, flags, argc, argv, plan)) return usage_error(info, *error);
    sio::bench::prepare_process(plan.options);
    try {
        return sio::bench::run_plan(plan);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", info.name, e.what());
        return exit_failure;
    }
}
