// UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), for text that arrives
// as bytes: Engine.IO v3 payloads, msgpack strings, WebSocket text messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sio::codec {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if there is none.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept;

// Offset of the first ill-formed sequence, or npos when all of `s` is UTF-8.
std::size_t first_invalid_utf8(std::string_view s) noexcept;

// `s` with every ill-formed byte replaced by U+FFFD (as Node's Buffer#toString("utf8") decodes).
std::string to_valid_utf8(std::string_view s);

// Checks UTF-8 that arrives in pieces (a WebSocket text message, in frames and reads of any size):
// a character may be cut anywhere between two pieces, and an ill-formed byte is caught in the
// piece it arrives in, not only at the end. Three bytes of state.
class utf8_validator {
public:
    // False when `piece` holds an ill-formed byte (and from then on, until reset()).
    bool feed(std::string_view piece) noexcept;
    // True when everything fed so far is well formed and no character is cut off at the end.
    bool complete() const noexcept { return need_ == 0; }
    void reset() noexcept { *this = utf8_validator{}; }

private:
    static constexpr std::uint8_t broken = 0xff;
    std::uint8_t need_ = 0;  // continuation bytes still to come; `broken` after an ill-formed byte
    std::uint8_t lo_ = 0x80, hi_ = 0xBF;  // range of the next continuation byte
};

}  // namespace sio::codec
