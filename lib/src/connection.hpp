// One Engine.IO session as the Socket.IO server sees it: the decoder for its messages and its
// sockets, one per namespace joined. Internal to the library.
#pragma once

#include "sio/codec/socket_io.hpp"
#include "sio/engine/server.hpp"
#include "sio/server.hpp"
#include "sio/socket.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace sio::detail {

class connection final : public engine::session_listener,
                         public std::enable_shared_from_this<connection> {
public:
    connection(const std::shared_ptr<server>& srv, engine::session_handle session,
               const engine::handshake_request& request, boost::asio::any_io_executor strand);
    ~connection() override;

    // Arms the connect timeout.
    void start();

    // engine::session_listener, on the session's strand.
    void on_message(codec::eio::packet message) override;
    void on_close(std::string_view reason) override;

    // From any thread. The frames of one packet reach the session contiguously.
    void send(const codec::socketio::packet& p);
    void send(const adapter::frame& f);
    // Closes the Engine.IO session; on_close follows with `reason`.
    void close(std::string_view reason);
    // A socket left its namespace (its own disconnect, or the client's).
    void remove(const socket& s);
    // socket::disconnect(true): every socket leaves, then the session closes.
    void disconnect_all();
    // Server shutdown: every socket gets DISCONNECT, then the session closes with
    // "forced server close".
    void shutdown();

    const boost::asio::any_io_executor& strand() const noexcept { return strand_; }
    // A line for the server's log, naming this session.
    void log(std::string_view what) const;
    const std::string& sid() const noexcept { return session_.sid(); }

private:
    void on_packet(codec::socketio::packet p);
    void on_connect_packet(codec::socketio::packet p);
    void finish_connect(const std::shared_ptr<socket>& s, std::optional<connect_error> err);
    // The socket of a CONNECT, once any session to recover was found (in this process, or in
    // the cluster's records).
    void create_socket(const std::shared_ptr<namespace_>& nsp, json auth,
                       std::optional<adapter::persisted_session> restoring,
                       std::optional<adapter::redis::cluster::restored_session> restored);
    // A CONNECT presenting a pid, in a namespace whose sessions the cluster keeps.
    void restore_from_cluster(const std::shared_ptr<namespace_>& nsp, adapter::redis::cluster& c, json auth);
    // finish_connect's attach when the cluster keeps sessions: the missed broadcasts first.
    bool attach_from_cluster(adapter::redis::cluster& c, const std::shared_ptr<socket>& s);
    void invalid_state(std::string_view why);
    void cancel_connect_timer();
    void report(server_event::kind type, std::string_view nsp, std::string_view socket_id,
                std::string_view reason) const;

    const std::weak_ptr<server> server_;
    const engine::session_handle session_;
    const std::shared_ptr<const server_options> options_;  // shared: may outlive the server
    // What the sockets see of the handshake. Shared with them: a socket holds this one whenever
    // its auth is the same (or it is the first), so the headers and query are not held twice.
    std::shared_ptr<handshake> handshake_;
    std::shared_ptr<const handshake> handshake_for(json auth);
    const boost::asio::any_io_executor strand_;
    // Only touched on strand_ (the session's executor); gone once a namespace is joined, so that
    // a connected session does not hold a timer it no longer needs.
    std::unique_ptr<boost::asio::steady_timer> connect_timer_;
    std::shared_ptr<std::atomic<std::size_t>> counter_;

    // A binary packet waiting for its attachments; every other packet is decoded by the thread's
    // shared decoder (shared_decoder in server.cpp), so an idle connection holds none.
    std::unique_ptr<codec::socketio::decoder> pending_;  // only touched on the session's strand

    std::atomic<bool> closed_{false};
    std::recursive_mutex send_mutex_;  // recursive: a send may close the session synchronously
    mutable std::mutex mutex_;         // guards the two members below
    std::map<std::string, std::shared_ptr<socket>, std::less<>> sockets_;  // by namespace
    std::set<std::string, std::less<>> connecting_;  // namespaces in middleware
    bool joined_any_ = false;
};

}  // namespace sio::detail
