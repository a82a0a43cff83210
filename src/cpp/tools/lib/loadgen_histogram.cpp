#include "tools/lib/loadgen_histogram.h"

#include <algorithm>
#include <cmath>

namespace fasterapi::loadgen {

void Histogram::merge(const Histogram& o) noexcept {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
}

void Histogram::clear() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    sum_ = 0.0;
    min_ = UINT64_MAX;
    max_ = 0;
}

uint64_t Histogram::percentile(double p) const noexcept {
    if (count_ == 0) return 0;
    if (p <= 0.0) return min();
    double want = std::ceil(p / 100.0 * static_cast<double>(count_));
    uint64_t rank = want < 1.0 ? 1 : static_cast<uint64_t>(want);
    if (rank > count_) rank = count_;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::min(highest_of(i), max_);
    }
    return max_;
}

std::vector<std::pair<uint64_t, uint64_t>> Histogram::buckets() const {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (size_t i = 0; i < kBuckets; ++i)
        if (counts_[i]) out.emplace_back(std::min(highest_of(i), max_), counts_[i]);
    return out;
}

}  // namespace fasterapi::loadgen
