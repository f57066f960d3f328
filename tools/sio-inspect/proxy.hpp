// `sio-inspect proxy`: a decoding man-in-the-middle for Engine.IO / Socket.IO traffic.
//
// Clients (a browser, the Node client, sio-cli) connect to the proxy as they would to the
// server; every HTTP request is forwarded to the upstream server and every WebSocket is relayed
// frame by frame, unchanged. What crosses it on the Engine.IO path is decoded and printed per
// packet (polling batches included) through a traffic_log, and optionally recorded as NDJSON.
#pragma once

#include "traffic.hpp"

#include <chrono>
#include <iosfwd>
#include <string>

namespace sio::inspect {

struct proxy_options {
    std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 picks a free one (printed first)
    std::string upstream;                // http(s):// or ws(s):// URL of the real server
    std::string path = "/socket.io/";    // the Engine.IO path whose traffic is decoded
    std::string record_file;             // NDJSON of every packet; none when empty
    std::string ca_file;                 // verify an https upstream against this PEM bundle
    bool insecure = false;               // do not verify an https upstream
    traffic_options traffic;
    // Stop after this long (0: until SIGINT/SIGTERM).
    std::chrono::milliseconds duration{0};
};

// Runs until SIGINT or SIGTERM (or the duration). The listening URL goes to `err` as the first
// line ("sio-inspect: proxy listening on http://127.0.0.1:PORT, upstream URL"); decoded
// traffic to `out`. Returns the exit code.
int run_proxy(const proxy_options& options, std::ostream& out, std::ostream& err);

}  // namespace sio::inspect
