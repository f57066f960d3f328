// The server side of the Socket.IO Admin UI (@socket.io/admin-ui 0.5.x): what its instrument()
// does for a Node server, for sio-serve. On its namespace (default /admin) an admin client gets
// "config", "server_stats" and "all_sockets" when it connects, then live "socket_connected",
// "socket_updated" (a transport upgrade), "socket_disconnected", "room_joined", "room_left",
// "server_stats" every 2 s, and in development mode "event_received" and "event_sent". It may
// send "join", "leave", "_disconnect" and "emit" (for a socket, a room or a whole namespace),
// unless the server is read-only. With basic authentication (a user name and a bcrypt hash), the
// namespace refuses a client without the right credentials or a session id it was given.
//
// Data flow: the library reports connects, room changes, events and engine sessions on the
// threads where they happen; each report is queued (admin_feed in admin.cpp) and the queue is
// drained on the home loop (loop 0), where the admin state lives. What the admin clients are told
// goes out once a tick (250 ms), coalesced: a new socket is announced after one full tick, with its
// rooms by then, and one that leaves before is never sent; a tick with more
// updates than the UI can take sends one all_sockets instead; the event log is capped per tick.
// The UI lists at most max_sockets sockets (the first ones, then newcomers as places free up): its
// store finds a socket by a linear search, so a list of 10,000 freezes it (admin-ui #22). The
// dashboard's counts come from server_stats and stay exact. The event log's hooks go in when the
// first admin client connects, and report only while one is connected (an atomic gate; otherwise
// an event costs a load).
//
// With --redis, the admin namespace is the cluster's, as with the reference: the feed goes through
// the cluster to the admin clients of every server (Node servers instrumented with
// @socket.io/admin-ui emit to it alike), server_stats names this server HOST#PID, all_sockets is
// gathered from every server (fetchSockets), and the operations reach every server's sockets.
#pragma once

#include <sio/engine/server.hpp>
#include <sio/server.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http.hpp>
#include <boost/program_options/options_description.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio::serve {

struct admin_options {
    bool enabled = false;             // --admin-ui
    std::string nsp = "/admin";       // --admin-ui-namespace
    std::string auth;                 // --admin-auth USER:BCRYPT_HASH; empty: no authentication
    bool read_only = false;           // --admin-read-only
    std::string mode = "development";  // --admin-mode development|production
    std::vector<std::string> origins;  // --admin-ui-origin: e.g. https://admin.socket.io (CORS)
    std::size_t max_sockets = 1000;    // --admin-ui-max-sockets: sockets listed to the UI
};

// Adds the --admin-* flags to `desc`, writing into `options`.
void add_admin_flags(boost::program_options::options_description& desc, admin_options& options);
// Checks the flags (namespace name, mode, the auth's bcrypt hash); an error sentence, or empty.
std::string check_admin_options(admin_options& options);

// The HTTP path of the served UI.
inline constexpr std::string_view admin_ui_path = "/admin/";

// Answers requests under /admin/ (and /admin) with the files of the Admin UI's ui/dist built into
// sio-serve; nullopt for any other path. `nsp`, `engine_path` and `msgpack` preset the UI's login
// form, so that it connects to this server.
std::optional<boost::beast::http::response<boost::beast::http::string_body>> serve_admin_ui(
    const boost::beast::http::request<boost::beast::http::string_body>& req, std::string_view nsp,
    std::string_view engine_path, bool msgpack);

class admin_server {
public:
    struct config {
        admin_options options;
        boost::asio::any_io_executor home;  // loop 0: the admin state and its timer live there
        bool tls = false;                   // the handshakes' "secure"
        std::string engine_path;            // for the handshakes' "url"
        std::function<void(std::string_view)> log;  // info lines
        std::function<void(std::string_view)> warn;  // lines that must be seen (open admin)
    };

    // Made before the engine, so that the engine's events can reach it from the start.
    static std::shared_ptr<admin_server> create(config c);
    virtual ~admin_server() = default;

    // An engine event (session open, upgrade, close), from any thread.
    virtual void engine_event(const engine::server_event& e) = 0;
    // Declares the admin namespace on `io` and watches `namespaces` (and the admin one). Call once,
    // before the server listens.
    virtual void attach(const std::shared_ptr<sio::server>& io, const std::vector<std::string>& namespaces) = 0;
    // Stops the stats timer (at shutdown).
    virtual void stop() = 0;
};

}  // namespace sio::serve
