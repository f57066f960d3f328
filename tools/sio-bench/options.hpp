// sio-bench's command line: every flag, checked and turned into the options of the runs.
#pragma once

#include "common/cli.hpp"
#include "sio-bench/runner.hpp"

#include <boost/program_options.hpp>

#include <optional>
#include <string>
#include <vector>

namespace sio::bench {

// The flags as typed, where they still need reading (durations, headers, ...).
struct bench_flags {
    bench_options options;  // the flags that need no reading are bound here directly
    std::string ramp_up = "0s", duration = "10s", timeout = "10s";
    std::vector<std::string> headers;
    std::vector<std::string> query;
    bool insecure = false;
    std::string parser = "json";
};

// What the checks make of the flags: the runs' options, the --ensure conditions and what the
// report says about the run.
struct bench_plan {
    bench_options options;
    std::vector<ensure_condition> ensure;
    report_about about;
};

// Adds sio-bench's options to `cmd`, bound to `flags`.
void add_options(tools::command_line& cmd, bench_flags& flags);

// Checks the values and fills `plan`; on a bad value returns the message for a usage error.
// `argv` gives the command line for the report.
std::optional<std::string> make_plan(const boost::program_options::variables_map& vm, const bench_flags& flags,
                                     int argc, const char* const argv[], bench_plan& plan);

}  // namespace sio::bench
