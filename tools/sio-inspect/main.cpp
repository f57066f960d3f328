// sio-inspect: handshake inspector, traffic decoder, decoding proxy and doctor.
#include "common/cli.hpp"
#include "decode.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace po = boost::program_options;
using namespace sio::tools;

namespace {

constexpr tool_info info{"sio-inspect",
                         "handshake inspector, traffic decoder, decoding proxy and doctor",
                         "sio-inspect [options] COMMAND [ARGS...]",
                         "Commands:\n"
                         "  decode [PACKET | -]  explain a raw Engine.IO/Socket.IO packet or polling\n"
                         "                       payload (\\x1e separates packets; - reads stdin)\n"
                         "  handshake, watch, proxy, replay, doctor: not available in this version\n"};

struct inspect_options {
    std::string command;
    std::vector<std::string> args;
    sio::inspect::decode_options decode;
};

int run_decode_command(inspect_options& options) {
    if (options.args.size() > 1) {
        return usage_error(info, "decode takes one PACKET argument (quote it), or - to read stdin");
    }
    if (options.args.empty() || options.args[0] == "-") {
        options.decode.input.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
        options.decode.input = sio::inspect::unescape_input(options.args[0]);
    }
    return sio::inspect::run_decode(options.decode, std::cout, std::cerr);
}

int run_inspect(inspect_options& options) {
    if (options.command == "decode") return run_decode_command(options);
    if (options.command == "handshake" || options.command == "watch" || options.command == "proxy" ||
        options.command == "replay" || options.command == "doctor") {
        fmt::print(stderr, "{}: '{}' is not available in this version\n", info.name, options.command);
        return exit_failure;
    }
    return usage_error(info, fmt::format("unknown command '{}' (commands: decode, handshake, "
                                         "watch, proxy, replay, doctor)",
                                         options.command));
}

}  // namespace

int main(int argc, char* argv[]) {
    inspect_options options;
    command_line cmd{standard_options(), {}, {}};
    po::options_description decode("decode options (sio-inspect decode [PACKET | -])");
    decode.add_options()
        ("eio", po::value(&options.decode.eio)->default_value(4)->notifier([](int v) {
            if (v != 3 && v != 4) throw po::validation_error(po::validation_error::invalid_option_value, "eio", std::to_string(v));
        }), "Engine.IO revision of the input: 4, or 3 for socket.io 2.x (length-prefixed payloads)")
        ("json", po::bool_switch(&options.decode.json), "one JSON object per packet")
        ("engine-only", "do not decode message data as Socket.IO");
    cmd.visible.add(decode);
    cmd.hidden.add_options()
        ("command", po::value(&options.command)->required(), "subcommand")
        ("args", po::value(&options.args), "arguments of the subcommand");
    cmd.positional.add("command", 1).add("args", -1);
    po::variables_map vm;
    if (auto code = parse_command_line(argc, argv, info, cmd, vm)) return *code;
    options.decode.socket_io = vm.count("engine-only") == 0;
    return run_inspect(options);
}
