// `sio-inspect replay FILE URL`: play the client side of a `proxy --record` recording against a
// server and report how the server's answers differ from the recorded ones.
#pragma once

#include <iosfwd>
#include <string>

namespace sio::inspect {

// Exit status when the replay found differences (documented in sio-inspect(1)).
inline constexpr int replay_differences = 8;

struct replay_options {
    std::string file;
    std::string url;
    std::string path = "/socket.io/";
    int eio = 4;
    unsigned timeout_ms = 5000;  // how long a recorded server packet is awaited
    bool exact = false;          // compare arguments by value, not by shape
    bool verbose = false;
    std::string ca_file;
    bool insecure = false;
};

int run_replay(const replay_options& options, std::ostream& out, std::ostream& err);

}  // namespace sio::inspect
