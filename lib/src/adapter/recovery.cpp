#include "sio/adapter/recovery.hpp"

#include <algorithm>
#include <utility>

namespace sio::adapter {

recovery_store::recovery_store(recovery_options options) : options_(options) {}

std::string recovery_store::offset_of(std::uint64_t seq) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    do {
        out.push_back(digits[seq & 0xf]);
        seq >>= 4;
    } while (seq != 0);
    std::reverse(out.begin(), out.end());
    return out;
}

std::optional<std::uint64_t> recovery_store::seq_of(std::string_view offset) {
    if (offset.empty() || offset.size() > 16) return std::nullopt;
    std::uint64_t seq = 0;
    for (char c : offset) {
        int d = 0;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else return std::nullopt;
        seq = (seq << 4) | static_cast<std::uint64_t>(d);
    }
    return seq;
}

void recovery_store::prune_locked(clock::time_point now) {
    const auto keep = options_.window + options_.grace;
    while (!packets_.empty() && now - packets_.front().at > keep) packets_.pop_front();
    while (!session_order_.empty()) {
        const auto& [at, pid] = session_order_.front();
        auto it = sessions_.find(pid);
        const bool stale = it == sessions_.end() || it->second.at != at;
        if (!stale && now - at <= options_.window) break;
        if (!stale) sessions_.erase(it);
        session_order_.pop_front();
    }
}

void recovery_store::broadcast(codec::json& data, const broadcast_options& targets,
                               const std::function<void(const codec::json&)>& deliver) {
    std::lock_guard lock(mutex_);
    const auto now = clock::now();
    prune_locked(now);
    const auto seq = next_seq_++;
    data.push_back(offset_of(seq));
    if (packets_.size() >= options_.max_packets && !packets_.empty()) {
        bound_evicted_through_ = packets_.front().seq;
        packets_.pop_front();
    }
    if (options_.max_packets > 0) packets_.push_back(stored_packet{seq, now, targets, data});
    else bound_evicted_through_ = seq;
    deliver(data);
}

std::uint64_t recovery_store::attach_fresh(const std::function<void()>& attach) {
    std::lock_guard lock(mutex_);
    attach();
    return next_seq_ - 1;
}

void recovery_store::persist(persisted_session session) {
    std::lock_guard lock(mutex_);
    const auto now = clock::now();
    prune_locked(now);
    while (sessions_.size() >= options_.max_sessions && !session_order_.empty()) {
        auto [at, pid] = std::move(session_order_.front());
        session_order_.pop_front();
        auto it = sessions_.find(pid);
        if (it != sessions_.end() && it->second.at == at) sessions_.erase(it);
    }
    if (options_.max_sessions == 0) return;
    auto pid = session.pid;
    session_order_.emplace_back(now, pid);
    sessions_[std::move(pid)] = stored_session{std::move(session), now};
}

std::optional<persisted_session> recovery_store::take(std::string_view pid, std::string_view offset,
                                                      std::string* why) {
    const auto refuse = [why](const char* reason) -> std::optional<persisted_session> {
        if (why) *why = reason;
        return std::nullopt;
    };
    std::lock_guard lock(mutex_);
    prune_locked(clock::now());
    auto it = sessions_.find(std::string(pid));
    if (it == sessions_.end()) return refuse("unknown or expired session");
    auto session = std::move(it->second.session);
    sessions_.erase(it);  // its entry in session_order_ turns stale
    if (offset.empty()) {
        session.from_seq = session.first_seq;
    } else {
        auto seq = seq_of(offset);
        // An offset we never handed out is not ours to interpret.
        if (!seq || *seq >= next_seq_) return refuse("the offset it sent is not one this server gave");
        session.from_seq = std::max(*seq, session.first_seq);
    }
    // Packets after from_seq dropped by the bound may have been missed: refuse rather than
    // recover with a hole.
    if (session.from_seq < bound_evicted_through_)
        return refuse("packets it missed were already dropped by the packet bound");
    return session;
}

bool recovery_store::targets_rooms(const broadcast_options& targets,
                                   const std::vector<std::string>& rooms) {
    for (const auto& r : rooms)
        if (targets.except.count(r)) return false;
    if (targets.rooms.empty()) return true;
    return std::any_of(rooms.begin(), rooms.end(), [&](const std::string& r) { return targets.rooms.count(r) != 0; });
}

std::size_t recovery_store::replay(const persisted_session& session,
                                   const std::function<void(const codec::json&)>& send,
                                   const std::function<void()>& attach) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    auto it = std::upper_bound(packets_.begin(), packets_.end(), session.from_seq,
                               [](std::uint64_t seq, const stored_packet& p) { return seq < p.seq; });
    for (; it != packets_.end(); ++it) {
        if (!targets_rooms(it->targets, session.rooms)) continue;
        send(it->data);
        ++n;
    }
    attach();
    return n;
}

std::size_t recovery_store::packet_count() const {
    std::lock_guard lock(mutex_);
    return packets_.size();
}

std::size_t recovery_store::session_count() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

}  // namespace sio::adapter
