#include "sio/codec/engine_io.hpp"

#include "sio/codec/utf8.hpp"

#include "sio/codec/base64.hpp"
#include "sio/codec/json.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sio::codec::eio {
namespace {

constexpr char record_separator = '\x1e';
constexpr unsigned char binary_length_end = 0xFF;
constexpr std::size_t max_length_digits = 19;  // every 19-digit decimal fits in 64 bits

bool is_v3(int protocol) noexcept { return protocol == protocol_v3; }

unsigned char byte_at(std::string_view s, std::size_t i) noexcept { return static_cast<unsigned char>(s[i]); }

std::optional<packet_type> type_from_value(unsigned v) noexcept {
    if (v > static_cast<unsigned>(packet_type::noop)) return std::nullopt;
    return static_cast<packet_type>(v);
}

std::optional<packet_type> type_from_digit(char c) noexcept {
    if (c < '0' || c > '9') return std::nullopt;
    return type_from_value(static_cast<unsigned>(c - '0'));
}

char type_digit(packet_type t) noexcept { return static_cast<char>('0' + static_cast<int>(t)); }

std::string hex_byte(unsigned char u) {
    constexpr std::string_view hex = "0123456789abcdef";
    return std::string("0x") + hex[u >> 4] + hex[u & 0xF];
}

// "'x'" for a printable character, "byte 0xNN" otherwise, so that a reason never carries raw
// control bytes or broken UTF-8 into a log line.
std::string describe_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string("'") + c + "'";
    return "byte " + hex_byte(u);
}

// Prefixes a reason with where the failing packet sits in its payload.
error in_packet(error e, std::size_t index, std::size_t offset) {
    e.reason = "packet " + std::to_string(index) + " at byte " + std::to_string(offset) + ": " + e.reason;
    return e;
}

error too_large(std::size_t size, std::size_t limit) {
    return make_error(errc::payload_too_large, "payload of " + std::to_string(size) +
                                                   " bytes exceeds the limit of " + std::to_string(limit) + " bytes");
}

error too_many(std::size_t limit) {
    return make_error(errc::too_many_packets,
                      "payload holds more than the limit of " + std::to_string(limit) + " packets");
}

// --- UTF-8 -----------------------------------------------------------------------------------

// What JavaScript's String.length says of the UTF-8 text `s` (assumed valid): one code unit per
// code point, two for those above U+FFFF (a surrogate pair), which are exactly the 4-byte ones.
std::size_t utf16_length(std::string_view s) noexcept {
    std::size_t units = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const unsigned b = byte_at(s, i);
        if ((b & 0xC0) != 0x80) units += b >= 0xF0 ? 2 : 1;  // count lead bytes only
    }
    return units;
}

// --- length prefixes of the v3 payloads ------------------------------------------------------

// The two spellings of a v3 length: ASCII digits ended by ':' (text payload) or bytes 0..9 ended
// by 0xFF (binary payload).
struct length_syntax {
    bool digit_bytes;
    unsigned char terminator;
};

std::optional<unsigned> digit_value(unsigned char c, const length_syntax& syntax) noexcept {
    if (syntax.digit_bytes) return c <= 9 ? std::optional<unsigned>(c) : std::nullopt;
    return c >= '0' && c <= '9' ? std::optional<unsigned>(c - '0') : std::nullopt;
}

std::string digits_for_display(std::string_view digits, const length_syntax& syntax) {
    std::string out;
    for (const char c : digits.substr(0, 24)) out += syntax.digit_bytes ? static_cast<char>('0' + c) : c;
    if (digits.size() > 24) out += "...";
    return out;
}

