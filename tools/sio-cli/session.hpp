// A connection driven by sio-cli: Socket.IO (one manager, one socket per namespace) or raw
// WebSocket. Everything in a session runs on the io_context's thread; other threads call
// post_* only.
#pragma once

#include "sio-cli/core/options.hpp"
#include "printer.hpp"
#include "sio-cli/core/completion.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>

namespace sio::cli {

class session {
public:
    struct hooks {
        std::function<void()> done;                      // the session finished: stop reading input
        std::function<void(std::string)> prompt;         // REPL prompt changed
        std::function<void()> ready;                     // connected: scripts may start reading stdin
        std::function<void()> finished;                  // the exit code is known; the connection is closing
    };

    static std::unique_ptr<session> make(const run_plan& plan, boost::asio::io_context& ioc, printer& out,
                                         bool interactive, bool script_input, hooks h);
    virtual ~session() = default;

    // On the io thread.
    virtual void start() = 0;
    virtual void execute(const std::string& line) = 0;  // a REPL or stdin line
    virtual void input_ended() = 0;                     // stdin reached its end
    virtual void interrupt() = 0;                       // SIGINT / SIGTERM / quit
    // Any thread.
    virtual completion complete(std::string_view before_cursor) = 0;
    virtual int exit_code() const = 0;
};

}  // namespace sio::cli
