#include "sio/adapter/redis_cluster_slots.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>

namespace sio::adapter::redis::slots {

std::uint16_t crc16(std::string_view bytes) noexcept {
    std::uint16_t crc = 0;
    for (unsigned char c : bytes) {
        crc ^= static_cast<std::uint16_t>(c << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
    }
    return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
    if (auto open = key.find('{'); open != std::string_view::npos) {
        auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
    }
    return static_cast<std::uint16_t>(crc16(key) % slot_count);
}

std::string node::address() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

const node* slot_map::owner(std::uint16_t slot) const noexcept {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), slot,
                               [](std::uint16_t s, const slot_range& r) { return s < r.first; });
    if (it == ranges.begin()) return nullptr;
    --it;
    return slot <= it->last ? &it->primary : nullptr;
}

std::vector<node> slot_map::primaries() const {
    std::vector<node> out;
    for (const auto& r : ranges) {
        if (std::find(out.begin(), out.end(), r.primary) == out.end()) out.push_back(r.primary);
    }
    return out;
}

std::vector<node> slot_map::nodes() const {
    auto out = primaries();
    for (const auto& r : ranges) {
        for (const auto& n : r.replicas) {
            if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
        }
    }
    return out;
}

bool slot_map::complete() const noexcept {
    std::uint32_t next = 0;
    for (const auto& r : ranges) {
        if (r.first != next) return false;
        next = static_cast<std::uint32_t>(r.last) + 1;
    }
    return next == slot_count;
}

std::string slot_map::describe() const {
    std::string out;
    for (const auto& p : primaries()) {
        if (!out.empty()) out += ", ";
        out += p.address() + " (";
        bool first = true;
        for (const auto& r : ranges) {
            if (!(r.primary == p)) continue;
            out += fmt::format("{}{}-{}", first ? "" : " ", r.first, r.last);
            first = false;
        }
        out += ")";
    }
    return out.empty() ? std::string("no slot served") : out;
}

bool slot_map::same_owners(const slot_map& other) const {
    if (ranges.size() != other.ranges.size()) return false;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        const auto &a = ranges[i], &b = other.ranges[i];
        if (a.first != b.first || a.last != b.last || !(a.primary == b.primary)) return false;
    }
    return true;
}

void slot_map::assign(std::uint16_t slot, const node& owner) {
    std::vector<slot_range> out;
    bool placed = false;
    for (auto& r : ranges) {
        if (slot < r.first || slot > r.last) {
            out.push_back(std::move(r));
            continue;
        }
        if (r.first < slot) out.push_back(slot_range{r.first, static_cast<std::uint16_t>(slot - 1), r.primary, r.replicas});
        out.push_back(slot_range{slot, slot, owner, {}});
        if (slot < r.last) out.push_back(slot_range{static_cast<std::uint16_t>(slot + 1), r.last, r.primary, r.replicas});
        placed = true;
    }
    if (!placed) {
        out.push_back(slot_range{slot, slot, owner, {}});
        std::sort(out.begin(), out.end(), [](const slot_range& a, const slot_range& b) { return a.first < b.first; });
    }
    ranges = std::move(out);
}

slot_map single_node(node n) {
    slot_map m;
    m.ranges.push_back(slot_range{0, slot_count - 1, std::move(n), {}});
    return m;
}

namespace {

std::optional<std::uint16_t> number_in(std::string_view text, long long max) {
    long long v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 0 || v > max) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

std::optional<std::uint16_t> integer_of(const redisReply* r, long long max) {
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > max) return std::nullopt;
    return static_cast<std::uint16_t>(r->integer);
}

// [host, port, id, ...]
std::optional<node> node_of(const redisReply* r, std::string_view answered_by) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) return std::nullopt;
    const auto* h = r->element[0];
    if (h->type != REDIS_REPLY_STRING && h->type != REDIS_REPLY_STATUS && h->type != REDIS_REPLY_NIL)
        return std::nullopt;
    auto port = integer_of(r->element[1], 65535);
    if (!port || *port == 0) return std::nullopt;
    std::string host = h->type == REDIS_REPLY_NIL ? std::string() : std::string(h->str, h->len);
    if (host.empty() || host == "?") host = std::string(answered_by);
    return node{std::move(host), *port};
}

}  // namespace

codec::result<slot_map> parse_cluster_slots(const redisReply* reply, std::string_view answered_by) {
    auto bad = [](std::string why) { return codec::make_error(codec::errc::invalid_payload, "CLUSTER SLOTS: " + why); };
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return bad("not an array");
    slot_map m;
    for (std::size_t i = 0; i < reply->elements; ++i) {
        const auto* e = reply->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3) return bad(fmt::format("entry {} is not [first, last, node, ...]", i));
        auto first = integer_of(e->element[0], slot_count - 1);
        auto last = integer_of(e->element[1], slot_count - 1);
        if (!first || !last || *last < *first) return bad(fmt::format("entry {} has no valid slot range", i));
        auto primary = node_of(e->element[2], answered_by);
        if (!primary) return bad(fmt::format("entry {} has no valid primary", i));
        slot_range r{*first, *last, std::move(*primary), {}};
        for (std::size_t k = 3; k < e->elements; ++k) {
            if (auto n = node_of(e->element[k], answered_by)) r.replicas.push_back(std::move(*n));
        }
        m.ranges.push_back(std::move(r));
    }
    std::sort(m.ranges.begin(), m.ranges.end(), [](const slot_range& a, const slot_range& b) { return a.first < b.first; });
    for (std::size_t i = 1; i < m.ranges.size(); ++i) {
        if (m.ranges[i].first <= m.ranges[i - 1].last)
            return bad(fmt::format("ranges {}-{} and {}-{} overlap", m.ranges[i - 1].first, m.ranges[i - 1].last,
                                   m.ranges[i].first, m.ranges[i].last));
    }
    return m;
}

std::optional<redirect> parse_redirect(std::string_view error, std::string_view answered_by) {
    redirect out;
    if (error.starts_with("MOVED ")) {
        error.remove_prefix(6);
    } else if (error.starts_with("ASK ")) {
        error.remove_prefix(4);
        out.ask = true;
    } else {
        return std::nullopt;
    }
    const auto space = error.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    auto slot = number_in(error.substr(0, space), slot_count - 1);
    auto where = error.substr(space + 1);
    const auto colon = where.rfind(':');
    if (!slot || colon == std::string_view::npos) return std::nullopt;
    auto port = number_in(where.substr(colon + 1), 65535);
    if (!port || *port == 0) return std::nullopt;
    auto host = where.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.find(' ') != std::string_view::npos) return std::nullopt;
    out.slot = *slot;
    out.to = node{std::string(host.empty() ? answered_by : host), *port};
    return out;
}

}  // namespace sio::adapter::redis::slots
