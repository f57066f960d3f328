// The Socket.IO session: one client (manager) and a socket per namespace asked for; every packet
// both ways printed from the client's packet reports, commands from the REPL or stdin.
#include "session_base.hpp"

#include "sio-cli/core/command.hpp"
#include "sio-cli/core/filter.hpp"

#include <sio/client.hpp>

#include <map>

namespace sio::cli {

namespace {

namespace sp = codec::socketio;

std::string normalize_nsp(std::string nsp) {
    if (nsp.empty()) return "/";
    if (nsp.front() != '/') nsp.insert(nsp.begin(), '/');
    return nsp;
}

// What a person reads of a CONNECT_ERROR's data: socket.io 4.x sends {"message": ...}, 2.x a
// string.
std::string refusal_text(const json& data) {
    if (data.is_object() && data.contains("message") && data["message"].is_string()) {
        return data["message"].get<std::string>();
    }
    if (data.is_string()) return data.get<std::string>();
    return data.dump(-1, ' ', false, json::error_handler_t::replace);
}

class socketio_session final : public session_base {
public:
    using session_base::session_base;

    void start() override {
        filter_ = plan_.filter;
        current_ = plan_.nsp;
        client_ = client::create(ioc_.get_executor(), plan_.client);
        client_->on_event([this](const client_event& e) { on_client_event(e); });
        client_->on_open_failed([this](std::error_code ec, const std::string& message) {
            fail(exit_code_for(ec), "could not connect: " + message);
        });
        socket_for(plan_.nsp);
        update_prompt();
        arm_deadline();
        client_->open();
    }

    void execute(const std::string& line) override {
        if (finished_) return;
        ++line_number_;
        const auto parsed = parse_input_line(line);
        if (!parsed.value) {
            if (script_input_) {
                fail(cli_usage, fmt::format("line {}: {}", line_number_, parsed.error));
            } else {
                out_.info(info("error", parsed.error));
            }
            return;
        }
        run_command(*parsed.value);
    }

private:
    struct nsp_state {
        std::shared_ptr<client_socket> socket;
        bool settled = false;         // connected or refused once
        bool connected_once = false;
    };

    // socket.io servers drop an event handled in the same turn as a DISCONNECT that follows it:
    // what went out just now gets a moment on its own before the namespaces are disconnected.
    void close() override {
        if (!client_) return;
        const auto since = std::chrono::steady_clock::now() - last_sent_;
        if (since >= linger) {
            client_->close();
            return;
        }
        linger_timer_.expires_after(linger - since);
        linger_timer_.async_wait([this](boost::system::error_code) { client_->close(); });
    }
    void note_sent() { last_sent_ = std::chrono::steady_clock::now(); }

    std::shared_ptr<client_socket> socket_for(const std::string& name) {
        const std::string nsp = normalize_nsp(name);
        if (auto it = sockets_.find(nsp); it != sockets_.end()) return it->second.socket;
        auto s = client_->socket(nsp, plan_.auth);
        s->on_connect([this, nsp] { socket_connected(nsp); });
        s->on_connect_error([this, nsp](const json& data) { socket_refused(nsp, data); });
        s->on_disconnect([this, nsp](const std::string& reason) { socket_disconnected(nsp, reason); });
        sockets_[nsp].socket = s;
        ++connecting_;
        remember_namespace(nsp);
        return s;
    }

    // An info line about one namespace rather than the whole connection.
    static record about(const std::string& nsp, record r) {
        r.nsp = nsp;
        return r;
    }

    void settle(const std::string& nsp) {
        auto& st = sockets_[nsp];
        if (!st.settled) {
            st.settled = true;
            if (connecting_ > 0) --connecting_;
        }
    }

