#include "sio/codec/ws_frame.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace sio::codec::ws {

namespace {

constexpr std::uint64_t max_control_payload = 125;
constexpr std::size_t max_close_reason = max_control_payload - 2;  // after the 2-byte code

bool is_control(opcode op) noexcept { return (static_cast<unsigned>(op) & 0x8) != 0; }

bool is_known(unsigned op) noexcept { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

const char* name_of(opcode op) noexcept {
    switch (op) {
    case opcode::continuation: return "continuation";
    case opcode::text: return "text";
    case opcode::binary: return "binary";
    case opcode::close: return "close";
    case opcode::ping: return "ping";
    case opcode::pong: return "pong";
    }
    return "reserved";
}

std::uint64_t read_big_endian(const char* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

std::string number(std::uint64_t v) { return std::to_string(v); }

}  // namespace

bool close_code_valid(std::uint16_t code) noexcept {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

// ---------------------------------------------------------------------------------------------
// parser

event parser::next(std::span<char>& in) {
    if (stage_ == stage::failed) return failure();
    drop_delivered();
    for (;;) {
        if (stage_ == stage::header) {
            if (!read_header(in)) return {};  // all of `in` went into the header
            event e = start_frame();
            if (e.type == event::kind::error) return e;
        }
        // A frame whose header is complete goes on at once, even with `in` empty: an empty frame
        // at the end of the input is reported now, not when more bytes come.
        event e = read_payload(in);
        if (e.type != event::kind::need_more || stage_ == stage::payload) return e;
        // A fragment of a message is in; the next frame follows.
    }
}

std::size_t parser::buffered_bytes() const noexcept {
    if (stage_ == stage::failed) return 0;
    std::size_t n = buf_.size();
    if (drop_ == drop::message) n = 0;
    if (drop_ == drop::control_payload) n -= held_control_;
    return n + header_size_;
}

// The payload of the event the last call returned is no longer needed: a control frame's sits at
// the end of the buffer (after the fragments of a message, if one is in progress), a message's is
// the whole buffer. Between messages the buffer is freed, so an idle parser holds no heap memory.
void parser::drop_delivered() noexcept {
    if (drop_ == drop::control_payload) buf_.resize(buf_.size() - held_control_);
    if (drop_ == drop::message) buf_.clear();
    drop_ = drop::nothing;
    held_control_ = 0;
    if (buf_.empty()) release_buffer();
}

void parser::release_buffer() noexcept {
    if (buf_.capacity() > 15) std::string().swap(buf_);
}

// Moves header bytes from `in` into header_ until the header is whole (2 bytes tell how long it
// is: 2, plus 2 or 8 of extended length, plus 4 of masking key). False when `in` ran out first.
bool parser::read_header(std::span<char>& in) noexcept {
    for (;;) {
        std::size_t need = 2;
        if (header_size_ >= 2) {
            const unsigned b1 = static_cast<unsigned char>(header_[1]);
            const unsigned len7 = b1 & 0x7f;
            need += (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) != 0 ? 4 : 0);
        }
        if (header_size_ == need) return true;
        if (in.empty()) return false;
        const std::size_t n = std::min(need - header_size_, in.size());
        std::memcpy(header_.data() + header_size_, in.data(), n);
        header_size_ = static_cast<std::uint8_t>(header_size_ + n);
        in = in.subspan(n);
    }
}

// Checks a whole header against the role, the message in progress and the limits, before any of
// the payload is read, and sets up the frame.
event parser::start_frame() {
    const unsigned b0 = static_cast<unsigned char>(header_[0]);
    const unsigned b1 = static_cast<unsigned char>(header_[1]);
    header_size_ = 0;
    const bool fin = (b0 & 0x80) != 0;
    const bool masked = (b1 & 0x80) != 0;
    const unsigned op = b0 & 0x0f;

    if ((b0 & 0x70) != 0) {
        std::string bits;
        for (unsigned bit = 0; bit < 3; ++bit) {
            if ((b0 & (0x40u >> bit)) == 0) continue;
            if (!bits.empty()) bits += '+';
            bits += "RSV" + number(bit + 1);
        }
        return fail(close_code::protocol_error, bits + " set, but no extension was negotiated");
    }
    if (!is_known(op)) return fail(close_code::protocol_error, std::string("reserved opcode 0x") + "0123456789ABCDEF"[op]);
    if (role_ == role::server && !masked) return fail(close_code::protocol_error, "unmasked frame from a client");
    if (role_ == role::client && masked) return fail(close_code::protocol_error, "masked frame from a server");

    std::uint64_t size = b1 & 0x7f;
    std::size_t pos = 2;
    if (size == 126) {
        size = read_big_endian(header_.data() + pos, 2);
        pos += 2;
        if (size < 126)
            return fail(close_code::protocol_error, "length " + number(size) + " in a 16-bit field, not its shortest encoding");
    } else if (size == 127) {
        size = read_big_endian(header_.data() + pos, 8);
        pos += 8;
        if ((size >> 63) != 0) return fail(close_code::protocol_error, "64-bit length with its most significant bit set");
        if (size <= 0xffff)
            return fail(close_code::protocol_error, "length " + number(size) + " in a 64-bit field, not its shortest encoding");
    }
    if (masked) std::memcpy(mask_key_.data(), header_.data() + pos, 4);

    const auto o = static_cast<opcode>(op);
    if (is_control(o)) {
        if (!fin) return fail(close_code::protocol_error, std::string("fragmented ") + name_of(o) + " frame (FIN clear on a control frame)");
        if (size > max_control_payload)
            return fail(close_code::protocol_error, std::string(name_of(o)) + " frame of " + number(size) +
                                                        " bytes (a control frame has at most 125)");
    } else if (o == opcode::continuation) {
        if (message_ == opcode::continuation)
            return fail(close_code::protocol_error, "continuation frame without a message in progress");
        if (fragments_ >= limits_.max_fragments)
            return fail(close_code::too_big, "message of more than " + number(limits_.max_fragments) + " frames");
        if (fragments_ != UINT32_MAX) ++fragments_;
        // buf_ holds the message so far, never more than max_message.
        if (size > limits_.max_message - buf_.size())
            return fail(close_code::too_big, "message of at least " + number(buf_.size() + size) + " bytes (at most " +
                                                 number(limits_.max_message) + ")");
    } else {
        if (message_ != opcode::continuation)
            return fail(close_code::protocol_error,
                        std::string(name_of(o)) + " frame inside a fragmented message (a continuation was due)");
        if (limits_.max_fragments == 0) return fail(close_code::too_big, "message of more than 0 frames");
        if (size > limits_.max_message)
            return fail(close_code::too_big, "message of " + (fin ? "" : std::string("at least ")) + number(size) +
                                                 " bytes (at most " + number(limits_.max_message) + ")");
        if (!fin) {
            message_ = o;
            fragments_ = 1;
        }
        utf8_.reset();
    }
    frame_op_ = o;
    fin_ = fin;
    masked_ = masked;
    frame_size_ = size;
    frame_read_ = 0;
    stage_ = stage::payload;
    return {};
}

bool parser::frame_is_text() const noexcept {
    return frame_op_ == opcode::text || (frame_op_ == opcode::continuation && message_ == opcode::text);
}

// Reads the current frame's payload. A frame that lies whole in `in` and is a message (or a
// control frame) by itself is unmasked there and reported from there; anything else is unmasked
// piece by piece and kept in buf_ (a text message's UTF-8 checked as each piece arrives).
event parser::read_payload(std::span<char>& in) {
    const bool alone = is_control(frame_op_) || message_ == opcode::continuation;
    if (frame_read_ == 0 && alone && in.size() >= frame_size_) {
        const std::span<char> payload = in.first(static_cast<std::size_t>(frame_size_));
        if (masked_) mask(payload, mask_key_);
        in = in.subspan(payload.size());
        stage_ = stage::header;
        return finish_frame({payload.data(), payload.size()}, false);
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(frame_size_ - frame_read_, in.size()));
    const std::span<char> piece = in.first(n);
    if (masked_) mask(piece, mask_key_, static_cast<std::size_t>(frame_read_));
    in = in.subspan(n);
    frame_read_ += n;
    if (frame_is_text() && !utf8_.feed({piece.data(), n}))
        return fail(close_code::invalid_payload, "text message is not valid UTF-8");
    buf_.append(piece.data(), n);
    if (frame_read_ < frame_size_) return {};
    stage_ = stage::header;
    if (is_control(frame_op_)) return finish_frame(std::string_view(buf_).substr(buf_.size() - frame_size_), true);
    return finish_frame(buf_, true);
}

// A whole frame is in: report it, unless it is a fragment before the last. `held` says whether
// the payload lies in buf_ (then the next call drops it) or in the caller's buffer.
event parser::finish_frame(std::string_view payload, bool held) {
    event e;
    switch (frame_op_) {
    case opcode::close:
        e = close_event(payload);
        break;
    case opcode::ping:
    case opcode::pong:
        e.type = frame_op_ == opcode::ping ? event::kind::ping : event::kind::pong;
        e.payload = payload;
        break;
    default: {
        if (!fin_) return e;
        const bool text = frame_is_text();
        if (text && !held) utf8_.feed(payload);
        if (text && !utf8_.complete())
            return fail(close_code::invalid_payload,
                        held ? "text message ends inside a UTF-8 sequence" : "text message is not valid UTF-8");
        e.type = event::kind::message;
        e.binary = !text;
        e.payload = payload;
        message_ = opcode::continuation;
        fragments_ = 0;
        if (held) drop_ = drop::message;
        return e;
    }
    }
    if (held && e.type != event::kind::error) {
        drop_ = drop::control_payload;
        held_control_ = static_cast<std::uint8_t>(frame_size_);
    }
    return e;
}

event parser::close_event(std::string_view body) {
    event e;
    e.type = event::kind::close;
    if (body.empty()) {
        e.code = close_code::no_status;
        return e;
    }
    if (body.size() == 1) return fail(close_code::protocol_error, "close frame with a 1-byte body (a code takes 2)");
    const auto code = static_cast<std::uint16_t>(read_big_endian(body.data(), 2));
    if (!close_code_valid(code)) return fail(close_code::protocol_error, "close code " + number(code) + ", which no peer may send");
    const std::string_view reason = body.substr(2);
    if (first_invalid_utf8(reason) != std::string_view::npos)
        return fail(close_code::invalid_payload, "close reason is not valid UTF-8");
    e.code = code;
    e.payload = reason;
    return e;
}

// From now on the parser only repeats this error. Whatever it held is freed; buf_ holds the reason.
event parser::fail(std::uint16_t code, std::string reason) {
    release_buffer();
    buf_ = std::move(reason);
    stage_ = stage::failed;
    error_code_ = code;
    message_ = opcode::continuation;
    drop_ = drop::nothing;
    held_control_ = 0;
    header_size_ = 0;
    return failure();
}

event parser::failure() const noexcept {
    event e;
    e.type = event::kind::error;
    e.code = error_code_;
    e.reason = buf_;
    return e;
}

// ---------------------------------------------------------------------------------------------
// writer

std::size_t frame_header(opcode op, bool fin, std::uint64_t payload_size, ws_frame_header_bytes& out,
                         const std::array<char, 4>* mask_key) noexcept {
    const unsigned mask_bit = mask_key != nullptr ? 0x80 : 0;
    std::size_t n = 0;
    out[n++] = static_cast<char>((fin ? 0x80 : 0) | (static_cast<unsigned>(op) & 0x0f));
    if (payload_size < 126) {
        out[n++] = static_cast<char>(mask_bit | static_cast<unsigned>(payload_size));
    } else if (payload_size <= 0xffff) {
        out[n++] = static_cast<char>(mask_bit | 126);
        out[n++] = static_cast<char>((payload_size >> 8) & 0xff);
        out[n++] = static_cast<char>(payload_size & 0xff);
    } else {
        out[n++] = static_cast<char>(mask_bit | 127);
        for (int shift = 56; shift >= 0; shift -= 8) out[n++] = static_cast<char>((payload_size >> shift) & 0xff);
    }
    if (mask_key != nullptr) {
        std::memcpy(out.data() + n, mask_key->data(), 4);
        n += 4;
    }
    return n;
}

// Eight bytes at a time with the key turned to `offset` and repeated twice, then byte by byte.
void mask(std::span<char> data, const std::array<char, 4>& key, std::size_t offset) noexcept {
    std::array<char, 8> k8{};
    for (std::size_t i = 0; i < 8; ++i) k8[i] = key[(offset + i) & 3];
    std::uint64_t k;
    std::memcpy(&k, k8.data(), 8);
    char* p = data.data();
    const std::size_t n = data.size();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        w ^= k;
        std::memcpy(p + i, &w, 8);
    }
    for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ k8[i & 7]);
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
    if (code == close_code::no_status) return {};
    std::string valid;
    if (first_invalid_utf8(reason) != std::string_view::npos) {
        valid = to_valid_utf8(reason);
        reason = valid;
    }
    std::size_t cut = std::min(reason.size(), max_close_reason);
    if (cut < reason.size()) {
        // Back to the first byte of the character the cut falls in.
        while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    }
    std::string out;
    out.reserve(2 + cut);
    out.push_back(static_cast<char>(code >> 8));
    out.push_back(static_cast<char>(code & 0xff));
    out.append(reason.substr(0, cut));
    return out;
}

std::string control_frame(opcode op, std::string_view payload, const std::array<char, 4>* mask_key) {
    payload = payload.substr(0, max_control_payload);
    ws_frame_header_bytes header{};
    const std::size_t n = frame_header(op, true, payload.size(), header, mask_key);
    std::string out;
    out.reserve(n + payload.size());
    out.append(header.data(), n);
    out.append(payload);
    if (mask_key != nullptr) mask({out.data() + n, payload.size()}, *mask_key);
    return out;
}

}  // namespace sio::codec::ws
