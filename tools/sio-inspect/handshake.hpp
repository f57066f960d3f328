// `sio-inspect handshake URL` and `sio-inspect doctor URL`: connect step by step and show (or
// judge) every phase.
#pragma once

#include "probe.hpp"

#include <sio/codec/socket_io.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace sio::inspect {

struct net_options {
    std::string url;
    std::string path = "/socket.io/";
    int eio = 4;
    // The server's Socket.IO parser: json (the default) or msgpack (socket.io-msgpack-parser).
    codec::socketio::wire_parser parser = codec::socketio::wire_parser::json;
    std::string transport = "upgrade";  // handshake: polling, websocket or upgrade (polling then probe)
    std::string auth;                   // JSON object sent with CONNECT; empty: none
    std::string nsp;                    // namespace; empty: the URL's path
    std::vector<std::string> headers;   // "Name: value"
    std::vector<std::string> query;     // "key=value"
    std::string origin;                 // doctor: check CORS for this browser origin
    tls_settings tls;
    unsigned timeout_ms = 10000;        // per step
    bool wait_ping = true;              // handshake: wait for the first heartbeat
    bool json = false;
    bool color = false;
};

// Exit codes shared by handshake and doctor (documented in sio-inspect(1)).
enum inspect_exit : int {
    inspect_ok = 0,
    inspect_runtime = 1,
    inspect_usage = 2,
    inspect_unreachable = 3,   // DNS, refused, timed out
    inspect_tls = 4,           // handshake failed or certificate not trusted
    inspect_refused = 5,       // the server refused: handshake error, CONNECT_ERROR, origin
    inspect_not_socketio = 6,  // something answers, but not a (compatible) Socket.IO server
    inspect_path = 7,          // the way there breaks it: upgrade blocked, no stickiness, CORS
};

int run_handshake(const net_options& options, std::ostream& out, std::ostream& err);
int run_doctor(const net_options& options, std::ostream& out, std::ostream& err);


}  // namespace sio::inspect
