#include "traffic.hpp"

#include "common/binary_display.hpp"
#include "common/terminal.hpp"

#include <sio/codec/base64.hpp>

#include <fmt/core.h>

#include <ctime>
#include <utility>

namespace sio::inspect {

using codec::json;
namespace eio = codec::eio;
namespace sp = codec::socketio;
// Text a peer sent, made safe for a terminal; in JSON too where it is text for a person (a note,
// data that did not decode).
using tools::neutralize;
// Binary values as every tool shows them: {"$binary": base64} in JSON, <N bytes: ...> in text.
using tools::portable;
using tools::render_json;

std::string_view to_string(direction d) noexcept {
    return d == direction::to_server ? "client→server" : "server→client";
}
std::string_view sender(direction d) noexcept { return d == direction::to_server ? "client" : "server"; }

std::string hex_dump(std::string_view bytes, std::size_t max) {
    std::string out;
    for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
        if (i != 0) out += ' ';
        out += fmt::format("{:02x}", static_cast<unsigned char>(bytes[i]));
    }
    if (bytes.size() > max) out += fmt::format(" ... ({} bytes)", bytes.size());
    return out;
}

namespace {

std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string wall_clock() {
    const auto now = std::chrono::system_clock::now();
    const auto t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    localtime_r(&t, &tm);
    return fmt::format("{:02}:{:02}:{:02}.{:03}", tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

long long epoch_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct traffic_log::session_state {
    explicit session_state(sp::decoder_options o) : decoders{sp::decoder{o}, sp::decoder{o}} {}
    sp::decoder decoders[2];          // per direction: attachments are reassembled per sender
    std::size_t attachments[2] = {};  // announced by the packet being reassembled
    // Ack ids asked for, per direction of the request: (nsp, id) -> when it was sent.
    std::map<std::pair<std::string, std::uint64_t>, std::chrono::steady_clock::time_point> asked[2];
    std::string transport = "polling";
};

traffic_log::traffic_log(traffic_options options, std::ostream& out) : options_(options), out_(out) {}
traffic_log::~traffic_log() = default;

traffic_log::session_state& traffic_log::state_for(const std::string& sid) {
    auto& slot = sessions_[sid];
    if (!slot) {
        sp::decoder_options o;
        o.version = options_.eio == 3 ? sp::protocol::v4 : sp::protocol::v5;
        o.max_attachments = 1000;
        o.max_payload = 256u << 20;
        slot = std::make_unique<session_state>(o);
    }
    return *slot;
}

std::size_t traffic_log::packet_count() const {
    std::lock_guard lock{mutex_};
    return packets_;
}

std::string traffic_log::polling_body(const std::string& sid, direction dir, std::string_view body, bool binary_body) {
    std::lock_guard lock{mutex_};
    eio::limits limits;
    limits.max_payload = 256u << 20;
    limits.max_packets = 1'000'000;
    auto packets = options_.eio == 3
                       ? (binary_body ? eio::v3::decode_binary_payload(body, limits) : eio::v3::decode_text_payload(body, limits))
                       : eio::decode_payload(body, limits);
    if (!packets) {
        json line{{"ts", epoch_ms()}, {"sid", sid}, {"transport", "polling"}, {"from", sender(dir)},
                  {"error", fmt::format("polling body is not an Engine.IO payload: {}", packets.err().reason)},
                  {"body", neutralize(body.substr(0, 200))}};
        emit(line,
             fmt::format("{} {} polling {} undecodable body: {} ({})", wall_clock(), sid.substr(0, 8), to_string(dir),
                         packets.err().reason, neutralize(body.substr(0, 80))),
             true);
        return sid;
    }
    std::string current = sid;
    for (const auto& p : *packets) current = engine_packet(current, "polling", dir, p);
    return current;
}

std::string traffic_log::websocket_frame(const std::string& sid, direction dir, std::string_view data, bool binary) {
    std::lock_guard lock{mutex_};
    auto p = binary ? eio::decode_binary_frame(data, options_.eio) : eio::decode_text(data, options_.eio);
    if (!p) {
        json line{{"ts", epoch_ms()}, {"sid", sid}, {"transport", "websocket"}, {"from", sender(dir)},
                  {"error", fmt::format("WebSocket frame is not an Engine.IO packet: {}", p.err().reason)},
                  {"frame", binary ? hex_dump(data) : neutralize(data.substr(0, 200))}};
        emit(line,
             fmt::format("{} {} websocket {} undecodable frame: {}", wall_clock(), sid.substr(0, 8), to_string(dir),
                         p.err().reason),
             true);
        return sid;
    }
    return engine_packet(sid, "websocket", dir, *p);
}

namespace {
std::size_t count_binary(const json& v) {
    if (v.is_binary()) return 1;
    std::size_t n = 0;
    if (v.is_array() || v.is_object())
        for (const auto& e : v) n += count_binary(e);
    return n;
}
}  // namespace

void traffic_log::socket_io(const std::string& sid, std::string_view transport, direction dir, const sp::packet& p) {
    std::lock_guard lock{mutex_};
    ++packets_;
    auto& st = state_for(sid);
    st.transport = std::string{transport};
    socket_packet(st, sid, transport, dir, p, p.data ? count_binary(*p.data) : 0);
}

void traffic_log::engine_control(const std::string& sid, std::string_view transport, direction dir, std::string_view type,
                                 std::string_view extra) {
    std::lock_guard lock{mutex_};
    json line{{"ts", epoch_ms()}, {"sid", sid}, {"transport", transport}, {"from", sender(dir)}, {"eio_type", type}};
    if (!extra.empty()) line["detail"] = extra;
    emit(line,
         fmt::format("{} {} {:9} {} {}{}{}", wall_clock(), sid.substr(0, 8), transport, to_string(dir), type,
                     extra.empty() ? "" : "  ", extra),
         false);
}

void traffic_log::note(const std::string& sid, std::string_view transport, std::string_view text, bool problem) {
    std::lock_guard lock{mutex_};
    json line{{"ts", epoch_ms()}, {"sid", sid}, {"transport", transport}, {"note", neutralize(text)}};
    emit(line, fmt::format("{} {} {} {}", wall_clock(), sid.empty() ? std::string(8, '-') : sid.substr(0, 8),
                           transport, neutralize(text)),
         problem);
}

std::string traffic_log::engine_packet(const std::string& sid_in, std::string_view transport, direction dir,
                                       const eio::packet& p) {
    std::string sid = sid_in;
    std::optional<eio::handshake> hs;
    if (p.type == eio::packet_type::open) {
        if (auto h = eio::decode_handshake(p.data)) {
            hs = *h;
            sid = h->sid;
        }
    }
    ++packets_;
    record(sid, transport, dir, p);
    auto& st = state_for(sid);
    st.transport = std::string{transport};
    const int d = dir == direction::to_server ? 0 : 1;

    if (p.type == eio::packet_type::message && options_.msgpack) {
        // socket.io-msgpack-parser: one binary message per packet, no attachments.
        auto decoded = p.binary ? sp::decode_msgpack(p.data, st.decoders[d].options())
                                : codec::result<sp::packet>(codec::make_error(codec::errc::invalid_payload,
                                                                              "a text message, but the msgpack parser sends "
                                                                              "every packet as a binary message"));
        if (!decoded) {
            json line{{"ts", epoch_ms()}, {"sid", sid}, {"transport", transport}, {"from", sender(dir)},
                      {"eio_type", "message"}, {"error", fmt::format("not a msgpack Socket.IO packet: {}", decoded.err().reason)},
                      {"data", p.binary ? hex_dump(p.data) : neutralize(p.data.substr(0, 200))}};
            emit(line,
                 fmt::format("{} {} {} {} message, not a msgpack Socket.IO packet: {} ({})", wall_clock(), sid.substr(0, 8),
                             transport, to_string(dir), decoded.err().reason,
                             p.binary ? hex_dump(p.data, 16) : neutralize(p.data.substr(0, 60))),
                 true);
            return sid;
        }
        socket_packet(st, sid, transport, dir, std::move(*decoded), 0);
        return sid;
    }
    if (p.type == eio::packet_type::message) {
        auto& dec = st.decoders[d];
        const auto status = p.binary ? dec.feed_binary(p.data) : dec.feed_text(p.data);
        if (status == sp::decode_status::need_more) {
            if (!p.binary) {
                // The header of a binary packet: remember how many attachments follow.
                std::size_t n = 0;
                for (std::size_t i = 1; i < p.data.size() && p.data[i] >= '0' && p.data[i] <= '9'; ++i)
                    n = n * 10 + static_cast<std::size_t>(p.data[i] - '0');
                st.attachments[d] = n;
            }
            return sid;  // the packet is printed once its attachments are in
        }
        if (status == sp::decode_status::bad) {
            const auto& err = dec.last_error();
            json line{{"ts", epoch_ms()}, {"sid", sid}, {"transport", transport}, {"from", sender(dir)},
                      {"eio_type", "message"}, {"error", fmt::format("not a Socket.IO packet: {}", err.reason)},
                      {"data", p.binary ? hex_dump(p.data) : neutralize(p.data.substr(0, 200))}};
            emit(line,
                 fmt::format("{} {} {} {} message, not Socket.IO: {} ({})", wall_clock(), sid.substr(0, 8),
                             transport, to_string(dir), err.reason,
                             p.binary ? hex_dump(p.data, 16) : neutralize(p.data.substr(0, 60))),
                 true);
            return sid;
        }
        socket_packet(st, sid, transport, dir, dec.take(), std::exchange(st.attachments[d], 0));
        return sid;
    }

    json line{{"ts", epoch_ms()}, {"sid", sid}, {"transport", transport}, {"from", sender(dir)},
              {"eio_type", std::string(eio::to_string(p.type))}};
    std::string text = fmt::format("{} {} {:9} {} {}", wall_clock(), sid.substr(0, 8), transport, to_string(dir),
                                   eio::to_string(p.type));
    if (hs) {
        line["handshake"] = json{{"sid", hs->sid},
                                 {"upgrades", hs->upgrades},
                                 {"pingInterval", hs->ping_interval_ms},
                                 {"pingTimeout", hs->ping_timeout_ms}};
        if (hs->max_payload) line["handshake"]["maxPayload"] = *hs->max_payload;
        std::string upgrades;
        for (const auto& u : hs->upgrades) upgrades += (upgrades.empty() ? "" : ",") + u;
        text += fmt::format(" sid={} upgrades=[{}] pingInterval={} pingTimeout={}", neutralize(hs->sid), neutralize(upgrades),
                            hs->ping_interval_ms, hs->ping_timeout_ms);
        if (hs->max_payload) text += fmt::format(" maxPayload={}", *hs->max_payload);
    } else if (p.type == eio::packet_type::message) {
        // v3 binary message frames that are not Socket.IO attachments never get here.
        line["data"] = p.binary ? hex_dump(p.data) : neutralize(p.data);
        text.append(" ").append((p.binary ? hex_dump(p.data) : neutralize(p.data)));
    } else if (!p.data.empty()) {
        line["data"] = neutralize(p.data);
        text.append(" ").append(neutralize(p.data));
    }
    emit(line, text, p.type == eio::packet_type::close);
    return sid;
}

void traffic_log::socket_packet(session_state& st, const std::string& sid, std::string_view transport,
                                direction dir, sp::packet p, std::size_t attachments) {
    const int d = dir == direction::to_server ? 0 : 1;
    const auto protocol = options_.eio == 3 ? sp::protocol::v4 : sp::protocol::v5;
    json line{{"ts", epoch_ms()},
              {"sid", sid},
              {"transport", transport},
              {"from", sender(dir)},
              {"eio_type", "message"},
              {"sio_type", std::string(sp::to_string(p.type, protocol))},
              {"nsp", p.nsp},
              {"id", p.id ? json(*p.id) : json(nullptr)},
              {"attachments", attachments}};
    std::string text = fmt::format("{} {} {:9} {} {} {}", wall_clock(), sid.substr(0, 8), transport, to_string(dir),
                                   sp::to_string(p.type, protocol), neutralize(p.nsp));
    if (p.id) text += fmt::format(" #{}", *p.id);
    const bool event = p.type == sp::packet_type::event || p.type == sp::packet_type::binary_event;
    const bool ack = p.type == sp::packet_type::ack || p.type == sp::packet_type::binary_ack;
    if (event && p.data && p.data->is_array() && !p.data->empty()) {
        const json& name = (*p.data)[0];
        json args = json::array();
        for (std::size_t i = 1; i < p.data->size(); ++i) args.push_back((*p.data)[i]);
        line["event"] = name;
        line["args"] = portable(args);
        text += fmt::format(" {} {}", render_json(name, false), render_json(args, false));
        if (p.id) st.asked[d][{p.nsp, *p.id}] = std::chrono::steady_clock::now();
    } else if (ack) {
        line["event"] = nullptr;
        line["args"] = p.data ? portable(*p.data) : json::array();
        text.append(" ").append(render_json(p.data ? *p.data : json::array(), false));
        // An ACK answers a request that went the other way.
        auto& asked = st.asked[1 - d];
        if (p.id) {
            const auto it = asked.find({p.nsp, *p.id});
            if (it != asked.end()) {
                const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - it->second).count();
                asked.erase(it);
                line["rtt_ms"] = static_cast<double>(static_cast<long long>(ms * 1000)) / 1000.0;
                text += fmt::format("  (answers #{} after {:.1f} ms)", *p.id, ms);
            } else {
                text += "  (answers no request seen)";
            }
        }
    } else {
        line["event"] = nullptr;
        if (p.data) {
            line["data"] = portable(*p.data);
            text.append(" ").append(render_json(*p.data, false));
        }
    }
    if (attachments != 0) text += fmt::format("  [{} attachment{}]", attachments, attachments == 1 ? "" : "s");
    emit(line, text, p.type == sp::packet_type::connect_error);
}

void traffic_log::record(const std::string& sid, std::string_view transport, direction dir, const eio::packet& p) {
    if (options_.record == nullptr) return;
    json r{{"ts", epoch_ms()},
           {"t", std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()},
           {"sid", sid},
           {"transport", transport},
           {"from", sender(dir)},
           {"eio_type", std::string(eio::to_string(p.type))}};
    if (p.binary) {
        r["binary"] = true;
        r["data"] = codec::base64_encode(p.data);
    } else {
        r["data"] = p.data;
    }
    *options_.record << dump(r) << '\n';
    options_.record->flush();
}

void traffic_log::emit(const json& line, const std::string& text, bool problem) {
    // A text line is one line of ours around what the peers sent (the sid that starts every
    // line, event names, data, close reasons): neutralised whole, whatever its pieces were.
    if (options_.json) {
        out_ << dump(line) << '\n';
    } else if (options_.color) {
        const char* colour = problem ? "\x1b[31m" : line.value("from", "") == "client" ? "\x1b[36m" : "\x1b[33m";
        out_ << colour << tools::neutralize(text) << "\x1b[0m\n";
    } else {
        out_ << tools::neutralize(text) << '\n';
    }
    out_.flush();
}

}  // namespace sio::inspect
