// A Socket.IO namespace on the server: its middleware, its connection handlers, its rooms and
// broadcasts. Namespaces are declared with server::of() and live as long as the server.
#pragma once

#include "sio/adapter/in_memory.hpp"
#include "sio/adapter/recovery.hpp"
#include "sio/adapter/redis.hpp"
#include "sio/socket.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio {

class server;

// What a middleware refuses a connection with: the client gets CONNECT_ERROR
// {"message": message, "data": data} (data only when set).
struct connect_error {
    std::string message;
    std::optional<json> data;
};

// Continues the chain: nullopt lets the socket through, an error refuses it. Call it exactly
// once, from any thread, now or later (a middleware may look things up asynchronously); further
// calls are ignored.
using next_fn = std::function<void(std::optional<connect_error>)>;
using middleware = std::function<void(const std::shared_ptr<socket>&, next_fn next)>;
using connection_handler = std::function<void(const std::shared_ptr<socket>&)>;
// Sees every event a socket of the namespace emits to its own client (socket::emit and
// emit_with_ack, not broadcasts), as the reference's onAnyOutgoing: the event name and its
// arguments (a JSON array). Called on the emitting thread, before the packet is queued.
using outgoing_handler = std::function<void(const socket&, std::string_view event, const json& args)>;
// An event another server of the cluster sent with serverSideEmit; `ack` is empty unless the
// sender waits for an answer (call it at most once, with the single answer).
using server_side_handler = std::function<void(json args, std::function<void(json)> ack)>;

// A packet encoded in `parser`'s format as the frame (shared buffers) its targets are sent.
adapter::frame encode_frame(const codec::socketio::packet& p, codec::socketio::wire_parser parser);

// Which sockets of a namespace a broadcast reaches: `to` rooms (none: all), minus `except`
// rooms. Cheap to copy; every call returns a new operator.
class broadcast_operator {
public:
    broadcast_operator(std::shared_ptr<namespace_> nsp, adapter::broadcast_options options);

    broadcast_operator to(std::string room) const;
    broadcast_operator in(std::string room) const { return to(std::move(room)); }
    broadcast_operator except(std::string room) const;
    // May be dropped for a target that cannot take it (kept in the flags for adapters that can
    // tell; the in-memory path currently sends it like any other packet).
    broadcast_operator volatile_packet() const;
    broadcast_operator local() const;

    // Encodes the event once and queues the same buffers to every target. Returns the refusal
    // (reserved_event_name, invalid_arguments) or success; `reached`, when given, receives the
    // number of sockets the packet was queued to.
    std::error_code emit(std::string_view event, json args = json::array(),
                         std::size_t* reached = nullptr) const;

    std::vector<std::string> socket_ids() const;  // the targets, sorted
    void sockets_join(std::string_view room) const;
    void sockets_leave(std::string_view room) const;
    void disconnect_sockets(bool close_underlying = false) const;

    const adapter::broadcast_options& options() const noexcept { return options_; }

private:
    friend class socket;
    // `data`: the EVENT's array, name first.
    std::size_t emit_prepared(json data) const;

    std::shared_ptr<namespace_> nsp_;
    adapter::broadcast_options options_;
};

class namespace_ : public std::enable_shared_from_this<namespace_> {
    struct passkey {
        explicit passkey() = default;
    };

public:
    namespace_(passkey, std::string name);
    namespace_(const namespace_&) = delete;
    namespace_& operator=(const namespace_&) = delete;

    const std::string& name() const noexcept { return name_; }

    // Middleware runs in the order added, for every CONNECT to this namespace, before the socket
    // joins it; the first refusal ends the chain.
    namespace_& use(middleware mw);
    namespace_& on_connection(connection_handler handler);

    broadcast_operator to(std::string room);
    broadcast_operator in(std::string room) { return to(std::move(room)); }
    broadcast_operator except(std::string room);
    // To every socket of the namespace.
    std::error_code emit(std::string_view event, json args = json::array());
    void disconnect_sockets(bool close_underlying = false);

    // serverSideEmit from other servers of the cluster.
    namespace_& on_server_side_emit(server_side_handler handler);
    void notify_server_side_emit(json args, std::function<void(json)> ack);

    // The cluster this namespace publishes its broadcasts to (none: this process only).
    void set_cluster(std::shared_ptr<adapter::redis::cluster> c);
    std::shared_ptr<adapter::redis::cluster> cluster() const;

    std::size_t socket_count() const { return adapter_.socket_count(); }
    // The sockets connected to this namespace in this process (a snapshot, unordered).
    std::vector<std::shared_ptr<socket>> sockets() const;

    // Outgoing events of every socket of this namespace; see outgoing_handler. None by default,
    // and then an emit pays one atomic load for it.
    namespace_& on_outgoing(outgoing_handler handler);
    void notify_outgoing(const socket& s, std::string_view event, const json& args) const;
    adapter::in_memory& adapter() noexcept { return adapter_; }
    const adapter::in_memory& adapter() const noexcept { return adapter_; }
    // Connection state recovery; null when the server was created without a recovery window.
    adapter::recovery_store* recovery() const noexcept { return recovery_.get(); }
    // A packet encoded once, in the server's parser, as the frame every target of it shares.
    adapter::frame encode(const codec::socketio::packet& p) const;

private:
    friend class server;
    friend class detail::connection;

    static std::shared_ptr<namespace_> create(std::string name, const adapter::recovery_options& recovery,
                                              codec::socketio::wire_parser parser);
    // Runs the middleware on `s`, then calls `done` with the outcome (possibly on another thread).
    void run_middleware(const std::shared_ptr<socket>& s,
                        std::function<void(std::optional<connect_error>)> done);
    void notify_connection(const std::shared_ptr<socket>& s);

    const std::string name_;
    codec::socketio::wire_parser parser_ = codec::socketio::wire_parser::json;
    adapter::in_memory adapter_;
    std::unique_ptr<adapter::recovery_store> recovery_;
    mutable std::mutex mutex_;  // guards the two lists
    std::vector<middleware> middleware_;
    std::vector<connection_handler> connection_handlers_;
    std::vector<server_side_handler> server_side_handlers_;
    std::vector<outgoing_handler> outgoing_handlers_;
    std::atomic<bool> has_outgoing_{false};
    std::shared_ptr<adapter::redis::cluster> cluster_;
};

}  // namespace sio
