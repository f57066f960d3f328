// msgpack <-> JSON, sans I/O: the msgpack the Node side writes with notepack.io (the Redis
// adapter's broadcasts, socket.io-msgpack-parser's packets).
//
// The writer reproduces notepack.io byte for byte: integers (and doubles without a fraction) in
// the smallest integer form, other numbers as float64, strings as fixstr/str8/16/32,
// bin8/16/32 for binary values (json::binary_t), arrays and maps in their smallest form, keys
// in the order of the JSON object.
//
// Nothing here throws on bad input: the reader returns codec::result with the reason.
#pragma once

#include "sio/codec/error.hpp"
#include "sio/codec/json.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace sio::codec {

std::string to_msgpack(const json& value);

// The whole input must be one msgpack value (checked before anything is built, without
// recursion). Maps need string keys; strings that are not UTF-8 get U+FFFD in place of the bad
// bytes, as Node decodes them. bin becomes json::binary_t; a JavaScript Date (the timestamp
// extension, or notepack.io 2's fixext 8 of type 0) becomes its ISO 8601 text, as
// JSON.stringify writes a Date; notepack.io's undefined (fixext 1 of type 0) makes a map's key
// absent and is null elsewhere, as in JSON; other extension values become null. Nesting deeper
// than max_depth is refused.
result<json> from_msgpack(std::string_view bytes, std::size_t max_depth = 128);

}  // namespace sio::codec