// Reads a length prefix at `pos` and leaves `pos` after its terminator. The length is checked
// against the limit first, then against the bytes left after the prefix, before anything is
// allocated for it. For the text payload the length counts UTF-16 units, never more than the
// bytes of the same text, so the byte check is a safe early bound there and exact for bytes.
result<std::uint64_t> read_length(std::string_view in, std::size_t& pos, const length_syntax& syntax,
                                  const limits& lim, std::size_t index) {
    const std::size_t start = pos;
    const auto fail = [&](errc code, std::string reason) { return in_packet(make_error(code, std::move(reason)), index, start); };
    while (pos < in.size() && byte_at(in, pos) != syntax.terminator) {
        if (!digit_value(byte_at(in, pos), syntax)) {
            const std::string what = syntax.digit_bytes ? "byte " + hex_byte(byte_at(in, pos)) : describe_char(in[pos]);
            return fail(errc::invalid_length, "length prefix has " + what + " at byte " + std::to_string(pos) +
                                                  (syntax.digit_bytes ? ", expected a digit byte 0..9 or 0xff"
                                                                      : ", expected a digit or ':'"));
        }
        ++pos;
    }
    const std::string_view digits = in.substr(start, pos - start);
    const std::string shown = digits_for_display(digits, syntax);
    if (pos == in.size()) {
        return fail(errc::invalid_length, digits.empty() ? std::string("missing length prefix")
                                          : "length prefix " + shown + " is not followed by " +
                                                (syntax.digit_bytes ? "a 0xff byte" : "':'"));
    }
    ++pos;  // the terminator
    if (digits.empty()) return fail(errc::invalid_length, "empty length prefix");
    if (digits.size() > 1 && digit_value(byte_at(digits, 0), syntax) == 0u) {
        return fail(errc::invalid_length, "length prefix " + shown + " has a leading zero");
    }
    if (digits.size() > max_length_digits) {
        return fail(errc::payload_too_large,
                    "length prefix " + shown + " exceeds the limit of " + std::to_string(lim.max_payload) + " bytes");
    }
    std::uint64_t value = 0;
    for (const char c : digits) value = value * 10 + *digit_value(static_cast<unsigned char>(c), syntax);
    if (value > lim.max_payload) {
        return fail(errc::payload_too_large, "length prefix " + std::to_string(value) + " exceeds the limit of " +
                                                 std::to_string(lim.max_payload) + " bytes");
    }
    const std::size_t left = in.size() - pos;
    if (value > left) {
        return fail(errc::invalid_length, "length prefix " + std::to_string(value) + " exceeds the " +
                                              std::to_string(left) + " bytes left");
    }
    return value;
}

// The end of the text that starts at `pos` and spans `units` UTF-16 code units.
result<std::size_t> skip_utf16_units(std::string_view in, std::size_t pos, std::uint64_t units) {
    const std::uint64_t wanted = units;
    while (units > 0) {
        if (pos == in.size()) {
            return make_error(errc::invalid_length, "length prefix " + std::to_string(wanted) +
                                                        " exceeds the input left (" + std::to_string(wanted - units) +
                                                        " UTF-16 units)");
        }
        const std::size_t n = utf8_sequence_length(in, pos);
        if (n == 0) return make_error(errc::invalid_utf8, "invalid UTF-8 at byte " + std::to_string(pos));
        const unsigned cost = n == 4 ? 2 : 1;
        if (cost > units) {
            return make_error(errc::invalid_length, "length prefix " + std::to_string(wanted) +
                                                        " ends inside the surrogate pair of the character at byte " +
                                                        std::to_string(pos));
        }
        units -= cost;
        pos += n;
    }
    return pos;
}

void append_decimal_digit_bytes(std::size_t n, std::string& out) {
    for (const char c : std::to_string(n)) out += static_cast<char>(c - '0');
}

// --- handshake helpers -----------------------------------------------------------------------

error bad_handshake(std::string reason) { return make_error(errc::invalid_handshake, "handshake " + std::move(reason)); }

// Built by appending: GCC 12 reports a false -Wrestrict for "\"" + std::string(key) + "\"".
std::string quoted(std::string_view key) {
    std::string out;
    out.reserve(key.size() + 2);
    out += '"';
    out += key;
    out += '"';
    return out;
}

std::string a_type(const json& v) {
    const std::string name = v.type_name();
    return (name == "object" || name == "array" ? "an " : "a ") + name;
}

