#include "sio/codec/base64.hpp"

#include <array>
#include <cstdint>

namespace sio::codec {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::uint8_t invalid = 0xFF;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
    std::array<std::uint8_t, 256> table{};
    for (auto& v : table) v = invalid;
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    }
    return table;
}

constexpr auto decode_table = make_decode_table();

// "'x'" for a printable character, "byte 0xNN" otherwise, so that a reason never carries raw
// control bytes or broken UTF-8 into a log line.
std::string describe_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string("'") + c + "'";
    constexpr std::string_view hex = "0123456789abcdef";
    return std::string("byte 0x") + hex[u >> 4] + hex[u & 0xF];
}

error bad_base64(std::string reason) { return make_error(errc::invalid_base64, std::move(reason)); }

}  // namespace

void base64_encode_append(std::string_view bytes, std::string& out) {
    out.reserve(out.size() + base64_encoded_size(bytes.size()));
    const auto at = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])); };
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t v = at(i) << 16;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += "==";
    } else if (rest == 2) {
        const std::uint32_t v = at(i) << 16 | at(i + 1) << 8;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += '=';
    }
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    base64_encode_append(bytes, out);
    return out;
}

result<std::string> base64_decode(std::string_view text) {
    // Padding is all-or-nothing: either the text is a multiple of 4 long and ends in the '='
    // its last group needs, or it carries none at all. A stray '=' is then caught below as a
    // character outside the alphabet.
    std::size_t pad = 0;
    if (!text.empty() && text.size() % 4 == 0 && text.back() == '=') {
        pad = text[text.size() - 2] == '=' ? 2 : 1;
    }
    const std::string_view body = text.substr(0, text.size() - pad);

    std::string out;
    out.reserve(body.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < body.size(); ++i) {
        const std::uint8_t v = decode_table[static_cast<unsigned char>(body[i])];
        if (v == invalid) {
            if (body[i] == '=') {
                return bad_base64("misplaced base64 padding '=' at offset " + std::to_string(i));
            }
            return bad_base64("invalid base64 character " + describe_char(body[i]) + " at offset " +
                              std::to_string(i));
        }
        acc = (acc << 6 | v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>(acc >> bits & 0xFF);
        }
    }
    if (body.size() % 4 == 1) {
        return bad_base64("base64 text of " + std::to_string(text.size()) +
                          " characters leaves a lone character in its last group");
    }
    // What is left over (2 or 4 bits after a partial group) must be zero in canonical base64.
    if (bits != 0 && (acc & ((1u << bits) - 1)) != 0) {
        return bad_base64("base64 character at offset " + std::to_string(body.size() - 1) +
                          " has non-zero bits after the last byte (not the canonical encoding)");
    }
    return out;
}

}  // namespace sio::codec
