// The Admin UI's JSON forms (@socket.io/admin-ui 0.5.x): a socket as all_sockets and
// socket_connected carry it, from this server or from another server's fetchSockets answer, the
// `_admin` record a socket's data keeps in a cluster, and the two forms of time the UI reads.
#pragma once

#include <sio/socket.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sio::serve::admin_json {

using wall_clock = std::chrono::system_clock;

std::int64_t epoch_ms(wall_clock::time_point t);
// A JavaScript Date as JSON.stringify writes it: 2026-12-07T00:12:31.123Z.
std::string iso_time(wall_clock::time_point t);
// A Date's toString(), which the reference puts in handshake.time, in UTC.
std::string date_string(wall_clock::time_point t);

// A socket of this server: {id, clientId, transport, nsp, data, handshake, rooms}.
json local_socket(const sio::socket& s, const std::string& transport, std::vector<std::string> rooms,
                  std::string_view engine_path, bool tls);
// A socket as another server's fetchSockets answer describes it, in the same form.
json remote_socket(const std::string& nsp, const json& described);
// Keeps a socket's client id and transport in its data (`_admin`), where other servers of the
// cluster read them, as an instrumented Node server does; what else the data holds stays.
void set_admin_data(sio::socket& s, const std::string& transport);

}  // namespace sio::serve::admin_json
