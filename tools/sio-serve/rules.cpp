#include "rules.hpp"

#include <sio/engine/server.hpp>
#include <sio/server.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <chrono>

namespace sio::serve {
namespace {

// Names a client never receives as events (the reference refuses to emit them), so a rule on
// them could never fire or never be delivered.
constexpr std::array<std::string_view, 6> reserved_events{
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};

bool reserved(std::string_view event) {
    return std::find(reserved_events.begin(), reserved_events.end(), event) != reserved_events.end();
}

// Splits an optional "/NSP:" prefix off `text`. Namespace names cannot hold ':', event names can,
// so the first ':' ends the namespace.
std::string take_namespace(std::string_view& text) {
    if (text.empty() || text.front() != '/') return {};
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::string(text);  // no ':': reported by the caller
    std::string nsp(text.substr(0, colon));
    text.remove_prefix(colon + 1);
    return nsp;
}

// Empty when `nsp` is fine (empty: every namespace), else what is wrong.
std::string check_namespace(const std::string& nsp, const std::vector<std::string>& namespaces) {
    if (nsp.empty() || nsp == "/") return {};
    if (std::find(namespaces.begin(), namespaces.end(), nsp) != namespaces.end()) return {};
    return fmt::format("namespace '{}' is not declared (add --namespace {})", nsp, nsp);
}

// Empty when `event` may be used as an event name, else what is wrong; `what` names its role.
std::string check_event(std::string_view event, std::string_view what) {
    if (event.empty()) return fmt::format("empty {}", what);
    if (reserved(event)) return fmt::format("{} '{}' is reserved by Socket.IO", what, event);
    return {};
}

template <class T>
parsed<T> refuse(std::string_view flag, std::string_view text, std::string_view why) {
    return {std::nullopt, fmt::format("{} '{}': {}", flag, text, why)};
}

json handshake_json(const sio::handshake& hs) {
    using namespace std::chrono;
    return json{{"auth", hs.auth},
                {"query", hs.query},
                {"headers", hs.headers},
                {"address", hs.address},
                {"transport", hs.transport},
                {"issued", duration_cast<milliseconds>(hs.time.time_since_epoch()).count()}};
}

json field_of(const sio::handshake& hs, handshake_field field) {
    switch (field) {
    case handshake_field::auth: return hs.auth;
    case handshake_field::query: return json(hs.query);
    case handshake_field::headers: return json(hs.headers);
    case handshake_field::handshake: break;
    }
    return handshake_json(hs);
}

using log_fn = std::function<void(std::string_view)>;

// Takes a room or event name off the front of `args`; nullopt (logged) when the first argument
// is not a non-empty string.
std::optional<std::string> take_name(json& args, const event_rule& rule, const log_fn& log,
                                     std::string_view what = "a room name") {
    if (args.empty() || !args[0].is_string() || args[0].get_ref<const std::string&>().empty()) {
        if (log) log(fmt::format("--on '{}': ignored an event whose first argument is not {}", rule.text, what));
        return std::nullopt;
    }
    std::string name = std::move(args[0].get_ref<std::string&>());
    args.erase(args.begin());
    return name;
}

void apply(const event_rule& rule, sio::socket& s, json args, const ack_fn& ack, const log_fn& log) {
    const std::string& name = rule.name.empty() ? rule.event : rule.name;
    switch (rule.action) {
    case rule_action::echo:
        if (ack) ack(std::move(args));
        else s.emit(rule.event, std::move(args));
        return;
    case rule_action::ack:
        if (ack) ack(std::move(args));
        return;
    case rule_action::emit: s.emit(name, std::move(args)); return;
    case rule_action::broadcast: s.broadcast().emit(name, std::move(args)); return;
    case rule_action::relay:
        if (auto event = take_name(args, rule, log, "an event name")) {
            if (auto ec = s.broadcast().emit(*event, std::move(args)); ec && log) {
                log(fmt::format("--on '{}': did not relay '{}': {}", rule.text, *event, ec.message()));
            }
        }
        return;
    case rule_action::to_room:
        if (auto room = take_name(args, rule, log)) s.to(*room).emit(name, std::move(args));
        return;
    case rule_action::join:
        if (auto room = take_name(args, rule, log)) s.join(*room);
        return;
    case rule_action::leave:
        if (auto room = take_name(args, rule, log)) s.leave(*room);
        return;
    }
}

bool applies(const std::string& rule_nsp, const std::string& nsp) { return rule_nsp.empty() || rule_nsp == nsp; }

// Sends every message packet back on the session it came from.
class echo_listener : public sio::engine::session_listener {
public:
    echo_listener(sio::engine::session_handle session, log_fn log)
        : session_(std::move(session)), log_(std::move(log)) {}
    void on_message(codec::eio::packet message) override {
        const bool binary = message.binary;
        const auto size = message.data.size();
        // The v4 polling payload has no escape for '\x1e', so the session refuses such a text;
        // say so rather than drop it silently.
        if (!session_.send(std::move(message.data), binary) && log_ && !session_.expired()) {
            log_(fmt::format("{}: could not echo a {}-byte {} message (text holding \\x1e cannot travel "
                             "over polling)", session_.sid(), size, binary ? "binary" : "text"));
        }
    }
    void on_close(std::string_view) override {}

private:
    sio::engine::session_handle session_;
    log_fn log_;
};

}  // namespace

std::optional<serve_mode> parse_mode(std::string_view text) {
    if (text == "chat") return serve_mode::chat;
    if (text == "echo") return serve_mode::echo;
    if (text == "none") return serve_mode::none;
    if (text == "engine-echo") return serve_mode::engine_echo;
    return std::nullopt;
}

parsed<event_rule> parse_event_rule(std::string_view text, const std::vector<std::string>& namespaces) {
    constexpr std::string_view flag = "--on";
    event_rule rule;
    rule.text = std::string(text);
    std::string_view rest = text;
    rule.nsp = take_namespace(rest);
    if (!rule.nsp.empty() && rest.size() == text.size()) {
        return refuse<event_rule>(flag, text, "expected /NAMESPACE:EVENT=ACTION");
    }
    if (auto why = check_namespace(rule.nsp, namespaces); !why.empty()) return refuse<event_rule>(flag, text, why);
    auto eq = rest.find('=');
    if (eq == std::string_view::npos) return refuse<event_rule>(flag, text, "expected EVENT=ACTION");
    rule.event = std::string(rest.substr(0, eq));
    if (auto why = check_event(rule.event, "event"); !why.empty()) return refuse<event_rule>(flag, text, why);

    std::string_view action = rest.substr(eq + 1);
    auto colon = action.find(':');
    std::string_view verb = action.substr(0, colon);
    std::optional<std::string_view> arg;
    if (colon != std::string_view::npos) arg = action.substr(colon + 1);
    struct known {
        std::string_view verb;
        rule_action action;
        bool takes_name;
        bool needs_name;
    };
    constexpr std::array<known, 8> actions{{{"echo", rule_action::echo, false, false},
                                            {"ack", rule_action::ack, false, false},
                                            {"emit", rule_action::emit, true, true},
                                            {"broadcast", rule_action::broadcast, true, false},
                                            {"relay", rule_action::relay, false, false},
                                            {"to-room", rule_action::to_room, true, false},
                                            {"join", rule_action::join, false, false},
                                            {"leave", rule_action::leave, false, false}}};
    auto it = std::find_if(actions.begin(), actions.end(), [&](const known& k) { return k.verb == verb; });
    if (it == actions.end()) {
        return refuse<event_rule>(flag, text, fmt::format("unknown action '{}' (use echo, ack, emit:NAME, "
                                                          "broadcast[:NAME], relay, to-room[:NAME], join or "
                                                          "leave)",
                                                          action));
    }
    rule.action = it->action;
    if (arg && !it->takes_name) {
        return refuse<event_rule>(flag, text, fmt::format("action '{}' takes no ':NAME'", verb));
    }
    if (!arg && it->needs_name) return refuse<event_rule>(flag, text, fmt::format("expected {}:NAME", verb));
    if (arg) {
        if (auto why = check_event(*arg, "event name after '" + std::string(verb) + ":'"); !why.empty()) {
            return refuse<event_rule>(flag, text, why);
        }
        rule.name = std::string(*arg);
    }
    return {std::move(rule), {}};
}

parsed<connect_rule> parse_connect_rule(std::string_view text, const std::vector<std::string>& namespaces) {
    constexpr std::string_view flag = "--on-connect";
    connect_rule rule;
    rule.text = std::string(text);
    std::string_view rest = text;
    rule.nsp = take_namespace(rest);
    if (!rule.nsp.empty() && rest.size() == text.size()) {
        return refuse<connect_rule>(flag, text, "expected /NAMESPACE:emit:NAME[:FIELD]");
    }
    if (auto why = check_namespace(rule.nsp, namespaces); !why.empty()) return refuse<connect_rule>(flag, text, why);
    constexpr std::string_view prefix = "emit:";
    if (rest.substr(0, prefix.size()) != prefix) {
        auto verb = rest.substr(0, rest.find(':'));
        return refuse<connect_rule>(flag, text, fmt::format("unknown action '{}' (use emit:NAME[:FIELD])", verb));
    }
    rest.remove_prefix(prefix.size());
    // The last ':' starts FIELD, so an event name may itself hold ':' when FIELD is given.
    std::string_view name = rest;
    if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        name = rest.substr(0, colon);
        auto field = rest.substr(colon + 1);
        if (field == "auth") rule.field = handshake_field::auth;
        else if (field == "query") rule.field = handshake_field::query;
        else if (field == "headers") rule.field = handshake_field::headers;
        else if (field == "handshake") rule.field = handshake_field::handshake;
        else {
            return refuse<connect_rule>(
                flag, text, fmt::format("bad FIELD '{}' (use auth, query, headers or handshake)", field));
        }
    }
    if (auto why = check_event(name, "event name after 'emit:'"); !why.empty()) {
        return refuse<connect_rule>(flag, text, why);
    }
    rule.event = std::string(name);
    return {std::move(rule), {}};
}

