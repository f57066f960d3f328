#include "chat.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sio::serve {
namespace {

constexpr std::size_t max_name_len = 32;   // characters
constexpr std::size_t max_room_len = 64;   // characters
constexpr std::size_t max_rooms_per_socket = 50;
constexpr std::size_t max_message_id_len = 64;  // bytes of a string id in "mark read"

// Rooms the chat's users name are kept apart from the adapter's per-socket rooms (named by socket
// id): joining a room called like someone's id must not let anyone read along.
constexpr std::string_view room_prefix = "room:";

// Events forwarded as they are to one socket: what a WebRTC call needs from a signaling server.
constexpr std::array<std::string_view, 7> relayed_events = {
    "offer", "answer", "ice-candidate", "call user", "call accepted", "call rejected", "call ended"};

// Events the server emits itself; "broadcast" refuses them so nobody can forge another's message.
constexpr std::array<std::string_view, 12> server_events = {
    "chat message", "private message", "user connected", "user disconnected", "online users",
    "user joined", "user left", "typing", "stop typing", "message read", "error", "echo"};

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Characters (code points) of UTF-8 text: continuation bytes do not count.
std::size_t utf8_length(std::string_view s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

bool blank(std::string_view s) {
    return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string trimmed(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(first, last - first + 1));
}

const json& arg(const json& args, std::size_t i) {
    static const json null;
    return args.is_array() && i < args.size() ? args[i] : null;
}

const json& field(const json& object, const char* name) {
    static const json null;
    if (!object.is_object()) return null;
    auto it = object.find(name);
    return it == object.end() ? null : *it;
}

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& list, std::string_view name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

class chat : public std::enable_shared_from_this<chat> {
public:
    chat(sio::namespace_& nsp, chat_options options) : nsp_(nsp), options_(std::move(options)) {}

    void on_connection(const std::shared_ptr<sio::socket>& s) {
        auto name = valid_name(field(s->handshake().auth, "name"));
        user u;
        u.name = name.value_or("guest-" + s->id().substr(0, 4));
        u.socket = s;
        const std::string display = u.name;
        {
            std::lock_guard lock(mutex_);
            users_[s->id()] = std::move(u);
        }
        log(fmt::format("{} connected to {} as '{}' from {} over {}", s->id(), nsp_.name(), display,
                        s->handshake().address, s->handshake().transport));

        std::weak_ptr<sio::socket> weak = s;
        auto self = shared_from_this();
        auto bind = [&](const char* event, void (chat::*fn)(sio::socket&, const json&, const ack_fn&)) {
            s->on(event, [self, weak, fn](json args, ack_fn ack) {
                if (auto sock = weak.lock()) ((*self).*fn)(*sock, args, ack);
            });
        };
        bind("set name", &chat::on_set_name);
        bind("chat message", &chat::on_chat);
        bind("join", &chat::on_join);
        bind("leave", &chat::on_leave);
        bind("typing", &chat::on_typing);
        bind("stop typing", &chat::on_stop_typing);
        bind("private message", &chat::on_private);
        bind("mark read", &chat::on_mark_read);
        bind("broadcast", &chat::on_broadcast);
        for (auto event : relayed_events) {
            s->on(std::string(event), [self, weak, event](json args, ack_fn ack) {
                if (auto sock = weak.lock()) self->on_relay(*sock, event, args, ack);
            });
        }
        s->on("echo", [weak](json args, ack_fn ack) {
            if (ack) {
                ack(std::move(args));
            } else if (auto sock = weak.lock()) {
                sock->emit("echo", std::move(args));
            }
        });
        s->on_disconnect([self, id = s->id()](const std::string& reason) { self->on_disconnect(id, reason); });
        // A close that raced with this handler ran before on_disconnect was registered.
        if (!s->connected()) {
            on_disconnect(s->id(), "closed while connecting");
            return;
        }
        announce(*s);
    }

private:
    struct user {
        std::string name;
        std::weak_ptr<sio::socket> socket;
        // Fixed one-second window for --rate-limit.
        std::chrono::steady_clock::time_point window_start{};
        unsigned in_window = 0;
    };

    // Refuses an event: "error" {message} to the sender only, and {error} as the ack if asked.
    static void refuse(sio::socket& s, const ack_fn& ack, const std::string& message) {
        s.emit("error", json::array({json{{"message", message}}}));
        if (ack) ack(json::array({json{{"error", message}}}));
    }

    static std::optional<std::string> valid_name(const json& v) {
        if (!v.is_string()) return std::nullopt;
        auto name = trimmed(v.get_ref<const std::string&>());
        if (name.empty() || utf8_length(name) > max_name_len) return std::nullopt;
        return name;
    }

    // A room argument: nullopt with `error` empty when absent (null or ""), the room's name when
    // valid, nullopt with `error` set otherwise.
    static std::optional<std::string> room_arg(const json& v, std::string& error) {
        error.clear();
        if (v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty())) return std::nullopt;
        if (!v.is_string() || blank(v.get_ref<const std::string&>()) ||
            utf8_length(v.get_ref<const std::string&>()) > max_room_len) {
            error = fmt::format("room must be a non-empty string of at most {} characters", max_room_len);
            return std::nullopt;
        }
        return trimmed(v.get_ref<const std::string&>());
    }

    static std::string internal(std::string_view room) { return std::string(room_prefix) + std::string(room); }

    static bool member(const sio::socket& s, std::string_view room) {
        const auto rooms = s.rooms();
        return std::binary_search(rooms.begin(), rooms.end(), internal(room));
    }

    std::size_t member_count(std::string_view room) { return nsp_.to(internal(room)).socket_ids().size(); }

    // Empty when `v` is an acceptable message text, else why not.
    std::string text_error(const json& v) const {
        if (!v.is_string()) return "message must be a string";
        const auto& text = v.get_ref<const std::string&>();
        if (blank(text)) return "message is empty";
        if (utf8_length(text) > options_.max_message_len) {
            return fmt::format("message is longer than {} characters", options_.max_message_len);
        }
        return {};
    }

    // True when the socket may send one more message now; counts it.
    bool within_rate(const std::string& id) {
        if (options_.rate_limit == 0) return true;
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(mutex_);
        auto it = users_.find(id);
        if (it == users_.end()) return false;
        auto& u = it->second;
        if (now - u.window_start >= std::chrono::seconds(1)) {
            u.window_start = now;
            u.in_window = 0;
        }
        return ++u.in_window <= options_.rate_limit;
    }

    std::string rate_error() const {
        return fmt::format("rate limit: at most {} messages per second", options_.rate_limit);
    }

    std::string name_of(const std::string& id) {
        std::lock_guard lock(mutex_);
        auto it = users_.find(id);
        return it == users_.end() ? std::string() : it->second.name;
    }

    std::shared_ptr<sio::socket> find_socket(const json& to) {
        if (!to.is_string()) return nullptr;
        std::lock_guard lock(mutex_);
        auto it = users_.find(to.get_ref<const std::string&>());
        return it == users_.end() ? nullptr : it->second.socket.lock();
    }

    // "user connected" to everyone, the socket included, and the online list to the socket. In a
    // cluster (--redis) the total and the list span every server: the other servers' sockets are
    // fetched first, and named by their handshake's auth.name (or a guest name).
    void announce(sio::socket& s) {
        if (auto cluster = nsp_.cluster()) {
            std::weak_ptr<sio::socket> weak = s.shared_from_this();
            auto self = shared_from_this();
            cluster->fetch_sockets(nsp_.name(), {}, [self, weak](json sockets) {
                if (auto sock = weak.lock()) self->announce_with(*sock, &sockets);
            });
            return;
        }
        announce_with(s, nullptr);
    }

    void announce_with(sio::socket& s, const json* cluster_sockets) {
        json everyone;
        json list = json::array();
        {
            std::lock_guard lock(mutex_);
            auto it = users_.find(s.id());
            if (it == users_.end()) return;
            std::size_t total = users_.size();
            for (const auto& [id, u] : users_) {
                if (list.size() >= options_.max_online_users) break;
                list.push_back(json{{"id", id}, {"name", u.name}});
            }
            if (cluster_sockets && cluster_sockets->is_array()) {
                for (const auto& r : *cluster_sockets) {
                    if (!r.is_object() || !r.contains("id") || !r["id"].is_string()) continue;
                    const auto id = r["id"].get<std::string>();
                    if (users_.count(id)) continue;  // one of ours, already counted
                    ++total;
                    if (list.size() >= options_.max_online_users) continue;
                    const json* auth = r.contains("handshake") && r["handshake"].is_object() && r["handshake"].contains("auth")
                                           ? &r["handshake"]["auth"] : nullptr;
                    auto name = auth ? valid_name(field(*auth, "name")) : std::nullopt;
                    list.push_back(json{{"id", id}, {"name", name.value_or("guest-" + id.substr(0, 4))}});
                }
            }
            everyone = json{{"id", s.id()}, {"name", it->second.name}, {"total", total}};
        }
        nsp_.emit("user connected", json::array({std::move(everyone)}));
        s.emit("online users", json::array({std::move(list)}));
    }

    void on_set_name(sio::socket& s, const json& args, const ack_fn& ack) {
        auto name = valid_name(arg(args, 0));
        if (!name) return refuse(s, ack, fmt::format("name must be a non-empty string of at most {} characters", max_name_len));
        {
            std::lock_guard lock(mutex_);
            auto it = users_.find(s.id());
            if (it == users_.end()) return;
            it->second.name = *name;
        }
        if (ack) ack(json::array({json{{"id", s.id()}, {"name", *name}}}));
        announce(s);
    }

    void on_chat(sio::socket& s, const json& args, const ack_fn& ack) {
        const json& first = arg(args, 0);
        const json& text = first.is_object() ? field(first, "text") : first;
        if (auto why = text_error(text); !why.empty()) return refuse(s, ack, why);
        std::string error;
        auto room = room_arg(field(first, "room"), error);
        if (!error.empty()) return refuse(s, ack, error);
        if (room && !member(s, *room)) return refuse(s, ack, fmt::format("not in room '{}'; join it first", *room));
        if (!within_rate(s.id())) return refuse(s, ack, rate_error());

        const auto id = next_id_.fetch_add(1) + 1;
        json message{{"id", id},     {"from", s.id()},
                     {"name", name_of(s.id())}, {"text", text},
                     {"room", room ? json(*room) : json()}, {"ts", now_ms()}};
        auto args_out = json::array({std::move(message)});
        if (room) nsp_.to(internal(*room)).emit("chat message", std::move(args_out));
        else nsp_.emit("chat message", std::move(args_out));
        if (ack) ack(json::array({json{{"id", id}}}));
    }

    void on_join(sio::socket& s, const json& args, const ack_fn& ack) {
        std::string error;
        auto room = room_arg(arg(args, 0), error);
        if (!room) return refuse(s, ack, error.empty() ? "join needs a room" : error);
        if (!member(s, *room)) {
            if (s.rooms().size() > max_rooms_per_socket) {
                return refuse(s, ack, fmt::format("at most {} rooms per client", max_rooms_per_socket));
            }
            s.join(internal(*room));
            const auto count = member_count(*room);
            s.to(internal(*room)).emit("user joined", json::array({json{
                {"id", s.id()}, {"name", name_of(s.id())}, {"room", *room}, {"count", count}}}));
            if (ack) ack(json::array({count}));
            return;
        }
        if (ack) ack(json::array({member_count(*room)}));  // already a member: nothing changes
    }

    void on_leave(sio::socket& s, const json& args, const ack_fn& ack) {
        std::string error;
        auto room = room_arg(arg(args, 0), error);
        if (!room) return refuse(s, ack, error.empty() ? "leave needs a room" : error);
        if (member(s, *room)) {
            s.leave(internal(*room));
            const auto count = member_count(*room);
            nsp_.to(internal(*room)).emit("user left", json::array({json{
                {"id", s.id()}, {"name", name_of(s.id())}, {"room", *room}, {"count", count}}}));
            if (ack) ack(json::array({count}));
            return;
        }
        if (ack) ack(json::array({member_count(*room)}));
    }

    void typing(sio::socket& s, const json& args, const ack_fn& ack, const char* event) {
        std::string error;
        auto room = room_arg(field(arg(args, 0), "room"), error);
        if (!error.empty()) return refuse(s, ack, error);
        if (room && !member(s, *room)) return refuse(s, ack, fmt::format("not in room '{}'; join it first", *room));
        auto out = json::array({json{{"id", s.id()}, {"name", name_of(s.id())}, {"room", room ? json(*room) : json()}}});
        if (room) s.to(internal(*room)).emit(event, std::move(out));
        else s.broadcast().emit(event, std::move(out));
        if (ack) ack(json::array());
    }
    void on_typing(sio::socket& s, const json& args, const ack_fn& ack) { typing(s, args, ack, "typing"); }
    void on_stop_typing(sio::socket& s, const json& args, const ack_fn& ack) { typing(s, args, ack, "stop typing"); }

    void on_private(sio::socket& s, const json& args, const ack_fn& ack) {
        const json& first = arg(args, 0);
        if (!first.is_object()) return refuse(s, ack, "private message needs {to, text}");
        if (auto why = text_error(field(first, "text")); !why.empty()) return refuse(s, ack, why);
        auto target = find_socket(field(first, "to"));
        if (!target) return refuse(s, ack, "no such user");
        if (!within_rate(s.id())) return refuse(s, ack, rate_error());
        const auto id = next_id_.fetch_add(1) + 1;
        target->emit("private message", json::array({json{{"id", id}, {"from", s.id()}, {"name", name_of(s.id())},
                                                           {"text", field(first, "text")}, {"ts", now_ms()}}}));
        if (ack) ack(json::array({json{{"id", id}}}));
    }

    // The server never looks into the payload (SDP, candidates): it checks the target and stamps
    // the sender, so nobody can pose as someone else.
    void on_relay(sio::socket& s, std::string_view event, const json& args, const ack_fn& ack) {
        const json& first = arg(args, 0);
        if (!first.is_object()) return refuse(s, ack, fmt::format("{} needs {{to, ...}}", event));
        auto target = find_socket(field(first, "to"));
        if (!target) return refuse(s, ack, "no such user");
        json out = first;
        out["from"] = s.id();
        target->emit(event, json::array({std::move(out)}));
        if (ack) ack(json::array());
    }

    void on_mark_read(sio::socket& s, const json& args, const ack_fn& ack) {
        const json& first = arg(args, 0);
        const json& id = field(first, "id");
        const bool id_ok = id.is_number_integer() ||
                           (id.is_string() && !id.get_ref<const std::string&>().empty() &&
                            id.get_ref<const std::string&>().size() <= max_message_id_len);
        if (!id_ok) return refuse(s, ack, "mark read needs {room, id} with the message's id");
        std::string error;
        auto room = room_arg(field(first, "room"), error);
        if (!error.empty()) return refuse(s, ack, error);
        if (room && !member(s, *room)) return refuse(s, ack, fmt::format("not in room '{}'; join it first", *room));
        auto out = json::array({json{{"id", id}, {"by", s.id()}, {"room", room ? json(*room) : json()}, {"ts", now_ms()}}});
        if (room) nsp_.to(internal(*room)).emit("message read", std::move(out));
        else nsp_.emit("message read", std::move(out));
        if (ack) ack(json::array());
    }

    void on_broadcast(sio::socket& s, const json& args, const ack_fn& ack) {
        if (args.empty() || !args[0].is_string()) return refuse(s, ack, "broadcast needs an event name");
        std::string event = args[0].get<std::string>();
        if (one_of(server_events, event) || one_of(relayed_events, event)) {
            return refuse(s, ack, fmt::format("'{}' is the chat's own event; broadcast cannot send it", event));
        }
        json rest(args.begin() + 1, args.end());
        if (auto ec = s.broadcast().emit(event, std::move(rest))) return refuse(s, ack, ec.message());
        if (ack) ack(json::array({json{{"ok", true}}}));
    }

    void on_disconnect(const std::string& id, const std::string& reason) {
        std::string name;
        std::size_t total = 0;
        {
            std::lock_guard lock(mutex_);
            auto it = users_.find(id);
            if (it == users_.end()) return;
            name = std::move(it->second.name);
            users_.erase(it);
            total = users_.size();
        }
        log(fmt::format("{} ('{}') left {}: {}", id, name, nsp_.name(), reason));
        // The demo never disconnects a socket itself, so a server-side disconnect is the server
        // shutting down: everyone is leaving, and telling each of n users about the n-1 others
        // would cost n^2 packets just as the sessions try to say goodbye.
        if (reason == sio::disconnect_reasons::server_namespace_disconnect ||
            reason == sio::disconnect_reasons::forced_server_close) {
            return;
        }
        if (auto cluster = nsp_.cluster()) {
            // The total spans the cluster: count the sockets of every server.
            auto self = shared_from_this();
            cluster->fetch_sockets(nsp_.name(), {}, [self, id, name](json sockets) {
                std::size_t n = 0;
                for (const auto& r : sockets) n += r.is_object() && r.value("id", "") != id ? 1 : 0;
                self->nsp_.emit("user disconnected", json::array({json{{"id", id}, {"name", name}, {"total", n}}}));
            });
            return;
        }
        nsp_.emit("user disconnected", json::array({json{{"id", id}, {"name", name}, {"total", total}}}));
    }

    void log(const std::string& line) const {
        if (options_.log) options_.log(line);
    }

    sio::namespace_& nsp_;
    const chat_options options_;
    std::mutex mutex_;  // guards users_; never held while emitting
    std::map<std::string, user> users_;  // socket id -> who
    std::atomic<std::uint64_t> next_id_{0};
};

}  // namespace

std::shared_ptr<void> install_chat(sio::namespace_& nsp, chat_options options) {
    auto c = std::make_shared<chat>(nsp, std::move(options));
    nsp.on_connection([weak = std::weak_ptr<chat>(c)](const std::shared_ptr<sio::socket>& s) {
        if (auto self = weak.lock()) self->on_connection(s);
    });
    return c;
}

}  // namespace sio::serve
