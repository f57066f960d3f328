// Runs one named scenario of sio's Socket.IO client (or raw WebSocket client) against a server
// and prints what happened as JSON lines on stdout, for client_interop.js to check.
//
// usage: client_driver SCENARIO URL [key=value ...]
//   keys: transport=polling|websocket|upgrade  eio=3|4  ca=FILE  insecure=1  proxy=URL
//         token=STRING  reconnect=0|1  limit_ms=N (whole run, default 15000)
// scenarios: basic refused kick ping_timeout reconnect recovery ack_timeout open_fail ws
// Exit: 0 when the scenario reached its end, 3 when the time limit passed first.
#include "sio/client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace {

using sio::json;

struct run_state {
    explicit run_state(boost::asio::io_context& c) : ioc(c) {}
    boost::asio::io_context& ioc;
    std::map<std::string, std::string> args;
    int exit_code = 3;
    int acks = 0;
    int welcomes = 0;
    int connects = 0;
    bool finished = false;
    std::shared_ptr<sio::client> io;
    std::shared_ptr<sio::ws_client> ws;

    std::string arg(const std::string& k, const std::string& def = {}) const {
        auto it = args.find(k);
        return it == args.end() ? def : it->second;
    }
};

void print(json j) { std::cout << j.dump() << std::endl; }

void finish(const std::shared_ptr<run_state>& st) {
    if (st->finished) return;
    st->finished = true;
    st->exit_code = 0;
    print({{"ev", "done"}});
    if (st->io) st->io->close();
    if (st->ws) st->ws->close(1000, "done");
    auto t = std::make_shared<boost::asio::steady_timer>(st->ioc, std::chrono::milliseconds(200));
    t->async_wait([st, t](boost::system::error_code) { st->ioc.stop(); });
}

json status_json(const sio::client_status& s) {
    return {{"ev", "status"},          {"state", std::string{sio::to_string(s.state)}},
            {"sid", s.sid},            {"transport", s.transport},
            {"upgraded", s.upgraded},  {"ping_interval", s.ping_interval.count()},
            {"has_rtt", s.last_round_trip.has_value()}};
}

json binary_of(std::initializer_list<std::uint8_t> bytes) { return json::binary(std::vector<std::uint8_t>(bytes)); }

void run_ws(const std::shared_ptr<run_state>& st, const std::string& url) {
    sio::ws_client_options o;
    o.url = url;
    o.subprotocols = {"chat.v2", "chat.v1"};
    o.tls.verify = st->arg("insecure") != "1";
    o.tls.ca_file = st->arg("ca");
    o.proxy = st->arg("proxy");
    st->ws = sio::ws_client::create(st->ioc.get_executor(), o);
    std::weak_ptr<run_state> w = st;
    auto received = std::make_shared<int>(0);
    st->ws->on_open([w](const std::string& sub) {
        auto s = w.lock();
        if (!s) return;
        print({{"ev", "open"}, {"subprotocol", sub}});
        s->ws->send("hello", false);
        s->ws->send(std::string{"\x01\x02\x03", 3}, true);
        s->ws->ping("hb");
    });
    st->ws->on_control([](bool is_ping, std::string_view payload) {
        print({{"ev", is_ping ? "ping" : "pong"}, {"payload", std::string{payload}}});
    });
    st->ws->on_message([w, received](std::string data, bool binary) {
        auto s = w.lock();
        if (!s) return;
        json j{{"ev", "message"}, {"binary", binary}};
        if (binary)
            j["bytes"] = std::vector<std::uint8_t>(data.begin(), data.end());
        else
            j["text"] = data;
        print(j);
        if (++*received == 2) s->ws->send("close-me", false);
    });
    st->ws->on_close([w](std::error_code ec, unsigned code, const std::string& reason) {
        print({{"ev", "close"}, {"code", code}, {"reason", reason}, {"error", ec ? ec.message() : ""}});
        if (auto s = w.lock()) {
            s->ws.reset();
            finish(s);
        }
    });
    st->ws->open();
}

