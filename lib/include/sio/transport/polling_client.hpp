// The client's side of HTTP long-polling in layer 1: one keep-alive HTTP/1.1 connection used by
// one coroutine at a time, a request's head built as one string, and the exchange of one request
// and its answer. What the requests mean (Engine.IO's GET and POST) is the engine's.
#pragma once

#include "sio/transport/client_connect.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sio::transport {

// One answer, or why there is none.
struct http_reply {
    failure error = failure::none;
    std::string message;  // set when error != none
    unsigned status = 0;
    std::string reason;
    std::string content_type;
    std::string body;
    // What the exchange cost on the wire, answered or not: requests written (a retry on a new
    // connection is a second), and the bytes of their heads and of the answers' heads.
    std::size_t requests = 0;
    std::size_t header_bytes = 0;
};

// A keep-alive connection, opened by the first exchange that needs it.
struct http_client_connection {
    std::unique_ptr<any_stream> stream;
    boost::beast::flat_buffer buffer;
    void close() noexcept;  // shuts the socket down; the stream stays until dropped
};

// "METHOD TARGET HTTP/1.1", Host, Accept, the configured headers, and with a body its
// Content-Type (text/plain;charset=UTF-8) and Content-Length; HTTP/1.1 keeps the connection alive
// without a header. A configured header replaces Host or Accept, and of two configured headers of
// one name the later wins; the body's framing is never replaced.
std::string polling_request_head(std::string_view method, std::string_view target, std::string_view host,
                                 const std::vector<std::pair<std::string, std::string>>& headers, bool with_body,
                                 std::size_t body_size);

struct http_exchange {
    std::string head;  // polling_request_head()
    std::string body;
    std::optional<std::chrono::steady_clock::time_point> deadline;  // none: waits as long as it takes
    std::size_t body_limit = 0;                                       // the answer's body, at most
};

// Writes one request on `conn` (its head and body in one gather write) and reads the answer
// whole. Without a stream, `conn` is connected first through `connecting` with `how` (its
// deadline: the exchange's, or `connect_timeout` from now). A kept-alive connection the server
// closed meanwhile is tried once more on a new one. `stopped` is read after connecting: a client
// closed meanwhile ends the exchange with transport_closed.
boost::asio::awaitable<http_reply> exchange(http_client_connection& conn, const http_exchange& request,
                                            attempts& connecting, connect_request how,
                                            std::chrono::steady_clock::duration connect_timeout, const bool& stopped);

}  // namespace sio::transport