// Reads obj[key] as a non-negative whole number (of milliseconds or bytes). JavaScript has one
// number type, so a whole number written as a float (25000.0) is accepted.
std::optional<error> read_whole_number(const json& obj, std::string_view key, std::optional<std::uint64_t>& out) {
    const auto it = obj.find(key);
    if (it == obj.end()) return std::nullopt;
    const json& v = *it;
    if (v.is_number_unsigned()) {
        out = v.get<std::uint64_t>();
    } else if (v.is_number_integer()) {
        const auto n = v.get<std::int64_t>();
        if (n < 0) return bad_handshake(quoted(key) + " is negative (" + std::to_string(n) + ")");
        out = static_cast<std::uint64_t>(n);
    } else if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!std::isfinite(d) || d < 0) return bad_handshake(quoted(key) + " is negative or not finite");
        if (d != std::floor(d)) return bad_handshake(quoted(key) + " is not a whole number");
        if (d > 9007199254740992.0) return bad_handshake(quoted(key) + " is too large");  // 2^53
        out = static_cast<std::uint64_t>(d);
    } else {
        return bad_handshake(quoted(key) + " is " + a_type(v) + ", expected a number");
    }
    return std::nullopt;
}

std::optional<error> read_required_number(const json& obj, std::string_view key, std::uint64_t& out) {
    std::optional<std::uint64_t> v;
    if (auto e = read_whole_number(obj, key, v)) return e;
    if (!v) return bad_handshake("has no " + quoted(key));
    out = *v;
    return std::nullopt;
}

