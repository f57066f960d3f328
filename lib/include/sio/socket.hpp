// A server-side Socket.IO socket: one client's connection to one namespace.
//
// Created by the server when a CONNECT passes the namespace's middleware; handed to the
// namespace's connection handlers as a shared_ptr. The socket reaches its Engine.IO session only
// through a weak handle, so keeping a socket alive never keeps a session alive; once
// disconnected, emit() returns not_connected and joins are ignored.
//
// Threads: every function may be called from any thread. Event, ack and disconnect handlers, and
// ack timeouts, are called without any lock held, where the socket's Engine.IO session runs (its
// event loop, or its strand), one at a time; a handler may call back into the socket. A handler
// that throws disconnects this socket only, and the server's log says which handler and why.
#pragma once

#include "sio/adapter/in_memory.hpp"
#include "sio/adapter/recovery.hpp"
#include "sio/adapter/redis.hpp"
#include "sio/codec/json.hpp"
#include "sio/codec/socket_io.hpp"
#include "sio/socket_error.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sio {

class namespace_;
class broadcast_operator;
namespace detail {
class connection;
}

using json = codec::json;

// What the server knows about the client when its socket connects.
struct handshake {
    json auth = json::object();  // the CONNECT packet's payload ({} when none was sent)
    std::string address;         // remote address of the first request
    std::string transport;       // transport of the first request: "polling" or "websocket"
    std::map<std::string, std::string> query;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string session_id;                      // the Engine.IO sid (not the socket id)
    std::chrono::system_clock::time_point time;  // when the Engine.IO session opened
};

// Answers a client's acknowledgement request with arguments: a JSON array, or any other value
// as the single argument. Empty (false) when the client asked for none; a second call does
// nothing, as in the reference.
using ack_fn = std::function<void(json args)>;
// Arguments (a JSON array, without the event name), and the ack to answer or an empty one.
using event_handler = std::function<void(json args, ack_fn ack)>;
// Sees every incoming event before its handlers.
using any_handler = std::function<void(const std::string& event, const json& args)>;
// As any_handler, with the event's ack (empty when none was asked for), as the reference's onAny
// listeners get it: lets a catch-all answer events it has no handler for.
using any_ack_handler = std::function<void(const std::string& event, const json& args, const ack_fn& ack)>;
// The result of an acknowledgement the server asked for: an error (ack_timeout, disconnected)
// or the client's arguments (a JSON array).
using ack_callback = std::function<void(std::error_code ec, json args)>;
using disconnect_handler = std::function<void(const std::string& reason)>;

// Disconnect reasons the Socket.IO layer adds to the Engine.IO ones (transport close, ping
// timeout, parse error, …), worded as the reference server words them.
namespace disconnect_reasons {
inline constexpr std::string_view server_namespace_disconnect = "server namespace disconnect";
inline constexpr std::string_view client_namespace_disconnect = "client namespace disconnect";
inline constexpr std::string_view forced_server_close = "forced server close";
// server::close(): the server is going away; the client was not told to stay away.
inline constexpr std::string_view server_shutting_down = "server shutting down";
}  // namespace disconnect_reasons

class socket : public std::enable_shared_from_this<socket>, public adapter::member {
    struct passkey {
        explicit passkey() = default;
    };

public:
    // Built by the server only (the passkey keeps make_shared usable).
    socket(passkey, std::shared_ptr<namespace_> nsp, std::weak_ptr<detail::connection> conn,
           std::string id, std::shared_ptr<const struct handshake> hs, boost::asio::any_io_executor timer_executor,
           std::chrono::milliseconds default_ack_timeout);
    ~socket() override;
    socket(const socket&) = delete;
    socket& operator=(const socket&) = delete;

    // Random, 20 characters, distinct from the Engine.IO sid.
    const std::string& id() const noexcept { return id_; }
    namespace_& nsp() const noexcept { return *nsp_; }
    const struct handshake& handshake() const noexcept { return *handshake_; }
    bool connected() const noexcept { return connected_.load(); }
    // True when this socket took over a dropped one (same id, rooms, missed broadcasts) through
    // connection state recovery.
    bool recovered() const noexcept { return recovered_; }

    // Handlers. An event may have several; they run in the order added.
    void on(std::string event, event_handler handler);
    void on_any(any_handler handler);
    void on_any_with_ack(any_ack_handler handler);  // runs after the on_any handlers
    void on_disconnect(disconnect_handler handler);

