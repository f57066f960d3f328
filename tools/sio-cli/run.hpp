// Runs sio-cli once the options are checked: the REPL, a script (--emit, --wait-for, --listen,
// commands on stdin) or raw WebSocket mode. Returns the exit code.
#pragma once

#include "sio-cli/core/options.hpp"

namespace sio::cli {

int run(const run_plan& plan);

}  // namespace sio::cli
