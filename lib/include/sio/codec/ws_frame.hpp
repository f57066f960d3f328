// The WebSocket frame codec (RFC 6455 section 5), sans-I/O: an incremental parser for the frames
// a peer sends after the HTTP upgrade, and the writer's pieces (frame header, masking, close and
// control frames). The transports read and write the socket; this file only turns bytes into
// messages and back.
//
// What the parser checks, and the close code each failure carries (RFC 6455 section 7.4.1):
//   1002 protocol_error    a frame masked the wrong way for the role (a client must mask, a server
//                          must not), RSV1-3 set (no extension is ever negotiated), a reserved
//                          opcode, a control frame that is fragmented or longer than 125 bytes, a
//                          continuation without a message or a new message inside one, a 64-bit
//                          length with its top bit set or a length not in its shortest encoding,
//                          a close frame with a 1-byte body or a code no peer may send
//   1007 invalid_payload   a text message or a close reason that is not UTF-8
//   1009 too_big           a data message over parser_limits (bytes, or frames), refused from the
//                          frame header, before its payload is read or kept
//
// Memory. A frame that lies whole in the caller's buffer is unmasked there and handed up as a
// view: no copy. Only a frame split across reads, or a message in several frames, is copied into
// the parser, whose buffer is released as soon as the message is out: an idle parser holds no
// heap memory, and sizeof(parser) is about 100 bytes.
#pragma once

#include "sio/codec/utf8.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sio::codec {

// At most 2 + 8 bytes of length + 4 of masking key.
using ws_frame_header_bytes = std::array<char, 14>;

namespace ws {

enum class opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

// Close codes of RFC 6455 section 7.4.1 that this library sends or reports.
namespace close_code {
inline constexpr std::uint16_t normal = 1000, going_away = 1001, protocol_error = 1002, unsupported_data = 1003,
                               no_status = 1005, abnormal = 1006, invalid_payload = 1007, policy_violation = 1008,
                               too_big = 1009, internal_error = 1011;
}  // namespace close_code

// A code a peer may send in a close frame: 1000-1003, 1007-1014 (RFC 6455 and the IANA registry)
// and 3000-4999 (libraries and applications). 1004-1006 and 1015 are reserved for reports that
// never go on the wire; <1000, 1016-2999 and >=5000 are not assigned.
bool close_code_valid(std::uint16_t code) noexcept;

// Who parses: a server requires masked frames, a client refuses them (RFC 6455 section 5.1).
enum class role : std::uint8_t { server, client };

struct parser_limits {
    std::size_t max_message = 1'000'000;  // payload bytes of one data message, all its fragments together
    std::size_t max_fragments = 4096;     // frames of one data message
};

// What one call to parser::next() found.
struct event {
    enum class kind : std::uint8_t { need_more, message, ping, pong, close, error };
    kind type = kind::need_more;
    bool binary = false;       // message: binary, or text (then already checked to be UTF-8)
    std::string_view payload;  // message, ping, pong: the (unmasked) payload; close: the reason text
    std::uint16_t code = 0;    // close: the peer's code (close_code::no_status when the frame had no body);
                               // error: the code to close with (1002, 1007 or 1009)
    std::string_view reason;   // error: a sentence for a log ("unmasked frame from a client", ...)
};

// The incremental frame parser of one connection's incoming direction. Feed it whatever the socket
// gave, in pieces of any size; it reports whole messages (fragments joined) and each control
// frame as it arrives, also between the fragments of a message. It never throws (beyond running
// out of memory for a message within the limits) and never reads past the span it is given.
class parser {
public:
    explicit parser(role r, parser_limits limits = {}) noexcept : limits_(limits), role_(r) {}

    // Parses from the front of `in` and advances `in` past what it consumed; unmasks in place
    // (hence mutable). Returns at most one event per call; call again until need_more. need_more
    // means all of `in` was consumed and a partial frame or message is kept inside. Views in the
    // event point into `in` or into the parser and stay valid until the next call to next() (or
    // the parser's destruction). After an error, every further call returns the same error
    // without consuming anything.
    event next(std::span<char>& in);

