#include "sio-bench/core/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sio::bench {

namespace {
constexpr std::size_t bucket_total = 2 * histogram::sub_count + (64 - histogram::sub_bits - 1) * histogram::sub_count;
}

histogram::histogram() : counts_(bucket_total, 0) {}

std::size_t histogram::index_of(std::uint64_t v) noexcept {
    if (v < 2 * sub_count) return static_cast<std::size_t>(v);
    const unsigned top = static_cast<unsigned>(std::bit_width(v)) - 1;  // >= sub_bits + 1
    const unsigned shift = top - sub_bits;                              // >= 1
    const std::uint64_t sub = v >> shift;                               // in [S, 2S)
    return static_cast<std::size_t>(2 * sub_count + (shift - 1) * sub_count + (sub - sub_count));
}

std::uint64_t histogram::lowest_of(std::size_t i) noexcept {
    if (i < 2 * sub_count) return i;
    const std::size_t rest = i - 2 * sub_count;
    const unsigned shift = static_cast<unsigned>(rest / sub_count) + 1;
    const std::uint64_t sub = sub_count + rest % sub_count;
    return sub << shift;
}

std::uint64_t histogram::width_of(std::size_t i) noexcept {
    if (i < 2 * sub_count) return 1;
    return std::uint64_t{1} << (static_cast<unsigned>((i - 2 * sub_count) / sub_count) + 1);
}

void histogram::record(std::uint64_t v, std::uint64_t n) {
    if (n == 0) return;
    counts_[index_of(v)] += n;
    total_ += n;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
}

void histogram::merge(const histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
}

void histogram::reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
    max_ = 0;
    min_ = UINT64_MAX;
}

std::uint64_t histogram::percentile(double q) const {
    if (total_ == 0) return 0;
    if (q >= 1.0) return max_;
    if (q < 0) q = 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            const std::uint64_t mid = lowest_of(i) + width_of(i) / 2;
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

}  // namespace sio::bench
