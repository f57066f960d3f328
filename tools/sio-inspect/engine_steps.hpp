// Engine.IO requests built by hand, shared by `handshake` and `doctor`.
#pragma once

#include "handshake.hpp"

#include <sio/codec/engine_io.hpp>
#include <sio/codec/json.hpp>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sio::inspect::detail {

// PATH?EIO=N&transport=T[&t=random][&sid=SID][&URL query][&--query ...]
std::string engine_target(const net_options& o, const target& t, std::string_view transport, std::string_view sid);
// -H headers, and Origin for --origin.
std::vector<std::pair<std::string, std::string>> extra_headers(const net_options& o);
boost::beast::http::request<boost::beast::http::string_body> make_request(boost::beast::http::verb verb,
                                                                          const std::string& target_path,
                                                                          const net_options& o);
// A polling body in the revision of --eio; nullopt with `why` when it does not decode.
std::optional<std::vector<codec::eio::packet>> decode_body(const net_options& o, std::string_view body, std::string& why);
std::string encode_body(const net_options& o, const std::vector<codec::eio::packet>& packets);
// The Socket.IO CONNECT for `nsp` (with --auth); empty with `why` when --auth is unusable.
std::string sio_connect_text(const net_options& o, const std::string& nsp, std::string& why);
// The answer to CONNECT for `nsp` among `packets`: true when found; `ok` false for CONNECT_ERROR.
bool connect_answer(const net_options& o, const std::string& nsp, const std::vector<codec::eio::packet>& packets,
                    bool& ok, codec::json& data);
std::string connect_error_message(const codec::json& data);

// Parses options.url and runs `flow` on a fresh io_context; its result is the exit status.
int run_flow(const net_options& options, std::ostream& err,
             const std::function<boost::asio::awaitable<int>(net_options, target)>& flow);

}  // namespace sio::inspect::detail
