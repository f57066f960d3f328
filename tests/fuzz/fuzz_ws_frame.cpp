// Fuzzes the WebSocket frame parser (codec/ws_frame.hpp) two ways on every input.
//
// 1. The input, after a 3-byte prefix, as the bytes of a connection: parsed once in one piece and
//    once in the pieces the prefix chooses. Every event must keep the parser's promises (need_more
//    consumed the piece, a message is within max_message, a text message is UTF-8, a close code is
//    one a peer may send, an error carries 1002, 1007 or 1009 and a reason, and repeats itself
//    without consuming), and both runs must report the same events: how the socket split the
//    bytes may not matter.
// 2. The input as a recipe for messages: written with frame_header and mask (fragmented at the
//    recipe's points, pings, pongs and closes between the fragments, masked when a client sends),
//    then parsed in pieces, with the limits set to exactly the largest message and the most
//    fragments. The same messages and control frames must come back, and nothing stay held.
//
// Prefix:
//   byte 0, bit 0     role of the parser: 0 server (frames must be masked), 1 client
//   byte 0, bits 1-2  max_message (part 1): 1'000'000, 0, 16, 300
//   byte 0, bits 3-4  max_fragments (part 1): 4096, 1, 2, 5
//   bytes 1-2         the chunking: bits 0-1 of byte 1 pick pieces of 1 byte, 0-16, 0-300 or
//                     1-4096 bytes; the rest seed the sizes
#include "fuzz_common.hpp"

#include <sio/codec/utf8.hpp>
#include <sio/codec/ws_frame.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace ws = sio::codec::ws;
using kind = ws::event::kind;
using sio::fuzz::check;

// An event copied out of its views.
struct record {
    kind type = kind::need_more;
    bool binary = false;
    std::string payload;
    std::uint16_t code = 0;
    bool operator==(const record&) const = default;
};

// Sizes of the pieces handed to next(), from a seed.
class chunker {
public:
    chunker(std::uint8_t a, std::uint8_t b) noexcept : mode_(a & 3), state_(0x9E3779B97F4A7C15ull ^ (a << 8 | b)) {}
    std::size_t next(std::size_t left) noexcept {
        std::size_t n = 0;
        switch (mode_) {
        case 0: n = 1; break;
        case 1: n = rand() % 17; break;
        case 2: n = rand() % 301; break;
        default: n = 1 + rand() % 4096; break;
        }
        return n < left ? n : left;
    }

private:
    std::uint64_t rand() noexcept {  // splitmix64
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    unsigned mode_;
    std::uint64_t state_;
};

bool is_utf8(std::string_view s) { return sio::codec::first_invalid_utf8(s) == std::string_view::npos; }

// Feeds `wire` to a parser in the pieces `pieces` chooses (or whole), checks each event's
// promises, and returns the events up to the first error (which is checked to stick). The
// boolean says whether the parser ended idle: nothing held, no message open, no error.
std::vector<record> run(ws::role r, const ws::parser_limits& limits, std::string wire, chunker* pieces, bool* idle) {
    ws::parser p(r, limits);
    std::vector<record> out;
    std::size_t at = 0;
    for (;;) {
        const std::size_t left = wire.size() - at;
        const std::size_t n = pieces != nullptr ? pieces->next(left) : left;
        std::span<char> in(wire.data() + at, n);
        at += n;
        for (;;) {
            const std::size_t before = in.size();
            const ws::event e = p.next(in);
            check(in.size() <= before);
            if (e.type == kind::need_more) {
                check(in.empty());
                check(!p.failed());
                // At most a message, a control frame's payload and a header.
                check(p.buffered_bytes() <= limits.max_message + 125 + 14);
                break;
            }
            // Every event comes with bytes of this call: the frame that completes it.
            check(in.size() < before);
            switch (e.type) {
            case kind::message:
                check(e.payload.size() <= limits.max_message);
                check(e.binary || is_utf8(e.payload));
                check(!p.in_message());
                break;
            case kind::ping:
            case kind::pong:
                check(e.payload.size() <= 125);
                break;
            case kind::close:
                check(e.code == ws::close_code::no_status ? e.payload.empty() : ws::close_code_valid(e.code));
                check(e.payload.size() <= 123 && is_utf8(e.payload));
                break;
            case kind::error: {
                check(e.code == ws::close_code::protocol_error || e.code == ws::close_code::invalid_payload ||
                      e.code == ws::close_code::too_big);
                check(!e.reason.empty());
                check(p.failed() && !p.in_message() && p.buffered_bytes() == 0);
                const std::string reason(e.reason);
                const std::uint16_t code = e.code;
                // The same error again, whatever comes, and nothing consumed.
                char more[3] = {'\x81', '\x00', 'x'};
                std::span<char> again = in.empty() ? std::span<char>(more) : in;
                const std::size_t size = again.size();
                const ws::event e2 = p.next(again);
                check(e2.type == kind::error && e2.code == code && e2.reason == reason && again.size() == size);
                out.push_back({kind::error, false, {}, code});
                *idle = false;
                return out;
            }
            case kind::need_more: break;
            }
            out.push_back({e.type, e.binary, std::string(e.payload), e.code});
        }
        if (at == wire.size()) break;
    }
    *idle = p.buffered_bytes() == 0 && !p.in_message() && !p.failed();
    return out;
}

// Part 1: arbitrary bytes.
void parse_bytes(std::uint8_t options, std::uint8_t c0, std::uint8_t c1, std::string_view wire) {
    static constexpr std::size_t messages[] = {1'000'000, 0, 16, 300};
    static constexpr std::size_t fragments[] = {4096, 1, 2, 5};
    const ws::role r = (options & 1) != 0 ? ws::role::client : ws::role::server;
    const ws::parser_limits limits{messages[(options >> 1) & 3], fragments[(options >> 3) & 3]};
    bool idle_whole = false;
    bool idle_pieces = false;
    const auto whole = run(r, limits, std::string(wire), nullptr, &idle_whole);
    chunker pieces(c0, c1);
    const auto split = run(r, limits, std::string(wire), &pieces, &idle_pieces);
    check(whole == split);
    check(idle_whole == idle_pieces);
}

// Reads the recipe of part 2; zeros once it runs out.
class recipe {
public:
    explicit recipe(std::string_view s) noexcept : s_(s) {}
    bool empty() const noexcept { return pos_ >= s_.size(); }
    std::uint8_t byte() noexcept { return pos_ < s_.size() ? static_cast<std::uint8_t>(s_[pos_++]) : 0; }
    std::string_view take(std::size_t n) noexcept {
        const std::string_view v = s_.substr(pos_ < s_.size() ? pos_ : s_.size(), n);
        pos_ += v.size();
        return v;
    }

private:
    std::string_view s_;
    std::size_t pos_ = 0;
};

class writer {
public:
    writer(bool masked, recipe& rc) : masked_(masked), rc_(rc) {}

