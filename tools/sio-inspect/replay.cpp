// `sio-inspect replay FILE URL`: plays the client side of a recording (`proxy --record`) against
// a server with the library client, session by session: the client's CONNECTs, events (with
// their acks asked for) and answers to the server's ack requests, in the recorded order, each
// sent only once the server packets recorded before it have arrived (or a timeout has passed).
// Then it reports the differences: server packets missing, unexpected, or with other arguments
// (compared by shape by default: JSON types, object keys and array lengths, since ids and
// timestamps differ from run to run; by value with --exact).
#include "replay.hpp"

#include "traffic.hpp"

#include "common/binary_display.hpp"
#include "common/terminal.hpp"

#include <sio/client.hpp>
#include <sio/codec/base64.hpp>
#include <sio/codec/engine_io.hpp>
#include <sio/codec/socket_io.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/core.h>

#include <deque>
#include <fstream>
#include <map>
#include <ostream>

namespace sio::inspect {

namespace asio = boost::asio;
namespace eio = codec::eio;
namespace sp = codec::socketio;
using codec::json;

namespace {

struct item {
    bool from_server = false;
    sp::packet packet;
    bool matched = false;
};

struct session_record {
    std::string sid;
    bool websocket = false;  // some of it went over WebSocket
    bool polling = false;
    std::vector<item> items;
};

// Same JSON types, object keys and array lengths, recursively.
bool same_shape(const json& a, const json& b) {
    if (a.type() != b.type()) {
        // 1 and 1.5 are both numbers to JavaScript.
        return a.is_number() && b.is_number();
    }
    if (a.is_object()) {
        if (a.size() != b.size()) return false;
        for (auto it = a.begin(); it != a.end(); ++it) {
            const auto other = b.find(it.key());
            if (other == b.end() || !same_shape(it.value(), *other)) return false;
        }
    } else if (a.is_array()) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!same_shape(a[i], b[i])) return false;
    }
    return true;
}

std::string short_json(const json& v) {
    std::string s = tools::render_json(v, false);
    return s.size() > 160 ? s.substr(0, 157) + "..." : s;
}

std::string label(const sp::packet& p) {
    std::string s = fmt::format("{} {}", sp::to_string(p.type), tools::neutralize(p.nsp));
    if ((p.type == sp::packet_type::event || p.type == sp::packet_type::binary_event) && p.data && p.data->is_array() &&
        !p.data->empty())
        s.append(" ").append((*p.data)[0].dump());
    return s;
}

bool is_event(const sp::packet& p) { return p.type == sp::packet_type::event || p.type == sp::packet_type::binary_event; }
bool is_ack(const sp::packet& p) { return p.type == sp::packet_type::ack || p.type == sp::packet_type::binary_ack; }

json event_args(const sp::packet& p) {
    json args = json::array();
    if (p.data && p.data->is_array())
        for (std::size_t i = 1; i < p.data->size(); ++i) args.push_back((*p.data)[i]);
    return args;
}

// Reads the recording; `why` on failure.
std::optional<std::vector<session_record>> load(const std::string& file, int eio_version, std::string& why) {
    std::ifstream in{file};
    if (!in) {
        why = fmt::format("cannot read {}", file);
        return std::nullopt;
    }
    std::vector<session_record> sessions;
    std::map<std::string, std::size_t> index;
    std::map<std::string, std::array<std::unique_ptr<sp::decoder>, 2>> decoders;
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.empty()) continue;
        auto r = json::parse(line, nullptr, false);
        if (!r.is_object() || !r.contains("sid") || !r.contains("from") || !r.contains("eio_type") || !r.contains("data")) {
            why = fmt::format("{} line {}: not a record of sio-inspect proxy --record", file, number);
            return std::nullopt;
        }
        const std::string sid = r["sid"].get<std::string>();
        if (sid.empty()) continue;
        auto [it, fresh] = index.try_emplace(sid, sessions.size());
        if (fresh) {
            sessions.push_back({sid, false, false, {}});
            sp::decoder_options o;
            o.version = eio_version == 3 ? sp::protocol::v4 : sp::protocol::v5;
            o.max_attachments = 1000;
            o.max_payload = 256u << 20;
            decoders[sid][0] = std::make_unique<sp::decoder>(o);
            decoders[sid][1] = std::make_unique<sp::decoder>(o);
        }
        auto& s = sessions[it->second];
        const std::string transport = r.value("transport", "");
        (transport == "websocket" ? s.websocket : s.polling) = true;
        if (r["eio_type"] != "message") continue;
        const bool from_server = r["from"] == "server";
        std::string data = r["data"].get<std::string>();
        const bool binary = r.value("binary", false);
        if (binary) {
            auto bytes = codec::base64_decode(data);
            if (!bytes) {
                why = fmt::format("{} line {}: bad base64", file, number);
                return std::nullopt;
            }
            data = std::move(*bytes);
        }
        auto& dec = *decoders[sid][from_server ? 1 : 0];
        const auto st = binary ? dec.feed_binary(data) : dec.feed_text(data);
        if (st == sp::decode_status::done) s.items.push_back({from_server, dec.take(), false});
    }
    if (sessions.empty()) {
        why = fmt::format("{} holds no session", file);
        return std::nullopt;
    }
    return sessions;
}

