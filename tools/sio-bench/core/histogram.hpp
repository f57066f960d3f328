// Log-linear latency histogram in the spirit of HdrHistogram: values below 2*S are counted
// exactly; above, each power of two is split into S equal sub-buckets, so a recorded value is
// reported with a relative error of at most 1/(2*S) (S = 128: under 0.4 %). Histograms of the
// same shape merge by adding counts, so each thread records into its own and they are summed
// at the end. The maximum is kept exactly.
#pragma once

#include <cstdint>
#include <vector>

namespace sio::bench {

class histogram {
public:
    static constexpr unsigned sub_bits = 7;
    static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;  // S

    histogram();
    void record(std::uint64_t value, std::uint64_t count = 1);
    void merge(const histogram& other);
    void reset();

    std::uint64_t count() const noexcept { return total_; }
    std::uint64_t max() const noexcept { return max_; }
    std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
    // Value at quantile q in [0, 1] (the smallest recorded value v with at least ceil(q*count)
    // values <= v, up to the bucket error); 0 when empty. q >= 1 gives the exact maximum.
    std::uint64_t percentile(double q) const;
    // Upper bound of the relative error of percentile() for values >= 2*S.
    static constexpr double relative_error() { return 1.0 / (2.0 * static_cast<double>(sub_count)); }

    static std::size_t index_of(std::uint64_t value) noexcept;
    static std::uint64_t lowest_of(std::size_t index) noexcept;
    static std::uint64_t width_of(std::size_t index) noexcept;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = UINT64_MAX;
};

}  // namespace sio::bench
