#include "session.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <optional>
#include <utility>

namespace sio::engine {

namespace detail {

ws_hold::ws_hold(std::shared_ptr<server::impl> c) : core(std::move(c)) {
    core->live_websockets.fetch_add(1, std::memory_order_relaxed);
}

ws_hold::~ws_hold() { core->live_websockets.fetch_sub(1, std::memory_order_relaxed); }

void ws_link::on_ws_message(std::string_view data, bool binary) {
    if (auto s = owner.lock()) s->on_ws_message(stream, data, binary);
}
void ws_link::on_ws_writable() {
    if (auto s = owner.lock()) s->on_ws_writable(stream);
}
void ws_link::on_ws_end(const transport::ws_end& end) {
    if (auto s = owner.lock()) s->on_ws_end(stream, end);
}

}  // namespace detail

// --- send_batch --------------------------------------------------------------------------------

// What a batch holds: per executor (an event loop, or a session's strand), the sends and closes
// for its sessions, in the order made.
struct send_batch::state {
    struct item {
        std::shared_ptr<session> target;
        std::shared_ptr<const std::string> data;
        std::optional<std::string> close_reason;  // set: a close, not a send
        bool binary = false;
    };
    struct group {
        asio::any_io_executor executor;
        std::vector<item> items;
    };
    std::vector<group> groups;

    void add(item it) {
        const auto& ex = it.target->strand();
        auto g = std::find_if(groups.begin(), groups.end(), [&](const group& x) { return x.executor == ex; });
        if (g == groups.end()) g = groups.insert(groups.end(), group{ex, {}});
        g->items.push_back(std::move(it));
    }
};

namespace {
thread_local send_batch::state* current_batch = nullptr;
}  // namespace

send_batch::send_batch() : outer_(current_batch) {
    if (!outer_) current_batch = new state;
}

send_batch::~send_batch() {
    if (outer_) return;
    std::unique_ptr<state> st{std::exchange(current_batch, nullptr)};
    for (auto& g : st->groups) {
        asio::post(g.executor, [items = std::move(g.items)]() mutable {
            for (auto& it : items) {
                if (it.close_reason) {
                    it.target->close_here(*it.close_reason);
                } else {
                    it.target->send_here(std::move(it.data), it.binary);
                }
            }
        });
    }
}

// --- session_handle ----------------------------------------------------------------------------

bool session_handle::send(std::shared_ptr<const std::string> data, bool binary) const {
    auto s = session_.lock();
    if (!s || s->closed()) return false;
    if (running_on(s->strand())) return s->send_here(std::move(data), binary);
    // Transports only move from polling to WebSocket, so this refusal cannot be stale.
    if (!binary && data && data->find('\x1e') != std::string::npos && !s->on_websocket())
        return false;
    if (current_batch) {
        current_batch->add({std::move(s), std::move(data), std::nullopt, binary});
        return true;
    }
    asio::post(s->strand(), [s, data = std::move(data), binary]() mutable {
        s->send_here(std::move(data), binary);
    });
    return true;
}

bool session_handle::send(std::string data, bool binary) const {
    return send(std::make_shared<const std::string>(std::move(data)), binary);
}

asio::any_io_executor session_handle::executor() const {
    auto s = session_.lock();
    return s ? s->strand() : asio::any_io_executor{};
}

void session_handle::close(std::string reason) const {
    auto s = session_.lock();
    if (!s || s->closed()) return;
    if (running_on(s->strand())) {
        s->close_here(reason);
        return;
    }
    if (current_batch) {
        current_batch->add({std::move(s), nullptr, std::move(reason), false});
        return;
    }
    asio::post(s->strand(), [s, reason = std::move(reason)] { s->close_here(reason); });
}

}  // namespace sio::engine
