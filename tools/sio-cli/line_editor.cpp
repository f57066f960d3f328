#include "line_editor.hpp"

#include <histedit.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <cwchar>
#include <filesystem>
#include <mutex>

namespace sio::cli {

struct line_editor::impl {
    EditLine* el = nullptr;
    History* hist = nullptr;
    std::string history_file;
    std::string warning;
    completer complete;
    int wake[2] = {-1, -1};

    std::mutex mutex;  // guards the three below
    std::vector<std::string> pending;
    std::optional<std::string> next_prompt;
    bool interrupted = false;

    std::string prompt = "> ";  // read by libedit on the REPL thread only

    void write_all(std::string_view s) {
        while (!s.empty()) {
            auto n = ::write(STDOUT_FILENO, s.data(), s.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    // On the REPL thread, between keys: prints what other threads queued above the input line,
    // then has libedit draw the prompt and the line again. False once interrupted.
    bool flush() {
        std::vector<std::string> lines;
        std::optional<std::string> p;
        bool stop;
        {
            std::lock_guard lock(mutex);
            lines.swap(pending);
            p.swap(next_prompt);
            stop = interrupted;
        }
        if (p) prompt = *p;
        if (stop) {
            // Leaves no half-drawn prompt behind.
            std::string out = "\r\x1b[K";
            for (const auto& l : lines) out += l + "\n";
            write_all(out);
            return false;
        }
        if (!lines.empty() || p) {
            std::string out = "\r\x1b[K";
            for (const auto& l : lines) {
                out += l;
                out += '\n';
            }
            write_all(out);
            el_set(el, EL_REFRESH);
        }
        return !stop;
    }

    static impl* of(EditLine* e) {
        void* data = nullptr;
        el_get(e, EL_CLIENTDATA, &data);
        return static_cast<impl*>(data);
    }

    static char* prompt_fn(EditLine* e) { return of(e)->prompt.data(); }

    // Reads one character for libedit, waking for queued output meanwhile.
    static int read_char(EditLine* e, wchar_t* wc) {
        impl* self = of(e);
        std::mbstate_t state{};
        while (true) {
            if (!self->flush()) return 0;
            pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {self->wake[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                return -1;
            }
            if (fds[1].revents != 0) {
                char buf[64];
                while (::read(self->wake[0], buf, sizeof buf) > 0) {
                }
                continue;
            }
            if (fds[0].revents == 0) continue;
            char c;
            auto n = ::read(STDIN_FILENO, &c, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return 0;
            wchar_t w = 0;
            const auto r = std::mbrtowc(&w, &c, 1, &state);
            if (r == static_cast<std::size_t>(-2)) continue;  // more bytes of this character
            if (r == static_cast<std::size_t>(-1)) {
                state = {};
                w = static_cast<unsigned char>(c);
            }
            *wc = w;
            return 1;
        }
    }

    static unsigned char complete_fn(EditLine* e, int) {
        impl* self = of(e);
        const LineInfo* li = el_line(e);
        const std::string before(li->buffer, static_cast<std::size_t>(li->cursor - li->buffer));
        const auto c = self->complete(before);
        if (c.matches.empty()) return CC_REFRESH_BEEP;
        if (!c.insert.empty()) {
            if (c.erase > 0) el_deletestr(e, static_cast<int>(c.erase));
            el_insertstr(e, c.insert.c_str());
        }
        if (c.matches.size() > 1) {
            std::string list = "\n";
            for (const auto& m : c.matches) list += m + "  ";
            list += "\n";
            self->write_all(list);
            return CC_REDISPLAY;
        }
        return CC_REFRESH;
    }
};

line_editor::line_editor(std::string history_file, completer complete) : impl_(std::make_unique<impl>()) {
    auto& d = *impl_;
    d.history_file = std::move(history_file);
    d.complete = std::move(complete);
    if (::pipe(d.wake) == 0) {
        for (int fd : d.wake) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    d.hist = history_init();
    HistEvent ev;
    ::history(d.hist, &ev, H_SETSIZE, 1000);
    ::history(d.hist, &ev, H_SETUNIQUE, 1);
    if (!d.history_file.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(d.history_file).parent_path(), ec);
        if (std::filesystem::exists(d.history_file, ec) && ::history(d.hist, &ev, H_LOAD, d.history_file.c_str()) < 0) {
            d.warning = fmt::format("cannot read the history file {}", d.history_file);
        }
    }
    d.el = el_init("sio-cli", stdin, stdout, stderr);
    el_set(d.el, EL_CLIENTDATA, &d);
    el_set(d.el, EL_EDITOR, "emacs");
    el_set(d.el, EL_SIGNAL, 1);
    el_set(d.el, EL_HIST, ::history, d.hist);
    el_set(d.el, EL_PROMPT, &impl::prompt_fn);
    el_set(d.el, EL_GETCFN, &impl::read_char);
    el_set(d.el, EL_ADDFN, "sio-complete", "complete a command or event name", &impl::complete_fn);
    el_set(d.el, EL_BIND, "^I", "sio-complete", nullptr);
}

line_editor::~line_editor() {
    auto& d = *impl_;
    d.flush();
    if (d.el != nullptr) el_end(d.el);
    if (d.hist != nullptr) history_end(d.hist);
    for (int fd : d.wake) {
        if (fd >= 0) ::close(fd);
    }
}

std::optional<std::string> line_editor::read_line() {
    auto& d = *impl_;
    int count = 0;
    const char* line = el_gets(d.el, &count);
    {
        std::lock_guard lock(d.mutex);
        if (d.interrupted) return std::nullopt;
    }
    if (line == nullptr || count <= 0) return std::nullopt;
    std::string s(line, static_cast<std::size_t>(count));
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

void line_editor::add_history(const std::string& line) {
    auto& d = *impl_;
    if (line.empty()) return;
    HistEvent ev;
    ::history(d.hist, &ev, H_ENTER, line.c_str());
    if (!d.history_file.empty() && ::history(d.hist, &ev, H_SAVE, d.history_file.c_str()) < 0 && d.warning.empty()) {
        d.warning = fmt::format("cannot write the history file {}", d.history_file);
        print("-- " + d.warning);
    }
}

std::vector<std::string> line_editor::history() const {
    std::vector<std::string> out;
    HistEvent ev;
    for (int r = ::history(impl_->hist, &ev, H_FIRST); r >= 0; r = ::history(impl_->hist, &ev, H_NEXT)) {
        out.emplace_back(ev.str);
    }
    std::reverse(out.begin(), out.end());
    return out;
}

void line_editor::print(std::string line) {
    auto& d = *impl_;
    {
        std::lock_guard lock(d.mutex);
        d.pending.push_back(std::move(line));
    }
    [[maybe_unused]] auto n = ::write(d.wake[1], "x", 1);
}

void line_editor::set_prompt(std::string prompt) {
    auto& d = *impl_;
    {
        std::lock_guard lock(d.mutex);
        d.next_prompt = std::move(prompt);
    }
    [[maybe_unused]] auto n = ::write(d.wake[1], "x", 1);
}

void line_editor::interrupt() {
    auto& d = *impl_;
    {
        std::lock_guard lock(d.mutex);
        d.interrupted = true;
    }
    [[maybe_unused]] auto n = ::write(d.wake[1], "x", 1);
}

const std::string& line_editor::history_warning() const { return impl_->warning; }

}  // namespace sio::cli
