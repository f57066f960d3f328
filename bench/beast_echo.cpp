// The machine's ceiling for sio-bench --raw: a minimal single-threaded Boost.Beast WebSocket echo
// server, with no Engine.IO or Socket.IO on top. Every message comes back as it came (text or
// binary), one read and one write at a time per connection.
//
//   beast-echo [--port N]     (default 0: any free port; loopback only)
//
// Prints "listening on http://127.0.0.1:PORT" once ready, as sio-serve does, so that bench/matrix
// can start either the same way.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

asio::awaitable<void> echo(tcp::socket socket) {
    websocket::stream<beast::tcp_stream> ws(std::move(socket));
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    try {
        co_await ws.async_accept(asio::use_awaitable);
        beast::flat_buffer buffer;
        for (;;) {
            co_await ws.async_read(buffer, asio::use_awaitable);
            ws.text(ws.got_text());
            co_await ws.async_write(buffer.data(), asio::use_awaitable);
            buffer.consume(buffer.size());
        }
    } catch (const boost::system::system_error&) {
        // The peer closed or the connection failed: this connection is over, the server goes on.
    }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) continue;  // e.g. out of descriptors for a moment: keep serving the others
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
    }
}

}  // namespace

int main(int argc, char** argv) {
    unsigned long port = 0;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char* end = nullptr;
            port = std::strtoul(argv[++i], &end, 10);
            if (*end != '\0' || port > 65535) {
                std::fprintf(stderr, "beast-echo: --port takes 0..65535, not '%s'\n", argv[i]);
                return 2;
            }
        } else {
            std::fprintf(stderr, "usage: beast-echo [--port N]\n");
            return 2;
        }
    }
    asio::io_context ioc{1};
    tcp::acceptor acceptor(ioc);
    try {
        const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
        acceptor.open(at.protocol());
        acceptor.set_option(asio::socket_base::reuse_address(true));
        acceptor.bind(at);
        acceptor.listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
        std::fprintf(stderr, "beast-echo: cannot listen on 127.0.0.1:%lu: %s\n", port, e.code().message().c_str());
        return 1;
    }
    std::printf("listening on http://127.0.0.1:%u\n", acceptor.local_endpoint().port());
    std::fflush(stdout);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) {
        acceptor.close();
        ioc.stop();
    });
    asio::co_spawn(ioc, accept_loop(acceptor), asio::detached);
    ioc.run();
    return 0;
}
