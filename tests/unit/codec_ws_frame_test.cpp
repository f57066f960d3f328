// WebSocket frame headers against the examples of RFC 6455 section 5.7 and the length
// encodings' boundaries (125/126, 65535/65536).
#include "sio/codec/ws_frame.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string header(bool binary, std::uint64_t size, const std::array<char, 4>* key = nullptr) {
    sio::codec::ws_frame_header_bytes h{};
    const auto n = sio::codec::ws_frame_header(binary, size, h, key);
    return std::string(h.data(), n);
}

std::string bytes(std::initializer_list<int> b) {
    std::string out;
    for (int x : b) out.push_back(static_cast<char>(x));
    return out;
}

}  // namespace

TEST(ws_frame_header, matches_the_rfc_examples) {
    // "A single-frame unmasked text message": 0x81 0x05 "Hello".
    EXPECT_EQ(header(false, 5), bytes({0x81, 0x05}));
    // "A single-frame masked text message": 0x81 0x85 0x37 0xfa 0x21 0x3d, then the masked "Hello".
    const std::array<char, 4> key{'\x37', '\xfa', '\x21', '\x3d'};
    EXPECT_EQ(header(false, 5, &key), bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}));
    // "256 bytes binary message in a single unmasked frame": 0x82 0x7E 0x0100.
    EXPECT_EQ(header(true, 256), bytes({0x82, 0x7e, 0x01, 0x00}));
    // "64KiB binary message in a single unmasked frame": 0x82 0x7F 0x0000000000010000.
    EXPECT_EQ(header(true, 65536), bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
}

TEST(ws_frame_header, uses_the_shortest_length_encoding_at_each_boundary) {
    EXPECT_EQ(header(false, 0), bytes({0x81, 0x00}));
    EXPECT_EQ(header(false, 125), bytes({0x81, 0x7d}));
    EXPECT_EQ(header(false, 126), bytes({0x81, 0x7e, 0x00, 0x7e}));
    EXPECT_EQ(header(false, 65535), bytes({0x81, 0x7e, 0xff, 0xff}));
    const std::array<char, 4> key{'\x01', '\x02', '\x03', '\x04'};
    EXPECT_EQ(header(true, 65536, &key), bytes({0x82, 0xff, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 1, 2, 3, 4}));
    EXPECT_EQ(header(true, 0x0102030405060708ull),
              bytes({0x82, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
}
