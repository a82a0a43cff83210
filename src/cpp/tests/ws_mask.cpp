#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ws/mask.h"
#include "ws_guard.h"

namespace fasterapi::ws {
namespace {

std::vector<uint8_t> pattern_bytes(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    uint32_t x = seed * 2654435761u + 1;
    for (auto& b : v) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b = static_cast<uint8_t>(x);
    }
    return v;
}

// Every length 0..130, every alignment 0..31, every phase 0..3, with canaries around
// the region to catch writes outside it.
TEST(WsMask, MatchesReferenceEveryLengthAlignmentPhase) {
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    alignas(64) uint8_t a[256], b[256];
    for (size_t len = 0; len <= 130; ++len) {
        for (size_t align = 0; align < 32; ++align) {
            for (size_t phase = 0; phase < 4; ++phase) {
                const auto src = pattern_bytes(sizeof a, static_cast<uint32_t>(len * 131 + align * 7 + phase));
                std::memcpy(a, src.data(), sizeof a);
                std::memcpy(b, src.data(), sizeof b);
                unmask(a + 64 + align, len, key, phase);
                unmask_reference(b + 64 + align, len, key, phase);
                ASSERT_EQ(0, std::memcmp(a, b, sizeof a)) << "len=" << len << " align=" << align << " phase=" << phase;
            }
        }
    }
}

TEST(WsMask, ReferenceIsTheRfcDefinition) {
    // RFC 6455 5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58.
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t hello[5] = {'H', 'e', 'l', 'l', 'o'};
    unmask_reference(hello, 5, key);
    const uint8_t expect[5] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    EXPECT_EQ(0, std::memcmp(hello, expect, 5));
    unmask(hello, 5, key);
    EXPECT_EQ(0, std::memcmp(hello, "Hello", 5));
}

TEST(WsMask, ChunkedWithPhaseEqualsWhole) {
    const uint8_t key[4] = {1, 2, 3, 250};
    const auto src = pattern_bytes(1000, 9);
    std::vector<uint8_t> whole = src;
    unmask(whole.data(), whole.size(), key);
    for (size_t cut : {1u, 3u, 5u, 33u, 64u, 999u}) {
        std::vector<uint8_t> parts = src;
        unmask(parts.data(), cut, key, 0);
        unmask(parts.data() + cut, parts.size() - cut, key, cut);
        EXPECT_EQ(whole, parts) << cut;
    }
}

TEST(WsMask, LargeBufferAgainstReferenceAndInGuardPage) {
    const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
    for (size_t len : {4095u, 4096u, 65537u}) {
        const auto src = pattern_bytes(len, static_cast<uint32_t>(len));
        test::GuardedBuffer g(std::string_view(reinterpret_cast<const char*>(src.data()), len));
        std::vector<uint8_t> ref = src;
        unmask(g.data(), len, key, 2);
        unmask_reference(ref.data(), len, key, 2);
        EXPECT_EQ(0, std::memcmp(g.data(), ref.data(), len));
    }
}

}  // namespace
}  // namespace fasterapi::ws
