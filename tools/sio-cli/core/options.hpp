// sio-cli's command line: every flag, checked and turned into the library's options.
#pragma once

#include "common/cli.hpp"
#include "sio-cli/core/filter.hpp"

#include <sio/client.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace sio::cli {

struct cli_options {
    std::string url;
    // Connection
    std::string transport = "upgrade";
    std::string path = "/socket.io/";
    std::vector<std::string> query;
    std::vector<std::string> headers;
    std::string auth;  // JSON object text
    std::string nsp;   // -n; empty: from the URL's path, else "/"
    int eio = 4;
    std::string parser = "json";  // json | msgpack
    bool raw = false;
    std::vector<std::string> subprotocols;
    std::string ca, cert, key;
    bool insecure = false;
    std::optional<std::string> proxy;
    bool no_reconnect = false;
    std::optional<unsigned> reconnect_attempts;
    std::string reconnect_delay = "1s";
    std::string reconnect_delay_max = "5s";
    std::string connect_timeout = "20s";
    // Scripting
    std::vector<std::string> emit;  // EVENT ARG...
    bool ack = false;
    std::optional<std::string> timeout;
    std::optional<std::string> wait_for;
    std::optional<unsigned> count;
    bool listen = false;
    // Output
    bool json = false;
    std::vector<std::string> only;
    std::vector<std::string> ignore;
    bool no_color = false;
    bool show_ping = false;
    std::string history_file;
};

// What the checks make of the flags.
struct run_plan {
    bool raw = false;             // raw WebSocket (--raw or a ws:// / wss:// URL)
    std::string nsp = "/";
    json auth = json::object();
    client_options client;        // Socket.IO mode
    ws_client_options ws;         // raw mode
    std::optional<std::chrono::milliseconds> timeout;
    std::chrono::milliseconds ack_timeout{10000};
    bool explicit_attempts = false;  // --reconnect-attempts given: retry the first connection too
    std::optional<std::vector<std::string>> emit;  // event then its arguments as typed
    bool ack = false;
    std::optional<std::string> wait_for;
    unsigned count = 1;
    bool listen = false;
    bool json_output = false;
    bool color = true;
    bool show_ping = false;
    event_filter filter;
    std::string history_file;
};

// Adds sio-cli's options to `cmd`, bound to `o`.
void add_options(tools::command_line& cmd, cli_options& o);

// Checks the values and fills `plan`; on a bad value returns the message for a usage error.
std::optional<std::string> make_plan(const cli_options& o, run_plan& plan);

// $XDG_STATE_HOME/sio/cli_history, else ~/.local/state/sio/cli_history (empty: no home).
std::string default_history_file();

}  // namespace sio::cli
