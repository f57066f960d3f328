#include "sio/codec/http.hpp"

#include <algorithm>
#include <cctype>

namespace sio::codec {

std::string check_header(std::string_view name, std::string_view value) {
    const auto token_char = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    };
    if (name.empty()) return "a header without a name";
    if (!std::all_of(name.begin(), name.end(), token_char)) {
        std::string shown;  // control bytes escaped, so that the message itself is one clean line
        for (char c : name) {
            const auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u >= 0x7f) {
                static constexpr char hex[] = "0123456789abcdef";
                shown += "\\x";
                shown += hex[u >> 4];
                shown += hex[u & 15];
            } else {
                shown += c;
            }
        }
        return "header name '" + shown + "' is not an HTTP token";
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        return "the value of header '" + std::string(name) + "' holds CR, LF or NUL";
    return {};
}

}  // namespace sio::codec
