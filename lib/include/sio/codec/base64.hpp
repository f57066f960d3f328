// Standard base64 (RFC 4648 section 4, alphabet A-Z a-z 0-9 + /) for binary packets carried in
// text: Engine.IO "b" packets and the portable forms used by the tools.
#pragma once

#include "sio/codec/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace sio::codec {

// Length of base64_encode(n bytes), padding included.
constexpr std::size_t base64_encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

// Always padded with '=' to a multiple of 4 characters, as every Engine.IO peer writes it.
std::string base64_encode(std::string_view bytes);

// Appends the encoding of `bytes` to `out` (lets a caller build "b" + base64 in one buffer).
void base64_encode_append(std::string_view bytes, std::string& out);

// Strict decoding. Accepted: the canonical encoding, with or without its final padding (the
// reference peers decode with Node's Buffer or base64-arraybuffer, which both accept unpadded
// text, so a peer may legitimately omit it). Rejected with errc::invalid_base64: any character
// outside the alphabet (whitespace, '-', '_' included), '=' anywhere but the end, wrong amount of
// padding, a length that leaves a single character in the last group, and non-zero bits after
// the last byte (a second spelling of the same bytes).
result<std::string> base64_decode(std::string_view text);

}  // namespace sio::codec
