// The header of a WebSocket data frame (RFC 6455 section 5.2), for the places that frame
// messages themselves instead of through Beast: one final frame, no extension bits
// (permessage-deflate is never negotiated), the payload length in the shortest encoding, and for
// a client frame the mask bit and the 4-byte masking key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace sio::codec {

// At most 2 + 8 bytes of length + 4 of masking key.
using ws_frame_header_bytes = std::array<char, 14>;

// Writes the header of a final text (or binary) frame of `payload_size` bytes to the front of
// `out`; with `mask_key`, the frame is masked with it (the caller XORs the payload). Returns the
// header's length.
inline std::size_t ws_frame_header(bool binary, std::uint64_t payload_size, ws_frame_header_bytes& out,
                                   const std::array<char, 4>* mask_key = nullptr) noexcept {
    const char mask_bit = mask_key ? static_cast<char>(0x80) : 0;
    std::size_t n = 0;
    out[n++] = static_cast<char>(0x80 | (binary ? 0x2 : 0x1));
    if (payload_size < 126) {
        out[n++] = static_cast<char>(mask_bit | static_cast<char>(payload_size));
    } else if (payload_size <= 0xffff) {
        out[n++] = static_cast<char>(mask_bit | 126);
        out[n++] = static_cast<char>((payload_size >> 8) & 0xff);
        out[n++] = static_cast<char>(payload_size & 0xff);
    } else {
        out[n++] = static_cast<char>(mask_bit | 127);
        for (int shift = 56; shift >= 0; shift -= 8) out[n++] = static_cast<char>((payload_size >> shift) & 0xff);
    }
    if (mask_key) {
        for (char c : *mask_key) out[n++] = c;
    }
    return n;
}

}  // namespace sio::codec
