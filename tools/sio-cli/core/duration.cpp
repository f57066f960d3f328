#include "sio-cli/core/duration.hpp"

#include <fmt/core.h>

#include <cmath>

namespace sio::cli {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    if (text == "0") return std::chrono::milliseconds{0};
    std::size_t i = 0;
    double whole = 0;
    bool digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        whole = whole * 10 + (text[i] - '0');
        digits = true;
        ++i;
        if (whole > 1e9) return std::nullopt;
    }
    double fraction = 0;
    if (i < text.size() && text[i] == '.') {
        ++i;
        double scale = 0.1;
        bool fraction_digits = false;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            fraction += (text[i] - '0') * scale;
            scale /= 10;
            fraction_digits = true;
            ++i;
        }
        if (!fraction_digits) return std::nullopt;
    }
    if (!digits) return std::nullopt;
    const auto unit = text.substr(i);
    double factor = 0;
    if (unit == "ms") factor = 1;
    else if (unit == "s") factor = 1000;
    else if (unit == "m") factor = 60'000;
    else return std::nullopt;
    const double ms = (whole + fraction) * factor;
    if (ms > 86'400'000.0) return std::nullopt;
    return std::chrono::milliseconds{static_cast<long long>(std::llround(ms))};
}

std::string format_duration(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
    if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
    return fmt::format("{}ms", ms);
}

}  // namespace sio::cli
