// HDR-style log-linear latency histogram: 128 linear sub-buckets per power of
// two, so any recorded value is reported within 1/128 (< 0.8%) of its true
// value, from 0 up to ~1.4e11 units (over 100 s when the unit is ns). Fixed
// size (no allocation after construction), mergeable across threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace fasterapi::loadgen {

class Histogram {
public:
    static constexpr int kSubBits = 7;                       // 128 sub-buckets per octave
    static constexpr uint64_t kHalf = uint64_t{1} << kSubBits;
    static constexpr uint64_t kFirst = kHalf * 2;            // values < 256 are exact
    static constexpr int kMaxShift = 30;                     // top octave: [2^37, 2^38)
    static constexpr size_t kBuckets = (kMaxShift + 1) * kHalf + kHalf;
    static constexpr uint64_t kMaxTrackable = (kFirst << kMaxShift) - 1;

    Histogram() : counts_(kBuckets, 0) {}

    // Values above kMaxTrackable land in the top bucket; min/max/sum stay exact.
    void record(uint64_t v) noexcept {
        ++counts_[index_of(v)];
        ++count_;
        sum_ += static_cast<double>(v);
        if (v < min_) min_ = v;
        if (v > max_) max_ = v;
    }
    void merge(const Histogram& o) noexcept;
    void clear() noexcept;

    uint64_t count() const noexcept { return count_; }
    uint64_t min() const noexcept { return count_ ? min_ : 0; }
    uint64_t max() const noexcept { return max_; }
    double mean() const noexcept { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }

    // The value at percentile p (0..100]: the highest value equivalent to the
    // bucket holding the ceil(p% * count)-th smallest sample, capped at max().
    uint64_t percentile(double p) const noexcept;

    // Non-empty buckets as (highest equivalent value, count), ascending.
    std::vector<std::pair<uint64_t, uint64_t>> buckets() const;

    static size_t index_of(uint64_t v) noexcept {
        if (v > kMaxTrackable) v = kMaxTrackable;
        if (v < kFirst) return static_cast<size_t>(v);
        const int msb = 63 - __builtin_clzll(v);
        const int shift = msb - kSubBits;                    // >= 1
        return static_cast<size_t>(shift) * kHalf + static_cast<size_t>(v >> shift);
    }
    // Largest value that maps to bucket i.
    static uint64_t highest_of(size_t i) noexcept {
        if (i < kFirst) return i;
        const size_t shift = i / kHalf - 1;
        const uint64_t sub = i - shift * kHalf;             // in [128, 256)
        return ((sub + 1) << shift) - 1;
    }

private:
    std::vector<uint64_t> counts_;
    uint64_t count_ = 0;
    uint64_t min_ = UINT64_MAX;
    uint64_t max_ = 0;
    double sum_ = 0.0;
};

}  // namespace fasterapi::loadgen
