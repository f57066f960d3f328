// The Engine.IO server's request side (internal; requests.cpp).
#pragma once

#include "server_state.hpp"

namespace sio::engine::detail {

// The HTTP listener's request handler: Engine.IO answers its path itself; every other path goes
// to the HTTP handler.
boost::asio::awaitable<next_step> route(std::shared_ptr<server::impl> core, std::shared_ptr<connection> c,
                                        transport::request_parser& parser);
// A request handler's answers: the server is gone; the connection moves to another loop.
boost::asio::awaitable<next_step> closed_step();
boost::asio::awaitable<next_step> moved_step();
// A request naming a session that `owner`, another server of the cluster, made: its body is read
// here (maxPayload applies), it is sent to the owner (server_options::forwarder) and the owner's
// answer written here (forward.cpp). The connection is parked meanwhile.
boost::asio::awaitable<next_step> forward_to_owner(std::shared_ptr<server::impl> core, std::shared_ptr<connection> c,
                                                   transport::request_parser& parser, std::string sid, std::string owner);
// The CORS headers the server's options call for.
void add_cors(const server::impl& core, std::string_view origin, transport::http_response& res);

}  // namespace sio::engine::detail