class player {
public:
    player(asio::io_context& ioc, const replay_options& o, session_record& rec, std::ostream& out)
        : ioc_(ioc), o_(o), rec_(rec), out_(out), timer_(ioc) {}

    // Plays the session; returns the number of differences.
    int run() {
        client_options co;
        co.url = o_.url;
        co.path = o_.path;
        co.eio_version = o_.eio;
        co.transport = rec_.websocket && !rec_.polling ? client_transport::websocket
                       : rec_.websocket                ? client_transport::upgrade
                                                       : client_transport::polling;
        co.tls.ca_file = o_.ca_file;
        co.tls.verify = !o_.insecure;
        co.reconnection.enabled = false;
        co.connect_timeout = std::chrono::milliseconds(o_.timeout_ms);
        io_ = client::create(ioc_.get_executor(), co);
        io_->on_event([this](const client_event& e) {
            if (e.type == client_event::kind::packet_in && e.packet) received(*e.packet);
            if (e.type == client_event::kind::packet_out && e.packet && is_event(*e.packet) && e.packet->id &&
                !asked_.empty()) {
                ack_ids_[{e.packet->nsp, *e.packet->id}] = asked_.front();
                asked_.pop_front();
            }
        });
        io_->on_open_failed([this](std::error_code, const std::string& message) {
            difference(fmt::format("could not connect: {}", message));
            failed_ = true;
            ioc_.stop();
        });
        out_ << fmt::format("session {}: {} packets from the client, {} from the server, over {}\n", tools::neutralize(rec_.sid),
                            std::count_if(rec_.items.begin(), rec_.items.end(), [](const item& i) { return !i.from_server; }),
                            std::count_if(rec_.items.begin(), rec_.items.end(), [](const item& i) { return i.from_server; }),
                            to_string(co.transport));
        step();
        ioc_.run();
        ioc_.restart();
        if (io_) io_->close();
        ioc_.poll();
        return differences_;
    }

private:
    std::shared_ptr<client_socket> socket_for(const std::string& nsp, const json& auth) {
        auto& s = sockets_[nsp];
        if (!s) {
            s = io_->socket(nsp, auth.is_object() ? auth : json::object());
            s->on_any([this, nsp](const std::string& event, const json&, const ack_fn& ack) {
                if (!ack) return;
                // Answer as the recorded client did.
                auto& q = answers_[{nsp, event}];
                if (q.empty()) {
                    ack(json::array());
                } else {
                    ack(q.front());
                    q.pop_front();
                }
            });
            if (!opened_) {
                opened_ = true;
                io_->open();
            }
        }
        return s;
    }

    // Advances through the recording: client packets are sent, server packets awaited.
    void step() {
        while (next_ < rec_.items.size()) {
            auto& it = rec_.items[next_];
            if (it.from_server) {
                if (it.matched) {
                    ++next_;
                    continue;
                }
                if (!waiting_) {
                    waiting_ = true;
                    timer_.expires_after(std::chrono::milliseconds(o_.timeout_ms));
                    timer_.async_wait([this, at = next_](boost::system::error_code ec) {
                        if (ec || next_ != at) return;
                        difference(fmt::format("missing: {} from the server (recorded, not received within {} ms)",
                                               label(rec_.items[at].packet), o_.timeout_ms));
                        rec_.items[at].matched = true;  // counted once
                        waiting_ = false;
                        step();
                    });
                }
                return;
            }
            send(it.packet);
            ++next_;
        }
        // Everything played: leave.
        timer_.cancel();
        for (auto& [nsp, s] : sockets_) s->disconnect();
        asio::post(ioc_, [this] { ioc_.stop(); });
    }

