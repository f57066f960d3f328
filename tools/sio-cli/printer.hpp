// Serialised output: records for people or as JSON lines, to stdout/stderr or above the REPL's
// input line. Called from any thread.
#pragma once

#include "line_editor.hpp"
#include "sio-cli/core/format.hpp"

#include <mutex>
#include <string>

namespace sio::cli {

class printer {
public:
    printer(bool json, bool color) : json_(json), color_(color) {}

    void attach(line_editor* editor) {
        std::lock_guard lock(mutex_);
        editor_ = editor;
    }
    bool json() const noexcept { return json_; }

    // Traffic and results: stdout.
    void data(const record& r);
    // Life-cycle and diagnostics: JSON mode puts the record on stdout, and errors also on
    // stderr for people; otherwise a line on stderr (or in the REPL).
    void info(const record& r);
    // Text for a person who asked for it (help, status, history): stdout or the REPL.
    void text(const std::string& block);

private:
    void out(FILE* f, const std::string& line);

    bool json_;
    bool color_;
    std::mutex mutex_;
    line_editor* editor_ = nullptr;
};

}  // namespace sio::cli
