// Where a tool listens, as its flags give it (sio-serve --metrics-listen, sio-inspect proxy
// --listen): an IP address and a port.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <optional>
#include <string_view>

namespace sio::tools {

// "HOST:PORT" or "[V6]:PORT": HOST an IP address (no name: nothing is resolved), PORT 0 to
// 65535 (0: any free port). nullopt when it is not that.
std::optional<boost::asio::ip::tcp::endpoint> parse_listen_address(std::string_view text);

}  // namespace sio::tools
