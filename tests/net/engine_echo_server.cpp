// A tiny Engine.IO echo server for interop tests: listens on 127.0.0.1, port 0, prints
// "listening on http://127.0.0.1:PORT" as one line on stdout, sends every message back to its
// session (text as text, binary as binary) and exits when stdin closes.
//
//   engine_echo_server [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]
#include "sio/engine/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace engine = sio::engine;

class echo_listener : public engine::session_listener {
public:
    explicit echo_listener(engine::session_handle handle) : handle_(std::move(handle)) {}
    void on_message(sio::codec::eio::packet message) override {
        handle_.send(std::move(message.data), message.binary);
    }
    void on_close(std::string_view reason) override {
        std::cerr << "session " << handle_.sid() << " closed: " << reason << '\n';
    }

private:
    engine::session_handle handle_;
};

}  // namespace

int main(int argc, char** argv) {
    engine::server_options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg{argv[i]};
        if (i + 1 >= argc) {
            std::cerr << "usage: engine_echo_server [--ping-interval MS] [--ping-timeout MS] "
                         "[--max-payload BYTES]\n";
            return 2;
        }
        const auto value = std::strtoull(argv[++i], nullptr, 10);
        if (arg == "--ping-interval") {
            options.session.ping_interval = std::chrono::milliseconds(value);
        } else if (arg == "--ping-timeout") {
            options.session.ping_timeout = std::chrono::milliseconds(value);
        } else if (arg == "--max-payload") {
            options.session.max_payload = value;
        } else {
            std::cerr << "unknown option " << arg << '\n';
            return 2;
        }
    }

    asio::io_context ioc;
    auto srv = engine::server::create(ioc.get_executor(), options);
    srv->set_open_handler([](engine::session_handle h, const engine::handshake_request&) {
        return std::make_shared<echo_listener>(std::move(h));
    });
    const auto ec = srv->listen({asio::ip::make_address("127.0.0.1"), 0});
    if (ec) {
        std::cerr << "listen: " << ec.message() << '\n';
        return 1;
    }
    std::cout << "listening on http://127.0.0.1:" << srv->local_endpoint().port() << std::endl;

    // Stdin closing is the signal to stop (the test harness dies -> the server goes too).
    std::thread watcher([&ioc, srv] {
        char buf[256];
        while (std::fread(buf, 1, sizeof buf, stdin) > 0) {
        }
        asio::post(ioc, [srv] { srv->stop(); });
        asio::post(ioc, [&ioc] { ioc.stop(); });
    });
    ioc.run();
    watcher.join();
    return 0;
}
