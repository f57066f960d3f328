// What HTTP long-polling spends on HTTP itself, summed over the clients that share it (for load
// generators): requests made, and bytes of request lines, status lines and headers both ways
// (chunk framing included). Bodies are not counted. Counted by the Engine.IO client; a header of
// its own so that sio/client.hpp (sio::transfer_counters) need not include the client's transport.
#pragma once

#include <atomic>
#include <cstdint>

namespace sio::engine {

struct transfer_counters {
    std::atomic<std::uint64_t> http_requests{0};
    std::atomic<std::uint64_t> http_header_bytes{0};
};

}  // namespace sio::engine
