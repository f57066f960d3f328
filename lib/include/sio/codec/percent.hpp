// Percent-decoding (RFC 3986 section 2.1) for URL parts: query strings on the server, user info
// of proxy and Redis URLs on the client side.
#pragma once

#include <string>
#include <string_view>

namespace sio::codec {

// "%41" becomes "A"; a '%' not followed by two hex digits is kept as it is (lenient, as browsers
// and Node's querystring are). With plus_is_space, '+' becomes ' ' as well
// (application/x-www-form-urlencoded, which query strings use).
std::string percent_decode(std::string_view text, bool plus_is_space = false);

}  // namespace sio::codec