    void socket_connected(const std::string& nsp) {
        if (finished_) return;
        settle(nsp);
        auto& st = sockets_[nsp];
        const bool again = st.connected_once;
        st.connected_once = true;
        ever_connected_ = true;
        const auto id = st.socket->id();
        json detail = {{"nsp", nsp}, {"id", id}};
        std::string text;
        if (again) {
            const bool recovered = st.socket->recovered();
            detail["recovered"] = recovered;
            text = fmt::format("{} connected again as {} ({})", nsp, id,
                               recovered ? "session recovered" : "session not recovered");
        } else {
            text = fmt::format("{} connected as {}", nsp, id);
        }
        detail["message"] = text;
        out_.info(about(nsp, info("connect", text, json::array({detail}))));
        update_prompt();
        if (nsp == plan_.nsp && !started_) {
            started_ = true;
            run_plan_emit();
            if (hooks_.ready && !finished_) hooks_.ready();
        }
        // The packets buffered for this namespace go out in this same turn; decide after it.
        boost::asio::post(ioc_, [this] {
            if (!finished_) maybe_done_with_input();
        });
    }

    void socket_refused(const std::string& nsp, const json& data) {
        if (finished_) return;
        settle(nsp);
        const std::string text = fmt::format("{} refused the connection: {}", nsp, refusal_text(data));
        update_prompt();
        if (interactive_) {
            out_.info(about(nsp, info("error", text)));
            return;
        }
        if (nsp == plan_.nsp || !script_input_) {
            fail(cli_connect_error, text);
            return;
        }
        out_.info(about(nsp, info("error", text)));
        note_failure(cli_connect_error);
        maybe_done_with_input();
    }

    void socket_disconnected(const std::string& nsp, const std::string& reason) {
        if (finished_) return;
        out_.info(about(nsp, info("disconnect", fmt::format("{} disconnected: {}", nsp, reason),
                                  json::array({{{"nsp", nsp}, {"reason", reason}}}))));
        update_prompt();
        if (reason == "io server disconnect" && !interactive_ && nsp == plan_.nsp) {
            fail(cli_runtime, fmt::format("the server disconnected {}", nsp));
        }
    }

    void on_client_event(const client_event& e) {
        using k = client_event::kind;
        // What was sent before the end still goes out (and is shown) while the connection closes.
        if (finished_) {
            if (e.type == k::packet_out && e.packet) packet_out(*e.packet, e.transport);
            return;
        }
        switch (e.type) {
        case k::transport_open: {
            opened_once_ = true;
            transport_ = std::string(e.transport);
            const auto st = client_->status();
            json open = json::parse(e.detail, nullptr, false);
            if (open.is_discarded()) open = json::object();
            out_.info(info("connect",
                           fmt::format("connected to {} over {} (sid {}, ping interval {} ms)", plan_.client.url,
                                       transport_, st.sid, st.ping_interval.count()),
                           json::array({open})));
            break;
        }
        case k::upgrade:
            transport_ = "websocket";
            out_.info(info("connect", "upgraded to WebSocket", json::array({{{"upgraded", "websocket"}}})));
            break;
        case k::transport_close: {
            const std::string reason(e.reason);
            out_.info(info("disconnect", "connection closed: " + reason, json::array({{{"reason", reason}}})));
            transport_.clear();
            update_prompt();
            if (!plan_.client.reconnection.enabled && !interactive_) fail(cli_runtime, "connection closed: " + reason);
            break;
        }
        case k::reconnect_attempt:
            out_.info(info("reconnect",
                           fmt::format("reconnecting: attempt {} in {}", e.attempt, format_duration(e.delay)),
                           json::array({{{"attempt", e.attempt}, {"delay", e.delay.count()}}})));
            break;
        case k::reconnect:
            out_.info(info("reconnect", fmt::format("reconnected after {} attempt(s)", e.attempt),
                           json::array({{{"reconnected", true}, {"attempt", e.attempt}}})));
            break;
        case k::reconnect_failed: {
            const std::string text = fmt::format("gave up reconnecting after {} attempt(s)", e.attempt);
            // Before the first open the client reports the cause itself (on_open_failed).
            if (!opened_once_) break;
            if (interactive_) out_.info(info("error", text));
            else fail(cli_runtime, text);
            break;
        }
        case k::error: {
            const std::string reason(e.reason);
            if (!opened_once_ && !plan_.explicit_attempts) {
                fail(exit_code_for(e.code), "could not connect: " + reason);
            } else {
                out_.info(info("error", reason));
            }
            break;
        }
        case k::packet_in:
            if (e.packet) packet_in(*e.packet, e.transport);
            break;
        case k::packet_out:
            if (e.packet) packet_out(*e.packet, e.transport);
            break;
        case k::ping:
        case k::pong:
            if (plan_.show_ping) {
                record r;
                const bool from_server = (e.type == k::ping) == (plan_.client.eio_version != 3);
                r.dir = from_server ? "in" : "out";
                r.nsp.clear();
                r.type = e.type == k::ping ? "ping" : "pong";
                r.transport = std::string(e.transport);
                out_.data(r);
            }
            break;
        }
    }

