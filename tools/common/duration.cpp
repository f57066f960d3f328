#include "common/duration.hpp"

#include <fmt/core.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>

namespace po = boost::program_options;

namespace sio::tools {

namespace {

constexpr std::int64_t max_ms = 1'000'000'000'000;  // about 31 years: anything more is a typo

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<std::chrono::milliseconds> refuse(std::string* why, std::string_view reason) {
    if (why != nullptr) *why = std::string(reason);
    return std::nullopt;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, bare_unit bare, std::string* why) {
    if (text.empty()) return refuse(why, "empty");
    if (text.front() == '-') return refuse(why, "negative");
    if (text.front() == '+') return refuse(why, "not a number");
    std::size_t i = 0;
    // The number as an integer and the count of its decimals: 1.25 is 125 and 2.
    std::int64_t mantissa = 0;
    int decimals = 0;
    bool digits = false;
    for (; i < text.size() && is_digit(text[i]); ++i) {
        mantissa = mantissa * 10 + (text[i] - '0');
        if (mantissa > max_ms) return refuse(why, "too long");
        digits = true;
    }
    if (i < text.size() && text[i] == '.') {
        ++i;
        bool fraction_digits = false;
        for (; i < text.size() && is_digit(text[i]); ++i) {
            mantissa = mantissa * 10 + (text[i] - '0');
            if (mantissa > max_ms || decimals == 9) return refuse(why, "too many digits");
            ++decimals;
            fraction_digits = true;
        }
        if (!fraction_digits) return refuse(why, "no digit after '.'");
    }
    if (!digits) return refuse(why, "no number");
    const auto unit = text.substr(i);
    std::int64_t factor = 0;  // milliseconds per unit
    if (unit.empty()) factor = bare == bare_unit::seconds ? 1000 : 1;
    else if (unit == "ms") factor = 1;
    else if (unit == "s") factor = 1000;
    else if (unit == "m") factor = 60'000;
    else if (unit == "h") factor = 3'600'000;
    else return refuse(why, fmt::format("unknown unit '{}'", unit));
    // mantissa * factor / 10^decimals, exact: 10^12 * 3.6 10^6 fits in 63 bits.
    std::int64_t scaled = mantissa * factor;
    std::int64_t divisor = 1;
    for (int k = 0; k < decimals; ++k) divisor *= 10;
    if (scaled % divisor != 0) return refuse(why, "not a whole number of milliseconds");
    scaled /= divisor;
    if (scaled > max_ms) return refuse(why, "too long");
    return std::chrono::milliseconds{scaled};
}

std::string format_duration(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms != 0 && ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
    if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
    if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
    return fmt::format("{}ms", ms);
}

std::string duration_forms(bare_unit bare) {
    return fmt::format("500ms, 5s, 1m; a bare number is {}", bare == bare_unit::seconds ? "seconds" : "milliseconds");
}

std::optional<std::string> read_duration(std::string_view flag, std::string_view text, bare_unit bare,
                                         std::chrono::milliseconds& out) {
    std::string why;
    auto d = parse_duration(text, bare, &why);
    if (!d) return fmt::format("--{} '{}': {} (use {})", flag, text, why, duration_forms(bare));
    out = *d;
    return std::nullopt;
}

namespace {

po::typed_value<std::string>* make_value(std::string flag, bare_unit bare,
                                         std::function<std::optional<std::string>(std::chrono::milliseconds)> store) {
    auto* v = po::value<std::string>();
    v->value_name("DURATION");
    v->notifier([flag = std::move(flag), bare, store = std::move(store)](const std::string& text) {
        std::chrono::milliseconds d{};
        if (auto error = read_duration(flag, text, bare, d)) throw po::error(*error);
        if (auto error = store(d)) throw po::error(fmt::format("--{} '{}': {}", flag, text, *error));
    });
    return v;
}

}  // namespace

po::typed_value<std::string>* duration_value(std::string flag, bare_unit bare, std::chrono::milliseconds* target) {
    auto* v = make_value(std::move(flag), bare, [target](std::chrono::milliseconds d) -> std::optional<std::string> {
        *target = d;
        return std::nullopt;
    });
    v->default_value(format_duration(*target));
    return v;
}

po::typed_value<std::string>* duration_value(std::string flag, bare_unit bare, unsigned* target_ms) {
    auto* v = make_value(std::move(flag), bare, [target_ms](std::chrono::milliseconds d) -> std::optional<std::string> {
        if (d.count() > std::numeric_limits<unsigned>::max()) {
            return fmt::format("too long (at most {})", format_duration(std::chrono::milliseconds{std::numeric_limits<unsigned>::max()}));
        }
        *target_ms = static_cast<unsigned>(d.count());
        return std::nullopt;
    });
    v->default_value(format_duration(std::chrono::milliseconds{*target_ms}));
    return v;
}

}  // namespace sio::tools
