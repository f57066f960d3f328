// What both kinds of session share: finishing once with an exit code, the --timeout deadline,
// and the names seen so far for completion.
#pragma once

#include "session.hpp"
#include "common/duration.hpp"
#include "common/net_options.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace sio::cli {

using tools::format_duration;
// The exit codes and the failure mapping the client tools share (common/net_options.hpp).
using enum tools::cli_exit;
using tools::exit_code_for;

class session_base : public session {
public:
    session_base(const run_plan& plan, boost::asio::io_context& ioc, printer& out, bool interactive,
                 bool script_input, hooks h)
        : plan_(plan), ioc_(ioc), out_(out), interactive_(interactive), script_input_(script_input),
          hooks_(std::move(h)), deadline_(ioc) {}

    int exit_code() const override { return exit_code_; }

    // Both sessions end alike: at the end of stdin once nothing is awaited, and on an interrupt
    // with 0 when listening or interactive, 130 for a script cut short (and for listening that
    // never got connected: nothing was listened to).
    void input_ended() override {
        if (finished_) return;
        input_ended_ = true;
        maybe_done_with_input();
    }
    void interrupt() override {
        if (finished_) return;
        if (plan_.listen && !interactive_ && !ever_connected_) {
            fail(130, "interrupted before the connection was made");
            return;
        }
        finish(interactive_ || plan_.listen ? cli_ok : 130);
    }

    completion complete(std::string_view before_cursor) override {
        std::lock_guard lock(names_mutex_);
        return cli::complete(before_cursor, events_seen_, namespaces_seen_);
    }

protected:
    // A record for people about the session itself.
    record info(std::string type, std::string text, json args = json::array()) const {
        record r;
        r.dir = "info";
        r.nsp.clear();
        r.type = std::move(type);
        r.text = std::move(text);
        r.args = args.empty() ? json::array({r.text}) : std::move(args);
        r.transport = transport_;
        return r;
    }
    void fail(int code, const std::string& message) {
        if (finished_) return;
        out_.info(info("error", message));
        finish(code);
    }

    void remember_event(const std::string& name) {
        std::lock_guard lock(names_mutex_);
        if (events_seen_.size() < 1000 && std::find(events_seen_.begin(), events_seen_.end(), name) == events_seen_.end()) {
            events_seen_.push_back(name);
        }
    }
    void remember_namespace(const std::string& name) {
        std::lock_guard lock(names_mutex_);
        if (std::find(namespaces_seen_.begin(), namespaces_seen_.end(), name) == namespaces_seen_.end()) {
            namespaces_seen_.push_back(name);
        }
    }

    // --timeout for --wait-for and --listen, counted from the start.
    void arm_deadline() {
        if (!plan_.timeout || (!plan_.wait_for && !plan_.listen)) return;
        deadline_.expires_after(*plan_.timeout);
        deadline_.async_wait([this](boost::system::error_code ec) {
            if (ec || finished_) return;
            if (plan_.wait_for) {
                fail(cli_wait_timeout, fmt::format("no {} '{}' within {} (got {} of {}{})",
                                                   plan_.raw ? "message matching" : "event", *plan_.wait_for,
                                                   format_duration(*plan_.timeout), waited_, plan_.count,
                                                   ever_connected_ ? "" : "; never connected"));
            } else if (!ever_connected_) {
                // Listening to a server that never answered is no success for a script.
                fail(cli_connect_failed, fmt::format("never connected within {}", format_duration(*plan_.timeout)));
            } else {
                finish(cli_ok);
            }
        });
    }

    // Ends the session once: `close()` lets queued frames go out; the io_context then runs out of
    // work when the connection has ended (the caller bounds how long that may take).
    void finish(int code) {
        if (finished_) return;
        finished_ = true;
        exit_code_ = code;
        deadline_.cancel();
        if (hooks_.done) hooks_.done();
        close();
        if (hooks_.finished) hooks_.finished();
    }
    virtual void close() = 0;

    // Stdin script bookkeeping: the worst outcome so far decides the exit code at the end.
    void note_failure(int code) {
        if (worst_ == cli_ok) worst_ = code;
    }
    void maybe_done_with_input() {
        if (input_ended_ && pending_acks_ == 0 && connecting_ == 0 && !plan_.listen && !plan_.wait_for) finish(worst_);
    }

    const run_plan& plan_;
    boost::asio::io_context& ioc_;
    printer& out_;
    bool interactive_;
    bool script_input_;
    hooks hooks_;
    boost::asio::steady_timer deadline_;
    bool ever_connected_ = false;  // connected at least once (a namespace, or the raw WebSocket)
    bool finished_ = false;
    int exit_code_ = cli_ok;
    int worst_ = cli_ok;
    bool input_ended_ = false;
    unsigned pending_acks_ = 0;
    unsigned connecting_ = 0;  // namespaces asked for that have neither connected nor been refused
    unsigned waited_ = 0;  // --wait-for matches so far
    std::string transport_;

    std::mutex names_mutex_;
    std::vector<std::string> events_seen_;
    std::vector<std::string> namespaces_seen_;
};

// The two kinds (session_sio.cpp, session_raw.cpp).
std::unique_ptr<session> make_socketio_session(const run_plan& plan, boost::asio::io_context& ioc, printer& out,
                                               bool interactive, bool script_input, session::hooks h);
std::unique_ptr<session> make_raw_session(const run_plan& plan, boost::asio::io_context& ioc, printer& out,
                                          bool interactive, bool script_input, session::hooks h);

}  // namespace sio::cli
