#include "sio/codec/error.hpp"

namespace sio::codec {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "sio.codec"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::ok: return "success";
        case errc::empty_input: return "empty input";
        case errc::unknown_packet_type: return "unknown packet type";
        case errc::invalid_base64: return "invalid base64";
        case errc::invalid_length: return "invalid length prefix";
        case errc::payload_too_large: return "payload too large";
        case errc::invalid_json: return "invalid JSON";
        case errc::invalid_namespace: return "invalid namespace";
        case errc::invalid_ack_id: return "invalid ack id";
        case errc::invalid_attachments: return "invalid attachment count";
        case errc::too_many_attachments: return "too many attachments";
        case errc::invalid_payload: return "invalid payload";
        case errc::unexpected_binary: return "unexpected binary frame";
        case errc::unexpected_text: return "unexpected text frame while awaiting attachments";
        case errc::invalid_handshake: return "invalid handshake";
        case errc::too_many_packets: return "too many packets in payload";
        case errc::invalid_utf8: return "invalid UTF-8";
        }
        return "unknown sio.codec error";
    }
};

}  // namespace

const std::error_category& codec_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace sio::codec
