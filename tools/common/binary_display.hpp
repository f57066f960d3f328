// Binary values (json::binary_t: Socket.IO attachments, msgpack bin, raw WebSocket binary
// frames), shown alike by every tool.
//
// For programs (--json, records): {"$binary": "<base64>"}. That is also an input form: an event
// argument holding such an object sends those bytes (sio-cli --emit and REPL, sio-inspect watch
// --emit), so a value printed by one tool can be pasted into another.
// For people (text lines): <N bytes: 01 02 03>, the first 16 bytes in hex, then "...".
#pragma once

#include "sio/codec/json.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace sio::tools {

// The key of the JSON form.
inline constexpr std::string_view binary_key = "$binary";

// `value` with every binary value, at any depth, replaced by {"$binary": "<base64>"}.
codec::json portable(const codec::json& value);

// The reverse: every object that is exactly {"$binary": STRING} becomes those bytes. nullopt and
// `error` set ("{"$binary": ...}: not base64 (...)") when such a string is not base64.
std::optional<codec::json> from_portable(codec::json value, std::string& error);

// "<3 bytes: 01 02 03>"; more than 16 bytes end in " ...>"; "<0 bytes>".
std::string binary_text(const codec::json::binary_t& bytes);

// A JSON value on one line for a person: strings neutralised (common/terminal.hpp), binary as
// binary_text, keys, strings, numbers and literals in ANSI colours when `color`.
std::string render_json(const codec::json& value, bool color);

}  // namespace sio::tools
