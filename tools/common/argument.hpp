// Event arguments as typed on the command line (sio-cli's --emit and REPL, sio-inspect watch
// --emit): JSON when the text starts like JSON, else the text itself as a string.
#pragma once

#include "sio/codec/json.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace sio::tools {

// Whether `text` starts like a JSON value: '{', '[', '"', a digit, '-' and a digit, or true,
// false or null followed by nothing or by a character that cannot go on a word ("null]", not
// "nullable").
bool looks_like_json(std::string_view text);

// JSON when `text` looks like JSON; then it must parse as a whole, else nullopt and `error` says
// "invalid JSON at column N: WHAT". Any other text is that string ("hello", "@home", "").
// Inside the JSON, {"$binary": "<base64>"} stands for those bytes (common/binary_display.hpp).
std::optional<codec::json> parse_json_or_string(std::string_view text, std::string& error);

}  // namespace sio::tools
