// What the Engine.IO fuzzers share: the failure signal and the check on refusals.
#pragma once

#include <sio/codec/engine_io.hpp>

#include <cstddef>
#include <limits>

namespace sio::fuzz {

inline constexpr codec::eio::limits unlimited{std::numeric_limits<std::size_t>::max(),
                                              std::numeric_limits<std::size_t>::max()};

// A broken invariant stops the fuzzer at once, with the input saved.
inline void check(bool ok) {
    if (!ok) __builtin_trap();
}

// True when `r` is a refusal; a refusal must carry a code and a reason a person can read.
template <class Result>
bool rejected_with_reason(const Result& r) {
    if (r) return false;
    check(r.err().code && !r.err().reason.empty());
    return true;
}

}  // namespace sio::fuzz
