#include "sio-cli/core/completion.hpp"

#include "sio-cli/core/command.hpp"

#include <algorithm>

namespace sio::cli {

namespace {

bool blank(char c) { return c == ' ' || c == '\t'; }

// Splits the text before the cursor into finished words and the word being typed. A word that
// opens with '"' runs to its closing quote, blanks included.
void words_before_cursor(std::string_view line, std::vector<std::string>& done, std::string& current) {
    std::size_t i = 0;
    while (true) {
        while (i < line.size() && blank(line[i])) ++i;
        if (i >= line.size()) {
            current.clear();
            return;
        }
        const std::size_t start = i;
        if (line[i] == '"') {
            ++i;
            while (i < line.size() && line[i] != '"') {
                if (line[i] == '\\') ++i;
                ++i;
            }
            if (i < line.size()) ++i;
        }
        while (i < line.size() && !blank(line[i])) ++i;
        if (i >= line.size()) {
            current = std::string(line.substr(start));
            return;
        }
        done.emplace_back(line.substr(start, i - start));
    }
}

std::string common_prefix(const std::vector<std::string>& v) {
    if (v.empty()) return {};
    std::string p = v.front();
    for (const auto& s : v) {
        std::size_t n = 0;
        while (n < p.size() && n < s.size() && p[n] == s[n]) ++n;
        p.resize(n);
    }
    return p;
}

// Names (unquoted) completed against `typed`, which may open with a quote.
completion complete_names(const std::string& typed, std::vector<std::string> names) {
    completion c;
    const bool quoted = !typed.empty() && typed.front() == '"';
    const std::string prefix = quoted ? typed.substr(1) : typed;
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::vector<std::string> hits;
    for (const auto& n : names) {
        if (n.starts_with(prefix)) hits.push_back(n);
    }
    for (const auto& h : hits) c.matches.push_back(quote_event(h));
    if (hits.empty()) return c;
    if (hits.size() == 1) {
        c.erase = typed.size();
        c.insert = quote_event(hits.front()) + " ";
        return c;
    }
    const std::string common = common_prefix(hits);
    if (common.size() > prefix.size()) {
        const bool needs_quote = std::any_of(hits.begin(), hits.end(), [](const std::string& h) { return quote_event(h) != h; });
        c.erase = typed.size();
        if (needs_quote) {
            // The shared part inside an opened quote; the closing one comes with the full name.
            std::string q = quote_event(common);  // "\"...\"" or plain
            if (q.front() == '"') q.pop_back();
            else q = "\"" + q;
            c.insert = q;
        } else {
            c.insert = common;
        }
    }
    return c;
}

}  // namespace

completion complete(std::string_view line, const std::vector<std::string>& events,
                    const std::vector<std::string>& namespaces) {
    std::vector<std::string> done;
    std::string current;
    words_before_cursor(line, done, current);
    if (done.empty()) {
        std::vector<std::string> commands;
        for (const auto& d : command_docs()) commands.emplace_back(d.name);
        return complete_names(current, commands);
    }
    const std::string& verb = done.front();
    std::size_t position = done.size();  // index of the word being typed
    if (verb == "emit") {
        // Skip --ack flags; the event is the first other word.
        std::size_t flags = 1;
        while (flags < done.size() && done[flags].starts_with("--")) ++flags;
        if (position == flags && current.starts_with("--")) return complete_names(current, {"--ack", "--ack="});
        if (position == flags) return complete_names(current, events);
        return {};
    }
    if ((verb == "on" || verb == "off") && position == 1) {
        auto names = events;
        names.emplace_back("*");
        return complete_names(current, names);
    }
    if (verb == "ns" && position == 1) return complete_names(current, namespaces);
    return {};
}

}  // namespace sio::cli
