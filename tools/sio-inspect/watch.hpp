// `sio-inspect watch URL`: a client that prints everything it sends and receives, decoded.
#pragma once

#include "handshake.hpp"

#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

namespace sio::inspect {

struct watch_options {
    net_options net;
    std::vector<std::string> emit;  // EVENT or EVENT=JSON, sent once connected
    bool ack = false;               // ask for an acknowledgement of each --emit
    bool reconnect = true;
    std::chrono::milliseconds duration{0};  // 0: until SIGINT/SIGTERM
};

// Exit status as for handshake (0 when stopped by a signal or the duration).
int run_watch(const watch_options& options, std::ostream& out, std::ostream& err);

}  // namespace sio::inspect
