// Fuzzes the Socket.IO decoder with a sequence of text and binary frames fed to one decoder, and
// checks every packet it completes: re-encoded and decoded again it must be the same packet.
//
// Input: byte 0 picks the options, the rest is split on 0x1e into frames; a frame whose first
// byte is 0x01 is a binary frame (the bytes after it), any other a text frame.
//   byte 0, bit 0     protocol: 0 v5, 1 v4
//   byte 0, bits 1-2  max_attachments: 10, 1, 2, 1000
//   byte 0, bits 3-4  max_payload: 1'000'000, 64, 4096, unlimited
//   byte 0, bits 5-6  max_depth: 128, 4, 32, 128
#include <sio/codec/socket_io.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace {

using namespace sio::codec;
using namespace sio::codec::socketio;

constexpr char frame_separator = '\x1e';
constexpr char binary_marker = '\x01';

decoder_options options_from(std::uint8_t b) {
    static constexpr std::size_t attachments[] = {10, 1, 2, 1000};
    static constexpr std::size_t payloads[] = {1'000'000, 64, 4096, std::numeric_limits<std::size_t>::max()};
    static constexpr std::size_t depths[] = {128, 4, 32, 128};
    decoder_options o;
    o.version = (b & 1) != 0 ? protocol::v4 : protocol::v5;
    o.max_attachments = attachments[(b >> 1) & 3];
    o.max_payload = payloads[(b >> 3) & 3];
    o.max_depth = depths[(b >> 5) & 3];
    return o;
}

// A decoded packet must be valid, and encode to frames that decode to it again. The second
// decoder has no size limits: re-encoding may legitimately grow a packet (an attachment that
// several placeholders shared becomes one attachment per placeholder; "num" may get longer).
void check_round_trip(const packet& p, const decoder_options& o) {
    if (validate(p, o.version)) __builtin_trap();
    (void)describe(p, o.version, 80);

    const auto enc = encode(p, o.version);
    decoder_options relaxed = o;
    relaxed.max_attachments = std::numeric_limits<std::size_t>::max();
    relaxed.max_payload = std::numeric_limits<std::size_t>::max();
    decoder again(relaxed);
    decode_status st = again.feed_text(enc.text);
    for (const auto& a : enc.attachments) {
        if (st != decode_status::need_more || !again.awaiting_attachments()) __builtin_trap();
        st = again.feed_binary(a);
    }
    if (st != decode_status::done || again.awaiting_attachments()) __builtin_trap();
    if (!(again.take() == p)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const decoder_options options = options_from(data[0]);
    decoder d(options);

    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    while (true) {
        const std::size_t end = rest.find(frame_separator);
        const std::string_view frame = rest.substr(0, end);
        const bool binary = !frame.empty() && frame.front() == binary_marker;
        const decode_status st = binary ? d.feed_binary(frame.substr(1)) : d.feed_text(frame);
        switch (st) {
        case decode_status::need_more:
            if (!d.awaiting_attachments()) __builtin_trap();
            break;
        case decode_status::bad:
            if (d.awaiting_attachments() || !d.last_error().code || d.last_error().reason.empty())
                __builtin_trap();
            break;
        case decode_status::done: {
            if (d.awaiting_attachments()) __builtin_trap();
            const packet p = d.take();
            check_round_trip(p, options);
            break;
        }
        }
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
    }
    return 0;
}
