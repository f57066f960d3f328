#include "sio/codec/utf8.hpp"

#include <cstring>

namespace sio::codec {

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF) starting at s[i], or 0 if there is none.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
    const unsigned b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) return 1;
    const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return i + k < s.size() && static_cast<unsigned char>(s[i + k]) >= lo && static_cast<unsigned char>(s[i + k]) <= hi;
    };
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if (b0 == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (b0 >= 0xE1 && b0 <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (b0 == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (b0 >= 0xF1 && b0 <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (b0 == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

// Offset of the first ill-formed sequence, or npos when all of `s` is UTF-8.
std::size_t first_invalid_utf8(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return i;
        i += n;
    }
    return std::string_view::npos;
}

// `s` with every ill-formed byte replaced by U+FFFD, so that a length in UTF-16 units exists.
std::string to_valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

// The same rules as utf8_sequence_length, one byte at a time: the lead byte sets how many
// continuation bytes follow and the range of the first (E0 A0-BF, ED 80-9F, F0 90-BF, F4 80-8F
// rule out overlongs, surrogates and code points above U+10FFFF); the others are 80-BF. Runs of
// ASCII are skipped eight bytes at a time.
bool utf8_validator::feed(std::string_view piece) noexcept {
    if (need_ == broken) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
    const auto* const end = p + piece.size();
    while (p != end) {
        if (need_ == 0) {
            while (end - p >= 8) {
                std::uint64_t word;
                std::memcpy(&word, p, 8);
                if ((word & 0x8080808080808080ull) != 0) break;
                p += 8;
            }
            if (p == end) break;
            const unsigned b = *p++;
            if (b < 0x80) continue;
            lo_ = 0x80;
            hi_ = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) {
                need_ = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                need_ = 2;
                if (b == 0xE0) lo_ = 0xA0;
                if (b == 0xED) hi_ = 0x9F;
            } else if (b >= 0xF0 && b <= 0xF4) {
                need_ = 3;
                if (b == 0xF0) lo_ = 0x90;
                if (b == 0xF4) hi_ = 0x8F;
            } else {
                need_ = broken;
                return false;
            }
        } else {
            const unsigned b = *p++;
            if (b < lo_ || b > hi_) {
                need_ = broken;
                return false;
            }
            --need_;
            lo_ = 0x80;
            hi_ = 0xBF;
        }
    }
    return true;
}

}  // namespace sio::codec
