// The behaviour sio-serve gives every namespace with no code: a chat with display names, rooms,
// typing indicators, private messages, read receipts, a relay for WebRTC call signaling, and an
// echo event for testing clients and load generators. sio-serve(1), "THE CHAT DEMO", is the
// reference for the events and their payloads; in short:
//
//   set name NAME            -> "user connected" {id, name, total} to everyone; "online users"
//                               [{id, name}...] to the sender
//   chat message TEXT | {room, text}
//                            -> "chat message" {id, from, name, text, room, ts} to everyone or
//                               to the room, the sender included; ack {id}
//   join ROOM / leave ROOM   -> ack with the room's member count; "user joined" / "user left"
//                               {id, name, room, count} to the other members
//   typing / stop typing {room?}          -> to the others (in the room)
//   private message {to, text}            -> "private message" to that socket only
//   offer, answer, ice-candidate, call user, call accepted, call rejected, call ended {to, ...}
//                            -> forwarded to that socket only, with "from" set by the server
//   mark read {room, id}     -> "message read" {id, by, room, ts} to the room
//   echo ARGS...             -> ack with ARGS unchanged; without an ack, "echo" ARGS back
//   broadcast EVENT ARGS...  -> EVENT ARGS to everyone else (not the demo's own event names)
// On connect the socket is announced ("user connected", "online users") under the name from
// auth.name or a guest name; on disconnect the others get "user disconnected" {id, name, total} (not at shutdown).
// Anything refused gets an "error" {message} event to the sender only, and {error: message} as
// the ack when one was asked for; the connection stays up.
#pragma once

#include <sio/server.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

namespace sio::serve {

struct chat_options {
    // Longest chat or private message text, in characters (Unicode code points).
    std::size_t max_message_len = 500;
    // Chat and private messages one socket may send per second; 0: no limit.
    unsigned rate_limit = 20;
    std::size_t max_online_users = 1000;  // "online users" lists at most this many
    std::function<void(std::string_view)> log;  // one line per connect/disconnect; may be empty
};

// Installs the chat behaviour on `nsp`. The returned object holds the namespace's state (who is
// online, under which name); keep it alive as long as the server runs.
std::shared_ptr<void> install_chat(sio::namespace_& nsp, chat_options options);

}  // namespace sio::serve