    // Bytes held between calls: a partial frame header, a partial frame, the fragments of a
    // message so far. Not the payload of the event just returned, which the next call drops.
    std::size_t buffered_bytes() const noexcept;
    // Inside a fragmented data message: its first frame (FIN clear) came, its last has not.
    bool in_message() const noexcept { return message_ != opcode::continuation; }
    // True once next() has returned an error (it returns that error from then on).
    bool failed() const noexcept { return stage_ == stage::failed; }

private:
    enum class stage : std::uint8_t { header, payload, failed };
    // What the start of the next call drops: the payload of the event just returned, if the
    // parser holds it.
    enum class drop : std::uint8_t { nothing, control_payload, message };

    void drop_delivered() noexcept;
    bool read_header(std::span<char>& in) noexcept;
    event start_frame();
    event read_payload(std::span<char>& in);
    event finish_frame(std::string_view payload, bool held);
    event close_event(std::string_view body);
    event fail(std::uint16_t code, std::string reason);
    event failure() const noexcept;
    bool frame_is_text() const noexcept;
    void release_buffer() noexcept;

    std::string buf_;              // the message (or split frame) so far, then a split control frame's
                                   // payload; after an error, the error's reason
    parser_limits limits_;
    std::uint64_t frame_size_ = 0;  // payload bytes of the current frame
    std::uint64_t frame_read_ = 0;  // of which read so far
    std::uint32_t fragments_ = 0;   // frames of the current fragmented message (saturates)
    std::array<char, 4> mask_key_{};
    std::array<char, 14> header_{};  // the current frame's header, as far as it has come
    std::uint8_t header_size_ = 0;
    std::uint8_t held_control_ = 0;  // size of a delivered control payload at the end of buf_
    role role_;
    stage stage_ = stage::header;
    drop drop_ = drop::nothing;
    opcode frame_op_ = opcode::continuation;  // the current frame's opcode
    opcode message_ = opcode::continuation;   // text or binary inside a fragmented message, else continuation
    bool fin_ = false;
    bool masked_ = false;
    std::uint16_t error_code_ = 0;
    utf8_validator utf8_;  // the current text message, as far as it has come
};

// Writes the header of a frame of `payload_size` bytes to the front of `out`, with the payload
// length in its shortest encoding; with `mask_key`, the mask bit and the key (the caller masks the
// payload with mask()). Returns the header's length: 2 to 14 bytes.
std::size_t frame_header(opcode op, bool fin, std::uint64_t payload_size, ws_frame_header_bytes& out,
                         const std::array<char, 4>* mask_key = nullptr) noexcept;

// XORs `data` in place with `key`; `offset` is the position of data[0] in the frame's payload, so
// that a payload masked in pieces equals the payload masked whole. Masking twice unmasks.
void mask(std::span<char> data, const std::array<char, 4>& key, std::size_t offset = 0) noexcept;

// The body of a close frame: the 2-byte code, then `reason` made UTF-8 (ill-formed bytes become
// U+FFFD) and cut at a character boundary to fit the 125 bytes of a control frame. For
// close_code::no_status, which is never sent, the empty body that means it.
std::string close_payload(std::uint16_t code, std::string_view reason);

// One whole close, ping or pong frame (FIN set), masked with `mask_key` when given; a payload
// over 125 bytes is cut to 125.
std::string control_frame(opcode op, std::string_view payload, const std::array<char, 4>* mask_key = nullptr);

}  // namespace ws

// Writes the header of a final text (or binary) frame of `payload_size` bytes to the front of
// `out`; with `mask_key`, the frame is masked with it (the caller XORs the payload). Returns the
// header's length. The single-frame case of ws::frame_header, for the writers that predate it.
inline std::size_t ws_frame_header(bool binary, std::uint64_t payload_size, ws_frame_header_bytes& out,
                                   const std::array<char, 4>* mask_key = nullptr) noexcept {
    return ws::frame_header(binary ? ws::opcode::binary : ws::opcode::text, true, payload_size, out, mask_key);
}

}  // namespace sio::codec
