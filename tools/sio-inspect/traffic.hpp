// Decoded traffic of Engine.IO sessions, as `proxy` (and `watch`) print and record it.
//
// Fed with what crosses the wire (polling bodies, WebSocket frames) per session and direction,
// it decodes Engine.IO packets and the Socket.IO packets inside them, puts binary attachments
// back in place, matches each ACK to the packet that asked for it (with the round trip), and
// writes one line per packet: readable text (what the peers sent neutralised, so that it cannot
// act on the terminal: common/terminal.hpp), or NDJSON with --json. With a record stream it also
// writes every packet as an NDJSON record that `replay` reads back.
//
// Thread-safe: connections of a proxy feed it from several strands.
#pragma once

#include <sio/codec/engine_io.hpp>
#include <sio/codec/json.hpp>
#include <sio/codec/socket_io.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace sio::inspect {

enum class direction { to_server, to_client };
std::string_view to_string(direction) noexcept;  // "client→server", "server→client"
std::string_view sender(direction) noexcept;     // "client", "server"

struct traffic_options {
    bool json = false;   // NDJSON on `out` instead of text
    bool color = false;  // ANSI colours in text
    int eio = 4;         // Engine.IO revision spoken (3: socket.io 2.x)
    bool msgpack = false;  // the Socket.IO msgpack parser: each packet is one binary message
    std::ostream* record = nullptr;  // NDJSON records for replay; none when null
};

class traffic_log {
public:
    traffic_log(traffic_options options, std::ostream& out);
    ~traffic_log();
    traffic_log(const traffic_log&) = delete;
    traffic_log& operator=(const traffic_log&) = delete;

    // A polling body: POST (to_server) or GET response (to_client). `binary_body` for an
    // application/octet-stream body (v3 XHR2 payloads). Returns the session id from here on:
    // `sid`, or the one an open packet in the body announced (a handshake has no sid yet).
    std::string polling_body(const std::string& sid, direction dir, std::string_view body, bool binary_body = false);
    // One WebSocket message of an Engine.IO session; returns the session id as polling_body.
    std::string websocket_frame(const std::string& sid, direction dir, std::string_view data, bool binary);
    // A Socket.IO packet already decoded (by a client that reassembled its attachments); ACKs
    // are matched to their requests as for raw traffic.
    void socket_io(const std::string& sid, std::string_view transport, direction dir, const codec::socketio::packet& p);
    // An Engine.IO control packet seen by a client (ping, pong), without payload decoding.
    void engine_control(const std::string& sid, std::string_view transport, direction dir, std::string_view type,
                        std::string_view extra = {});
    // Something that is not a packet: an HTTP error answer, an upgrade, a closed connection.
    void note(const std::string& sid, std::string_view transport, std::string_view text, bool problem = false);

    // Packets seen so far, for tests and summaries.
    std::size_t packet_count() const;

private:
    struct session_state;
    // Returns the sid an open packet announces, else `sid`.
    std::string engine_packet(const std::string& sid, std::string_view transport, direction dir,
                              const codec::eio::packet& p);
    void socket_packet(session_state& st, const std::string& sid, std::string_view transport, direction dir,
                       codec::socketio::packet p, std::size_t attachments);
    void emit(const codec::json& line, const std::string& text, bool problem);
    void record(const std::string& sid, std::string_view transport, direction dir, const codec::eio::packet& p);
    session_state& state_for(const std::string& sid);

    traffic_options options_;
    std::ostream& out_;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<session_state>> sessions_;
    std::size_t packets_ = 0;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Hex of raw bytes (a frame, an attachment), shared with `decode`.
std::string hex_dump(std::string_view bytes, std::size_t max = 64);

}  // namespace sio::inspect