    void send(const sp::packet& p) {
        switch (p.type) {
        case sp::packet_type::connect:
            socket_for(p.nsp, p.data.value_or(json::object()));
            break;
        case sp::packet_type::disconnect:
            if (auto it = sockets_.find(p.nsp); it != sockets_.end()) it->second->disconnect();
            break;
        case sp::packet_type::event:
        case sp::packet_type::binary_event: {
            if (!p.data || !p.data->is_array() || p.data->empty() || !(*p.data)[0].is_string()) break;
            auto s = socket_for(p.nsp, json::object());
            const std::string name = (*p.data)[0].get<std::string>();
            if (p.id) {
                asked_.push_back(*p.id);
                s->emit_with_ack(name, event_args(p), [](std::error_code, json) {});
            } else {
                s->emit(name, event_args(p));
            }
            break;
        }
        default:
            // Answers to the server's requests are given from on_any; nothing else is sent.
            break;
        }
    }

    void received(const sp::packet& p) {
        // The recorded counterpart: the first unmatched server packet of the same kind.
        for (std::size_t i = next_; i < rec_.items.size(); ++i) {
            auto& it = rec_.items[i];
            if (!it.from_server || it.matched || it.packet.nsp != p.nsp) continue;
            const auto& want = it.packet;
            bool same_kind = false;
            if (is_event(want) && is_event(p)) {
                same_kind = want.data && p.data && !want.data->empty() && !p.data->empty() && (*want.data)[0] == (*p.data)[0];
            } else if (is_ack(want) && is_ack(p)) {
                const auto mapped = p.id ? ack_ids_.find({p.nsp, *p.id}) : ack_ids_.end();
                same_kind = mapped != ack_ids_.end() && want.id == mapped->second;
            } else {
                same_kind = want.type == p.type;
            }
            if (!same_kind) continue;
            it.matched = true;
            compare(want, p);
            if (is_event(want) && want.id) {
                // The recorded client answered this request: give the same answer now.
                for (std::size_t j = i + 1; j < rec_.items.size(); ++j) {
                    const auto& a = rec_.items[j];
                    if (!a.from_server && is_ack(a.packet) && a.packet.id == want.id && a.packet.nsp == want.nsp) {
                        answers_[{p.nsp, (*p.data)[0].get<std::string>()}].push_back(a.packet.data.value_or(json::array()));
                        break;
                    }
                }
            }
            if (i == next_) {
                timer_.cancel();
                waiting_ = false;
                asio::post(ioc_, [this] { step(); });
            }
            return;
        }
        difference(fmt::format("unexpected: {} {} from the server (not in the recording at this point)", label(p),
                               p.data ? short_json(*p.data) : std::string{}));
    }

    void compare(const sp::packet& want, const sp::packet& got) {
        const json a = want.data.value_or(json(nullptr));
        const json b = got.data.value_or(json(nullptr));
        const bool same = o_.exact ? a == b : same_shape(a, b);
        if (!same) {
            difference(fmt::format("differs: {}\n    recorded {}\n    received {}", label(want), short_json(a), short_json(b)));
        } else if (o_.verbose) {
            out_ << fmt::format("  same: {}\n", label(want));
        }
    }

    void difference(const std::string& text) {
        ++differences_;
        // The lines are ours; what they quote came from the server, or from the recording.
        out_ << "  " << tools::neutralize_lines(text) << '\n';
        out_.flush();
    }

    asio::io_context& ioc_;
    const replay_options& o_;
    session_record& rec_;
    std::ostream& out_;
    asio::steady_timer timer_;
    std::shared_ptr<client> io_;
    std::map<std::string, std::shared_ptr<client_socket>> sockets_;
    std::map<std::pair<std::string, std::string>, std::deque<json>> answers_;
    std::deque<std::uint64_t> asked_;  // recorded ids of emitted requests, until their packet goes out
    std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> ack_ids_;  // replay id -> recorded id
    std::size_t next_ = 0;
    bool waiting_ = false;
    bool opened_ = false;
    bool failed_ = false;
    int differences_ = 0;
};

}  // namespace

int run_replay(const replay_options& options, std::ostream& out, std::ostream& err) {
    std::string why;
    auto sessions = load(options.file, options.eio, why);
    if (!sessions) {
        err << "sio-inspect: " << why << "\n";
        return 1;
    }
    int differences = 0;
    for (auto& s : *sessions) {
        if (std::none_of(s.items.begin(), s.items.end(), [](const item& i) { return !i.from_server; })) continue;
        asio::io_context ioc;
        player p{ioc, options, s, out};
        differences += p.run();
    }
    out << (differences == 0 ? std::string("no differences\n") : fmt::format("{} difference{}\n", differences, differences == 1 ? "" : "s"));
    return differences == 0 ? 0 : replay_differences;
}

}  // namespace sio::inspect