parsed<rule_set> parse_rules(const std::vector<std::string>& on, const std::vector<std::string>& on_connect,
                             const std::vector<std::string>& namespaces) {
    rule_set rules;
    for (const auto& text : on) {
        auto r = parse_event_rule(text, namespaces);
        if (!r.value) return {std::nullopt, std::move(r.error)};
        rules.events.push_back(std::move(*r.value));
    }
    for (const auto& text : on_connect) {
        auto r = parse_connect_rule(text, namespaces);
        if (!r.value) return {std::nullopt, std::move(r.error)};
        rules.connects.push_back(std::move(*r.value));
    }
    return {std::move(rules), {}};
}

void install_rules(sio::namespace_& nsp, install_options options) {
    static const rule_set no_rules;
    const rule_set& rules = options.rules != nullptr ? *options.rules : no_rules;
    const bool echo = options.mode == serve_mode::echo;
    std::vector<const event_rule*> events;
    for (const auto& r : rules.events) {
        if (applies(r.nsp, nsp.name())) events.push_back(&r);
    }
    std::vector<const connect_rule*> connects;
    for (const auto& r : rules.connects) {
        if (applies(r.nsp, nsp.name())) connects.push_back(&r);
    }
    if (!echo && events.empty() && connects.empty()) return;

    nsp.on_connection([echo, events = std::move(events), connects = std::move(connects),
                       log = std::move(options.log)](const std::shared_ptr<sio::socket>& s) {
        // Handlers hold the socket weakly: the socket owns them, so a strong reference would
        // keep it alive forever.
        std::weak_ptr<sio::socket> weak = s;
        if (echo) {
            s->on_any_with_ack([weak](const std::string& event, const json& args, const ack_fn& ack) {
                if (ack) ack(args);
                else if (auto sock = weak.lock()) sock->emit(event, args);
            });
        }
        for (const event_rule* rule : events) {
            s->on(rule->event, [weak, rule, log](json args, ack_fn ack) {
                if (auto sock = weak.lock()) apply(*rule, *sock, std::move(args), ack, log);
            });
        }
        for (const connect_rule* rule : connects) {
            s->emit(rule->event, json::array({field_of(s->handshake(), rule->field)}));
        }
    });
}

void install_engine_echo(sio::engine::server& engine, std::function<void(std::string_view)> log) {
    engine.set_open_handler([log = std::move(log)](sio::engine::session_handle session,
                                                   const sio::engine::handshake_request&) {
        return std::make_shared<echo_listener>(std::move(session), log);
    });
}

}  // namespace sio::serve
