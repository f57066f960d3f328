// Engine.IO v4 decoders on arbitrary bytes: the polling payload, single text packets, WebSocket
// binary frames and the handshake. Byte 0 chooses the decoder (bits 0-1) and tight limits
// (bits 2-3); the other bytes are the input. Whatever decodes must encode again into something
// that decodes to the same value.
#include "fuzz_common.hpp"

#include <sio/codec/engine_io.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace {

namespace eio = sio::codec::eio;

using sio::fuzz::check;
using sio::fuzz::rejected_with_reason;
using sio::fuzz::unlimited;

void payload(std::string_view in, const eio::limits& lim) {
    auto first = eio::decode_payload(in, lim);
    if (rejected_with_reason(first)) return;
    check(!first->empty() && first->size() <= lim.max_packets && in.size() <= lim.max_payload);
    for (const auto& p : *first) check(eio::can_encode_in_payload(p) && (!p.binary || p.type == eio::packet_type::message));
    auto second = eio::decode_payload(eio::encode_payload(*first), unlimited);
    check(second && *second == *first);
}

void text_packet(std::string_view in) {
    auto first = eio::decode_text(in);
    if (rejected_with_reason(first)) return;
    auto second = eio::decode_text(eio::encode_text(*first));
    check(second && *second == *first);
}

void binary_frame(std::string_view in) {
    auto first = eio::decode_binary_frame(in);
    check(first && first->binary && first->data == in);
    check(eio::encode_binary_frame(*first) == in);
    // The same packet through a polling payload, as base64.
    auto polled = eio::decode_payload(eio::encode_payload({&*first, 1}), unlimited);
    check(polled && polled->size() == 1 && polled->front() == *first);
}

void handshake(std::string_view in) {
    auto first = eio::decode_handshake(in);
    if (rejected_with_reason(first)) return;
    check(!first->sid.empty());
    auto second = eio::decode_handshake(eio::encode_handshake(*first));
    check(second && *second == *first);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t selector = data[0];
    const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    eio::limits lim;
    if (selector & 0x04) lim.max_payload = 64;
    if (selector & 0x08) lim.max_packets = 3;
    switch (selector & 0x03) {
    case 0: payload(in, lim); break;
    case 1: text_packet(in); break;
    case 2: binary_frame(in); break;
    default: handshake(in); break;
    }
    return 0;
}
