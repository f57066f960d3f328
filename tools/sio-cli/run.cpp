#include "run.hpp"

#include "line_editor.hpp"
#include "printer.hpp"
#include "session.hpp"
#include "sio-cli/core/command.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <fmt/core.h>

#include <unistd.h>

#include <clocale>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>

namespace asio = boost::asio;

namespace sio::cli {

namespace {

// Reads stdin on a thread of its own (a blocking read; a regular file cannot be watched by the
// io_context) and posts each line to the session. The thread is left behind at exit, blocked
// in read; `gate` keeps it from posting once the io_context is gone.
struct input_gate {
    std::mutex mutex;
    bool open = true;
};

void start_stdin_reader(const std::shared_ptr<input_gate>& gate, asio::io_context& ioc, session& s) {
    std::thread([gate, &ioc, &s] {
        std::string line;
        while (std::getline(std::cin, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            std::lock_guard lock(gate->mutex);
            if (!gate->open) return;
            asio::post(ioc, [&s, line] { s.execute(line); });
        }
        std::lock_guard lock(gate->mutex);
        if (gate->open) asio::post(ioc, [&s] { s.input_ended(); });
    }).detach();
}

}  // namespace

int run(const run_plan& plan) {
    std::setlocale(LC_CTYPE, "");
    const bool stdin_tty = ::isatty(STDIN_FILENO) != 0;
    const bool interactive = stdin_tty && !plan.emit && !plan.wait_for && !plan.listen;
    const bool script_input = !stdin_tty && !plan.emit && !plan.wait_for;

    asio::io_context ioc;
    auto work = asio::make_work_guard(ioc);
    printer out(plan.json_output, plan.color && ::isatty(STDOUT_FILENO) != 0);
    std::unique_ptr<line_editor> editor;
    std::unique_ptr<session> s;
    auto gate = std::make_shared<input_gate>();

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    // Set once the session knows its exit code: the io_context then runs until the connection has
    // closed cleanly, for a bounded time.
    struct ending {
        std::mutex mutex;
        std::condition_variable cv;
        bool finished = false;
        bool io_done = false;
    } end;

    session::hooks hooks;
    hooks.finished = [&work, &signals, &end] {
        work.reset();
        signals.cancel();
        std::lock_guard lock(end.mutex);
        end.finished = true;
        end.cv.notify_all();
    };
    if (interactive) {
        editor = std::make_unique<line_editor>(plan.history_file, [&s](std::string_view before) {
            return s ? s->complete(before) : completion{};
        });
        out.attach(editor.get());
        if (!editor->history_warning().empty()) editor->print("-- " + editor->history_warning());
        hooks.done = [&editor] { editor->interrupt(); };
        hooks.prompt = [&editor](std::string p) { editor->set_prompt(std::move(p)); };
        editor->print(plan.raw ? "-- raw WebSocket mode: lines are sent as text frames; /help lists the commands"
                               : "-- type help for the commands; Tab completes commands and event names");
    }
    if (script_input) {
        hooks.ready = [gate, &ioc, &s] { start_stdin_reader(gate, ioc, *s); };
    }
    s = session::make(plan, ioc, out, interactive, script_input, std::move(hooks));

    signals.async_wait([&s](boost::system::error_code ec, int) {
        if (!ec) s->interrupt();
    });
    // A dropped connection while writing must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    asio::post(ioc, [&s] { s->start(); });
    std::thread io_thread([&ioc, &end] {
        ioc.run();
        std::lock_guard lock(end.mutex);
        end.io_done = true;
        end.cv.notify_all();
    });

    if (interactive) {
        while (auto line = editor->read_line()) {
            const auto parsed = plan.raw ? parse_result{} : parse_command(*line);
            if (!line->empty()) editor->add_history(*line);
            const bool is_history = plan.raw ? *line == "/history" : parsed.value && parsed.value->kind == command_kind::history;
            if (is_history) {
                const auto h = editor->history();
                std::string text;
                for (std::size_t i = 0; i < h.size(); ++i) text += fmt::format("{:5}  {}\n", i + 1, h[i]);
                out.text(text);
                continue;
            }
            asio::post(ioc, [&s, l = *line] { s->execute(l); });
        }
        // Ctrl-D, quit, or the session ended by itself: either way, end it.
        asio::post(ioc, [&s] { s->interrupt(); });
    }
    {
        std::unique_lock lock(end.mutex);
        end.cv.wait(lock, [&end] { return end.finished || end.io_done; });
        if (!end.cv.wait_for(lock, std::chrono::milliseconds(2000), [&end] { return end.io_done; })) ioc.stop();
    }
    io_thread.join();
    {
        std::lock_guard lock(gate->mutex);
        gate->open = false;
    }
    out.attach(nullptr);
    const int code = s->exit_code();
    s.reset();
    editor.reset();
    return code;
}

}  // namespace sio::cli
