// The behaviour sio-serve gives every namespace with no code: a chat with names, rooms, acks,
// an online list and an echo event for testing clients and load generators.
//
// Events a client may emit (every one may ask for an ack):
//   chat message  {text, room?} or "text"  -> "chat message" {id, name, text, room, time} to the
//                                             room (or everyone), not back to the sender;
//                                             ack {ok:true, id} or {ok:false, error}
//   join ROOM / leave ROOM                 -> joins/leaves; "user joined"/"user left" to the room;
//                                             ack {ok:true, rooms:[...]}
//   set name NAME                          -> renames; "online" to everyone
//   echo ARGS...                           -> ack with ARGS unchanged (binary included); without
//                                             an ack, "echo" ARGS back to the sender
//   broadcast EVENT ARGS...                -> EVENT ARGS to everyone else in the namespace
// Events the server emits: chat message, user joined, user left, online {count, names}.
#pragma once

#include <sio/server.hpp>

#include <functional>
#include <memory>
#include <string_view>

namespace sio::serve {

struct chat_options {
    std::size_t max_text_bytes = 10'000;  // a longer chat message is refused in its ack
    std::size_t max_online_names = 100;   // "online" lists at most this many names
    std::function<void(std::string_view)> log;  // one line per connect/disconnect; may be empty
};

// Installs the chat behaviour on `nsp`. The returned object holds the namespace's state (the
// names of who is online); keep it alive as long as the server runs.
std::shared_ptr<void> install_chat(sio::namespace_& nsp, chat_options options);

}  // namespace sio::serve
