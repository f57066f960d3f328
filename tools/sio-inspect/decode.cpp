#include "decode.hpp"
#include "traffic.hpp"

#include "common/binary_display.hpp"
#include "common/terminal.hpp"

#include <sio/codec/base64.hpp>
#include <sio/codec/engine_io.hpp>
#include <sio/codec/json.hpp>
#include <sio/codec/socket_io.hpp>

#include <fmt/core.h>

#include <cctype>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

namespace sio::inspect {
namespace {

using codec::json;
namespace eio = codec::eio;
namespace sp = codec::socketio;
// The input is what a server or client sent, pasted: shown neutralised, like live traffic.
using tools::neutralize;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// For people: binary as <N bytes: ...>, strings neutralised (common/binary_display.hpp).
std::string show(const json& v) { return tools::render_json(v, false); }

class explainer {
public:
    explainer(const decode_options& o, std::ostream& out, std::ostream& err)
        : options_(o), out_(out), err_(err),
          decoder_(sp::decoder_options{o.eio == 3 ? sp::protocol::v4 : sp::protocol::v5, 10, 100'000'000}) {}

    void engine_packet(std::size_t index, const eio::packet& p) {
        // --json: the shape documented in sio-inspect(1), one object per (Socket.IO) packet.
        json line{{"eio_type", std::string(eio::to_string(p.type))}};
        bool complete = true;
        if (!options_.json) {
            out_ << fmt::format("#{} engine.io {} ({}){}\n", index, eio::to_string(p.type),
                                static_cast<int>(p.type), p.binary ? " binary" : "");
        }
        if (p.type == eio::packet_type::open) open_packet(p, line);
        else if (p.type == eio::packet_type::message && options_.socket_io) complete = message(p, line);
        else if (!p.data.empty()) {
            line["data"] = p.binary ? hex_dump(p.data) : p.data;
            if (!options_.json) out_ << "  data      " << (p.binary ? hex_dump(p.data) : neutralize(p.data)) << "\n";
        }
        if (options_.json && complete) out_ << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    }

    bool finish() {
        if (decoder_.awaiting_attachments()) {
            decoder_.reset();
            if (attachments_ != 0) {
                problem(fmt::format("the last BINARY packet is missing attachments ({} of them arrived)", attachments_));
                return false;
            }
            // The text frame alone: the packet as far as it goes, and how many frames follow.
            if (!header_alone()) return false;
        }
        return ok_;
    }

    void problem(const std::string& what) {
        ok_ = false;
        err_ << "sio-inspect: " << neutralize(what) << "\n";
    }

private:
    // A BINARY_EVENT / BINARY_ACK header without its attachments: the placeholders stay as they
    // are. The decoder has already checked the frame; it is read here as the packet it would be
    // without the "<count>-" part.
    bool header_alone() {
        std::string_view text = header_;
        std::size_t digits = 1;
        while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
        std::size_t count = 0;
        for (std::size_t i = 1; i < digits; ++i) count = count * 10 + static_cast<std::size_t>(text[i] - '0');
        const bool is_ack = !text.empty() && text[0] == '6';
        std::string plain = std::string(is_ack ? "3" : "2") + std::string(text.substr(std::min(digits + 1, text.size())));
        auto decoded = sp::decode_text(plain, decoder_.options());
        if (!decoded || count == 0) {
            problem(fmt::format("socket.io: the binary packet header does not decode ({})", header_));
            return false;
        }
        decoded->type = is_ack ? sp::packet_type::binary_ack : sp::packet_type::binary_event;
        json line = header_line_;
        socket_packet(*decoded, line, count);
        const std::string follows = fmt::format("{} attachment{} in the next frame{}", count,
                                                count == 1 ? " follows" : "s follow", count == 1 ? "" : "s");
        if (options_.json) {
            line["attachments_follow"] = count;
            out_ << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
        } else {
            out_ << "  " << follows << "\n";
        }
        return true;
    }

    void open_packet(const eio::packet& p, json& line) {
        auto hs = eio::decode_handshake(p.data);
        if (!hs) {
            problem("open packet: " + hs.err().reason);
            return;
        }
        json h{{"sid", hs->sid}, {"upgrades", hs->upgrades}, {"pingInterval", hs->ping_interval_ms},
               {"pingTimeout", hs->ping_timeout_ms}};
        if (hs->max_payload) h["maxPayload"] = *hs->max_payload;
        line["handshake"] = h;
        if (options_.json) return;
        out_ << "  sid           " << neutralize(hs->sid) << "  (session id; sent back as ?sid=)\n";
        out_ << "  upgrades      " << show(json(hs->upgrades)) << "  (transports the client may upgrade to)\n";
        out_ << "  pingInterval  " << hs->ping_interval_ms << " ms  (the server pings this often)\n";
        out_ << "  pingTimeout   " << hs->ping_timeout_ms
             << " ms  (the client must answer a ping within this time)\n";
        if (hs->max_payload)
            out_ << "  maxPayload    " << *hs->max_payload << " bytes  (largest polling body the server accepts)\n";
        else
            out_ << "  maxPayload    absent  (an Engine.IO v3 server)\n";
    }

