// Durations as typed on the command line and in REPL commands: a number and a unit.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sio::cli {

// "250ms", "5s", "1.5s", "2m" and the bare "0". A number without a unit is refused (is "500"
// milliseconds or seconds?), as are negative values and anything over a day.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact spelling: "250ms", "5s", "2m", "1500ms".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace sio::cli
