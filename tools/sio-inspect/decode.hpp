// `sio-inspect decode`: explain a raw Engine.IO / Socket.IO packet or polling payload.
#pragma once

#include <iosfwd>
#include <string>

namespace sio::inspect {

struct decode_options {
    std::string input;      // the text to decode (already read from the argument or stdin)
    int eio = 4;            // Engine.IO protocol revision: 4, or 3 for socket.io 2.x
    bool json = false;      // one JSON object per packet instead of text
    bool socket_io = true;  // decode message data as Socket.IO packets
    bool msgpack = false;   // the Socket.IO msgpack parser: binary messages hold msgpack packets
};

// Writes the explanation to `out`, problems to `err`. Returns 0 when everything decoded, 1 when
// the input (or part of it) is invalid; what decoded before the error is still shown.
int run_decode(const decode_options& options, std::ostream& out, std::ostream& err);

// Turns the escapes a person types on a command line into bytes: \x1e, \u001e, \n, \t, \\.
std::string unescape_input(const std::string& text);

}  // namespace sio::inspect
