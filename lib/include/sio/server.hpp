// The Socket.IO v5 server: attaches to an Engine.IO server and multiplexes namespaces over each
// of its sessions.
//
//     auto eio = sio::engine::server::create(ex, {});
//     auto io = sio::server::create(ex, eio);
//     io->of("/").on_connection([](const std::shared_ptr<sio::socket>& s) {
//         s->on("echo", [](sio::json args, sio::ack_fn ack) { if (ack) ack(std::move(args)); });
//     });
//     eio->listen({boost::asio::ip::make_address("127.0.0.1"), 0});
//
// A session that does not CONNECT to any namespace within `connect_timeout` is closed. A CONNECT
// to a namespace that was not declared with of() is answered with CONNECT_ERROR
// {"message":"Invalid namespace"}. A packet the decoder refuses, or one that makes no sense in
// the connection's state (an event for a namespace not joined), closes that
// session only ("parse error" / "invalid state"), logged with the decoder's reason.
#pragma once

#include "sio/codec/socket_io.hpp"
#include "sio/engine/server.hpp"
#include "sio/namespace.hpp"
#include "sio/socket.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace sio {

// A Socket.IO event an operator may want to log; see server_options::on_event.
struct server_event {
    enum class kind : std::uint8_t {
        socket_connect,     // a socket joined a namespace
        socket_disconnect,  // a socket left its namespace; `reason` says why
        connect_refused,    // a CONNECT was answered with CONNECT_ERROR; `reason` is its message
    };
    kind type = kind::socket_connect;
    std::string_view nsp;
    std::string_view socket_id;  // empty for connect_refused
    std::string_view sid;        // the Engine.IO session
    std::string_view reason;
};

struct server_options {
    std::chrono::milliseconds connect_timeout{45000};  // the reference's default
    // Default for emit_with_ack; zero waits until the socket disconnects (the reference has no
    // default timeout either).
    std::chrono::milliseconds ack_timeout{0};
    codec::socketio::decoder_options decoder;
    // The clients' parser: the default one, or socket.io-msgpack-parser's (a packet in the other
    // format closes the session, as the reference does, with a log line saying so).
    codec::socketio::wire_parser parser = codec::socketio::wire_parser::json;
    // Connection state recovery (off while the window is zero, as in the reference): sockets
    // that drop for a transport reason and return within the window get their id, rooms and
    // the broadcasts they missed. See sio/adapter/recovery.hpp.
    adapter::recovery_options recovery;
    // Diagnostics (refused packets, closed sessions); none when empty. Called from any thread.
    std::function<void(std::string_view)> log;
    // Connects, disconnects and refused CONNECTs; none when empty. Called from any thread, one
    // call per event; must not call back into the server.
    std::function<void(const server_event&)> on_event;
    // Kept for source compatibility; unused: a connection runs where its Engine.IO session
    // runs (engine::session_handle::executor()), as set by engine::server_options.
    bool single_threaded = false;
};

class server : public std::enable_shared_from_this<server> {
    struct passkey {
        explicit passkey() = default;
    };

public:
    // Sets the engine server's open handler. Each connection, with its timers (connect and ack
    // timeouts), runs where its Engine.IO session runs; `executor` is the server's own.
    static std::shared_ptr<server> create(boost::asio::any_io_executor executor,
                                          std::shared_ptr<engine::server> engine,
                                          server_options options = {});
    server(passkey, boost::asio::any_io_executor executor, std::shared_ptr<engine::server> engine,
           server_options options);
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Declares a namespace (or returns the existing one). "/" always exists. A name without a
    // leading '/' gets one.
    namespace_& of(std::string_view name);
    std::shared_ptr<namespace_> find(std::string_view name) const;

    // Sessions with a Socket.IO connection object (connected to a namespace or not yet).
    std::size_t connection_count() const noexcept { return connections_->load(); }
    // Namespaces declared with of(), "/" included.
    std::size_t namespace_count() const;
    // Rooms over every namespace, each socket's own room (named after its id) not counted.
    std::size_t room_count() const;

    // Graceful shutdown, first step, as the reference's io.close(): every connected socket ends
    // with "server shutting down" (its disconnect handlers run; no DISCONNECT packet is sent, so
    // the client is not told to stay away), then its Engine.IO session closes with "forced
    // server close": the client sees its transport close and reconnects by itself. New sessions
    // are refused (403). The engine keeps serving HTTP, so that a polling client can still
    // collect its close packet; call engine().stop_accepting() once session_count() is 0.
    // Safe from any thread; returns at once, the sessions close on their own executors.
    void close();
    const server_options& options() const noexcept { return *options_; }

    // The cluster every namespace publishes to (see cluster.hpp); `keep` lives as long as the
    // server does.
    void set_cluster(std::shared_ptr<adapter::redis::cluster> c, std::shared_ptr<void> keep);
    std::shared_ptr<adapter::redis::cluster> cluster() const;
    engine::server& engine() const noexcept { return *engine_; }

private:
    friend class detail::connection;
    void log(std::string_view what) const;

    boost::asio::any_io_executor executor_;
    std::shared_ptr<engine::server> engine_;
    std::shared_ptr<const server_options> options_;
    std::shared_ptr<std::atomic<std::size_t>> connections_ =
        std::make_shared<std::atomic<std::size_t>>(0);
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<namespace_>, std::less<>> namespaces_;
    // Every live connection, for close(). Touched once per session, not per message.
    std::map<const detail::connection*, std::weak_ptr<detail::connection>> live_;
    std::atomic<bool> closing_{false};
    std::shared_ptr<adapter::redis::cluster> cluster_;
    std::shared_ptr<void> cluster_keep_;  // close() was called: refuse new sessions
};

}  // namespace sio
