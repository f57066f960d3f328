// What sio-cli prints: one line per event sent or received and per outcome, for people (colours,
// local time) or for programs (--json, one object per line).
#pragma once

#include "common/binary_display.hpp"
#include "common/terminal.hpp"
#include "sio/codec/json.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sio::cli {

using json = codec::json;

// Text from the network made harmless on a terminal (common/terminal.hpp: sio-inspect does the same).
using tools::neutralize;

// Binary values: {"$binary": "<base64>"} in JSON, <N bytes: 01 02 ...> for people, as every tool
// shows them (common/binary_display.hpp).
using tools::portable;
using tools::render_json;

struct record {
    std::chrono::system_clock::time_point ts = std::chrono::system_clock::now();
    std::string dir = "info";       // "in", "out", "info"
    std::string nsp = "/";          // empty (raw WebSocket): null
    // event, ack, connect, connect_error, disconnect, reconnect, error; raw mode: message;
    // with --show-ping: ping, pong
    std::string type = "event";
    std::optional<std::string> event;
    json args = json::array();
    std::optional<std::uint64_t> id;
    std::string transport;          // "websocket", "polling"; empty: null
    std::string text;               // for people: what an info line says (args hold it for --json)
};

// {"ts":…,"dir":…,"nsp":…,"type":…,"event":…,"args":[…],"id":…,"transport":…} on one line.
std::string format_json(const record& r);

// "12:34:56.789 / <- chat message "hi" #3" (local time).
std::string format_human(const record& r, bool color);

}  // namespace sio::cli
