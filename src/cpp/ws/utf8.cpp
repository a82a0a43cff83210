#include "ws/utf8.h"

#include <array>
#include <cstring>

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
