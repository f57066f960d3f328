// The Engine.IO client driver (v4, and v3 for socket.io 2.x servers): HTTP long-polling,
// WebSocket, or polling then upgrade through a probe; heartbeat answered (v4) or sent (v3); a
// silent server detected after pingInterval + pingTimeout.
//
// Threads: every member function must be called on the executor given to create() (a strand),
// and every handler runs there. The driver's coroutines keep it alive until they end; close()
// ends them without blocking.
#pragma once

#include "sio/codec/engine_io.hpp"
#include "sio/engine/transfer_counters.hpp"
#include "sio/transport/client_connect.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sio::engine {

enum class client_mode { polling, websocket, upgrade };

struct client_config {
    transport::url url;  // scheme decides TLS; path and query of the URL are not used here
    std::string path = "/engine.io/";
    std::vector<std::pair<std::string, std::string>> query;   // added to every request
    std::vector<std::pair<std::string, std::string>> headers; // every HTTP request and the upgrade
    client_mode mode = client_mode::upgrade;
    int eio_version = 4;
    transport::tls_settings tls;
    std::optional<transport::url> proxy;
    std::chrono::milliseconds connect_timeout{20000};
    codec::eio::limits limits;
    std::shared_ptr<transfer_counters> counters;  // optional: polling requests and header bytes
};

struct client_handlers {
    // The open packet arrived: the handshake, the transport name and the packet's JSON text.
    std::function<void(const codec::eio::handshake&, std::string_view transport, std::string_view json)> on_open;
    std::function<void(codec::eio::packet)> on_message;
    std::function<void()> on_upgrade;
    // ping: received (v4) or sent (v3); pong: sent (v4) or received (v3) with the round trip.
    std::function<void(codec::eio::packet_type, std::optional<std::chrono::microseconds> rtt)> on_heartbeat;
    // Once, when the connection is over (or could not be opened): why, and a sentence for a
    // person ("ping timeout", "transport close", "forced close", a connect failure…).
    std::function<void(transport::failure, std::string reason)> on_close;
};

class client {
public:
    static std::shared_ptr<client> create(boost::asio::any_io_executor strand, client_config config,
                                          client_handlers handlers);
    virtual ~client() = default;

    virtual void open() = 0;
    // Queued; sent by the one writer of the current transport, in order.
    virtual void send(codec::eio::packet packet) = 0;
    // Closes (a close packet over polling, a close frame over WebSocket); on_close follows with
    // failure::none and "forced close". Nothing is reported after that.
    virtual void close() = 0;
    virtual bool is_open() const noexcept = 0;
    virtual std::string_view transport_name() const noexcept = 0;  // "polling", "websocket" or ""
    virtual bool upgraded() const noexcept = 0;

protected:
    client() = default;
};

}  // namespace sio::engine
