#include "ws/mask.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTERAPI_X86 1
#endif

namespace fasterapi::ws {

void unmask_reference(uint8_t* data, size_t len, const uint8_t key[4], size_t phase) noexcept {
    for (size_t i = 0; i < len; ++i) data[i] ^= key[(i + phase) & 3];
}

namespace {

// The key rotated so that k[0] applies to data[0]; the 4-byte period divides every
// block size below, so the same pattern stays in phase across blocks.
struct Pattern {
    uint8_t k[32];
};

inline Pattern make_pattern(const uint8_t key[4], size_t phase) noexcept {
    Pattern p;
    for (size_t i = 0; i < sizeof p.k; ++i) p.k[i] = key[(i + phase) & 3];
    return p;
}

// 8 bytes at a time, then the tail; returns nothing, handles any length.
inline void unmask_scalar(uint8_t* data, size_t len, const Pattern& p) noexcept {
    uint64_t k8;
    std::memcpy(&k8, p.k, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        std::memcpy(&v, data + i, 8);
        v ^= k8;
        std::memcpy(data + i, &v, 8);
    }
    for (; i < len; ++i) data[i] ^= p.k[i & 3];
}

#ifdef FASTERAPI_X86
// SSE2 is part of x86-64, so this path needs no run-time check.
inline void unmask_sse2(uint8_t* data, size_t len, const Pattern& p) noexcept {
    const __m128i k = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.k));
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
    unmask_scalar(data + i, len - i, p);  // i is a multiple of 4: pattern still in phase
}

__attribute__((target("avx2"))) void unmask_avx2(uint8_t* data, size_t len, const Pattern& p) noexcept {
    const __m256i k = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.k));
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
    unmask_scalar(data + i, len - i, p);
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
    const Pattern p = make_pattern(key, phase);
#ifdef FASTERAPI_X86
    if (len >= 32) {
        if (kHasAvx2) {
            unmask_avx2(data, len, p);
        } else {
            unmask_sse2(data, len, p);
        }
        return;
    }
#endif
    unmask_scalar(data, len, p);
}

}  // namespace fasterapi::ws
