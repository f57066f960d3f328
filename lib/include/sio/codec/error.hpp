// Errors and results of the sans-I/O codec (layer 0).
//
// The codec never throws. Every decoding function returns a `result<T>`: either the value or an
// `error` carrying a machine-readable code (category "sio.codec") and a reason a person can read.
#pragma once

#include <cassert>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace sio::codec {

enum class errc {
    ok = 0,
    empty_input,          // nothing to decode
    unknown_packet_type,  // first character is not a known packet type
    invalid_base64,       // `b` packet whose body is not valid base64
    invalid_length,       // a length prefix (Engine.IO v3) is malformed or disagrees with the input
    payload_too_large,    // input exceeds the configured limit
    invalid_json,         // JSON text does not parse
    invalid_namespace,    // namespace does not start with '/' or is not terminated
    invalid_ack_id,       // ack id is not a decimal number in range
    invalid_attachments,  // attachment count malformed
    too_many_attachments, // attachment count over the configured limit
    invalid_payload,      // payload is not valid for the packet type
    unexpected_binary,    // a binary frame arrived while no binary packet was being reconstructed
    unexpected_text,      // a text frame arrived while attachments were still expected
    invalid_handshake,    // open packet data is not a valid handshake object
    too_many_packets,     // a payload holds more packets than the configured limit
    invalid_utf8,         // text that must be UTF-8 (Engine.IO v3 payloads) is not
};

const std::error_category& codec_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), codec_category()};
}

// A decoding failure: the code says what kind, the reason says exactly what and where.
struct error {
    std::error_code code;
    std::string reason;
};

inline error make_error(errc e, std::string reason) {
    return error{make_error_code(e), std::move(reason)};
}

// Either a T or an error. Accessing the wrong alternative is a programming error (asserts).
template <class T>
class result {
public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    result(error err) : v_(std::in_place_index<1>, std::move(err)) {}   // NOLINT: implicit by design

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & {
        assert(has_value());
        return *std::get_if<0>(&v_);
    }
    const T& value() const& {
        assert(has_value());
        return *std::get_if<0>(&v_);
    }
    T&& value() && {
        assert(has_value());
        return std::move(*std::get_if<0>(&v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const error& err() const& {
        assert(!has_value());
        return *std::get_if<1>(&v_);
    }

private:
    std::variant<T, error> v_;
};

}  // namespace sio::codec

template <>
struct std::is_error_code_enum<sio::codec::errc> : std::true_type {};
