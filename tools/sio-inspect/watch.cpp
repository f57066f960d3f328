// `sio-inspect watch URL`: connect as a client (the library's) and print every packet both ways,
// decoded, with acks matched to their requests and the heartbeat's health: the observed ping
// cadence against the advertised interval, and a warning while a ping is overdue, before the
// ping timeout would fire.
#include "common/argument.hpp"
#include "handshake.hpp"
#include "traffic.hpp"
#include "watch.hpp"

#include "common/net_options.hpp"

#include <sio/client.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/core.h>

#include <ostream>

namespace sio::inspect {

namespace asio = boost::asio;
using codec::json;
using clock_type = std::chrono::steady_clock;

namespace {

int exit_for(std::error_code ec) {
    if (ec.category() != client_category()) return inspect_runtime;
    switch (static_cast<client_errc>(ec.value())) {
    case client_errc::bad_url: return inspect_usage;
    case client_errc::resolve_failed:
    case client_errc::connect_failed:
    case client_errc::timeout:
    case client_errc::proxy_failed: return inspect_unreachable;
    case client_errc::tls_failed: return inspect_tls;
    case client_errc::handshake_failed:
    case client_errc::connect_error: return inspect_refused;
    case client_errc::protocol_error: return inspect_not_socketio;
    default: return inspect_path;
    }
}

// Splits --emit EVENT=JSON into the event and its arguments (a JSON array, or one JSON value,
// or a string: text that starts like JSON must be JSON, as for sio-cli's arguments).
bool parse_emit(const std::string& spec, std::string& event, json& args, std::string& why) {
    const auto eq = spec.find('=');
    event = spec.substr(0, eq);
    if (event.empty()) {
        why = "no event name";
        return false;
    }
    args = json::array();
    if (eq == std::string::npos) return true;
    const std::string text = spec.substr(eq + 1);
    auto parsed = tools::parse_json_or_string(text, why);
    if (!parsed) return false;
    if (parsed->is_array()) args = std::move(*parsed);
    else args.push_back(std::move(*parsed));
    return true;
}

}  // namespace

int run_watch(const watch_options& options, std::ostream& out, std::ostream& err) {
    const auto& n = options.net;
    client_options co;
    co.url = n.url;
    co.path = n.path;
    co.eio_version = n.eio;
    co.parser = n.parser;
    co.transport = n.transport == "polling"     ? client_transport::polling
                   : n.transport == "websocket" ? client_transport::websocket
                                                : client_transport::upgrade;
    if (n.transport != "polling" && n.transport != "websocket" && n.transport != "upgrade") {
        err << "sio-inspect: --transport '" << n.transport << "': use polling, websocket or upgrade\n";
        return inspect_usage;
    }
    std::string error;  // main checked them: none is refused here
    tools::read_headers(n.headers, co.headers, error);
    if (!n.origin.empty()) co.headers.emplace_back("Origin", n.origin);
    for (const auto& q : n.query) {
        const auto eq = q.find('=');
        co.query.emplace_back(q.substr(0, eq), q.substr(eq + 1));
    }
    co.tls.ca_file = n.tls.ca_file;
    co.tls.verify = !n.tls.insecure;
    co.connect_timeout = std::chrono::milliseconds(n.timeout_ms);
    co.ack_timeout = std::chrono::milliseconds(n.timeout_ms);
    co.reconnection.enabled = options.reconnect;
    json auth = json::object();
    if (!n.auth.empty()) {
        auth = json::parse(n.auth, nullptr, false);
        if (!auth.is_object()) {
            err << "sio-inspect: --auth must be a JSON object, e.g. '{\"token\":\"abc\"}'\n";
            return inspect_usage;
        }
    }
    std::vector<std::pair<std::string, json>> emits;
    for (const auto& spec : options.emit) {
        std::string event, why;
        json args;
        if (!parse_emit(spec, event, args, why)) {
            err << "sio-inspect: --emit '" << spec << "': " << why << " (use EVENT or EVENT=JSON)\n";
            return inspect_usage;
        }
        emits.emplace_back(std::move(event), std::move(args));
    }

    asio::io_context ioc;
    traffic_options to;
    to.json = n.json;
    to.color = n.color;
    to.eio = n.eio;
    traffic_log log{to, out};
    auto io = client::create(ioc.get_executor(), co);

    // Heartbeat health, on the io_context's one thread.
    struct heartbeat {
        std::string sid;
        std::string transport;
        std::chrono::milliseconds interval{0}, timeout{0};
        std::optional<clock_type::time_point> last;  // last ping (v4: from the server)
        bool warned = false;
    };
    auto hb = std::make_shared<heartbeat>();
    int exit_code = inspect_ok;
    bool opened = false;

    io->on_event([&, hb](const client_event& e) {
        using k = client_event::kind;
        switch (e.type) {
        case k::transport_open: {
            opened = true;
            const auto st = io->status();
            hb->sid = st.sid;
            hb->transport = std::string{e.transport};
            hb->interval = st.ping_interval;
            hb->timeout = st.ping_timeout;
            hb->last = clock_type::now();
            hb->warned = false;
            log.engine_control(hb->sid, e.transport, direction::to_client, "open", e.detail);
            break;
        }
        case k::upgrade:
            hb->transport = "websocket";
            log.note(hb->sid, "websocket", "upgraded to WebSocket");
            break;
        case k::transport_close:
            log.note(hb->sid, hb->transport, fmt::format("connection closed: {}", e.reason), true);
            break;
        case k::reconnect_attempt:
            log.note(hb->sid, hb->transport, fmt::format("reconnecting: attempt {} in {} ms", e.attempt, e.delay.count()));
            break;
        case k::reconnect:
            log.note(hb->sid, hb->transport, fmt::format("reconnected after {} attempt(s)", e.attempt));
            break;
        case k::reconnect_failed:
            log.note(hb->sid, hb->transport, "gave up reconnecting", true);
            break;
        case k::error:
            log.note(hb->sid, hb->transport, fmt::format("error: {}", e.reason), true);
            break;
        case k::packet_in:
            if (e.packet) log.socket_io(hb->sid, hb->transport, direction::to_client, *e.packet);
            break;
        case k::packet_out:
            if (e.packet) log.socket_io(hb->sid, hb->transport, direction::to_server, *e.packet);
            break;
        case k::ping:
        case k::pong: {
            const bool server_ping = (e.type == k::ping) == (n.eio != 3);
            std::string extra;
            if (e.type == k::ping && n.eio != 3) {
                const auto now = clock_type::now();
                if (hb->last) {
                    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(now - *hb->last);
                    extra = fmt::format("after {} ms (advertised pingInterval {} ms{})", gap.count(), hb->interval.count(),
                                        hb->warned ? ", late" : "");
                }
                hb->last = now;
                hb->warned = false;
            }
            log.engine_control(hb->sid, hb->transport, server_ping ? direction::to_client : direction::to_server,
                               e.type == k::ping ? "ping" : "pong", extra);
            break;
        }
        }
    });
    io->on_open_failed([&](std::error_code ec, const std::string& message) {
        log.note("", n.transport, "could not connect: " + message, true);
        exit_code = exit_for(ec);
        ioc.stop();
    });

    const std::string nsp = n.nsp.empty() ? std::string{} : (n.nsp.front() == '/' ? n.nsp : "/" + n.nsp);
    // Without -n the URL's path names the namespace (the library reads it from the URL).
    auto socket = io->socket(nsp, auth);
    socket->on_connect_error([&](const json& data) {
        const std::string message = data.is_object() && data.contains("message") ? data["message"].dump() : data.dump();
        log.note(hb->sid, hb->transport, "CONNECT refused: " + message, true);
        exit_code = inspect_refused;
        if (!options.reconnect) ioc.stop();
    });
    socket->on_connect([&, socket] {
        for (const auto& [event, args] : emits) {
            if (options.ack) {
                socket->emit_with_ack(event, args, [](std::error_code, json) {});
            } else {
                socket->emit(event, args);
            }
        }
    });
    // Every event is shown by the packet trace; answering server-side acks keeps servers that
    // wait for them going.
    socket->on_any([](const std::string&, const json&, const ack_fn& ack) {
        if (ack) ack(json::array());
    });

    // Heartbeat watchdog: a ping overdue by 20% of the interval is announced, with the time left
    // before the ping timeout closes the connection.
    asio::steady_timer tick{ioc};
    std::function<void()> arm = [&] {
        tick.expires_after(std::chrono::milliseconds(250));
        tick.async_wait([&](boost::system::error_code ec) {
            if (ec) return;
            if (hb->last && hb->interval.count() > 0 && n.eio != 3 && !hb->warned) {
                const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - *hb->last);
                if (since > hb->interval + hb->interval / 5) {
                    hb->warned = true;
                    const auto left = hb->interval + hb->timeout - since;
                    log.note(hb->sid, hb->transport,
                             fmt::format("ping overdue: {} ms since the last one (pingInterval {} ms); the connection counts as "
                                         "dead in {} ms",
                                         since.count(), hb->interval.count(), std::max<long long>(0, left.count())),
                             true);
                }
            }
            arm();
        });
    };
    arm();

    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (!ec) ioc.stop();
    });
    asio::steady_timer stop_after{ioc};
    if (options.duration.count() != 0) {
        stop_after.expires_after(options.duration);
        stop_after.async_wait([&](boost::system::error_code ec) {
            if (!ec) ioc.stop();
        });
    }
    io->open();
    ioc.run();
    io->close();
    (void)opened;
    return exit_code;
}

}  // namespace sio::inspect
