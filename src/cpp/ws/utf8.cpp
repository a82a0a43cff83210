#include "ws/utf8.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define FASTERAPI_UTF8_AVX2 1
#endif

namespace fasterapi::ws {

namespace {

constexpr uint64_t kHigh8 = 0x8080808080808080ull;

inline uint64_t load8(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

// Per lead byte (RFC 3629 4): continuation bytes that follow and the allowed range of
// the first one. need 0xFF marks bytes that can never start a code point: 80..BF
// (continuations), C0/C1 (overlong 2-byte) and F5..FF. The narrow ranges after E0, ED,
// F0 and F4 exclude overlongs, surrogates (U+D800..DFFF) and code points > U+10FFFF.
struct Lead {
    uint8_t need, lo, hi;
};
constexpr std::array<Lead, 256> make_leads() {
    std::array<Lead, 256> t{};
    for (int b = 0; b < 256; ++b) {
        Lead l{0xFF, 0x80, 0xBF};
        if (b < 0x80) l.need = 0;
        else if (b >= 0xC2 && b <= 0xDF) l.need = 1;
        else if (b >= 0xE0 && b <= 0xEF) l.need = 2;
        else if (b >= 0xF0 && b <= 0xF4) l.need = 3;
        if (b == 0xE0) l.lo = 0xA0;
        if (b == 0xED) l.hi = 0x9F;
        if (b == 0xF0) l.lo = 0x90;
        if (b == 0xF4) l.hi = 0x8F;
        t[b] = l;
    }
    return t;
}
constexpr std::array<Lead, 256> kLeads = make_leads();

inline bool is_cont(uint8_t b) noexcept { return (b & 0xC0) == 0x80; }

#ifdef FASTERAPI_UTF8_AVX2
// AVX2 validation of whole 32-byte blocks, after the lookup-table method of Keiser &
// Lemire, "Validating UTF-8 In Less Than One Instruction Per Byte" (2021): each byte and
// its predecessor select error classes from three 16-entry nibble tables; a byte pair
// is invalid when all three agree. Third and fourth bytes of a sequence (two
// continuations in a row) are told apart with saturating subtractions on the bytes two
// and three back.
enum : uint8_t {
    kTooShort = 1 << 0,   // lead followed by a non-continuation
    kTooLong = 1 << 1,    // ASCII followed by a continuation
    kOverlong3 = 1 << 2,  // E0 80..9F
    kTooLarge = 1 << 3,   // F4 90..BF, F5..FF
    kSurrogate = 1 << 4,  // ED A0..BF
    kOverlong2 = 1 << 5,  // C0/C1 lead
    kTooLarge1000 = 1 << 6,  // F5..FF 80..8F
    kOverlong4 = 1 << 6,     // F0 80..8F (shares the bit: same second-byte range)
    kTwoConts = 1 << 7,   // continuation after continuation (fine for 3rd/4th bytes)
    kCarry = kTooShort | kTooLong | kTwoConts,
};

__attribute__((target("avx2"))) inline __m256i table16(uint8_t t0, uint8_t t1, uint8_t t2, uint8_t t3,
                                                        uint8_t t4, uint8_t t5, uint8_t t6, uint8_t t7,
                                                        uint8_t t8, uint8_t t9, uint8_t t10, uint8_t t11,
                                                        uint8_t t12, uint8_t t13, uint8_t t14, uint8_t t15) {
    return _mm256_setr_epi8(static_cast<char>(t0), static_cast<char>(t1), static_cast<char>(t2),
                            static_cast<char>(t3), static_cast<char>(t4), static_cast<char>(t5),
                            static_cast<char>(t6), static_cast<char>(t7), static_cast<char>(t8),
                            static_cast<char>(t9), static_cast<char>(t10), static_cast<char>(t11),
                            static_cast<char>(t12), static_cast<char>(t13), static_cast<char>(t14),
                            static_cast<char>(t15), static_cast<char>(t0), static_cast<char>(t1),
                            static_cast<char>(t2), static_cast<char>(t3), static_cast<char>(t4),
                            static_cast<char>(t5), static_cast<char>(t6), static_cast<char>(t7),
                            static_cast<char>(t8), static_cast<char>(t9), static_cast<char>(t10),
                            static_cast<char>(t11), static_cast<char>(t12), static_cast<char>(t13),
                            static_cast<char>(t14), static_cast<char>(t15));
}

// Bytes of `cur` shifted by N positions, the first N coming from the end of `prev`.
template <int N>
__attribute__((target("avx2"))) inline __m256i shifted(__m256i cur, __m256i prev) {
    return _mm256_alignr_epi8(cur, _mm256_permute2x128_si256(prev, cur, 0x21), 16 - N);
}

// Validates p[0, len), len a multiple of 32, starting on a code point boundary. A code
// point cut by the end is not an error here (the caller rechecks the last one).
__attribute__((target("avx2"))) bool avx2_blocks_valid(const uint8_t* p, size_t len) noexcept {
    const __m256i low_nibble = _mm256_set1_epi8(0x0F);
    const __m256i byte1_high = table16(
        kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong,  // 0..7: ASCII
        kTwoConts, kTwoConts, kTwoConts, kTwoConts,                                      // 8..B: continuation
        kTooShort | kOverlong2,                                                          // C
        kTooShort,                                                                       // D
        kTooShort | kOverlong3 | kSurrogate,                                             // E
        kTooShort | kTooLarge | kTooLarge1000 | kOverlong4);                             // F
    const __m256i byte1_low = table16(
        kCarry | kOverlong3 | kOverlong2 | kOverlong4,  // x0
        kCarry | kOverlong2,                            // x1
        kCarry, kCarry,                                 // x2, x3
        kCarry | kTooLarge,                             // x4
        kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000,  // x5, x6
        kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000,  // x7, x8
        kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000,  // x9, xA
        kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000,  // xB, xC
        kCarry | kTooLarge | kTooLarge1000 | kSurrogate,                         // xD
        kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000);  // xE, xF
    const __m256i byte2_high = table16(
        kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort,  // 0..7
        kTooLong | kOverlong2 | kTwoConts | kOverlong3 | kTooLarge1000 | kOverlong4,            // 8
        kTooLong | kOverlong2 | kTwoConts | kOverlong3 | kTooLarge,                             // 9
        kTooLong | kOverlong2 | kTwoConts | kSurrogate | kTooLarge,                             // A
        kTooLong | kOverlong2 | kTwoConts | kSurrogate | kTooLarge,                             // B
        kTooShort, kTooShort, kTooShort, kTooShort);                                            // C..F
    const __m256i third_min = _mm256_set1_epi8(static_cast<char>(0xE0 - 1));
    const __m256i fourth_min = _mm256_set1_epi8(static_cast<char>(0xF0 - 1));
    const __m256i high_bit = _mm256_set1_epi8(static_cast<char>(0x80));

    __m256i prev = _mm256_setzero_si256();
    __m256i error = _mm256_setzero_si256();
    for (size_t i = 0; i < len; i += 32) {
        const __m256i cur = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
        if (_mm256_movemask_epi8(_mm256_or_si256(cur, prev)) != 0) {  // not ASCII after ASCII
            const __m256i prev1 = shifted<1>(cur, prev);
            const __m256i sc = _mm256_and_si256(
                _mm256_and_si256(
                    _mm256_shuffle_epi8(byte1_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low_nibble)),
                    _mm256_shuffle_epi8(byte1_low, _mm256_and_si256(prev1, low_nibble))),
                _mm256_shuffle_epi8(byte2_high, _mm256_and_si256(_mm256_srli_epi16(cur, 4), low_nibble)));
            const __m256i prev2 = shifted<2>(cur, prev);
            const __m256i prev3 = shifted<3>(cur, prev);
            const __m256i must23 = _mm256_or_si256(_mm256_subs_epu8(prev2, third_min), _mm256_subs_epu8(prev3, fourth_min));
            const __m256i must23_80 = _mm256_and_si256(_mm256_cmpgt_epi8(must23, _mm256_setzero_si256()), high_bit);
            error = _mm256_or_si256(error, _mm256_xor_si256(must23_80, sc));
        }
        prev = cur;
    }
    return _mm256_testz_si256(error, error) != 0;
}

bool cpu_has_avx2() noexcept {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
}
const bool kHasAvx2 = cpu_has_avx2();
#endif

}  // namespace

bool Utf8Validator::feed(const uint8_t* p, size_t n) noexcept {
    if (failed_) return false;
    // State in locals: p may alias *this (both are bytes), which would otherwise force
    // a store and reload per byte.
    uint8_t need = need_, lo = lo_, hi = hi_;
    size_t i = 0;
    // Finish a code point begun in an earlier call.
    while (need != 0 && i < n) {
        if (p[i] < lo || p[i] > hi) {
            failed_ = true;
            return false;
        }
        lo = 0x80, hi = 0xBF;
        --need;
        ++i;
    }
#ifdef FASTERAPI_UTF8_AVX2
    if (kHasAvx2 && n - i >= 64) {
        const size_t blocks = (n - i) & ~size_t{31};
        if (!avx2_blocks_valid(p + i, blocks)) {
            failed_ = true;
            return false;
        }
        // The last code point may continue past the blocks: rewind to its lead byte
        // and let the scalar loop judge it with the bytes that follow.
        const size_t end = i + blocks;
        size_t back = end;
        for (size_t k = 1; k <= 3; ++k) {
            const uint8_t b = p[end - k];
            if (is_cont(b)) continue;
            if (b >= 0xC0) back = end - k;
            break;
        }
        i = back;
    }
#endif
    while (i < n) {
        // ASCII fast path: 16, then 8 bytes at a time while no high bit is set.
        while (n - i >= 16 && ((load8(p + i) | load8(p + i + 8)) & kHigh8) == 0) i += 16;
        if (n - i >= 8 && (load8(p + i) & kHigh8) == 0) {
            i += 8;
            continue;
        }
        // Scalar over the next block (whole code points, possibly ending past it),
        // then back to the wide checks.
        const size_t end = n - i > 16 ? i + 16 : n;
        while (i < end) {
            const uint8_t b = p[i];
            if (b < 0x80) {
                ++i;
                continue;
            }
            const Lead l = kLeads[b];
            if (l.need == 0xFF) {
                failed_ = true;
                return false;
            }
            ++i;
            if (n - i >= l.need) {  // whole code point here
                if (p[i] < l.lo || p[i] > l.hi || (l.need >= 2 && !is_cont(p[i + 1])) ||
                    (l.need == 3 && !is_cont(p[i + 2]))) {
                    failed_ = true;
                    return false;
                }
                i += l.need;
                continue;
            }
            // Truncated by the end of this buffer: check what is here, carry the rest.
            need = l.need, lo = l.lo, hi = l.hi;
            while (i < n) {
                if (p[i] < lo || p[i] > hi) {
                    failed_ = true;
                    return false;
                }
                lo = 0x80, hi = 0xBF;
                --need;
                ++i;
            }
        }
    }
    need_ = need, lo_ = lo, hi_ = hi;
    return true;
}

bool utf8_valid(const uint8_t* p, size_t n) noexcept {
    Utf8Validator v;
    return v.feed(p, n) && v.complete();
}

}  // namespace fasterapi::ws
