// Incremental UTF-8 validation (RFC 3629; RFC 6455 8.1 requires it for text messages
// and close reasons). Carries a partial code point across feed() calls, so a message
// split into frames and TCP segments anywhere is judged like the whole.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fasterapi::ws {

class Utf8Validator {
public:
    // Validates the next n bytes. Returns false at the first invalid byte (overlong
    // form, surrogate D800-DFFF, code point > U+10FFFF, C0/C1/F5-FF, unexpected
    // continuation, missing continuation) and stays false until reset().
    bool feed(const uint8_t* p, size_t n) noexcept;
    // True when the bytes so far end on a code point boundary (and none was invalid).
    bool complete() const noexcept { return need_ == 0 && !failed_; }
    bool failed() const noexcept { return failed_; }
    void reset() noexcept { *this = Utf8Validator{}; }

private:
    // Within a multi-byte sequence: continuation bytes still expected and the range
    // allowed for the next one (narrower than 80..BF right after E0, ED, F0 and F4,
    // which is how overlongs, surrogates and > U+10FFFF are excluded).
    uint8_t need_ = 0;
    uint8_t lo_ = 0x80;
    uint8_t hi_ = 0xBF;
    bool failed_ = false;
};

// One-shot: the whole buffer is valid UTF-8 and ends on a code point boundary.
bool utf8_valid(const uint8_t* p, size_t n) noexcept;

}  // namespace fasterapi::ws
