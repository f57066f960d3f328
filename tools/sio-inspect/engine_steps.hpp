// Engine.IO requests built by hand, shared by `handshake` and `doctor`.
#pragma once

#include "handshake.hpp"

#include <sio/codec/engine_io.hpp>
#include <sio/codec/json.hpp>
#include <sio/codec/socket_io.hpp>

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
// A Socket.IO packet as one Engine.IO message in the parser of --parser: text for the default
// parser, a binary message for msgpack.
codec::eio::packet sio_message(const net_options& o, const codec::socketio::packet& p);
// An Engine.IO message read as a Socket.IO packet in that parser; nullopt when it is none (a
// binary packet's header and attachments included: handshake and doctor never ask for those).
std::optional<codec::socketio::packet> sio_read(const net_options& o, const codec::eio::packet& p);
// A message for the timeline: its text, or for msgpack "<msgpack, N bytes> CONNECT / ...".
std::string sio_shown(const codec::eio::packet& p);
// The Socket.IO CONNECT for `nsp` (with --auth); nullopt with `why` when --auth is unusable.
std::optional<codec::eio::packet> sio_connect(const net_options& o, const std::string& nsp, std::string& why);
// The answer to CONNECT for `nsp` among `packets`: true when found; `ok` false for CONNECT_ERROR.
bool connect_answer(const net_options& o, const std::string& nsp, const std::vector<codec::eio::packet>& packets,
                    bool& ok, codec::json& data);
std::string connect_error_message(const codec::json& data);
// A refusal of a request naming a session the server does not know: Node's 400
// {"code":1,"message":"Session ID unknown"}, python-engineio's 400 "Invalid session <sid>".
// `message` gets the server's words.
bool unknown_session(const boost::beast::http::response<boost::beast::http::string_body>& r, std::string& message);

// Ending a session as a client leaves: a Socket.IO DISCONNECT for each namespace in `joined`,
// then the Engine.IO close. Over polling, one POST on `conn` (a new connection when it is null
// or no longer usable); over WebSocket, DISCONNECT frames then the closing handshake. Return
// what went wrong, or "".
boost::asio::awaitable<std::string> end_polling_session(probe_connection* conn, const net_options& o, const target& t,
                                                        const std::string& sid, const std::vector<std::string>& joined);
boost::asio::awaitable<std::string> end_websocket_session(probe_connection& ws, const net_options& o,
                                                          const std::vector<std::string>& joined);

// Parses options.url and runs `flow` on a fresh io_context; its result is the exit status.
int run_flow(const net_options& options, std::ostream& err,
             const std::function<boost::asio::awaitable<int>(net_options, target)>& flow);

}  // namespace sio::inspect::detail