void run_sio(const std::shared_ptr<run_state>& st, const std::string& scenario, const std::string& url) {
    sio::client_options o;
    o.url = url;
    const auto t = st->arg("transport", "upgrade");
    o.transport = t == "polling"     ? sio::client_transport::polling
                  : t == "websocket" ? sio::client_transport::websocket
                                     : sio::client_transport::upgrade;
    o.eio_version = st->arg("eio") == "3" ? 3 : 4;
    o.tls.verify = st->arg("insecure") != "1";
    o.tls.ca_file = st->arg("ca");
    o.proxy = st->arg("proxy");
    o.connect_timeout = std::chrono::milliseconds(3000);
    o.reconnection.enabled = st->arg("reconnect", "1") == "1";
    o.reconnection.delay = std::chrono::milliseconds(100);
    o.reconnection.delay_max = std::chrono::milliseconds(400);
    o.reconnection.max_attempts = static_cast<unsigned>(std::stoul(st->arg("max_attempts", "0")));
    st->io = sio::client::create(st->ioc.get_executor(), o);
    std::weak_ptr<run_state> w = st;

    st->io->on_event([](const sio::client_event& e) {
        using k = sio::client_event::kind;
        switch (e.type) {
        case k::transport_open: print({{"ev", "transport_open"}, {"transport", std::string{e.transport}}}); break;
        case k::upgrade: print({{"ev", "upgrade"}}); break;
        case k::reconnect_attempt:
            print({{"ev", "reconnect_attempt"}, {"attempt", e.attempt}, {"delay", e.delay.count()}});
            break;
        case k::reconnect: print({{"ev", "reconnect"}, {"attempt", e.attempt}}); break;
        case k::reconnect_failed: print({{"ev", "reconnect_failed"}}); break;
        case k::error: print({{"ev", "error"}, {"code", e.code.message()}, {"reason", std::string{e.reason}}}); break;
        case k::transport_close: print({{"ev", "transport_close"}, {"reason", std::string{e.reason}}}); break;
        default: break;
        }
    });
    st->io->on_open_failed([w](std::error_code ec, const std::string& message) {
        print({{"ev", "open_failed"}, {"code", ec.message()}, {"value", ec.value()}, {"message", message}});
        if (auto s = w.lock(); s && s->arg("scenario") == "open_fail") finish(s);
    });

    const std::vector<std::string> namespaces =
        scenario == "basic" ? std::vector<std::string>{"/", "/admin"} : std::vector<std::string>{"/"};
    for (const auto& nsp : namespaces) {
        json auth = json::object();
        if (!st->arg("token").empty()) auth["token"] = st->arg("token");
        auto sock = st->io->socket(nsp, auth);
        std::weak_ptr<sio::client_socket> ws = sock;
        sock->on_any([ws, w, scenario](const std::string& event, const json& args, const sio::ack_fn& ack) {
            auto s = w.lock();
            auto so = ws.lock();
            if (!s || !so) return;
            print({{"ev", "event"}, {"nsp", so->nsp()}, {"name", event}, {"args", args}, {"ack", bool(ack)}});
            if (event == "welcome") {
                if (ack) ack(json::array({"thanks", binary_of({9, 8, 7})}));
                if (++s->welcomes == 2 && s->acks == 2) finish(s);
            }
        });
        sock->on_connect_error([w](const json& data) {
            print({{"ev", "connect_error"}, {"data", data}});
            if (auto s = w.lock()) finish(s);
        });
        sock->on_disconnect([w, ws, scenario](const std::string& reason) {
            auto so = ws.lock();
            print({{"ev", "disconnect"}, {"nsp", so ? so->nsp() : ""}, {"reason", reason}});
            auto s = w.lock();
            if (!s) return;
            if (scenario == "kick" || scenario == "ping_timeout") finish(s);
        });
        sock->on_connect([w, ws, scenario] {
            auto s = w.lock();
            auto so = ws.lock();
            if (!s || !so) return;
            ++s->connects;
            print({{"ev", "connect"}, {"nsp", so->nsp()}, {"id", so->id()}, {"recovered", so->recovered()},
                   {"transport", s->io->status().transport}});
            if (scenario == "basic") {
                so->emit_with_ack("echo", json::array({"hi", json{{"n", 1}}, binary_of({1, 2, 3})}),
                                  [w, ws](std::error_code ec, json args) {
                                      auto s2 = w.lock();
                                      auto so2 = ws.lock();
                                      if (!s2 || !so2) return;
                                      print({{"ev", "ack"}, {"nsp", so2->nsp()}, {"error", ec ? ec.message() : ""},
                                             {"args", args}});
                                      if (++s2->acks == 2) {
                                          // Let a possible upgrade finish before looking at the status.
                                          auto t2 = std::make_shared<boost::asio::steady_timer>(
                                              s2->ioc, std::chrono::milliseconds(300));
                                          t2->async_wait([s2, t2](boost::system::error_code) {
                                              print(status_json(s2->io->status()));
                                              if (s2->welcomes == 2) finish(s2);
                                          });
                                      }
                                  });
            } else if (scenario == "kick") {
                so->emit("kick");
            } else if (scenario == "ack_timeout") {
                so->emit_with_ack("never", json::array(), [w](std::error_code ec, json) {
                    print({{"ev", "ack"}, {"error", ec ? ec.message() : ""}, {"timeout", ec == sio::socket_errc::ack_timeout}});
                    if (auto s2 = w.lock()) finish(s2);
                }, std::chrono::milliseconds(300));
            } else if (scenario == "reconnect" || scenario == "recovery") {
                if (s->connects == 1) {
                    so->emit("ready");
                } else {
                    // A second connection: give missed events a moment to arrive, then end.
                    auto t2 = std::make_shared<boost::asio::steady_timer>(s->ioc, std::chrono::milliseconds(300));
                    t2->async_wait([s, t2](boost::system::error_code) { finish(s); });
                }
            } else if (scenario == "buffer") {
                so->emit("ready");
            } else {
                so->emit("ready");
            }
        });
    }
    st->io->open();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: client_driver SCENARIO URL [key=value ...]\n";
        return 2;
    }
    // Declared before the state that handlers keep alive: destroying it frees them.
    boost::asio::io_context ioc;
    auto st = std::make_shared<run_state>(ioc);
    const std::string scenario = argv[1];
    const std::string url = argv[2];
    st->args["scenario"] = scenario;
    for (int i = 3; i < argc; ++i) {
        std::string a = argv[i];
        const auto eq = a.find('=');
        if (eq != std::string::npos) st->args[a.substr(0, eq)] = a.substr(eq + 1);
    }
    const auto limit = std::chrono::milliseconds(std::stoul(st->arg("limit_ms", "15000")));
    boost::asio::steady_timer deadline{st->ioc, limit};
    deadline.async_wait([st](boost::system::error_code ec) {
        if (ec) return;
        print({{"ev", "time_limit"}});
        if (st->io) print(status_json(st->io->status()));
        st->ioc.stop();
    });
    if (scenario == "ws")
        run_ws(st, url);
    else
        run_sio(st, scenario, url);
    st->ioc.run();
    const int code = st->exit_code;
    st->io.reset();
    st->ws.reset();
    return code;
}
