#include "ws/utf8.h"

#include <cstring>

namespace fasterapi::ws {

namespace {
constexpr uint64_t kHigh8 = 0x8080808080808080ull;

inline uint64_t load8(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
}  // namespace

bool Utf8Validator::feed(const uint8_t* p, size_t n) noexcept {
    if (failed_) return false;
    size_t i = 0;
    while (i < n) {
        if (need_ == 0) {
            // ASCII fast path: 16, then 8 bytes at a time while no high bit is set.
            while (n - i >= 16 && ((load8(p + i) | load8(p + i + 8)) & kHigh8) == 0) i += 16;
            if (n - i >= 8 && (load8(p + i) & kHigh8) == 0) i += 8;
            if (i == n) break;
            const uint8_t b = p[i];
            if (b < 0x80) {
                ++i;
                continue;
            }
            // Lead byte (RFC 3629 4, UTF8-2/3/4 rules).
            if (b >= 0xC2 && b <= 0xDF) {
                need_ = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                need_ = 2;
                if (b == 0xE0) lo_ = 0xA0;       // overlong below U+0800
                else if (b == 0xED) hi_ = 0x9F;  // surrogates U+D800..DFFF
            } else if (b >= 0xF0 && b <= 0xF4) {
                need_ = 3;
                if (b == 0xF0) lo_ = 0x90;       // overlong below U+10000
                else if (b == 0xF4) hi_ = 0x8F;  // above U+10FFFF
            } else {
                failed_ = true;  // 80..C1 (stray continuation, overlong 2-byte), F5..FF
                return false;
            }
            ++i;
            // Whole code point in the buffer: check its continuation bytes in one go.
            if (n - i >= need_) {
                if (p[i] < lo_ || p[i] > hi_) {
                    failed_ = true;
                    return false;
                }
                for (uint8_t k = 1; k < need_; ++k) {
                    if ((p[i + k] & 0xC0) != 0x80) {
                        failed_ = true;
                        return false;
                    }
                }
                i += need_;
                need_ = 0;
                lo_ = 0x80;
                hi_ = 0xBF;
            }
            continue;
        }
        // Inside a code point that started in an earlier call (or at the buffer end).
        const uint8_t b = p[i];
        if (b < lo_ || b > hi_) {
            failed_ = true;
            return false;
        }
        lo_ = 0x80;
        hi_ = 0xBF;
        --need_;
        ++i;
    }
    return true;
}

bool utf8_valid(const uint8_t* p, size_t n) noexcept {
    Utf8Validator v;
    return v.feed(p, n) && v.complete();
}

}  // namespace fasterapi::ws
