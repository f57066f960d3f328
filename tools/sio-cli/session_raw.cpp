// The raw WebSocket session: text and binary frames, pings and pongs on request, the peer's close
// code and reason. Lines typed or read are sent as text frames, except the /commands.
#include "session_base.hpp"

#include "sio-cli/core/filter.hpp"

#include <sio/client.hpp>

#include <cctype>
#include <charconv>
#include <optional>
#include <vector>

namespace sio::cli {

namespace {

constexpr std::string_view raw_help =
    "raw WebSocket mode: every line is sent as a text frame, except\n"
    "  /binary HEX                   send a binary frame\n"
    "  /ping [PAYLOAD]               send a ping frame\n"
    "  /close [CODE [REASON]]        close the connection (default 1000)\n"
    "  /history                      list the lines typed so far\n"
    "  /help                         this list\n"
    "  /quit                         close and exit (also: Ctrl-D)\n"
    "  //TEXT                        send /TEXT\n";

std::optional<std::string> from_hex(std::string_view hex) {
    std::string out;
    std::string digits;
    for (char c : hex)
        if (!std::isspace(static_cast<unsigned char>(c))) digits += c;
    if (digits.size() % 2 != 0) return std::nullopt;
    for (std::size_t i = 0; i < digits.size(); i += 2) {
        unsigned v = 0;
        auto [ptr, ec] = std::from_chars(digits.data() + i, digits.data() + i + 2, v, 16);
        if (ec != std::errc{} || ptr != digits.data() + i + 2) return std::nullopt;
        out += static_cast<char>(v);
    }
    return out;
}

json binary_value(const std::string& data) {
    return json::binary(std::vector<std::uint8_t>(data.begin(), data.end()));
}

class raw_session final : public session_base {
public:
    using session_base::session_base;

    void start() override {
        ws_ = ws_client::create(ioc_.get_executor(), plan_.ws);
        ws_->on_open([this](const std::string& subprotocol) { opened(subprotocol); });
        ws_->on_message([this](std::string data, bool binary) { message(std::move(data), binary); });
        ws_->on_control([this](bool is_ping, std::string_view payload) { control(is_ping, payload); });
        ws_->on_close([this](std::error_code ec, unsigned code, const std::string& reason) { closed(ec, code, reason); });
        if (hooks_.prompt) hooks_.prompt("ws (connecting) > ");
        arm_deadline();
        ws_->open();
    }

    void execute(const std::string& line) override {
        if (finished_) return;
        if (!open_) {
            out_.info(info("error", "not connected"));
            return;
        }
        if (line.size() >= 2 && line[0] == '/' && line[1] == '/') {
            send_text(line.substr(1));
            return;
        }
        if (line.empty() || line[0] != '/') {
            send_text(line);
            return;
        }
        const auto space = line.find(' ');
        const std::string verb = line.substr(0, space);
        const std::string rest = space == std::string::npos ? std::string{} : line.substr(space + 1);
        if (verb == "/binary") {
            auto bytes = from_hex(rest);
            if (!bytes) {
                usage_problem("/binary needs hex digits, e.g. /binary 0a0b0c");
                return;
            }
            ws_->send(*bytes, true);
            out_.data(frame("out", json::array({binary_value(*bytes)})));
        } else if (verb == "/ping") {
            ws_->ping(rest);
            if (plan_.show_ping) out_.data(control_record("out", "ping", rest));
        } else if (verb == "/close") {
            unsigned code = 1000;
            std::string reason;
            if (!rest.empty()) {
                const auto sp = rest.find(' ');
                const std::string number = rest.substr(0, sp);
                auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), code);
                if (ec != std::errc{} || ptr != number.data() + number.size() || code < 1000 || code > 4999) {
                    usage_problem("/close CODE: a number from 1000 to 4999");
                    return;
                }
                if (sp != std::string::npos) reason = rest.substr(sp + 1);
            }
            closing_by_us_ = true;
            sent_close_code_ = code;
            sent_close_reason_ = reason;
            ws_->close(code, reason);
        } else if (verb == "/help") {
            out_.text(std::string(raw_help));
        } else if (verb == "/history") {
            out_.text("history is kept by the interactive REPL only");
        } else if (verb == "/quit" || verb == "/exit") {
            finish(script_input_ ? worst_ : cli_ok);
        } else {
            usage_problem(fmt::format("unknown command '{}' (type /help; //TEXT sends /TEXT)", verb));
        }
    }

private:
    void close() override {
        if (ws_ && !peer_closed_) ws_->close(1000, "");
    }

