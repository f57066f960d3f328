// Engine.IO v3 decoders on arbitrary bytes: the text payload ("<length>:<packet>", lengths in
// UTF-16 units), the XHR2 binary payload, single text packets and binary frames. Byte 0 chooses
// the decoder (bits 0-1) and tight limits (bits 2-3); the other bytes are the input. Whatever
// decodes must encode again, in both payload formats, into something that decodes to the same
// packets.
#include "fuzz_common.hpp"

#include <sio/codec/engine_io.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace {

namespace eio = sio::codec::eio;

constexpr int v3 = eio::protocol_v3;
using sio::fuzz::check;
using sio::fuzz::rejected_with_reason;
using sio::fuzz::unlimited;

// Both payload formats carry every packet a v3 payload decoder can produce.
void check_round_trips(const std::vector<eio::packet>& packets) {
    auto as_text = eio::v3::decode_text_payload(eio::v3::encode_text_payload(packets), unlimited);
    check(as_text && *as_text == packets);
    auto as_binary = eio::v3::decode_binary_payload(eio::v3::encode_binary_payload(packets), unlimited);
    check(as_binary && *as_binary == packets);
}

void text_payload(std::string_view in, const eio::limits& lim) {
    auto first = eio::v3::decode_text_payload(in, lim);
    if (rejected_with_reason(first)) return;
    check(first->size() <= lim.max_packets && in.size() <= lim.max_payload);
    check_round_trips(*first);
}

void binary_payload(std::string_view in, const eio::limits& lim) {
    auto first = eio::v3::decode_binary_payload(in, lim);
    if (rejected_with_reason(first)) return;
    check(first->size() <= lim.max_packets && in.size() <= lim.max_payload);
    check_round_trips(*first);
    check(!in.empty() || first->empty());
}

void text_packet(std::string_view in) {
    auto first = eio::decode_text(in, v3);
    if (rejected_with_reason(first)) return;
    auto second = eio::decode_text(eio::encode_text(*first, v3), v3);
    check(second && *second == *first);
}

void binary_frame(std::string_view in) {
    auto first = eio::decode_binary_frame(in, v3);
    if (rejected_with_reason(first)) return;
    check(first->binary && eio::encode_binary_frame(*first, v3) == in);
    check_round_trips({*first});
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
    case 0: text_payload(in, lim); break;
    case 1: binary_payload(in, lim); break;
    case 2: text_packet(in); break;
    default: binary_frame(in); break;
    }
    return 0;
}
