// sio-serve: zero-code Socket.IO server: chat demo, rooms, namespaces, acks
#include "common/cli.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <string>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{"sio-serve", "zero-code Socket.IO server: chat demo, rooms, namespaces, acks", "sio-serve [options]"};


struct serve_options {
    std::string host = "127.0.0.1";
    unsigned short port = 3000;
};

int run_serve(const serve_options& options) {
    fmt::print(stderr, "{}: the server is not available in this version (would listen on {}:{})\n",
               info.name, options.host, options.port);
    return exit_failure;
}

}  // namespace

int main(int argc, char* argv[]) {
    serve_options options;
    command_line cmd{standard_options(), {}, {}};
    po::options_description serve("Server options");
    serve.add_options()
        ("host", po::value(&options.host)->default_value(options.host), "address to listen on")
        ("port,p", po::value(&options.port)->default_value(options.port), "port to listen on (0: any free port)");
    cmd.visible.add(serve);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    return run_serve(options);
}
