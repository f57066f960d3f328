// The in-memory adapter: which sockets of one namespace are in which rooms, and broadcast.
//
// One adapter per namespace. It knows sockets only by id and by a weak `member` handle through
// which a broadcast reaches them; it never encodes: the caller encodes a packet once into a
// `frame` (shared buffers) and the adapter hands that same frame to every target.
//
// Room semantics are the reference's (socket.io-adapter, in-memory-adapter):
//   - a socket is registered with add() and is then in the room named by its own id;
//   - a broadcast to rooms {a, b} reaches every socket in a or b once, however many of the
//     rooms it is in; no rooms means every socket of the namespace;
//   - `except` rooms remove their sockets from the targets (socket.broadcast is "except my own
//     id room").
//
// Thread-safety: every function may be called from any thread (sockets of one namespace live
// on many session strands). Reads take a shared lock, changes an exclusive one; broadcast()
// collects its targets under the shared lock and delivers after releasing it, so a slow
// member never holds the lock.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sio::adapter {

// One encoded Socket.IO packet: the text frame, then its binary attachments in order. Shared,
// so that a broadcast to N sockets holds one copy of the bytes.
struct frame {
    std::shared_ptr<const std::string> text;  // the packet (with the msgpack parser: binary)
    std::vector<std::shared_ptr<const std::string>> attachments;
    bool binary = false;  // `text` goes out as a binary message (the msgpack parser)
};

struct broadcast_flags {
    // The packet may be dropped for a target that cannot take it right now.
    bool volatile_packet = false;
    // Only this process (meaningful for cluster adapters; the in-memory one is always local).
    bool local = false;
};

struct broadcast_options {
    std::set<std::string, std::less<>> rooms;   // empty: every socket
    std::set<std::string, std::less<>> except;  // sockets in any of these rooms are skipped
    broadcast_flags flags;
};

// A change of one socket's rooms: `joined` true for a join, false for a leave.
using room_listener = std::function<void(std::string_view id, std::string_view room, bool joined)>;
// A room that gained its first member (`exists` true) or lost its last (false), as the reference
// adapter's "create-room" and "delete-room" events.
using room_watch = std::function<void(std::string_view room, bool exists)>;

// A socket as the adapter reaches it.
class member {
public:
    virtual ~member() = default;
    virtual void deliver(const frame& f, const broadcast_flags& flags) = 0;
};

class in_memory {
public:
    in_memory() = default;
    in_memory(const in_memory&) = delete;
    in_memory& operator=(const in_memory&) = delete;

    // Registers a socket and joins it to the room named by its id. False if `id` was already
    // registered (nothing changes then).
    bool add(std::string_view id, std::weak_ptr<member> handle);
    // Joins registered sockets only: a join racing with remove() must not resurrect the socket.
    // False if `id` is not registered.
    bool join(std::string_view id, std::string_view room);
    bool join(std::string_view id, std::span<const std::string> rooms);
    // False if the socket was not in the room. Empty rooms are deleted.
    bool leave(std::string_view id, std::string_view room);
    // Leaves every room (its own included) and forgets the socket.
    void remove(std::string_view id);

    // Told of every change of membership, as the reference adapter's "join-room" and "leave-room"
    // events: add() reports the socket's own room, remove() each room it leaves. Called after the
    // change, outside the adapter's lock, on the thread that made it; it may read the adapter.
    // One listener; a later call replaces it (empty: none).
    void set_room_listener(room_listener listener);
    // Told when a room is created or deleted (the sharded Redis adapter's subscriptions), called
    // like the room listener; one watch, a later call replaces it.
    void set_room_watch(room_watch watch);

    bool contains(std::string_view id) const;
    // Sorted, for stable output.
    std::vector<std::string> rooms_of(std::string_view id) const;
    std::vector<std::string> members_of(std::string_view room) const;
    std::vector<std::string> room_names() const;
    std::size_t socket_count() const;
    std::size_t room_count() const;

    // Ids of the sockets a broadcast with these options reaches, each once (unordered).
    std::vector<std::string> targets(const broadcast_options& options) const;
    // Delivers `f` to every target still alive; returns how many got it.
    std::size_t broadcast(const frame& f, const broadcast_options& options) const;
    // Calls `fn` once per target, outside the lock (for socketsJoin, disconnectSockets, …).
    void for_each_target(const broadcast_options& options,
                         const std::function<void(const std::shared_ptr<member>&)>& fn) const;

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    using string_set = std::unordered_set<std::string, string_hash, std::equal_to<>>;
    struct entry {
        std::weak_ptr<member> handle;
        string_set rooms;
    };

    // Rooms created or deleted by one change, collected under the lock when a watch is set.
    using room_changes = std::vector<std::pair<std::string, bool>>;
    // False when the socket was in the room already.
    bool join_locked(entry& e, std::string_view id, std::string_view room, room_changes* changes = nullptr);
    void erase_from_room_locked(std::string_view room, std::string_view id, room_changes* changes = nullptr);
    void report(const std::shared_ptr<const room_watch>& watch, const room_changes& changes) const;
    // Calls fn(id, entry) for each target; the caller holds at least the shared lock.
    template <class Fn>
    void visit_targets_locked(const broadcast_options& options, Fn&& fn) const;
    std::vector<std::shared_ptr<member>> live_targets(const broadcast_options& options) const;

    mutable std::shared_mutex mutex_;
    std::shared_ptr<const room_listener> listener_;  // guarded by mutex_; null: none
    std::shared_ptr<const room_watch> watch_;        // guarded by mutex_; null: none
    std::unordered_map<std::string, string_set, string_hash, std::equal_to<>> rooms_;
    std::unordered_map<std::string, entry, string_hash, std::equal_to<>> sockets_;
};

}  // namespace sio::adapter
