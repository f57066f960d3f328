// The Socket.IO codec's JSON reader: a payload parsed into a tree with a nesting limit and in
// linear time for objects of many keys, its errors told with the frame's byte offset; and the way
// the codec quotes input in an error's reason.
#pragma once

#include "sio/codec/socket_io.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sio::codec::socketio::detail {

// Input quoted in a reason: control bytes escaped so a reason stays on one line, and cut short.
std::string show_text(std::string_view s);

// Parses `text` (the payload, found at `offset` in the frame) into `out`, nested at most
// `max_depth` levels deep.
std::optional<error> parse_json(std::string_view text, std::size_t offset, std::size_t max_depth, json& out);

}  // namespace sio::codec::socketio::detail
