// Durations as typed on the command line of every tool and in sio-cli's REPL: a number and a unit
// (500ms, 5s, 1.5s, 1m, 1h). A number without a unit keeps the unit its flag always had.
#pragma once

#include <boost/program_options.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sio::tools {

// What a number without a unit means for a given flag.
enum class bare_unit { milliseconds, seconds };

// "500ms", "5s", "1.5s", "1m", "1h", or a bare number in `bare` units. Decimals are taken when
// the result is a whole number of milliseconds ("1.5s", not "1.5ms"). nullopt for a negative
// value, a missing number, an unknown unit, trailing text or more than 10^12 ms; `why` (when
// given) then says which.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, bare_unit bare,
                                                        std::string* why = nullptr);

// The shortest exact spelling: "250ms", "5s", "2m", "1h", "1500ms".
std::string format_duration(std::chrono::milliseconds d);

// "500ms, 5s, 1m; a bare number is milliseconds": the forms a duration flag takes, for --help
// and for error messages.
std::string duration_forms(bare_unit bare);

// "--FLAG 'TEXT': WHY (use 500ms, 5s, 1m; a bare number is milliseconds)" when `text` is not a
// duration, else nullopt with the value in `out`.
std::optional<std::string> read_duration(std::string_view flag, std::string_view text, bare_unit bare,
                                         std::chrono::milliseconds& out);

// A duration flag for boost::program_options: typed as text, read when the command line is
// checked (a bad value is a usage error naming the flag), stored in `*target` (milliseconds, or
// whole seconds for `unsigned_seconds`). The default is shown as a duration.
boost::program_options::typed_value<std::string>* duration_value(std::string flag, bare_unit bare,
                                                                 std::chrono::milliseconds* target);
// The same stored as a count of milliseconds (refused when it does not fit).
boost::program_options::typed_value<std::string>* duration_value(std::string flag, bare_unit bare,
                                                                 unsigned* target_ms);

}  // namespace sio::tools