    void usage_problem(const std::string& text) {
        if (script_input_) {
            fail(cli_usage, text);
            return;
        }
        out_.info(info("error", text));
    }

    record frame(const char* dir, json args) const {
        record r;
        r.dir = dir;
        r.nsp.clear();
        r.type = "message";
        r.args = std::move(args);
        r.transport = transport_;
        return r;
    }
    record control_record(const char* dir, const char* type, std::string_view payload) const {
        record r = frame(dir, json::array({std::string(payload)}));
        r.type = type;
        return r;
    }

    void send_text(const std::string& text) {
        ws_->send(text, false);
        out_.data(frame("out", json::array({text})));
    }

    void opened(const std::string& subprotocol) {
        if (finished_) return;
        open_ = true;
        ever_connected_ = true;
        transport_ = "websocket";
        const json sub = subprotocol.empty() ? json(nullptr) : json(subprotocol);
        out_.info(info("connect",
                       fmt::format("connected to {}{}", plan_.ws.url,
                                   subprotocol.empty() ? std::string{} : fmt::format(" (subprotocol {})", subprotocol)),
                       json::array({{{"subprotocol", sub}}})));
        if (hooks_.prompt) hooks_.prompt("ws > ");
        if (plan_.emit) {
            std::string text;
            for (const auto& w : *plan_.emit) text += (text.empty() ? "" : " ") + w;
            send_text(text);
            if (!plan_.wait_for && !plan_.listen) {
                finish(cli_ok);
                return;
            }
        }
        if (hooks_.ready) hooks_.ready();
    }

    void message(std::string data, bool binary) {
        if (finished_) return;
        const bool awaited = !binary && plan_.wait_for && glob_match(*plan_.wait_for, data);
        out_.data(frame("in", json::array({binary ? binary_value(data) : json(std::move(data))})));
        if (awaited && ++waited_ >= plan_.count) finish(cli_ok);
    }

    void control(bool is_ping, std::string_view payload) {
        if (finished_ || !plan_.show_ping) return;
        out_.data(control_record("in", is_ping ? "ping" : "pong", payload));
    }

    void closed(std::error_code ec, unsigned code, const std::string& reason) {
        // (`code` is adjusted below when the close was ours.)
        peer_closed_ = true;
        if (finished_) return;
        if (!open_) {
            fail(ec ? exit_code_for(ec) : cli_connect_failed,
                 "could not connect: " + (reason.empty() ? ec.message() : reason));
            return;
        }
        open_ = false;
        if (hooks_.prompt) hooks_.prompt("ws (closed) > ");
        std::string text;
        if (closing_by_us_) {
            // Ours: what we sent (the connection may end before the peer's answer is read).
            code = ec ? sent_close_code_ : code;
            text = fmt::format("closed: {} {}", code, ec ? sent_close_reason_ : reason);
        } else if (ec) {
            text = fmt::format("connection lost: {}", reason.empty() ? ec.message() : reason);
        } else {
            text = fmt::format("closed by the server: {} {}", code, reason);
        }
        const std::string& shown_reason = closing_by_us_ && ec ? sent_close_reason_ : reason;
        out_.info(info("disconnect", text, json::array({{{"code", code}, {"reason", shown_reason}}})));
        finish(ec && !closing_by_us_ ? cli_runtime : (script_input_ ? worst_ : cli_ok));
    }

    std::shared_ptr<ws_client> ws_;
    bool open_ = false;
    bool peer_closed_ = false;
    bool closing_by_us_ = false;
    unsigned sent_close_code_ = 1000;
    std::string sent_close_reason_;
};

}  // namespace

std::unique_ptr<session> make_raw_session(const run_plan& plan, boost::asio::io_context& ioc, printer& out,
                                          bool interactive, bool script_input, session::hooks h) {
    return std::make_unique<raw_session>(plan, ioc, out, interactive, script_input, std::move(h));
}

}  // namespace sio::cli
