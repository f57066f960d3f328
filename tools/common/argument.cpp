#include "common/argument.hpp"

#include "common/binary_display.hpp"

#include <fmt/core.h>

namespace sio::tools {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_word_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' ||
           static_cast<unsigned char>(c) >= 0x80;
}

bool starts_with_keyword(std::string_view text, std::string_view keyword) {
    return text.starts_with(keyword) && (text.size() == keyword.size() || !is_word_char(text[keyword.size()]));
}

}  // namespace

bool looks_like_json(std::string_view text) {
    if (text.empty()) return false;
    const char c = text.front();
    if (c == '{' || c == '[' || c == '"' || is_digit(c)) return true;
    if (c == '-') return text.size() > 1 && is_digit(text[1]);
    return starts_with_keyword(text, "true") || starts_with_keyword(text, "false") || starts_with_keyword(text, "null");
}

std::optional<codec::json> parse_json_or_string(std::string_view text, std::string& error) {
    if (!looks_like_json(text)) return codec::json(std::string(text));
    codec::json parsed;
    try {
        parsed = codec::json::parse(text.begin(), text.end());
    } catch (const codec::json::parse_error& e) {
        // e.what(): "[json.exception.parse_error.101] parse error at line 1, column 6: syntax error ..."
        std::string_view what = e.what();
        const auto colon = what.find(": ", what.find("column"));
        const auto reason = colon == std::string_view::npos ? what : what.substr(colon + 2);
        error = fmt::format("invalid JSON at column {}: {}", e.byte, reason);
        return std::nullopt;
    }
    return from_portable(std::move(parsed), error);
}

}  // namespace sio::tools
