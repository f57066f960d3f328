// What the HTTP listener checks and writes of a message, apart from any connection: the framing
// rules of RFC 9112 a request must keep, and a response's head as one block of text.
#pragma once

#include "sio/transport/http_server.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace sio::transport::detail {

// Why a request's framing must be refused (RFC 9112), as the status and a sentence; status 0 when
// it is sound. Beast reads a Transfer-Encoding whose last coding is not chunked as if it were not
// there, and would take the body for the next request: that is request smuggling.
std::pair<unsigned, std::string> framing_error(const http_request& req);

// Obsolete line folding in a header block (a line that starts with a space or a tab continues the
// one before it): Beast joins such lines, RFC 9112 section 5.2 lets a server refuse them, and a
// server that refuses them cannot read a header differently from a proxy in front of it.
bool has_obsolete_fold(std::string_view head);

// A response's status line and fields as one block of text, as Beast's serializer would write
// them (the fields in their order, the body's length already among them).
std::string serialize_head(const http_response& res);

}  // namespace sio::transport::detail