    // Sends an event with arguments (a JSON array; json::binary_t values travel as binary
    // attachments). Refuses reserved names (reserved_event_name), non-array arguments
    // (invalid_arguments) and a disconnected socket (not_connected).
    std::error_code emit(std::string_view event, json args = json::array());
    // As above, asking the client for an acknowledgement. `callback` runs exactly once: with the
    // client's arguments, with ack_timeout ("operation has timed out") after `timeout` (default:
    // the server's ack_timeout; zero waits until the socket disconnects), or with disconnected.
    // Not called at all when emit itself fails.
    std::error_code emit_with_ack(std::string_view event, json args, ack_callback callback,
                                  std::optional<std::chrono::milliseconds> timeout = std::nullopt);

    // Rooms of this namespace. The socket is always in the room named by its id.
    void join(std::string_view room);
    void leave(std::string_view room);
    std::vector<std::string> rooms() const;  // sorted; includes id()

    // What the application keeps with this socket, as the reference's socket.data: any JSON, an
    // empty object until set. A cluster's other servers see it in their fetchSockets.
    json data() const;
    void set_data(json data);

    // Broadcasts from this socket: to rooms, or to the whole namespace, never to itself.
    broadcast_operator to(std::string room) const;
    broadcast_operator except(std::string room) const;
    broadcast_operator broadcast() const;

    // Leaves the namespace (the client sees "io server disconnect"); with close_underlying the
    // whole connection closes, every namespace on it included.
    void disconnect(bool close_underlying = false);

    // adapter::member: a broadcast frame for this socket.
    void deliver(const adapter::frame& f, const adapter::broadcast_flags& flags) override;

private:
    friend class detail::connection;

    struct pending_ack {
        ack_callback callback;
        std::shared_ptr<void> timer;  // a steady_timer; type-erased to keep Asio's timer out
    };

    // --- called by the connection ---
    // Joins the adapter and marks connected; false if the socket was already closed.
    bool attach();
    void send_connect();
    // Packets before ready() are buffered, so that handlers added by the connection handlers
    // (which may run on another thread after an asynchronous middleware) see every event.
    void on_packet(codec::socketio::packet p);
    void ready();
    void on_close(std::string_view reason);

    void handle(codec::socketio::packet& p);
    void on_event(codec::socketio::packet& p);
    void on_ack(codec::socketio::packet& p);
    void send_ack(std::uint64_t id, json args);
    void send_packet(const codec::socketio::packet& p);
    std::error_code emit_impl(std::string_view event, json args, ack_callback callback,
                              std::optional<std::chrono::milliseconds> timeout);
    void expire_ack(std::uint64_t id);
    // Runs a handler the application gave (`kind`, for `event` when it has one): one that throws
    // disconnects this socket only, and the log says which handler threw and why.
    template <class F>
    void guarded(std::string_view kind, std::string_view event, F&& f);
    void handler_threw(std::string_view kind, std::string_view event, std::string_view why);

    const std::shared_ptr<namespace_> nsp_;
    const std::weak_ptr<detail::connection> conn_;
    const std::string id_;
    // Shared with the connection and its other sockets where the auth is the same.
    const std::shared_ptr<const struct handshake> handshake_;
    const boost::asio::any_io_executor timer_executor_;  // where the session runs
    const std::chrono::milliseconds default_ack_timeout_;

    // Connection state recovery (set by the connection before attach(); fixed afterwards).
    std::string pid_;                 // private id the client presents to recover; empty: off
    std::uint64_t first_seq_ = 0;     // the recovery store's position at the first connection
    bool recovered_ = false;
    std::unique_ptr<adapter::persisted_session> restoring_;  // the dropped socket taken over (rare)
    // Recovery across a cluster (streams adapter): the stream position at the first connection,
    // and the record taken over from the cluster.
    std::string since_;
    std::unique_ptr<adapter::redis::cluster::restored_session> restored_;
    // The record Redis keeps of this socket, and writing it there while the socket lives.
    adapter::redis::streams::session_record session_record() const;
    void persist_live() const;

    std::atomic<bool> connected_{false};
    std::atomic<bool> closed_{false};  // once closed, never connected again

    mutable std::mutex mutex_;  // guards everything below
    json data_;                 // null: never set (an empty object)
    std::unordered_map<std::string, std::vector<event_handler>> handlers_;
    std::vector<any_handler> any_handlers_;
    std::vector<any_ack_handler> any_ack_handlers_;
    std::vector<disconnect_handler> disconnect_handlers_;
    std::uint64_t next_ack_id_ = 0;
    std::unordered_map<std::uint64_t, pending_ack> pending_acks_;
    bool ready_ = false;
    std::vector<codec::socketio::packet> early_packets_;
};

}  // namespace sio
