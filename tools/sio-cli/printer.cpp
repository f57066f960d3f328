#include "printer.hpp"

#include <cstdio>

namespace sio::cli {

void printer::out(FILE* f, const std::string& line) {
    std::lock_guard lock(mutex_);
    if (editor_ != nullptr) {
        editor_->print(line);
        return;
    }
    std::fwrite(line.data(), 1, line.size(), f);
    std::fputc('\n', f);
    std::fflush(f);
}

void printer::data(const record& r) { out(stdout, json_ ? format_json(r) : format_human(r, color_)); }

void printer::info(const record& r) {
    if (json_) {
        out(stdout, format_json(r));
        if (r.type == "error" || r.type == "connect_error") {
            std::lock_guard lock(mutex_);
            if (editor_ == nullptr) std::fprintf(stderr, "sio-cli: %s\n", neutralize(r.text).c_str());
        }
        return;
    }
    out(stderr, format_human(r, color_));
}

void printer::text(const std::string& block) {
    std::string b = block;
    while (!b.empty() && b.back() == '\n') b.pop_back();
    std::size_t start = 0;
    while (start <= b.size()) {
        auto end = b.find('\n', start);
        out(stdout, b.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
}

}  // namespace sio::cli
