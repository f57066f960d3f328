// The REPL's terminal side on libedit: line editing, a persistent history, tab completion,
// and lines from other threads printed above the line being typed without breaking it.
#pragma once

#include "sio-cli/core/completion.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sio::cli {

class line_editor {
public:
    using completer = std::function<completion(std::string_view before_cursor)>;

    // `history_file` empty: history kept for this run only.
    line_editor(std::string history_file, completer complete);
    ~line_editor();
    line_editor(const line_editor&) = delete;
    line_editor& operator=(const line_editor&) = delete;

    // Blocks until a line is entered; nullopt on end of input (Ctrl-D) or after interrupt().
    std::optional<std::string> read_line();

    void add_history(const std::string& line);  // and saves the file
    std::vector<std::string> history() const;   // oldest first

    // Any thread: shown before the next key is read.
    void print(std::string line);
    void set_prompt(std::string prompt);
    // Any thread: read_line() returns nullopt.
    void interrupt();
    // Whether the history file could be loaded or created (a message otherwise).
    const std::string& history_warning() const;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace sio::cli