    // socket.io-msgpack-parser: every packet is one binary message, without attachments.
    bool msgpack_message(const eio::packet& p, json& line) {
        if (!p.binary) {
            problem(fmt::format("socket.io: a text message ({}), but the msgpack parser sends every packet as a binary "
                                "message (without --parser msgpack it is read as the default parser's)",
                                p.data.substr(0, 80)));
            line = json{{"error", "a text message, but the msgpack parser sends binary messages only"}};
            return true;
        }
        auto decoded = sp::decode_msgpack(p.data, decoder_.options());
        if (!decoded) {
            problem(fmt::format("socket.io (msgpack): {} (in {})", decoded.err().reason, hex_dump(p.data)));
            line = json{{"error", decoded.err().reason}};
            return true;
        }
        socket_packet(*decoded, line, 0);
        return true;
    }

    // False while a binary packet waits for its attachments (nothing to print in JSON yet).
    bool message(const eio::packet& p, json& line) {
        if (options_.msgpack) return msgpack_message(p, line);
        auto st = p.binary ? decoder_.feed_binary(p.data) : decoder_.feed_text(p.data);
        switch (st) {
        case sp::decode_status::need_more:
            if (p.binary) {
                ++attachments_;
                if (!options_.json) out_ << "  attachment  " << hex_dump(p.data) << "\n";
            } else {
                // Shown at once if the attachments are not in the input (a text frame copied
                // alone, as browsers' developer tools list it); otherwise with them.
                attachments_ = 0;
                header_ = p.data;
                header_line_ = line;
            }
            return false;
        case sp::decode_status::bad:
            problem(fmt::format("socket.io: {} (in {})", decoder_.last_error().reason,
                                p.binary ? hex_dump(p.data) : p.data));
            line = json{{"error", decoder_.last_error().reason}};
            return true;
        case sp::decode_status::done:
            if (p.binary) ++attachments_;
            socket_packet(decoder_.take(), line, p.binary ? std::exchange(attachments_, 0) : 0);
            return true;
        }
        return true;
    }

    void socket_packet(const sp::packet& sp_packet, json& line, std::size_t attachments) {
        const auto protocol = options_.eio == 3 ? sp::protocol::v4 : sp::protocol::v5;
        const bool event = sp_packet.type == sp::packet_type::event || sp_packet.type == sp::packet_type::binary_event;
        const bool ack = sp_packet.type == sp::packet_type::ack || sp_packet.type == sp::packet_type::binary_ack;
        line["sio_type"] = std::string(sp::to_string(sp_packet.type, protocol));
        line["nsp"] = sp_packet.nsp;
        line["id"] = sp_packet.id ? json(*sp_packet.id) : json(nullptr);
        line["attachments"] = attachments;
        line["event"] = nullptr;
        line["args"] = json::array();
        if (sp_packet.data) {
            const json& d = *sp_packet.data;
            if (event && d.is_array() && !d.empty()) {
                line["event"] = tools::portable(d[0]);
                for (std::size_t i = 1; i < d.size(); ++i) line["args"].push_back(tools::portable(d[i]));
            } else if (ack) {
                line["args"] = tools::portable(d);
            } else {
                line["data"] = tools::portable(d);
            }
        }
        if (options_.json) return;
        out_ << fmt::format("  socket.io   {} ({})\n", sp::to_string(sp_packet.type),
                            static_cast<int>(sp_packet.type));
        out_ << "  namespace   " << neutralize(sp_packet.nsp) << "\n";
        if (sp_packet.id) out_ << "  ack id      " << *sp_packet.id << "\n";
        if (!sp_packet.data) return;
        const json& d = *sp_packet.data;
        bool is_event = sp_packet.type == sp::packet_type::event || sp_packet.type == sp::packet_type::binary_event;
        if (is_event && d.is_array() && !d.empty()) {
            out_ << "  event       " << show(d[0]) << "\n";
            for (std::size_t i = 1; i < d.size(); ++i) out_ << fmt::format("  arg {:<7} ", i) << show(d[i]) << "\n";
        } else {
            out_ << "  data        " << show(d) << "\n";
        }
    }