    // The event name and its arguments from an EVENT's data.
    static bool split_event(const sp::packet& p, std::string& name, json& args) {
        if (!p.data || !p.data->is_array() || p.data->empty() || !(*p.data)[0].is_string()) return false;
        name = (*p.data)[0].get<std::string>();
        args = json::array();
        for (std::size_t i = 1; i < p.data->size(); ++i) args.push_back((*p.data)[i]);
        return true;
    }

    void packet_in(const sp::packet& p, std::string_view transport) {
        record r;
        r.dir = "in";
        r.nsp = p.nsp;
        r.id = p.id;
        r.transport = std::string(transport);
        switch (p.type) {
        case sp::packet_type::connect:
            r.type = "connect";
            if (p.data) r.args = json::array({*p.data});
            out_.data(r);
            return;
        case sp::packet_type::connect_error:
            r.type = "connect_error";
            if (p.data) r.args = json::array({*p.data});
            out_.data(r);
            return;
        case sp::packet_type::disconnect:
            r.type = "disconnect";
            out_.data(r);
            return;
        case sp::packet_type::ack:
        case sp::packet_type::binary_ack:
            r.type = "ack";
            if (p.data) r.args = p.data->is_array() ? *p.data : json::array({*p.data});
            out_.data(r);
            return;
        case sp::packet_type::event:
        case sp::packet_type::binary_event: {
            std::string name;
            if (!split_event(p, name, r.args)) return;
            remember_event(name);
            r.event = name;
            const bool awaited = plan_.wait_for && glob_match(*plan_.wait_for, name);
            if (awaited || filter_.shown(name)) out_.data(r);
            if (awaited && ++waited_ >= plan_.count) finish(cli_ok);
            return;
        }
        }
    }

    void packet_out(const sp::packet& p, std::string_view transport) {
        // An event that asks for an ack is known to be handled once the ack is in.
        const bool asks_ack = p.id && (p.type == sp::packet_type::event || p.type == sp::packet_type::binary_event);
        if (!asks_ack) note_sent();
        record r;
        r.dir = "out";
        r.nsp = p.nsp;
        r.id = p.id;
        r.transport = std::string(transport);
        switch (p.type) {
        case sp::packet_type::event:
        case sp::packet_type::binary_event: {
            std::string name;
            if (!split_event(p, name, r.args)) return;
            remember_event(name);
            r.event = name;
            out_.data(r);
            return;
        }
        case sp::packet_type::ack:
        case sp::packet_type::binary_ack:
            r.type = "ack";
            if (p.data) r.args = p.data->is_array() ? *p.data : json::array({*p.data});
            out_.data(r);
            return;
        default:
            return;  // CONNECT and DISCONNECT sent are told by the lines about their answers
        }
    }

