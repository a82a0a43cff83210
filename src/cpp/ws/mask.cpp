#include "ws/mask.h"

#include <cstring>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mask.cpp assumes a little-endian target"
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTERAPI_X86 1
#endif

namespace fasterapi::ws {

void unmask_reference(uint8_t* data, size_t len, const uint8_t key[4], size_t phase) noexcept {
    for (size_t i = 0; i < len; ++i) data[i] ^= key[(i + phase) & 3];
}

namespace {

// The key rotated so that its first byte applies to data[0], as a little-endian word
// (x86 and the memcpy loads below are little-endian). The 4-byte period divides every
// block size, so the same pattern stays in phase across blocks.
inline uint32_t rotated_key(const uint8_t key[4], size_t phase) noexcept {
    uint32_t k;
    std::memcpy(&k, key, 4);
    const unsigned s = static_cast<unsigned>(phase & 3) * 8;
    return s == 0 ? k : (k >> s) | (k << (32 - s));
}

// 8 bytes at a time, then the tail.
inline void unmask_scalar(uint8_t* data, size_t len, uint32_t k4) noexcept {
    const uint64_t k8 = (uint64_t{k4} << 32) | k4;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        std::memcpy(&v, data + i, 8);
        v ^= k8;
        std::memcpy(data + i, &v, 8);
    }
    for (; i < len; ++i) data[i] ^= static_cast<uint8_t>(k4 >> (8 * (i & 3)));
}

#ifdef FASTERAPI_X86
// SSE2 is part of x86-64, so this path needs no run-time check.
inline void unmask_sse2(uint8_t* data, size_t len, uint32_t k4) noexcept {
    const __m128i k = _mm_set1_epi32(static_cast<int>(k4));
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        auto* d = reinterpret_cast<__m128i*>(data + i);
        __m128i a = _mm_loadu_si128(d), b = _mm_loadu_si128(d + 1);
        __m128i c = _mm_loadu_si128(d + 2), e = _mm_loadu_si128(d + 3);
        _mm_storeu_si128(d, _mm_xor_si128(a, k));
        _mm_storeu_si128(d + 1, _mm_xor_si128(b, k));
        _mm_storeu_si128(d + 2, _mm_xor_si128(c, k));
        _mm_storeu_si128(d + 3, _mm_xor_si128(e, k));
    }
    for (; i + 16 <= len; i += 16) {
        auto* d = reinterpret_cast<__m128i*>(data + i);
        _mm_storeu_si128(d, _mm_xor_si128(_mm_loadu_si128(d), k));
    }
    unmask_scalar(data + i, len - i, k4);  // i is a multiple of 4: pattern still in phase
}

__attribute__((target("avx2"))) void unmask_avx2(uint8_t* data, size_t len, uint32_t k4) noexcept {
    const __m256i k = _mm256_set1_epi32(static_cast<int>(k4));
    size_t i = 0;
    for (; i + 128 <= len; i += 128) {
        auto* d = reinterpret_cast<__m256i*>(data + i);
        __m256i a = _mm256_loadu_si256(d), b = _mm256_loadu_si256(d + 1);
        __m256i c = _mm256_loadu_si256(d + 2), e = _mm256_loadu_si256(d + 3);
        _mm256_storeu_si256(d, _mm256_xor_si256(a, k));
        _mm256_storeu_si256(d + 1, _mm256_xor_si256(b, k));
        _mm256_storeu_si256(d + 2, _mm256_xor_si256(c, k));
        _mm256_storeu_si256(d + 3, _mm256_xor_si256(e, k));
    }
    for (; i + 32 <= len; i += 32) {
        auto* d = reinterpret_cast<__m256i*>(data + i);
        _mm256_storeu_si256(d, _mm256_xor_si256(_mm256_loadu_si256(d), k));
    }
    unmask_scalar(data + i, len - i, k4);
}

bool cpu_has_avx2() noexcept {
    __builtin_cpu_init();  // may run before the constructors that normally initialise it
    return __builtin_cpu_supports("avx2") != 0;
}
const bool kHasAvx2 = cpu_has_avx2();
#endif

}  // namespace

void unmask(uint8_t* data, size_t len, const uint8_t key[4], size_t phase) noexcept {
    if (len == 0) return;
    const uint32_t k4 = rotated_key(key, phase);
#ifdef FASTERAPI_X86
    if (len >= 64) {  // small payloads (most chat messages) skip the dispatch
        if (kHasAvx2) {
            unmask_avx2(data, len, k4);
        } else {
            unmask_sse2(data, len, k4);
        }
        return;
    }
#endif
    unmask_scalar(data, len, k4);
}

}  // namespace fasterapi::ws
