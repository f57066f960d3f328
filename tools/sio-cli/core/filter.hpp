// Which incoming events are shown: --only / --ignore glob patterns and the REPL's on/off.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sio::cli {

// Shell-style glob over the whole text: * any run, ? one character, [abc] [a-z] [!x] a set,
// backslash escapes the next character. Bytes, not code points.
bool glob_match(std::string_view pattern, std::string_view text);

class event_filter {
public:
    event_filter() = default;
    event_filter(std::vector<std::string> only, std::vector<std::string> ignore);

    bool shown(std::string_view event) const;

    void on(const std::string& pattern);   // "on *" shows everything again
    void off(const std::string& pattern);  // "off *" hides everything

    const std::vector<std::string>& only() const noexcept { return only_; }
    const std::vector<std::string>& ignore() const noexcept { return ignore_; }
    bool restricted() const noexcept { return restricted_; }

private:
    bool restricted_ = false;  // only events matching only_ are shown
    std::vector<std::string> only_;
    std::vector<std::string> ignore_;
};

}  // namespace sio::cli
