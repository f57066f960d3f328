// Error codes of the Socket.IO layer (category "sio.socket").
#pragma once

#include <string>
#include <system_error>

namespace sio {

enum class socket_errc {
    ok = 0,
    reserved_event_name,  // connect, connect_error, disconnect, disconnecting, newListener, …
    invalid_arguments,    // event arguments must be a JSON array
    not_connected,        // the socket is disconnected (or its connection is gone)
    ack_timeout,          // no acknowledgement within the timeout: "operation has timed out"
    disconnected,         // the socket disconnected while an acknowledgement was pending
};

const std::error_category& socket_category() noexcept;

inline std::error_code make_error_code(socket_errc e) noexcept {
    return {static_cast<int>(e), socket_category()};
}

}  // namespace sio

template <>
struct std::is_error_code_enum<sio::socket_errc> : std::true_type {};