    // One frame; the payload masked in two pieces (mask's offset) with a key from the recipe.
    void frame(ws::opcode op, bool fin, std::string_view payload) {
        std::array<char, 4> key{};
        for (char& k : key) k = static_cast<char>(rc_.byte());
        sio::codec::ws_frame_header_bytes h{};
        const std::size_t n = ws::frame_header(op, fin, payload.size(), h, masked_ ? &key : nullptr);
        wire_.append(h.data(), n);
        const std::size_t start = wire_.size();
        wire_.append(payload);
        if (masked_) {
            const std::size_t cut = payload.empty() ? 0 : rc_.byte() % (payload.size() + 1);
            ws::mask({wire_.data() + start, cut}, key, 0);
            ws::mask({wire_.data() + start + cut, payload.size() - cut}, key, cut);
        }
    }

    // Maybe a control frame (when the recipe's byte says so), and the event it will give.
    void maybe_control(std::vector<record>& expected) {
        const std::uint8_t b = rc_.byte();
        if ((b & 3) != 0) return;
        const std::string_view payload = rc_.take(b >> 3);  // 0-31 bytes
        if ((b & 4) == 0) {
            const bool is_ping = (b & 0x80) != 0;
            frame(is_ping ? ws::opcode::ping : ws::opcode::pong, true, payload);
            expected.push_back({is_ping ? kind::ping : kind::pong, false, std::string(payload), 0});
            return;
        }
        static constexpr std::uint16_t codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 4999};
        const std::uint16_t code = codes[rc_.byte() % std::size(codes)];
        // Long reasons now and then, to be cut.
        const std::string reason = (b & 0x40) != 0 ? std::string(payload) + std::string(100, 'r') + std::string(payload)
                                                   : std::string(payload);
        const std::string body = ws::close_payload(code, reason);
        frame(ws::opcode::close, true, body);
        expected.push_back({kind::close, false, body.substr(2), code});
    }

    std::string wire_;

private:
    bool masked_;
    recipe& rc_;
};

// Part 2: messages written by the writer come back the same.
void round_trip(std::uint8_t options, std::uint8_t c0, std::uint8_t c1, std::string_view input) {
    const ws::role r = (options & 1) != 0 ? ws::role::client : ws::role::server;
    recipe rc(input);
    writer w(r == ws::role::server, rc);
    std::vector<record> expected;
    std::size_t largest = 0;
    std::size_t most_fragments = 1;
    for (int m = 0; m < 16 && !rc.empty(); ++m) {
        const std::uint8_t d = rc.byte();
        const bool binary = (d & 1) != 0;
        std::size_t len = rc.byte();
        if ((d & 2) != 0) len *= 40;  // up to 10 KiB: every length encoding
        std::string payload(rc.take(len));
        if (!binary) payload = sio::codec::to_valid_utf8(payload);
        // Fragments: cut points from the recipe, in order (a text message cut anywhere, even
        // inside a character).
        const std::size_t frames = 1 + ((d >> 2) & 7);
        std::size_t at = 0;
        for (std::size_t f = 0; f < frames; ++f) {
            const bool last = f + 1 == frames;
            std::size_t n = payload.size() - at;
            if (!last && n > 0) n = (static_cast<std::size_t>(rc.byte()) << 8 | rc.byte()) % (n + 1);
            w.frame(f == 0 ? (binary ? ws::opcode::binary : ws::opcode::text) : ws::opcode::continuation, last,
                    std::string_view(payload).substr(at, n));
            at += n;
            if (!last) w.maybe_control(expected);
        }
        expected.push_back({kind::message, binary, payload, 0});
        if (payload.size() > largest) largest = payload.size();
        if (frames > most_fragments) most_fragments = frames;
        w.maybe_control(expected);
    }
    bool idle = false;
    chunker pieces(c0, c1);
    const auto got = run(r, ws::parser_limits{largest, most_fragments}, w.wire_, &pieces, &idle);
    check(got == expected);
    check(idle);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
    parse_bytes(data[0], data[1], data[2], rest);
    round_trip(data[0], data[1], data[2], rest);
    return 0;
}
