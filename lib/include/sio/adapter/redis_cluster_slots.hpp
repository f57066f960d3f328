// What the sharded adapter needs to know of a Redis Cluster, sans I/O: the slot of a channel
// (CRC16/XMODEM of the key, or of its {hash tag}, mod 16384, as the Redis Cluster specification
// says), the slot map that CLUSTER SLOTS answers (which primary serves which slots, and its
// replicas), and the redirections a node answers with when it does not serve a slot
// ("MOVED 3999 127.0.0.1:6381", "ASK 3999 127.0.0.1:6381").
//
// Nothing here throws on bad input: the parsers return codec::result or nullopt.
#pragma once

#include "sio/codec/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisReply;  // hiredis's reply tree

namespace sio::adapter::redis::slots {

inline constexpr std::uint16_t slot_count = 16384;

// CRC16/XMODEM (polynomial 0x1021, initial value 0): crc16("123456789") == 0x31C3.
std::uint16_t crc16(std::string_view bytes) noexcept;

// The slot of a key or a sharded pub/sub channel: of the part between the first '{' and the
// first '}' after it when that part is not empty, else of the whole key.
std::uint16_t key_slot(std::string_view key) noexcept;

struct node {
    std::string host;
    std::uint16_t port = 0;

    // HOST:PORT, [HOST]:PORT for an IPv6 address.
    std::string address() const;
    bool operator==(const node&) const = default;
};

struct slot_range {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    node primary;
    std::vector<node> replicas;
};

struct slot_map {
    std::vector<slot_range> ranges;  // sorted by first slot, not overlapping

    // The primary serving `slot`; nullptr when no node serves it.
    const node* owner(std::uint16_t slot) const noexcept;
    // Every primary once, in the order of their first range.
    std::vector<node> primaries() const;
    // Every node named (primaries, then replicas), once each.
    std::vector<node> nodes() const;
    // Whether every slot has an owner.
    bool complete() const noexcept;
    // "127.0.0.1:7000 (0-5460), 127.0.0.1:7001 (5461-10922), ...": each primary with its ranges.
    std::string describe() const;
    bool same_owners(const slot_map& other) const;
    // `slot` is served by `owner` now (what a MOVED says), until the next CLUSTER SLOTS.
    void assign(std::uint16_t slot, const node& owner);
};

// A map where one node serves every slot: a standalone Redis.
slot_map single_node(node n);

// The reply of CLUSTER SLOTS: [[first, last, [host, port, id, ...], [replica...]...], ...]. A
// node named by an empty host (or "?") is on `answered_by`'s host, as the specification says.
codec::result<slot_map> parse_cluster_slots(const redisReply* reply, std::string_view answered_by);

struct redirect {
    bool ask = false;  // ASK (this once, after ASKING), else MOVED (for good)
    std::uint16_t slot = 0;
    node to;
};

// "MOVED SLOT HOST:PORT" or "ASK SLOT HOST:PORT" (an empty HOST: `answered_by`); nullopt for any
// other error.
std::optional<redirect> parse_redirect(std::string_view error, std::string_view answered_by);

}  // namespace sio::adapter::redis::slots
