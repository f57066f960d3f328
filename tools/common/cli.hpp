// What the four tools share on the command line: exit codes, --help/--version handling and
// the translation of option-parsing failures into a clear usage error (exit code 2).
#pragma once

#include <boost/program_options.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace sio::tools {

// Exit codes shared by every tool; tool-specific codes start at 3 and are listed in each man page.
enum exit_code : int {
    exit_ok = 0,
    exit_failure = 1,
    exit_usage = 2,
};

struct tool_info {
    std::string_view name;     // "sio-cli"
    std::string_view summary;  // one line: what the tool is for
    std::string_view usage;    // "sio-cli [options] URL"
    std::string_view details = {};  // optional text shown by --help between usage and options
};

// Parses argv into `vm`. Handles --help and --version itself. Returns an exit code when the
// program should stop now (help or version printed: 0; bad usage, message printed: 2), or
// nullopt when the caller should go on and read `vm`.
// What a tool accepts: `visible` is shown by --help, `hidden` holds the positional arguments.
struct command_line {
    boost::program_options::options_description visible;
    boost::program_options::options_description hidden;
    boost::program_options::positional_options_description positional;
};

std::optional<int> parse_command_line(int argc, const char* const argv[], const tool_info& info,
                                      const command_line& cmd,
                                      boost::program_options::variables_map& vm);

// Prints "NAME: MESSAGE" and a hint to stderr; returns exit_usage.
int usage_error(const tool_info& info, std::string_view message);

// The standard options every tool has (--help, --version).
boost::program_options::options_description standard_options();

}  // namespace sio::tools