    void run_plan_emit() {
        if (!plan_.emit) return;
        const auto& words = *plan_.emit;
        const std::string event = words.front();
        json args = json::array();
        for (std::size_t i = 1; i < words.size(); ++i) {
            std::string error;
            auto a = parse_arg(words[i], error);
            if (!a) {
                fail(cli_usage, fmt::format("--emit: argument {}: {}", i, error));
                return;
            }
            args.push_back(std::move(*a));
        }
        auto s = socket_for(plan_.nsp);
        const bool then_exit = !plan_.wait_for && !plan_.listen;
        if (plan_.ack) {
            const auto timeout = plan_.ack_timeout;
            auto ec = s->emit_with_ack(event, args, [this, event, then_exit, timeout](std::error_code failure, json) {
                if (finished_) return;
                if (failure) {
                    fail(failure == socket_errc::ack_timeout ? cli_ack_timeout : cli_runtime,
                         ack_failure(event, failure, timeout));
                    return;
                }
                if (then_exit) finish(cli_ok);
            }, timeout);
            if (ec) fail(cli_runtime, fmt::format("--emit {}: {}", event, ec.message()));
            return;
        }
        note_sent();
        auto ec = s->emit(event, args);
        if (ec) {
            fail(cli_runtime, fmt::format("--emit {}: {}", event, ec.message()));
            return;
        }
        if (then_exit) finish(cli_ok);
    }

    static std::string ack_failure(const std::string& event, std::error_code ec, std::chrono::milliseconds timeout) {
        if (ec == socket_errc::ack_timeout) return fmt::format("no ack for '{}' within {}", event, format_duration(timeout));
        return fmt::format("no ack for '{}': {}", event, ec.message());
    }

    void run_command(const command& c) {
        switch (c.kind) {
        case command_kind::empty:
            return;
        case command_kind::emit: {
            auto s = socket_for(c.nsp.empty() ? current_ : c.nsp);
            remember_event(c.event);
            if (!c.ack) {
                note_sent();
                if (auto ec = s->emit(c.event, c.args)) report_failure(fmt::format("emit {}: {}", c.event, ec.message()));
                return;
            }
            const auto timeout = c.ack_timeout.value_or(plan_.ack_timeout);
            ++pending_acks_;
            auto ec = s->emit_with_ack(c.event, c.args, [this, event = c.event, timeout](std::error_code failure, json) {
                if (finished_) return;
                if (pending_acks_ > 0) --pending_acks_;
                if (failure) {
                    out_.info(info("error", ack_failure(event, failure, timeout)));
                    note_failure(failure == socket_errc::ack_timeout ? cli_ack_timeout : cli_runtime);
                }
                maybe_done_with_input();
            }, timeout);
            if (ec) {
                --pending_acks_;
                report_failure(fmt::format("emit {}: {}", c.event, ec.message()));
            }
            return;
        }
        case command_kind::on:
            filter_.on(c.event);
            out_.text(fmt::format("showing events matching {}", c.event));
            return;
        case command_kind::off:
            filter_.off(c.event);
            out_.text(fmt::format("hiding events matching {}", c.event));
            return;
        case command_kind::ns: {
            if (c.nsp.empty()) {
                out_.text(namespaces_text());
                return;
            }
            const std::string nsp = normalize_nsp(c.nsp);
            const bool known = sockets_.count(nsp) != 0;
            auto s = socket_for(nsp);
            if (known && !s->connected()) s->connect();
            else if (!known && client_->status().state == client_state::closed) s->connect();
            current_ = nsp;
            update_prompt();
            return;
        }
        case command_kind::connect: {
            auto s = socket_for(current_);
            if (!s->connected()) s->connect();
            return;
        }
        case command_kind::disconnect:
            socket_for(current_)->disconnect();
            return;
        case command_kind::status:
            out_.text(status_text());
            return;
        case command_kind::raw: {
            if (!c.packet) return;
            auto p = *c.packet;
            const std::string nsp = normalize_nsp(c.nsp.empty() ? current_ : c.nsp);
            p.nsp = nsp;
            auto s = socket_for(nsp);
            note_sent();
            if (auto ec = s->send_packet(std::move(p))) report_failure(fmt::format("raw: {}", ec.message()));
            return;
        }
        case command_kind::history:
            out_.text("history is kept by the interactive REPL only");
            return;
        case command_kind::help:
            out_.text(help_text());
            return;
        case command_kind::quit:
            finish(script_input_ ? worst_ : cli_ok);
            return;
        }
    }

