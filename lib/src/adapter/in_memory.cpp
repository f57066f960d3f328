#include "sio/adapter/in_memory.hpp"

#include "sio/engine/server.hpp"

#include <algorithm>
#include <mutex>

namespace sio::adapter {

namespace {

template <class Set>
std::vector<std::string> sorted(const Set& s) {
    std::vector<std::string> out(s.begin(), s.end());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

bool in_memory::add(std::string_view id, std::weak_ptr<member> handle) {
    std::shared_ptr<const room_listener> l;
    std::shared_ptr<const room_watch> w;
    room_changes changes;
    {
        std::unique_lock lock(mutex_);
        if (sockets_.find(id) != sockets_.end()) return false;
        auto& e = sockets_.try_emplace(std::string(id)).first->second;
        e.handle = std::move(handle);
        join_locked(e, id, id, &changes);
        l = listener_;
        w = watch_;
    }
    report(w, changes);
    if (l) (*l)(id, id, true);
    return true;
}

bool in_memory::join(std::string_view id, std::string_view room) {
    bool added = false;
    std::shared_ptr<const room_listener> l;
    std::shared_ptr<const room_watch> w;
    room_changes changes;
    {
        std::unique_lock lock(mutex_);
        auto it = sockets_.find(id);
        if (it == sockets_.end()) return false;
        added = join_locked(it->second, id, room, &changes);
        l = listener_;
        w = watch_;
    }
    report(w, changes);
    if (added && l) (*l)(id, room, true);
    return true;
}

bool in_memory::join(std::string_view id, std::span<const std::string> rooms) {
    std::vector<std::string_view> added;
    std::shared_ptr<const room_listener> l;
    std::shared_ptr<const room_watch> w;
    room_changes changes;
    {
        std::unique_lock lock(mutex_);
        auto it = sockets_.find(id);
        if (it == sockets_.end()) return false;
        l = listener_;
        w = watch_;
        for (const auto& room : rooms) {
            if (join_locked(it->second, id, room, &changes) && l) added.push_back(room);
        }
    }
    report(w, changes);
    for (const auto room : added) (*l)(id, room, true);
    return true;
}

bool in_memory::join_locked(entry& e, std::string_view id, std::string_view room, room_changes* changes) {
    if (e.rooms.find(room) != e.rooms.end()) return false;
    e.rooms.emplace(room);
    auto r = rooms_.find(room);
    if (r == rooms_.end()) {
        r = rooms_.try_emplace(std::string(room)).first;
        if (changes && watch_) changes->emplace_back(room, true);
    }
    r->second.emplace(id);
    return true;
}

bool in_memory::leave(std::string_view id, std::string_view room) {
    std::shared_ptr<const room_listener> l;
    std::shared_ptr<const room_watch> w;
    room_changes changes;
    {
        std::unique_lock lock(mutex_);
        auto it = sockets_.find(id);
        if (it == sockets_.end()) return false;
        auto r = it->second.rooms.find(room);
        if (r == it->second.rooms.end()) return false;
        it->second.rooms.erase(r);
        erase_from_room_locked(room, id, &changes);
        l = listener_;
        w = watch_;
    }
    report(w, changes);
    if (l) (*l)(id, room, false);
    return true;
}

void in_memory::remove(std::string_view id) {
    std::shared_ptr<const room_listener> l;
    std::shared_ptr<const room_watch> w;
    room_changes changes;
    std::vector<std::string> left;
    {
        std::unique_lock lock(mutex_);
        auto it = sockets_.find(id);
        if (it == sockets_.end()) return;
        for (const auto& room : it->second.rooms) erase_from_room_locked(room, id, &changes);
        l = listener_;
        w = watch_;
        if (l) left.assign(it->second.rooms.begin(), it->second.rooms.end());
        sockets_.erase(it);
    }
    report(w, changes);
    for (const auto& room : left) (*l)(id, room, false);
}

void in_memory::set_room_listener(room_listener listener) {
    auto l = listener ? std::make_shared<const room_listener>(std::move(listener)) : nullptr;
    std::unique_lock lock(mutex_);
    listener_ = std::move(l);
}

void in_memory::set_room_watch(room_watch watch) {
    auto w = watch ? std::make_shared<const room_watch>(std::move(watch)) : nullptr;
    std::unique_lock lock(mutex_);
    watch_ = std::move(w);
}

void in_memory::report(const std::shared_ptr<const room_watch>& watch, const room_changes& changes) const {
    if (!watch) return;
    for (const auto& [room, exists] : changes) (*watch)(room, exists);
}

void in_memory::erase_from_room_locked(std::string_view room, std::string_view id, room_changes* changes) {
    auto r = rooms_.find(room);
    if (r == rooms_.end()) return;
    if (auto m = r->second.find(id); m != r->second.end()) r->second.erase(m);
    // An empty room is forgotten, so that room names chosen by clients cannot pile up.
    if (r->second.empty()) {
        rooms_.erase(r);
        if (changes && watch_) changes->emplace_back(room, false);
    }
}

bool in_memory::contains(std::string_view id) const {
    std::shared_lock lock(mutex_);
    return sockets_.find(id) != sockets_.end();
}

std::vector<std::string> in_memory::rooms_of(std::string_view id) const {
    std::shared_lock lock(mutex_);
    auto it = sockets_.find(id);
    if (it == sockets_.end()) return {};
    return sorted(it->second.rooms);
}

std::vector<std::string> in_memory::members_of(std::string_view room) const {
    std::shared_lock lock(mutex_);
    auto r = rooms_.find(room);
    if (r == rooms_.end()) return {};
    return sorted(r->second);
}

std::vector<std::string> in_memory::room_names() const {
    std::shared_lock lock(mutex_);
    std::vector<std::string> out;
    out.reserve(rooms_.size());
    for (const auto& [name, members] : rooms_) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
}

std::size_t in_memory::socket_count() const {
    std::shared_lock lock(mutex_);
    return sockets_.size();
}

std::size_t in_memory::room_count() const {
    std::shared_lock lock(mutex_);
    return rooms_.size();
}

template <class Fn>
void in_memory::visit_targets_locked(const broadcast_options& options, Fn&& fn) const {
    // The sockets of the except rooms, gathered first: `except` wins over `rooms`.
    string_set excluded;
    for (const auto& room : options.except) {
        if (auto r = rooms_.find(room); r != rooms_.end()) {
            excluded.insert(r->second.begin(), r->second.end());
        }
    }
    auto skip = [&](const std::string& id) { return excluded.find(id) != excluded.end(); };

    if (options.rooms.empty()) {
        for (const auto& [id, e] : sockets_) {
            if (!skip(id)) fn(id, e);
        }
        return;
    }
    // A socket in several of the rooms is visited once.
    string_set seen;
    for (const auto& room : options.rooms) {
        auto r = rooms_.find(room);
        if (r == rooms_.end()) continue;
        for (const auto& id : r->second) {
            if (skip(id) || !seen.insert(id).second) continue;
            if (auto s = sockets_.find(id); s != sockets_.end()) fn(id, s->second);
        }
    }
}

std::vector<std::string> in_memory::targets(const broadcast_options& options) const {
    std::vector<std::string> out;
    std::shared_lock lock(mutex_);
    visit_targets_locked(options, [&](const std::string& id, const entry&) { out.push_back(id); });
    return out;
}

std::vector<std::shared_ptr<member>> in_memory::live_targets(const broadcast_options& options) const {
    std::vector<std::shared_ptr<member>> out;
    std::shared_lock lock(mutex_);
    visit_targets_locked(options, [&](const std::string&, const entry& e) {
        if (auto m = e.handle.lock()) out.push_back(std::move(m));
    });
    return out;
}

std::size_t in_memory::broadcast(const frame& f, const broadcast_options& options) const {
    // Targets are pinned under the lock; delivery happens after it is released.
    auto members = live_targets(options);
    // Sockets whose sessions run on other loops get the frame with one post per loop.
    engine::send_batch batch;
    for (const auto& m : members) m->deliver(f, options.flags);
    return members.size();
}

void in_memory::for_each_target(const broadcast_options& options,
                                const std::function<void(const std::shared_ptr<member>&)>& fn) const {
    auto members = live_targets(options);
    for (const auto& m : members) fn(m);
}

}  // namespace sio::adapter
