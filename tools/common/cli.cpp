#include "common/cli.hpp"

#include <sio/version.hpp>

#include <fmt/core.h>

#include <cctype>
#include <cstdio>
#include <exception>
#include <sstream>

namespace po = boost::program_options;

namespace sio::tools {

po::options_description standard_options() {
    po::options_description d("General options");
    d.add_options()
        ("help,h", "print this help and exit")
        ("version,V", "print the version and exit");
    return d;
}

int usage_error(const tool_info& info, std::string_view message) {
    fmt::print(stderr, "{}: {}\nTry '{} --help' for more information.\n", info.name, message,
               info.name);
    return exit_usage;
}

std::optional<int> parse_command_line(int argc, const char* const argv[], const tool_info& info,
                                      const command_line& cmd, po::variables_map& vm) {
    po::options_description options;
    options.add(cmd.visible).add(cmd.hidden);
    try {
        po::store(po::command_line_parser(argc, argv)
                      .options(options)
                      .positional(cmd.positional)
                      .style(po::command_line_style::default_style &
                             ~po::command_line_style::allow_guessing)
                      .run(),
                  vm);
        if (vm.count("help") != 0) {
            std::ostringstream text;
            text << cmd.visible;
            fmt::print("{} - {}\n\nUsage: {}\n\n{}{}{}", info.name, info.summary, info.usage,
                       info.details, info.details.empty() ? "" : "\n", text.str());
            return exit_ok;
        }
        if (vm.count("version") != 0) {
            fmt::print("{} {}\n", info.name, sio::version_string);
            return exit_ok;
        }
        po::notify(vm);
    } catch (const po::required_option& e) {
        // A missing positional argument is named as the user knows it (URL), not as the
        // internal option that holds it (--url).
        std::string name = e.get_option_name();
        name.erase(0, name.find_first_not_of('-'));
        if (cmd.hidden.find_nothrow(name, false) != nullptr) {
            for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            return usage_error(info, fmt::format("missing argument {}", name));
        }
        return usage_error(info, e.what());
    } catch (const po::error& e) {
        return usage_error(info, e.what());
    } catch (const std::exception& e) {
        return usage_error(info, e.what());
    }
    return std::nullopt;
}

}  // namespace sio::tools
