// HTTP header rules the clients apply to headers they are given to send.
#pragma once

#include <string>
#include <string_view>

namespace sio::codec {

// Why an extra header cannot be sent, or empty when it can: its name must be an HTTP token
// (RFC 9110: letters, digits and !#$%&'*+-.^_`|~) and its value hold no CR, LF or NUL, which
// would end the header early or split the request in two. Control bytes of the name are shown
// as \xNN in the sentence.
std::string check_header(std::string_view name, std::string_view value);

}  // namespace sio::codec
