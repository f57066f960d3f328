// A Socket.IO server for the interop tests, driven by the Node socket.io-client.
//
// Listens on 127.0.0.1 with a free port, prints "port <n>" on stdout, and exits when stdin
// closes (the test runner holds the pipe). Namespaces and events:
//   /       echo ...args        acks its arguments back (binary stays binary)
//           join ROOM, leave ROOM (ack [rooms] when asked)
//           to-room ROOM ...args   "message" ...args to ROOM, not to the sender
//           broadcast ...args      "broadcast" ...args to every other socket of "/"
//           server-ack ...args     emits "question" ...args with an ack, then
//                                  "answer-received" with the client's answer (or the error)
//           disconnect-me          the server disconnects this socket from "/"
//           on disconnect          "left" {id, reason} to the room "observers"
//   /admin  refuses a CONNECT without auth {"token":"secret"} ("not authorized"); echo
// Options: --connect-timeout-ms N, --ack-timeout-ms N.
#include "sio/engine/server.hpp"
#include "sio/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

namespace {

namespace asio = boost::asio;
using sio::json;

void add_echo(const std::shared_ptr<sio::socket>& s) {
    s->on("echo", [](json args, sio::ack_fn ack) {
        if (ack) ack(std::move(args));
    });
}

void setup_main(sio::namespace_& nsp) {
    nsp.on_connection([](const std::shared_ptr<sio::socket>& s) {
        add_echo(s);
        // Handlers hold a weak reference: the socket owns its handlers.
        std::weak_ptr<sio::socket> weak = s;
        s->on("join", [weak](json args, sio::ack_fn ack) {
            auto self = weak.lock();
            if (!self || args.empty() || !args[0].is_string()) return;
            self->join(args[0].get<std::string>());
            if (ack) ack(json::array({self->rooms()}));
        });
        s->on("leave", [weak](json args, sio::ack_fn ack) {
            auto self = weak.lock();
            if (!self || args.empty() || !args[0].is_string()) return;
            self->leave(args[0].get<std::string>());
            if (ack) ack(json::array({self->rooms()}));
        });
        s->on("to-room", [weak](json args, sio::ack_fn ack) {
            auto self = weak.lock();
            if (!self || args.empty() || !args[0].is_string()) return;
            auto room = args[0].get<std::string>();
            args.erase(args.begin());
            std::size_t reached = 0;
            auto ec = self->to(room).emit("message", std::move(args), &reached);
            if (ack) ack(json::array({ec ? -1 : static_cast<int>(reached)}));
        });
        s->on("broadcast", [weak](json args, sio::ack_fn ack) {
            auto self = weak.lock();
            if (!self) return;
            std::size_t reached = 0;
            auto ec = self->broadcast().emit("broadcast", std::move(args), &reached);
            if (ack) ack(json::array({ec ? -1 : static_cast<int>(reached)}));
        });
        s->on("server-ack", [weak](json args, sio::ack_fn) {
            auto self = weak.lock();
            if (!self) return;
            self->emit_with_ack("question", std::move(args), [weak](std::error_code ec, json answer) {
                auto again = weak.lock();
                if (!again) return;
                if (ec) {
                    again->emit("answer-received", json::array({json{{"error", ec.message()}}}));
                } else {
                    again->emit("answer-received", std::move(answer));
                }
            });
        });
        s->on("disconnect-me", [weak](json, sio::ack_fn) {
            if (auto self = weak.lock()) self->disconnect();
        });
        // The application side of the API refuses reserved names: report it to the client.
        s->on("try-reserved", [weak](json, sio::ack_fn ack) {
            auto self = weak.lock();
            if (!self || !ack) return;
            auto ec = self->emit("disconnect");
            ack(json::array({ec.message()}));
        });
        auto& nsp_ref = s->nsp();
        auto id = s->id();
        s->on_disconnect([&nsp_ref, id](const std::string& reason) {
            nsp_ref.to("observers").emit("left", json::array({json{{"id", id}, {"reason", reason}}}));
        });
    });
}

void setup_admin(sio::namespace_& nsp) {
    nsp.use([](const std::shared_ptr<sio::socket>& s, sio::next_fn next) {
        const auto& auth = s->handshake().auth;
        auto token = auth.find("token");
        if (token == auth.end() || *token != "secret") {
            next(sio::connect_error{"not authorized", json{{"hint", "token"}}});
            return;
        }
        next(std::nullopt);
    });
    nsp.on_connection([](const std::shared_ptr<sio::socket>& s) { add_echo(s); });
}

long parse_ms(const char* v) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (!end || *end != '\0' || n < 0) {
        std::cerr << "sio_test_server: bad number '" << v << "'\n";
        std::exit(2);
    }
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    sio::server_options options;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--connect-timeout-ms" && i + 1 < argc) {
            options.connect_timeout = std::chrono::milliseconds(parse_ms(argv[++i]));
        } else if (a == "--ack-timeout-ms" && i + 1 < argc) {
            options.ack_timeout = std::chrono::milliseconds(parse_ms(argv[++i]));
        } else {
            std::cerr << "usage: sio_test_server [--connect-timeout-ms N] [--ack-timeout-ms N]\n";
            return 2;
        }
    }
    options.log = [](std::string_view what) { std::cerr << "sio_test_server: " << what << '\n'; };

    asio::io_context ioc;
    auto engine = sio::engine::server::create(ioc.get_executor(), {});
    auto io = sio::server::create(ioc.get_executor(), engine, options);
    setup_main(io->of("/"));
    setup_admin(io->of("/admin"));

    if (auto ec = engine->listen({asio::ip::make_address("127.0.0.1"), 0})) {
        std::cerr << "sio_test_server: listen: " << ec.message() << '\n';
        return 1;
    }
    std::cout << "port " << engine->local_endpoint().port() << std::endl;

    // The runner closes stdin to stop us: a blocking read on its own thread, then a clean stop.
    std::thread stdin_watch([&ioc, engine] {
        std::string line;
        while (std::getline(std::cin, line)) {
        }
        asio::post(ioc, [&ioc, engine] {
            engine->stop();
            ioc.stop();
        });
    });
    ioc.run();
    stdin_watch.join();
    return 0;
}
