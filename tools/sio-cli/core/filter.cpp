#include "sio-cli/core/filter.hpp"

#include <algorithm>

namespace sio::cli {

namespace {

// Matches the set starting after '[' at pattern[p]; on success p points past ']'.
bool match_set(std::string_view pattern, std::size_t& p, char c, bool& ok) {
    bool negate = false;
    if (p < pattern.size() && (pattern[p] == '!' || pattern[p] == '^')) {
        negate = true;
        ++p;
    }
    bool matched = false;
    bool first = true;
    while (p < pattern.size() && (first || pattern[p] != ']')) {
        first = false;
        char lo = pattern[p];
        if (lo == '\\' && p + 1 < pattern.size()) lo = pattern[++p];
        ++p;
        char hi = lo;
        if (p + 1 < pattern.size() && pattern[p] == '-' && pattern[p + 1] != ']') {
            hi = pattern[p + 1];
            if (hi == '\\' && p + 2 < pattern.size()) {
                hi = pattern[p + 2];
                ++p;
            }
            p += 2;
        }
        if (static_cast<unsigned char>(lo) <= static_cast<unsigned char>(c) &&
            static_cast<unsigned char>(c) <= static_cast<unsigned char>(hi)) {
            matched = true;
        }
    }
    if (p >= pattern.size()) {
        ok = false;  // no closing ']': the '[' is literal
        return false;
    }
    ++p;  // ']'
    ok = true;
    return matched != negate;
}

bool match_from(std::string_view pattern, std::size_t p, std::string_view text, std::size_t t, int depth) {
    if (depth > 64) return false;
    while (p < pattern.size()) {
        const char pc = pattern[p];
        if (pc == '*') {
            while (p < pattern.size() && pattern[p] == '*') ++p;
            if (p == pattern.size()) return true;
            for (std::size_t k = t; k <= text.size(); ++k) {
                if (match_from(pattern, p, text, k, depth + 1)) return true;
            }
            return false;
        }
        if (t >= text.size()) return false;
        if (pc == '?') {
            ++p;
            ++t;
            continue;
        }
        if (pc == '[') {
            std::size_t q = p + 1;
            bool well_formed = false;
            bool m = match_set(pattern, q, text[t], well_formed);
            if (well_formed) {
                if (!m) return false;
                p = q;
                ++t;
                continue;
            }
            // A lone '[' matches itself.
        }
        char literal = pc;
        if (pc == '\\' && p + 1 < pattern.size()) literal = pattern[++p];
        if (literal != text[t]) return false;
        ++p;
        ++t;
    }
    return t == text.size();
}

bool any_match(const std::vector<std::string>& patterns, std::string_view text) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return glob_match(p, text); });
}

void erase(std::vector<std::string>& v, const std::string& s) { v.erase(std::remove(v.begin(), v.end(), s), v.end()); }

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) { return match_from(pattern, 0, text, 0, 0); }

event_filter::event_filter(std::vector<std::string> only, std::vector<std::string> ignore)
    : restricted_(!only.empty()), only_(std::move(only)), ignore_(std::move(ignore)) {}

bool event_filter::shown(std::string_view event) const {
    if (restricted_ && !any_match(only_, event)) return false;
    return !any_match(ignore_, event);
}

void event_filter::on(const std::string& pattern) {
    if (pattern == "*") {
        restricted_ = false;
        only_.clear();
        ignore_.clear();
        return;
    }
    erase(ignore_, pattern);
    if (restricted_ && std::find(only_.begin(), only_.end(), pattern) == only_.end()) only_.push_back(pattern);
}

void event_filter::off(const std::string& pattern) {
    if (pattern == "*") {
        restricted_ = true;
        only_.clear();
        ignore_.clear();
        return;
    }
    erase(only_, pattern);
    if (std::find(ignore_.begin(), ignore_.end(), pattern) == ignore_.end()) ignore_.push_back(pattern);
}

}  // namespace sio::cli
