#include "common/listen_address.hpp"

#include <boost/asio/ip/address.hpp>

#include <string>

namespace sio::tools {

std::optional<boost::asio::ip::tcp::endpoint> parse_listen_address(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    auto host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(std::string(host), ec);
    if (ec) return std::nullopt;
    const auto port_text = text.substr(colon + 1);
    if (port_text.empty() || port_text.size() > 5) return std::nullopt;
    unsigned port = 0;
    for (const char c : port_text) {
        if (c < '0' || c > '9') return std::nullopt;
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port > 65535) return std::nullopt;
    return boost::asio::ip::tcp::endpoint{address, static_cast<unsigned short>(port)};
}

}  // namespace sio::tools
