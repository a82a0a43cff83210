// The load generator's latency histogram against a sorted reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tools/lib/loadgen_histogram.h"

using fasterapi::loadgen::Histogram;

namespace {

uint64_t reference_percentile(const std::vector<uint64_t>& sorted, double p) {
    double want = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
    size_t rank = want < 1.0 ? 1 : static_cast<size_t>(want);
    return sorted[std::min(rank, sorted.size()) - 1];
}

void expect_close(uint64_t got, uint64_t ref) {
    // Reported values are the bucket's highest equivalent: never below the truth,
    // and above it by at most 1/128 of it (+1 for the exact low range).
    EXPECT_GE(got, ref);
    EXPECT_LE(static_cast<double>(got), static_cast<double>(ref) * (1.0 + 1.0 / 128.0) + 1.0)
        << "ref " << ref;
}

void check_against_reference(std::vector<uint64_t> values) {
    Histogram h;
    for (uint64_t v : values) h.record(v);
    std::sort(values.begin(), values.end());
    ASSERT_EQ(h.count(), values.size());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
    for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0})
        expect_close(h.percentile(p), reference_percentile(values, p));
}

}  // namespace

TEST(LoadgenHistogram, EmptyReportsZero) {
    Histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.percentile(50), 0u);
    EXPECT_DOUBLE_EQ(h.mean(), 0.0);
    EXPECT_TRUE(h.buckets().empty());
}

TEST(LoadgenHistogram, SmallValuesAreExact) {
    Histogram h;
    for (uint64_t v = 0; v < 256; ++v) h.record(v);
    EXPECT_EQ(h.percentile(50), 127u);
    EXPECT_EQ(h.percentile(100), 255u);
    EXPECT_EQ(h.buckets().size(), 256u);
    EXPECT_DOUBLE_EQ(h.mean(), 127.5);
}

TEST(LoadgenHistogram, IndexAndHighestAreConsistent) {
    // Every bucket's highest value maps back to it, and the next value to the next bucket.
    for (size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
        uint64_t hi = Histogram::highest_of(i);
        ASSERT_EQ(Histogram::index_of(hi), i);
        ASSERT_EQ(Histogram::index_of(hi + 1), i + 1);
    }
    EXPECT_EQ(Histogram::index_of(Histogram::kMaxTrackable), Histogram::kBuckets - 1);
    EXPECT_EQ(Histogram::index_of(UINT64_MAX), Histogram::kBuckets - 1);
}

TEST(LoadgenHistogram, UniformAgainstSortedReference) {
    std::mt19937_64 rng(1);
    std::uniform_int_distribution<uint64_t> d(1000, 10'000'000);
    std::vector<uint64_t> v(100'000);
    for (auto& x : v) x = d(rng);
    check_against_reference(v);
}

TEST(LoadgenHistogram, LogNormalLatenciesAgainstSortedReference) {
    // Latency-like: a body around 50 us (in ns) with a long tail up to seconds.
    std::mt19937_64 rng(2);
    std::lognormal_distribution<double> d(std::log(50'000.0), 1.5);
    std::vector<uint64_t> v(200'000);
    for (auto& x : v) x = static_cast<uint64_t>(d(rng));
    check_against_reference(v);
}

TEST(LoadgenHistogram, HugeValuesClampButMaxIsExact) {
    Histogram h;
    h.record(5);
    h.record(200'000'000'000'000ull);  // beyond the trackable range
    EXPECT_EQ(h.max(), 200'000'000'000'000ull);
    EXPECT_EQ(h.percentile(100), Histogram::highest_of(Histogram::kBuckets - 1));
    EXPECT_EQ(h.percentile(50), 5u);
}

TEST(LoadgenHistogram, MergeEqualsRecordingEverythingInOne) {
    std::mt19937_64 rng(3);
    std::uniform_int_distribution<uint64_t> d(0, 1'000'000'000);
    Histogram a, b, all;
    std::vector<uint64_t> v(50'000);
    for (size_t i = 0; i < v.size(); ++i) {
        v[i] = d(rng);
        (i % 3 ? a : b).record(v[i]);
        all.record(v[i]);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.max(), all.max());
    EXPECT_DOUBLE_EQ(a.mean(), all.mean());
    EXPECT_EQ(a.buckets(), all.buckets());
    for (double p : {50.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(p), all.percentile(p));
    check_against_reference(v);
    a.clear();
    EXPECT_EQ(a.count(), 0u);
    EXPECT_TRUE(a.buckets().empty());
}

TEST(LoadgenHistogram, SinglePeakReportsThatValue) {
    Histogram h;
    for (int i = 0; i < 1000; ++i) h.record(123'456);
    EXPECT_EQ(h.percentile(50), 123'456u);  // capped at the exact max
    EXPECT_EQ(h.percentile(99.9), 123'456u);
    EXPECT_EQ(h.min(), 123'456u);
    auto b = h.buckets();
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].second, 1000u);
}
