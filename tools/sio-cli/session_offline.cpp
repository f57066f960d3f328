// Until the network library's client is built in: a session that reports it cannot connect.
#include "session_base.hpp"

namespace sio::cli {

namespace {

class offline_session final : public session_base {
public:
    using session_base::session_base;
    void start() override { fail(cli_runtime, "this build of sio-cli has no network client"); }
    void execute(const std::string&) override {}
    void input_ended() override {}
    void interrupt() override { finish(cli_ok); }

private:
    void close() override { boost::asio::post(ioc_, [this] { stop(); }); }
};

}  // namespace

std::unique_ptr<session> session::make(const run_plan& plan, boost::asio::io_context& ioc, printer& out,
                                       bool interactive, bool script_input, hooks h) {
    return std::make_unique<offline_session>(plan, ioc, out, interactive, script_input, std::move(h));
}

}  // namespace sio::cli
