// Tab completion in the REPL: command names, then event names seen so far (after emit, on, off)
// and namespaces (after ns).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sio::cli {

struct completion {
    std::vector<std::string> matches;  // every candidate, as it would be typed
    std::size_t erase = 0;             // characters before the cursor to remove first
    std::string insert;                // then this text to insert
};

// `line` is the text before the cursor.
completion complete(std::string_view line, const std::vector<std::string>& events,
                    const std::vector<std::string>& namespaces);

}  // namespace sio::cli
