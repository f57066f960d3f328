#include "chat.hpp"

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace sio::serve {
namespace {

constexpr std::size_t max_name_bytes = 40;
constexpr std::size_t max_room_bytes = 100;

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A name or room from a client: a non-empty string within `max` bytes, else nullopt.
std::optional<std::string> short_string(const json& v, std::size_t max) {
    if (!v.is_string()) return std::nullopt;
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > max) return std::nullopt;
    return s;
}

json refusal(std::string_view why) { return json::array({json{{"ok", false}, {"error", why}}}); }

class chat : public std::enable_shared_from_this<chat> {
public:
    chat(sio::namespace_& nsp, chat_options options) : nsp_(nsp), options_(std::move(options)) {}

    void on_connection(const std::shared_ptr<sio::socket>& s) {
        std::string name = short_string(s->handshake().auth.value("name", json()), max_name_bytes)
                               .value_or("guest-" + s->id().substr(0, 4));
        {
            std::lock_guard lock(mutex_);
            names_[s->id()] = name;
        }
        log(fmt::format("{} connected to {} as '{}' from {} over {}", s->id(), nsp_.name(), name,
                        s->handshake().address, s->handshake().transport));
        std::weak_ptr<sio::socket> weak = s;
        auto self = shared_from_this();
        s->on("chat message", [self, weak](json args, ack_fn ack) { self->on_chat(weak, args, ack); });
        s->on("join", [self, weak](json args, ack_fn ack) { self->on_room(weak, args, ack, true); });
        s->on("leave", [self, weak](json args, ack_fn ack) { self->on_room(weak, args, ack, false); });
        s->on("set name", [self, weak](json args, ack_fn ack) { self->on_set_name(weak, args, ack); });
        s->on("echo", [weak](json args, ack_fn ack) {
            if (ack) {
                ack(std::move(args));
            } else if (auto sock = weak.lock()) {
                sock->emit("echo", std::move(args));
            }
        });
        s->on("broadcast", [weak](json args, ack_fn ack) {
            auto sock = weak.lock();
            if (!sock) return;
            if (args.empty() || !args[0].is_string()) {
                if (ack) ack(refusal("broadcast needs an event name"));
                return;
            }
            std::string event = args[0].get<std::string>();
            args.erase(args.begin());
            auto ec = sock->broadcast().emit(event, std::move(args));
            if (ack) ack(ec ? refusal(ec.message()) : json::array({json{{"ok", true}}}));
        });
        s->on_disconnect([self, weak, id = s->id()](const std::string& reason) {
            self->on_disconnect(id, reason);
        });
        s->broadcast().emit("user joined", json::array({json{{"id", s->id()}, {"name", name}}}));
        publish_online();
    }

private:
    void on_chat(const std::weak_ptr<sio::socket>& weak, const json& args, const ack_fn& ack) {
        auto s = weak.lock();
        if (!s) return;
        std::string text;
        std::string room;
        const json& first = args.empty() ? json() : args[0];
        if (first.is_string()) {
            text = first.get<std::string>();
        } else if (first.is_object() && first.contains("text") && first["text"].is_string()) {
            text = first["text"].get<std::string>();
            if (first.contains("room") && !first["room"].is_null() && first["room"] != "") {
                auto r = short_string(first["room"], max_room_bytes);
                if (!r) {
                    if (ack) ack(refusal("room must be a string of 1 to 100 bytes"));
                    return;
                }
                room = *r;
            }
        } else {
            if (ack) ack(refusal("chat message needs a text: \"hi\" or {\"text\":\"hi\",\"room\":\"r\"}"));
            return;
        }
        if (text.empty() || text.size() > options_.max_text_bytes) {
            if (ack) ack(refusal(fmt::format("text must be 1 to {} bytes", options_.max_text_bytes)));
            return;
        }
        const auto id = next_id_.fetch_add(1) + 1;
        json message{{"id", id}, {"name", name_of(s->id())}, {"text", text},
                     {"room", room.empty() ? json() : json(room)}, {"time", now_ms()}};
        auto target = room.empty() ? s->broadcast() : s->to(room);
        auto ec = target.emit("chat message", json::array({std::move(message)}));
        if (ack) ack(ec ? refusal(ec.message()) : json::array({json{{"ok", true}, {"id", id}}}));
    }

    void on_room(const std::weak_ptr<sio::socket>& weak, const json& args, const ack_fn& ack, bool join) {
        auto s = weak.lock();
        if (!s) return;
        auto room = short_string(args.empty() ? json() : args[0], max_room_bytes);
        if (!room) {
            if (ack) ack(refusal("room must be a string of 1 to 100 bytes"));
            return;
        }
        json who{{"id", s->id()}, {"name", name_of(s->id())}, {"room", *room}};
        if (join) {
            s->join(*room);
            s->to(*room).emit("user joined", json::array({who}));
        } else {
            s->to(*room).emit("user left", json::array({who}));
            s->leave(*room);
        }
        if (ack) ack(json::array({json{{"ok", true}, {"rooms", s->rooms()}}}));
    }

    void on_set_name(const std::weak_ptr<sio::socket>& weak, const json& args, const ack_fn& ack) {
        auto s = weak.lock();
        if (!s) return;
        auto name = short_string(args.empty() ? json() : args[0], max_name_bytes);
        if (!name) {
            if (ack) ack(refusal("name must be a string of 1 to 40 bytes"));
            return;
        }
        {
            std::lock_guard lock(mutex_);
            names_[s->id()] = *name;
        }
        if (ack) ack(json::array({json{{"ok", true}}}));
        publish_online();
    }

    void on_disconnect(const std::string& id, const std::string& reason) {
        std::string name;
        {
            std::lock_guard lock(mutex_);
            auto it = names_.find(id);
            if (it == names_.end()) return;
            name = std::move(it->second);
            names_.erase(it);
        }
        log(fmt::format("{} ('{}') left {}: {}", id, name, nsp_.name(), reason));
        nsp_.emit("user left", json::array({json{{"id", id}, {"name", name}}}));
        publish_online();
    }

    std::string name_of(const std::string& id) {
        std::lock_guard lock(mutex_);
        auto it = names_.find(id);
        return it == names_.end() ? std::string() : it->second;
    }

    void publish_online() {
        json names = json::array();
        std::size_t count = 0;
        {
            std::lock_guard lock(mutex_);
            count = names_.size();
            for (const auto& [id, name] : names_) {
                if (names.size() >= options_.max_online_names) break;
                names.push_back(name);
            }
        }
        nsp_.emit("online", json::array({json{{"count", count}, {"names", std::move(names)}}}));
    }

    void log(const std::string& line) const {
        if (options_.log) options_.log(line);
    }

    sio::namespace_& nsp_;
    const chat_options options_;
    std::mutex mutex_;
    std::map<std::string, std::string> names_;  // socket id -> name
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