    void report_failure(const std::string& text) {
        out_.info(info("error", text));
        if (script_input_) note_failure(cli_runtime);
    }

    std::string namespaces_text() const {
        std::string text;
        for (const auto& [nsp, st] : sockets_) {
            const bool up = st.socket->connected();
            text += fmt::format("{}{} {}{}\n", nsp == current_ ? "* " : "  ", nsp, up ? "connected as " : "not connected",
                                up ? st.socket->id() : std::string{});
        }
        return text;
    }

    std::string status_text() const {
        const auto st = client_->status();
        std::string text = fmt::format("state:           {}\n", to_string(st.state));
        text += fmt::format("url:             {} (path {})\n", plan_.client.url, plan_.client.path);
        if (!st.sid.empty()) text += fmt::format("sid:             {}\n", st.sid);
        if (!st.transport.empty()) {
            std::string upgrades;
            for (const auto& u : st.upgrades) upgrades += (upgrades.empty() ? "" : ", ") + u;
            text += fmt::format("transport:       {}{} (upgrades offered: {})\n", st.transport, st.upgraded ? ", upgraded" : "",
                                upgrades.empty() ? "none" : upgrades);
            text += fmt::format("ping:            interval {} ms, timeout {} ms\n", st.ping_interval.count(),
                                st.ping_timeout.count());
        }
        text += st.last_round_trip
                    ? fmt::format("last round trip: {:.3f} ms\n", static_cast<double>(st.last_round_trip->count()) / 1000.0)
                    : std::string("last round trip: none yet\n");
        if (st.reconnect_attempt > 0) {
            text += fmt::format("reconnecting:    attempt {}{}\n", st.reconnect_attempt,
                                st.next_reconnect_in ? fmt::format(", next in {}", format_duration(*st.next_reconnect_in))
                                                     : std::string{});
        } else {
            text += fmt::format("reconnection:    {}\n", plan_.client.reconnection.enabled ? "on" : "off");
        }
        text += "namespaces:\n" + namespaces_text();
        return text;
    }

    void update_prompt() {
        if (!hooks_.prompt) return;
        const auto it = sockets_.find(current_);
        const bool up = it != sockets_.end() && it->second.socket->connected();
        hooks_.prompt(fmt::format("{}{} > ", neutralize(current_), up ? "" : " (offline)"));
    }

    static constexpr std::chrono::milliseconds linger{100};
    std::chrono::steady_clock::time_point last_sent_{};
    boost::asio::steady_timer linger_timer_{ioc_};
    std::shared_ptr<client> client_;
    std::map<std::string, nsp_state> sockets_;
    std::string current_ = "/";
    event_filter filter_;
    bool started_ = false;
    bool opened_once_ = false;
    unsigned line_number_ = 0;
};

}  // namespace

std::unique_ptr<session> make_socketio_session(const run_plan& plan, boost::asio::io_context& ioc, printer& out,
                                               bool interactive, bool script_input, session::hooks h) {
    return std::make_unique<socketio_session>(plan, ioc, out, interactive, script_input, std::move(h));
}

std::unique_ptr<session> session::make(const run_plan& plan, boost::asio::io_context& ioc, printer& out,
                                       bool interactive, bool script_input, hooks h) {
    if (plan.raw) return make_raw_session(plan, ioc, out, interactive, script_input, std::move(h));
    return make_socketio_session(plan, ioc, out, interactive, script_input, std::move(h));
}

}  // namespace sio::cli
