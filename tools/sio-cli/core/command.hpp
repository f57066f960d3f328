// What a person or a script types: REPL commands, NDJSON lines, and event arguments.
//
//   emit [--ack[=TIMEOUT]] EVENT [ARG...]   each ARG is JSON; a bare word is a string
//   on EVENT | on *     off EVENT | off *   show or hide incoming events (glob patterns)
//   ns [/NAMESPACE]     connect   disconnect   status   raw PACKET   history   help   quit
//
//   {"event": "chat message", "args": ["hi"], "ack": true, "nsp": "/admin"}
#pragma once

#include "sio/codec/json.hpp"
#include "sio/codec/socket_io.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio::cli {

using json = codec::json;

enum class command_kind {
    empty,  // a blank line or a comment (# ...)
    emit,
    on,
    off,
    ns,
    connect,
    disconnect,
    status,
    raw,
    history,
    help,
    quit,
};

struct command {
    command_kind kind = command_kind::empty;
    std::string event;             // emit, on, off ("*" for every event)
    json args = json::array();     // emit
    bool ack = false;              // emit: ask for an acknowledgement
    std::optional<std::chrono::milliseconds> ack_timeout;  // emit --ack=TIMEOUT / "ack": "2s"
    // ns; emit from NDJSON ("nsp"); raw when the packet names one; empty: the current namespace
    std::string nsp;
    std::optional<codec::socketio::packet> packet;  // raw
};

// A command, or why the line is not one (a message for the person who typed it).
struct parse_result {
    std::optional<command> value;
    std::string error;
};

// One argument: JSON when the word starts like JSON (42, true, null, "quoted", {...}, [...]), else
// the word itself as a string (tools::parse_json_or_string). Binary: @hex:0a0b, @base64:AQID,
// @file:PATH, or {"$binary": "AQID"} anywhere inside JSON. nullopt + `error` when a word that
// starts like JSON does not parse ("invalid JSON at column N: ..."), a binary form is malformed
// or the file cannot be read.
std::optional<json> parse_arg(std::string_view word, std::string& error);

// Splits a line into words: blanks separate words, except inside a JSON string, object or array
// ({"a": 1} and "chat message" are one word each). False + `error` on an unterminated one.
bool split_words(std::string_view line, std::vector<std::string>& words, std::string& error);

parse_result parse_command(std::string_view line);
parse_result parse_ndjson(std::string_view line);
// A line of a script: an NDJSON object when it starts with '{', else a command.
parse_result parse_input_line(std::string_view line);

// Every REPL command, for `help` and for completion.
struct command_doc {
    std::string_view name;
    std::string_view usage;
    std::string_view summary;
};
const std::vector<command_doc>& command_docs();
std::string help_text();

// The event name as the REPL wants it typed: bare when it is one plain word, else JSON-quoted.
std::string quote_event(std::string_view name);

}  // namespace sio::cli
