// Fuzzes the socket.io-msgpack-parser decoder (and the msgpack reader under it) with one binary
// message, and checks every packet it accepts: it must be valid, and re-encoding must settle
// after one round (the writer normalises as notepack.io does: -0 and integral doubles become
// integers, undefined and unknown extensions null), so a second round gives the same packet.
//
// Input: byte 0 picks the options, the rest is the message.
//   byte 0, bits 0-1  max_payload: 1'000'000, 64, 4096, unlimited
//   byte 0, bits 2-3  max_depth: 128, 4, 32, 128
#include <sio/codec/socket_io.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace {

using namespace sio::codec;
using namespace sio::codec::socketio;

decoder_options options_from(std::uint8_t b) {
    static constexpr std::size_t payloads[] = {1'000'000, 64, 4096, std::numeric_limits<std::size_t>::max()};
    static constexpr std::size_t depths[] = {128, 4, 32, 128};
    decoder_options o;
    o.max_payload = payloads[b & 3];
    o.max_depth = depths[(b >> 2) & 3];
    return o;
}

// Packets compared by their JSON text: NaN, which msgpack can carry, is never equal to itself.
bool same(const packet& a, const packet& b) {
    return a.type == b.type && a.nsp == b.nsp && a.id == b.id && a.data.has_value() == b.data.has_value() &&
           (!a.data || a.data->dump() == b.data->dump());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const decoder_options options = options_from(data[0]);
    const std::string_view message(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto p = decode_msgpack(message, options);
    if (!p) {
        if (!p.err().code || p.err().reason.empty()) __builtin_trap();
        return 0;
    }
    if (validate(*p)) __builtin_trap();
    (void)describe(*p, protocol::v5, 80);
    decoder_options relaxed = options;
    relaxed.max_payload = std::numeric_limits<std::size_t>::max();
    auto once = decode_msgpack(encode_msgpack(*p), relaxed);
    if (!once) __builtin_trap();
    auto twice = decode_msgpack(encode_msgpack(*once), relaxed);
    if (!twice || !same(*once, *twice)) __builtin_trap();
    return 0;
}
