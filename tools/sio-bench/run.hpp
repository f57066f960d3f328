// Runs what the plan asks for (one run per transport), prints the figures and the report, and
// says how it went as sio-bench's exit status.
#pragma once

#include "sio-bench/options.hpp"

namespace sio::bench {

// sio-bench's own exit statuses (0, 1 and 2 are every tool's; see man sio-bench).
constexpr int exit_no_connection = 3;
constexpr int exit_tls_failed = 4;  // no client connected, and the first one failed in TLS
constexpr int exit_run_errors = 8;
constexpr int exit_ensure_failed = 9;
constexpr int exit_interrupted = 130;

// Gets the process ready for the load: open files raised to the hard limit (with a warning when
// that is still short), and Ctrl-C ending the run early (a second one ends the process).
void prepare_process(const bench_options& options);

// Every run of the plan, its output and the HTML report; returns the exit status.
int run_plan(bench_plan& plan);

}  // namespace sio::bench
