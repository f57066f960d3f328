#include "sio-cli/core/command.hpp"

#include "common/argument.hpp"
#include "common/duration.hpp"

#include "sio/codec/base64.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

namespace sio::cli {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

json binary(std::string bytes) {
    return json::binary(json::binary_t::container_type(bytes.begin(), bytes.end()));
}

// Parses a whole word as JSON; nullopt when it is not JSON (or has trailing text).
std::optional<json> try_json(std::string_view word) {
    auto value = json::parse(word.begin(), word.end(), nullptr, false);
    if (value.is_discarded()) return std::nullopt;
    return value;
}

std::string_view strip(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

// "--ack", "--ack=2s": whether `word` asks for an ack, with the timeout if one is given.
bool parse_ack_flag(std::string_view word, command& c, std::string& error) {
    if (word == "--ack") {
        c.ack = true;
        return true;
    }
    if (word.starts_with("--ack=")) {
        std::string why;
        auto d = tools::parse_duration(word.substr(6), tools::bare_unit::milliseconds, &why);
        if (!d) {
            error = fmt::format("--ack={}: not a duration: {} (use {})", word.substr(6), why,
                                tools::duration_forms(tools::bare_unit::milliseconds));
            return false;
        }
        c.ack = true;
        c.ack_timeout = *d;
        return true;
    }
    error = fmt::format("unknown option '{}' (emit takes --ack or --ack=TIMEOUT)", word);
    return false;
}

bool check_event_name(const std::string& name, std::string& error) {
    if (name.empty()) {
        error = "empty event name";
        return false;
    }
    if (codec::socketio::is_reserved_event_name(name)) {
        error = fmt::format("'{}' is a reserved event name and cannot be emitted", name);
        return false;
    }
    return true;
}

std::string normalize_nsp(std::string_view n) {
    if (n.empty() || n.front() != '/') return "/" + std::string(n);
    return std::string(n);
}

parse_result fail(std::string message) { return {std::nullopt, std::move(message)}; }
parse_result ok(command c) { return {std::move(c), {}}; }

}  // namespace

std::optional<json> parse_arg(std::string_view word, std::string& error) {
    if (word.starts_with("@hex:")) {
        auto hex = word.substr(5);
        if (hex.size() % 2 != 0) {
            error = fmt::format("{}: odd number of hex digits", word);
            return std::nullopt;
        }
        std::string bytes;
        for (std::size_t i = 0; i < hex.size(); i += 2) {
            int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
            if (hi < 0 || lo < 0) {
                error = fmt::format("{}: '{}{}' is not a hex byte", word, hex[i], hex[i + 1]);
                return std::nullopt;
            }
            bytes.push_back(static_cast<char>(hi * 16 + lo));
        }
        return binary(std::move(bytes));
    }
    if (word.starts_with("@base64:")) {
        auto decoded = codec::base64_decode(word.substr(8));
        if (!decoded) {
            error = fmt::format("{}: {}", word, decoded.err().reason);
            return std::nullopt;
        }
        return binary(std::move(*decoded));
    }
    if (word.starts_with("@file:")) {
        std::string path(word.substr(6));
        std::ifstream file(path, std::ios::binary);
        if (!file) {
            error = fmt::format("{}: cannot read the file", word);
            return std::nullopt;
        }
        std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        return binary(std::move(bytes));
    }
    return tools::parse_json_or_string(word, error);
}

bool split_words(std::string_view line, std::vector<std::string>& words, std::string& error) {
    std::size_t i = 0;
    while (true) {
        while (i < line.size() && is_blank(line[i])) ++i;
        if (i >= line.size()) return true;
        const std::size_t start = i;
        const char first = line[i];
        if (first == '"' || first == '{' || first == '[') {
            // Balanced scan: brackets outside strings, backslash escapes inside them.
            int depth = 0;
            bool in_string = false;
            bool done = false;
            for (; i < line.size(); ++i) {
                const char c = line[i];
                if (in_string) {
                    if (c == '\\') ++i;
                    else if (c == '"') {
                        in_string = false;
                        if (depth == 0) {
                            ++i;
                            done = true;
                            break;
                        }
                    }
                    continue;
                }
                if (c == '"') in_string = true;
                else if (c == '{' || c == '[') ++depth;
                else if (c == '}' || c == ']') {
                    if (--depth == 0) {
                        ++i;
                        done = true;
                        break;
                    }
                }
            }
            if (!done) {
                error = fmt::format("unterminated {} starting at column {}",
                                    first == '"' ? "string" : first == '{' ? "object" : "array", start + 1);
                return false;
            }
            if (i < line.size() && !is_blank(line[i])) {
                error = fmt::format("unexpected '{}' after {} at column {}", line[i],
                                    line.substr(start, i - start), i + 1);
                return false;
            }
        } else {
            while (i < line.size() && !is_blank(line[i])) ++i;
        }
        words.emplace_back(line.substr(start, i - start));
    }
}

parse_result parse_command(std::string_view line) {
    line = strip(line);
    if (line.empty() || line.front() == '#') return ok({});
    // The verb, then the rest as typed (raw keeps it verbatim).
    std::size_t verb_end = 0;
    while (verb_end < line.size() && !is_blank(line[verb_end])) ++verb_end;
    const std::string verb(line.substr(0, verb_end));
    const std::string_view rest = strip(line.substr(verb_end));

    if (verb == "raw") {
        if (rest.empty()) return fail("raw needs a packet, e.g. raw 2[\"hello\"]");
        auto p = codec::socketio::decode_text(rest);
        if (!p) return fail(fmt::format("raw: not a Socket.IO packet: {}", p.err().reason));
        command c;
        c.kind = command_kind::raw;
        // The namespace written in the packet, if any ("2/admin,[...]"); else the current one.
        std::size_t at = 1;
        while (at < rest.size() && rest[at] >= '0' && rest[at] <= '9') ++at;
        if (at < rest.size() && rest[at] == '-') ++at;
        else at = 1;
        if (at < rest.size() && rest[at] == '/') c.nsp = p->nsp;
        c.packet = std::move(*p);
        return ok(std::move(c));
    }

    std::vector<std::string> words;
    std::string error;
    if (!split_words(rest, words, error)) return fail(fmt::format("{}: {}", verb, error));

    auto no_args = [&](command_kind k) -> parse_result {
        if (!words.empty()) return fail(fmt::format("{} takes no arguments", verb));
        command c;
        c.kind = k;
        return ok(std::move(c));
    };

    if (verb == "emit") {
        command c;
        c.kind = command_kind::emit;
        std::size_t i = 0;
        while (i < words.size() && words[i].starts_with("--")) {
            if (!parse_ack_flag(words[i], c, error)) return fail("emit: " + error);
            ++i;
        }
        if (i >= words.size()) return fail("emit needs an event name: emit EVENT [ARG...]");
        const auto& name = words[i++];
        if (name.front() == '"') {
            auto parsed = try_json(name);
            if (!parsed || !parsed->is_string()) return fail(fmt::format("emit: bad quoted event name {}", name));
            c.event = parsed->get<std::string>();
        } else {
            c.event = name;
        }
        if (!check_event_name(c.event, error)) return fail("emit: " + error);
        for (std::size_t first = i; i < words.size(); ++i) {
            auto value = parse_arg(words[i], error);
            if (!value) return fail(fmt::format("emit: argument {}: {}", i - first + 1, error));
            c.args.push_back(std::move(*value));
        }
        return ok(std::move(c));
    }
    if (verb == "on" || verb == "off") {
        if (words.size() != 1) return fail(fmt::format("{} takes one event name or pattern ({} EVENT, {} *)", verb, verb, verb));
        command c;
        c.kind = verb == "on" ? command_kind::on : command_kind::off;
        const auto& name = words[0];
        if (name.front() == '"') {
            auto parsed = try_json(name);
            if (!parsed || !parsed->is_string()) return fail(fmt::format("{}: bad quoted event name {}", verb, name));
            c.event = parsed->get<std::string>();
        } else {
            c.event = name;
        }
        if (c.event.empty()) return fail(fmt::format("{}: empty event name", verb));
        return ok(std::move(c));
    }
    if (verb == "ns") {
        if (words.size() > 1) return fail("ns takes one namespace: ns /admin");
        command c;
        c.kind = command_kind::ns;
        if (!words.empty()) c.nsp = normalize_nsp(words[0]);
        if (c.nsp.find(',') != std::string::npos) return fail("ns: a namespace cannot contain ','");
        return ok(std::move(c));
    }
    if (verb == "connect") return no_args(command_kind::connect);
    if (verb == "disconnect") return no_args(command_kind::disconnect);
    if (verb == "status") return no_args(command_kind::status);
    if (verb == "history") return no_args(command_kind::history);
    if (verb == "help" || verb == "?") return no_args(command_kind::help);
    if (verb == "quit" || verb == "exit") return no_args(command_kind::quit);
    return fail(fmt::format("unknown command '{}' (type help for the list)", verb));
}

parse_result parse_ndjson(std::string_view line) {
    auto value = json::parse(line.begin(), line.end(), nullptr, false);
    if (value.is_discarded() || !value.is_object()) return fail("not a JSON object");
    command c;
    c.kind = command_kind::emit;
    bool has_event = false;
    for (auto& [key, v] : value.items()) {
        if (key == "event") {
            if (!v.is_string()) return fail("\"event\" must be a string");
            c.event = v.get<std::string>();
            has_event = true;
        } else if (key == "args") {
            if (!v.is_array()) return fail("\"args\" must be an array");
            c.args = v;
        } else if (key == "ack") {
            if (v.is_boolean()) {
                c.ack = v.get<bool>();
            } else if (v.is_number_unsigned()) {
                c.ack = true;
                c.ack_timeout = std::chrono::milliseconds(v.get<std::uint64_t>());
            } else if (v.is_string()) {
                auto d = tools::parse_duration(v.get<std::string>(), tools::bare_unit::milliseconds);
                if (!d) return fail(fmt::format("\"ack\": {} is not a duration (use e.g. 500ms, 5s)", v.dump()));
                c.ack = true;
                c.ack_timeout = *d;
            } else {
                return fail("\"ack\" must be true, false, milliseconds or a duration such as \"5s\"");
            }
        } else if (key == "nsp") {
            if (!v.is_string()) return fail("\"nsp\" must be a string");
            c.nsp = normalize_nsp(v.get<std::string>());
        } else {
            return fail(fmt::format("unknown key \"{}\" (use event, args, ack, nsp)", key));
        }
    }
    if (!has_event) return fail("missing \"event\"");
    std::string error;
    if (!check_event_name(c.event, error)) return fail(error);
    return ok(std::move(c));
}

parse_result parse_input_line(std::string_view line) {
    auto s = strip(line);
    if (!s.empty() && s.front() == '{') return parse_ndjson(s);
    return parse_command(s);
}

const std::vector<command_doc>& command_docs() {
    static const std::vector<command_doc> docs{
        {"emit", "emit [--ack[=TIMEOUT]] EVENT [ARG...]",
         "send an event; each ARG is JSON, a bare word a string, @hex:/@base64:/@file: binary"},
        {"on", "on EVENT|PATTERN|*", "show incoming events matching (on *: show all)"},
        {"off", "off EVENT|PATTERN|*", "hide incoming events matching (off *: hide all)"},
        {"ns", "ns [/NAMESPACE]", "connect to a namespace and make it current (alone: list them and their state)"},
        {"connect", "connect", "connect the current namespace (again)"},
        {"disconnect", "disconnect", "disconnect the current namespace"},
        {"status", "status", "sid, transport, upgrades, ping interval, last round trip, reconnect state"},
        {"raw", "raw PACKET", "send a Socket.IO packet as written, e.g. raw 2[\"hi\"]"},
        {"history", "history", "list the commands typed so far"},
        {"help", "help", "this list"},
        {"quit", "quit", "close the connection and exit (also: exit, Ctrl-D)"},
    };
    return docs;
}

std::string help_text() {
    std::string out = "commands:\n";
    for (const auto& d : command_docs()) out += fmt::format("  {:<38} {}\n", d.usage, d.summary);
    out += "a line starting with '{' is an NDJSON event: {\"event\":\"x\",\"args\":[1],\"ack\":true,\"nsp\":\"/\"}\n";
    return out;
}

std::string quote_event(std::string_view name) {
    const bool plain = !name.empty() && name.front() != '"' && name.front() != '{' && name.front() != '[' &&
                       std::none_of(name.begin(), name.end(), [](char c) { return is_blank(c) || c == '"'; });
    return plain ? std::string(name) : json(std::string(name)).dump();
}

}  // namespace sio::cli
