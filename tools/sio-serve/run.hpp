// Serving what the plan says: the event loops, the Engine.IO and Socket.IO servers, the chat or
// the rules on each namespace, the cluster, the signals; until SIGINT or SIGTERM.
#pragma once

#include "options.hpp"

namespace sio::serve {

// Serves until a signal ends it; returns the exit status: 0, or 1 when a port cannot be listened
// on (the reason on standard error).
int run_serve(const serve_plan& plan);

}  // namespace sio::serve
