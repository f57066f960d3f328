// Connection state recovery, server side: the packets a namespace broadcast recently and the
// sessions that dropped recently, so that a client coming back within the window gets what it
// missed, in order, under its old socket id and rooms.
//
// Wire protocol (the reference's): the CONNECT answer carries {"sid", "pid"}; every stored EVENT
// gets an opaque string offset as its last argument; a client reconnecting sends {"pid",
// "offset"} (its last offset seen) in its CONNECT payload, and is recovered when the server
// answers with the same pid.
//
// Two gaps of the reference are closed here:
//   - a client that never received a stored packet has no offset to send; it is recovered from
//     the point where its first connection started (the reference refuses it);
//   - a recovered socket keeps its pid and start point, so it can be recovered again and again
//     (the reference's stored session is consumed by the first recovery).
//
// Packets are kept for the window plus `grace` (the longest a dead connection can go unnoticed:
// ping interval + ping timeout), so that a packet a client did not get because its connection
// was already dead is still there when the client returns within the window. When the packet
// bound evicts a packet a returning client may not have seen, recovery is refused rather than
// silently incomplete.
//
// Thread-safety: every function may be called from any thread; one mutex, held while a
// broadcast is stored and delivered, so that offsets and delivery have one order per namespace.
#pragma once

#include "sio/adapter/in_memory.hpp"
#include "sio/codec/json.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sio::adapter {

struct recovery_options {
    std::chrono::milliseconds window{0};           // zero: recovery off
    std::chrono::milliseconds grace{45000};        // extra packet retention (ping interval + timeout)
    std::size_t max_packets = 10000;               // stored packets per namespace
    std::size_t max_sessions = 10000;              // dropped sessions remembered per namespace
};

// A socket that dropped, as remembered until it returns or the window passes.
struct persisted_session {
    std::string sid;  // the socket id, given back on recovery
    std::string pid;  // the private id the client presents
    std::vector<std::string> rooms;
    std::uint64_t first_seq = 0;  // the store's position when the socket first connected
    std::uint64_t from_seq = 0;   // on take(): replay packets after this one
};

class recovery_store {
public:
    using clock = std::chrono::steady_clock;

    explicit recovery_store(recovery_options options);
    recovery_store(const recovery_store&) = delete;
    recovery_store& operator=(const recovery_store&) = delete;

    const recovery_options& options() const noexcept { return options_; }

    // Appends the next offset to `data` (an EVENT's array: name and arguments), stores it with
    // its targets and calls `deliver(data)` under the store's lock.
    void broadcast(codec::json& data, const broadcast_options& targets,
                   const std::function<void(const codec::json&)>& deliver);

    // A new socket: calls `attach()` under the lock and returns the position it starts from.
    std::uint64_t attach_fresh(const std::function<void()>& attach);

    // Remembers a socket that dropped for a reason worth recovering from.
    void persist(persisted_session session);

    // The session presented by a reconnecting client, removed from the store; nullopt when it
    // is unknown, expired, the offset is not one of ours, or packets it may have missed were
    // evicted by the packet bound, with `why` (when given) set to which of these it was, as a
    // phrase for a log line. `offset` empty: the client saw no stored packet.
    std::optional<persisted_session> take(std::string_view pid, std::string_view offset,
                                          std::string* why = nullptr);

    // Under the lock: `send(data)` for every stored packet after `session.from_seq` that targets
    // the session's rooms, in order, then `attach()`; packets broadcast later reach the socket
    // live. Returns the number replayed.
    std::size_t replay(const persisted_session& session,
                       const std::function<void(const codec::json&)>& send,
                       const std::function<void()>& attach);

    std::size_t packet_count() const;
    std::size_t session_count() const;

    // Exposed for tests: the offset text of a sequence number and back.
    static std::string offset_of(std::uint64_t seq);
    static std::optional<std::uint64_t> seq_of(std::string_view offset);

private:
    struct stored_packet {
        std::uint64_t seq;
        clock::time_point at;
        broadcast_options targets;
        codec::json data;
    };
    struct stored_session {
        persisted_session session;
        clock::time_point at;
    };

    void prune_locked(clock::time_point now);
    static bool targets_rooms(const broadcast_options& targets, const std::vector<std::string>& rooms);

    const recovery_options options_;
    mutable std::mutex mutex_;
    std::uint64_t next_seq_ = 1;  // the seq the next stored packet gets
    std::deque<stored_packet> packets_;
    std::uint64_t bound_evicted_through_ = 0;  // highest seq dropped by max_packets
    std::unordered_map<std::string, stored_session> sessions_;
    std::deque<std::pair<clock::time_point, std::string>> session_order_;  // pid by drop time
};

}  // namespace sio::adapter
