// sio-serve's modes and rules: what the server does with events besides (or instead of) the chat
// demo, for people testing their own clients.
//
//   --mode chat         the chat demo (chat.hpp) on every namespace (default)
//   --mode echo         every event is answered once: acked with its own arguments when the
//                       client asks for an ack, otherwise emitted back under the same name
//   --mode none         nothing but the rules
//   --mode engine-echo  a bare Engine.IO v4 server, no Socket.IO: every message packet goes back
//                       as it came, text or binary
//
//   --on [/NSP:]EVENT=ACTION             ACTION: echo, ack, emit:NAME, broadcast[:NAME],
//                                        to-room[:NAME], join, leave
//   --on-connect [/NSP:]emit:NAME[:FIELD]  FIELD: auth, query, headers, handshake (default)
//
// Precedence: rules add to the mode, they never remove its handling. For each event the mode
// runs first, then every rule for that event, in the order given. An ack is answered once, by
// the first handler that answers it; `--mode none` serves the rules alone.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio {
class namespace_;
namespace engine {
class server;
}
}  // namespace sio

namespace sio::serve {

enum class serve_mode { chat, echo, none, engine_echo };

// "chat", "echo", "none", "engine-echo"; nullopt for anything else.
std::optional<serve_mode> parse_mode(std::string_view text);

enum class rule_action { echo, ack, emit, broadcast, relay, to_room, join, leave };

// One --on rule.
struct event_rule {
    std::string text;   // as given on the command line, for messages
    std::string nsp;    // empty: every namespace
    std::string event;
    rule_action action = rule_action::echo;
    std::string name;   // emit, broadcast, to-room: the event sent (empty: `event`)
};

enum class handshake_field { auth, query, headers, handshake };

// One --on-connect rule.
struct connect_rule {
    std::string text;
    std::string nsp;    // empty: every namespace
    std::string event;  // emitted to each new socket
    handshake_field field = handshake_field::handshake;
};

struct rule_set {
    std::vector<event_rule> events;
    std::vector<connect_rule> connects;
    bool empty() const noexcept { return events.empty() && connects.empty(); }
};

// What the rule parsers return: the rule, or why it is refused (a whole sentence naming the rule).
template <class T>
struct parsed {
    std::optional<T> value;
    std::string error;
};

// `namespaces` are the declared ones, each with its leading '/'; "/" is always declared.
parsed<event_rule> parse_event_rule(std::string_view text, const std::vector<std::string>& namespaces);
parsed<connect_rule> parse_connect_rule(std::string_view text, const std::vector<std::string>& namespaces);
// Parses every --on and --on-connect; the first refusal wins.
parsed<rule_set> parse_rules(const std::vector<std::string>& on, const std::vector<std::string>& on_connect,
                             const std::vector<std::string>& namespaces);

struct install_options {
    serve_mode mode = serve_mode::chat;  // echo installs the echo; chat is installed by chat.hpp
    const rule_set* rules = nullptr;     // may be null; must outlive the server
    std::function<void(std::string_view)> log;  // a rule that cannot be applied; may be empty
};

// Installs the echo mode (when asked) and the rules that apply to `nsp` on every new socket of
// it. Install after the chat, so that the mode's handlers run before the rules.
void install_rules(sio::namespace_& nsp, install_options options);

// Makes `engine` a bare Engine.IO echo server (replaces its open handler). `log` (may be empty)
// hears of a message that cannot go back: text holding '\x1e' while the session polls.
void install_engine_echo(sio::engine::server& engine, std::function<void(std::string_view)> log = {});

}  // namespace sio::serve
