// UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), for text that arrives
// as bytes: Engine.IO v3 payloads, msgpack strings.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sio::codec {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if there is none.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept;

// Offset of the first ill-formed sequence, or npos when all of `s` is UTF-8.
std::size_t first_invalid_utf8(std::string_view s) noexcept;

// `s` with every ill-formed byte replaced by U+FFFD (as Node's Buffer#toString("utf8") decodes).
std::string to_valid_utf8(std::string_view s);

}  // namespace sio::codec