    const decode_options& options_;
    std::ostream& out_;
    std::ostream& err_;
    sp::decoder decoder_;
    std::size_t attachments_ = 0;  // of the binary packet being reassembled
    std::string header_;           // its text frame
    json header_line_;             // and its --json line so far
    bool ok_ = true;
};

// Hex digits, with spaces, colons or line breaks between bytes as tools print them: the bytes,
// or nullopt when it is not that.
std::optional<std::string> from_hex(std::string_view s) {
    std::string out;
    int high = -1;
    for (char c : s) {
        if (c == ' ' || c == ':' || c == '\n' || c == '\r' || c == '\t') {
            if (high >= 0) return std::nullopt;  // a byte is two digits together
            continue;
        }
        const int v = hex_value(c);
        if (v < 0) return std::nullopt;
        if (high < 0) {
            high = v;
        } else {
            out += static_cast<char>(high * 16 + v);
            high = -1;
        }
    }
    if (high >= 0 || out.empty()) return std::nullopt;
    return out;
}

// With the msgpack parser a frame is binary: given as hex (02 a4 ...), as base64, or as an
// Engine.IO packet or polling body, where binary messages are "b" + base64. A msgpack packet is
// a map, whose base64 starts with g-j and whose hex with 8: neither is an Engine.IO packet.
std::optional<std::string> binary_frame_input(std::string_view s) {
    const auto map_marker = [](unsigned char c) { return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf; };
    if (auto bytes = from_hex(s); bytes && map_marker(static_cast<unsigned char>((*bytes)[0]))) return bytes;
    if (s.empty() || (s[0] >= '0' && s[0] <= '6') || s[0] == 'b' || s.find('\x1e') != std::string_view::npos)
        return std::nullopt;
    auto bytes = codec::base64_decode(s);
    if (!bytes) return std::nullopt;
    return std::move(*bytes);
}

bool looks_like_v3_text_payload(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > 0 && i < s.size() && s[i] == ':';
}

}  // namespace

std::string unescape_input(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\' || i + 1 >= text.size()) {
            out += text[i];
            continue;
        }
        char c = text[i + 1];
        if (c == 'x' && i + 3 < text.size() && hex_value(text[i + 2]) >= 0 && hex_value(text[i + 3]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 2]) * 16 + hex_value(text[i + 3]));
            i += 3;
        } else if (c == 'u' && i + 5 < text.size() && text.compare(i + 2, 2, "00") == 0 &&
                   hex_value(text[i + 4]) >= 0 && hex_value(text[i + 5]) >= 0 &&
                   hex_value(text[i + 4]) < 2) {
            // only \u0000-\u001f: the control characters a payload separator needs
            out += static_cast<char>(hex_value(text[i + 4]) * 16 + hex_value(text[i + 5]));
            i += 5;
        } else if (c == 'n') {
            out += '\n';
            ++i;
        } else if (c == 't') {
            out += '\t';
            ++i;
        } else {
            out += text[i];  // leave JSON escapes such as \" alone
        }
    }
    return out;
}

int run_decode(const decode_options& options, std::ostream& out, std::ostream& err) {
    explainer ex(options, out, err);
    std::string_view input = options.input;
    while (!input.empty() && (input.back() == '\n' || input.back() == '\r')) input.remove_suffix(1);
    if (input.empty()) {
        ex.problem("nothing to decode");
        return 1;
    }
    eio::limits limits{100'000'000, 1'000'000};
    codec::result<std::vector<eio::packet>> packets = std::vector<eio::packet>{};
    std::optional<std::string> frame = options.msgpack ? binary_frame_input(input) : std::nullopt;
    if (frame) {
        packets = std::vector<eio::packet>{eio::packet{eio::packet_type::message, std::move(*frame), true}};
    } else if (options.msgpack && !input.empty() && !((input[0] >= '0' && input[0] <= '6') || input[0] == 'b')) {
        ex.problem("--parser msgpack: give the binary frame as hex (84 a4 74 ...) or base64, or an Engine.IO packet "
                   "or polling body (binary messages as b + base64)");
        return 1;
    } else if (options.eio == 3 && looks_like_v3_text_payload(input)) {
        packets = eio::v3::decode_text_payload(input, limits);
    } else if (options.eio == 3 && !input.empty() && (input[0] == '\0' || input[0] == '\1')) {
        packets = eio::v3::decode_binary_payload(input, limits);
    } else {
        packets = eio::decode_payload(input, limits);  // one packet is a payload of one
    }
    if (!packets) {
        ex.problem("engine.io: " + packets.err().reason);
        return 1;
    }
    for (std::size_t i = 0; i < packets->size(); ++i) ex.engine_packet(i, (*packets)[i]);
    return ex.finish() ? 0 : 1;
}

}  // namespace sio::inspect