std::optional<error> read_upgrades(const json& obj, std::vector<std::string>& out) {
    const auto it = obj.find("upgrades");
    if (it == obj.end()) return std::nullopt;
    if (!it->is_array()) return bad_handshake("\"upgrades\" is " + a_type(*it) + ", expected an array");
    out.reserve(it->size());
    for (std::size_t i = 0; i < it->size(); ++i) {
        const json& e = (*it)[i];
        if (!e.is_string()) {
            return bad_handshake("\"upgrades\"[" + std::to_string(i) + "] is " + a_type(e) + ", expected a string");
        }
        out.push_back(e.get<std::string>());
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(packet_type t) noexcept {
    switch (t) {
    case packet_type::open: return "open";
    case packet_type::close: return "close";
    case packet_type::ping: return "ping";
    case packet_type::pong: return "pong";
    case packet_type::message: return "message";
    case packet_type::upgrade: return "upgrade";
    case packet_type::noop: return "noop";
    }
    return "unknown";
}

// --- single packets --------------------------------------------------------------------------

std::string encode_text(const packet& p, int protocol) {
    std::string out;
    if (p.binary) {
        const bool v3 = is_v3(protocol);
        out.reserve(2 + base64_encoded_size(p.data.size()));
        out += 'b';
        if (v3) out += type_digit(p.type);
        base64_encode_append(p.data, out);
        return out;
    }
    out.reserve(1 + p.data.size());
    out += type_digit(p.type);
    out += p.data;
    return out;
}

result<packet> decode_text(std::string_view text, int protocol) {
    if (text.empty()) return make_error(errc::empty_input, "empty packet");
    if (text[0] == 'b') {
        packet p{packet_type::message, {}, true};
        std::string_view encoded = text.substr(1);
        if (is_v3(protocol)) {
            if (encoded.empty()) return make_error(errc::unknown_packet_type, "binary packet has no type after 'b'");
            const auto t = type_from_digit(encoded[0]);
            if (!t) return make_error(errc::unknown_packet_type, "unknown packet type " + describe_char(encoded[0]) + " after 'b'");
            p.type = *t;
            encoded.remove_prefix(1);
        }
        auto bytes = base64_decode(encoded);
        if (!bytes) {
            return make_error(errc::invalid_base64, "binary packet: " + bytes.err().reason);
        }
        p.data = std::move(*bytes);
        return p;
    }
    const auto t = type_from_digit(text[0]);
    if (!t) return make_error(errc::unknown_packet_type, "unknown packet type " + describe_char(text[0]));
    return packet{*t, std::string(text.substr(1)), false};
}

std::string encode_binary_frame(const packet& p, int protocol) {
    if (!is_v3(protocol)) return p.data;
    std::string out;
    out.reserve(1 + p.data.size());
    out += static_cast<char>(p.type);
    out += p.data;
    return out;
}

result<packet> decode_binary_frame(std::string_view frame, int protocol) {
    if (!is_v3(protocol)) return packet{packet_type::message, std::string(frame), true};
    if (frame.empty()) return make_error(errc::empty_input, "empty binary packet (no type byte)");
    const auto t = type_from_value(byte_at(frame, 0));
    if (!t) return make_error(errc::unknown_packet_type, "unknown packet type byte " + hex_byte(byte_at(frame, 0)));
    return packet{*t, std::string(frame.substr(1)), true};
}

// --- v4 polling payload ----------------------------------------------------------------------

bool can_encode_in_payload(const packet& p) noexcept {
    return p.binary || p.data.find(record_separator) == std::string::npos;
}

std::string encode_payload(std::span<const packet> packets) {
    std::size_t size = packets.empty() ? 0 : packets.size() - 1;
    for (const auto& p : packets) size += 1 + (p.binary ? base64_encoded_size(p.data.size()) : p.data.size());
    std::string out;
    out.reserve(size);
    for (std::size_t i = 0; i < packets.size(); ++i) {
        if (i != 0) out += record_separator;
        const packet& p = packets[i];
        if (p.binary) {
            out += 'b';
            base64_encode_append(p.data, out);
        } else {
            out += type_digit(p.type);
            out += p.data;
        }
    }
    return out;
}

result<std::vector<packet>> decode_payload(std::string_view body, const limits& lim) {
    if (body.size() > lim.max_payload) return too_large(body.size(), lim.max_payload);
    if (body.empty()) return make_error(errc::empty_input, "empty payload");
    const auto count = static_cast<std::size_t>(std::count(body.begin(), body.end(), record_separator)) + 1;
    if (count > lim.max_packets) return too_many(lim.max_packets);

    std::vector<packet> out;
    out.reserve(count);
    std::size_t pos = 0;
    for (std::size_t index = 0; index < count; ++index) {
        const std::size_t end = std::min(body.find(record_separator, pos), body.size());
        auto p = decode_text(body.substr(pos, end - pos), protocol_v4);
        if (!p) return in_packet(p.err(), index, pos);
        out.push_back(std::move(*p));
        pos = end + 1;
    }
    return out;
}

// --- handshake -------------------------------------------------------------------------------

std::string encode_handshake(const handshake& h) {
    json j = json::object();
    j["sid"] = h.sid;
    j["upgrades"] = h.upgrades;
    j["pingInterval"] = h.ping_interval_ms;
    j["pingTimeout"] = h.ping_timeout_ms;
    if (h.max_payload) j["maxPayload"] = *h.max_payload;
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<handshake> decode_handshake(std::string_view json_text) {
    const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return make_error(errc::invalid_json, "handshake is not valid JSON");
    if (!j.is_object()) return bad_handshake("is " + a_type(j) + ", expected an object");

    handshake h;
    const auto sid = j.find("sid");
    if (sid == j.end()) return bad_handshake("has no \"sid\"");
    if (!sid->is_string()) return bad_handshake("\"sid\" is " + a_type(*sid) + ", expected a string");
    h.sid = sid->get<std::string>();
    if (h.sid.empty()) return bad_handshake("\"sid\" is empty");
    if (auto e = read_upgrades(j, h.upgrades)) return *e;
    if (auto e = read_required_number(j, "pingInterval", h.ping_interval_ms)) return *e;
    if (auto e = read_required_number(j, "pingTimeout", h.ping_timeout_ms)) return *e;
    if (auto e = read_whole_number(j, "maxPayload", h.max_payload)) return *e;
    return h;
}

// --- v3 polling payloads ---------------------------------------------------------------------
namespace v3 {
namespace {

// encode_text(p, 3), with text made valid UTF-8 first: both v3 payloads need it (one counts
// UTF-16 units, the other is decoded as UTF-8 by the receiver).
std::string encode_v3_text(const packet& p) {
    if (p.binary || first_invalid_utf8(p.data) == std::string_view::npos) return encode_text(p, protocol_v3);
    return encode_text(packet{p.type, to_valid_utf8(p.data), false}, protocol_v3);
}

constexpr length_syntax text_length{false, ':'};
constexpr length_syntax binary_length{true, binary_length_end};

}  // namespace

std::string encode_text_payload(std::span<const packet> packets) {
    if (packets.empty()) return "0:";
    std::string out;
    for (const auto& p : packets) {
        const std::string text = encode_v3_text(p);
        out += std::to_string(utf16_length(text));
        out += ':';
        out += text;
    }
    return out;
}

result<std::vector<packet>> decode_text_payload(std::string_view in, const limits& lim) {
    if (in.size() > lim.max_payload) return too_large(in.size(), lim.max_payload);
    if (in.empty()) return make_error(errc::empty_input, "empty payload");
    std::vector<packet> out;
    std::size_t pos = 0;
    while (pos < in.size()) {
        const std::size_t index = out.size();
        const std::size_t start = pos;
        auto units = read_length(in, pos, text_length, lim, index);
        if (!units) return units.err();
        if (*units == 0) continue;  // "0:" carries nothing (an empty payload is written so)
        auto end = skip_utf16_units(in, pos, *units);
        if (!end) return in_packet(end.err(), index, start);
        if (out.size() == lim.max_packets) return too_many(lim.max_packets);
        auto p = decode_text(in.substr(pos, *end - pos), protocol_v3);
        if (!p) return in_packet(p.err(), index, start);
        out.push_back(std::move(*p));
        pos = *end;
    }
    return out;
}

std::string encode_binary_payload(std::span<const packet> packets) {
    std::string out;
    for (const auto& p : packets) {
        if (p.binary) {
            out += '\x01';
            append_decimal_digit_bytes(1 + p.data.size(), out);
            out += static_cast<char>(binary_length_end);
            out += static_cast<char>(p.type);
            out += p.data;
        } else {
            const std::string text = encode_v3_text(p);
            out += '\x00';
            append_decimal_digit_bytes(text.size(), out);
            out += static_cast<char>(binary_length_end);
            out += text;
        }
    }
    return out;
}

result<std::vector<packet>> decode_binary_payload(std::string_view in, const limits& lim) {
    if (in.size() > lim.max_payload) return too_large(in.size(), lim.max_payload);
    std::vector<packet> out;
    std::size_t pos = 0;
    while (pos < in.size()) {
        const std::size_t index = out.size();
        const std::size_t start = pos;
        const unsigned char marker = byte_at(in, pos);
        if (marker > 1) {
            return in_packet(make_error(errc::invalid_length, "marker byte " + hex_byte(marker) +
                                                                  " is neither 0x00 (text) nor 0x01 (binary)"),
                             index, start);
        }
        ++pos;
        auto length = read_length(in, pos, binary_length, lim, index);
        if (!length) return length.err();
        if (out.size() == lim.max_packets) return too_many(lim.max_packets);
        const std::string_view body = in.substr(pos, static_cast<std::size_t>(*length));
        if (marker == 0) {
            if (const auto bad = first_invalid_utf8(body); bad != std::string_view::npos) {
                return in_packet(make_error(errc::invalid_utf8, "text is not UTF-8 at byte " + std::to_string(pos + bad)),
                                 index, start);
            }
        }
        auto p = marker == 0 ? decode_text(body, protocol_v3) : decode_binary_frame(body, protocol_v3);
        if (!p) return in_packet(p.err(), index, start);
        out.push_back(std::move(*p));
        pos += body.size();
    }
    return out;
}

}  // namespace v3
}  // namespace sio::codec::eio
