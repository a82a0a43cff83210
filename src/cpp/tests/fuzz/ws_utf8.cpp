// libFuzzer target: the incremental UTF-8 validator (ws/utf8.h) against the one-shot
// check and against an independent reference written from RFC 3629 code point ranges.
//
// Input: [split seed byte] [bytes to validate...]. The bytes are fed (a) whole,
// (b) one byte at a time, (c) in pieces whose sizes come from the seed. All must agree
// with the reference on: valid or not, whether it ends on a code point boundary, and
// the index of the FIRST invalid byte (RFC 6455 8.1 / issue 2: fail at the first bad
// byte, even mid-fragment).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>

#include "ws/utf8.h"

namespace {

using fasterapi::ws::Utf8Validator;
using fasterapi::ws::utf8_valid;

[[noreturn]] void die(const char* what, size_t a, size_t b) {
    std::fprintf(stderr, "fuzz_ws_utf8: %s (%zu vs %zu)\n", what, a, b);
    std::abort();
}

// Reference: a prefix is acceptable while it can still be extended into valid UTF-8.
// For a partial sequence we take the smallest and largest code points it could still
// become (remaining continuation bytes 80 / BF) and ask whether any value in that
// range is a valid scalar for that sequence length (not overlong, not a surrogate,
// <= U+10FFFF). This is a different derivation from the validator's lead-byte table.
struct Reference {
    size_t first_invalid = SIZE_MAX;  // index of the first byte that makes the input invalid
    bool ends_on_boundary = true;
};

bool range_has_valid_scalar(uint32_t lo, uint32_t hi, size_t len) {
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    static const uint32_t kMax[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    if (lo < kMin[len]) lo = kMin[len];
    if (hi > kMax[len]) hi = kMax[len];
    if (lo > hi) return false;
    // The only hole inside a length's range is the surrogate block.
    if (lo >= 0xD800 && hi <= 0xDFFF) return false;
    return true;
}

Reference reference(const uint8_t* p, size_t n) {
    Reference r;
    size_t seq_len = 0, have = 0;
    uint32_t bits = 0;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t b = p[i];
        if (have == 0) {
            if (b < 0x80) continue;
            if ((b & 0xE0) == 0xC0) seq_len = 2, bits = b & 0x1Fu;
            else if ((b & 0xF0) == 0xE0) seq_len = 3, bits = b & 0x0Fu;
            else if ((b & 0xF8) == 0xF0) seq_len = 4, bits = b & 0x07u;
            else return r.first_invalid = i, r.ends_on_boundary = false, r;
            have = 1;
        } else {
            if ((b & 0xC0) != 0x80) return r.first_invalid = i, r.ends_on_boundary = false, r;
            bits = (bits << 6) | (b & 0x3Fu);
            ++have;
        }
        const size_t missing = seq_len - have;
        const uint32_t lo = bits << (6 * missing);
        const uint32_t hi = lo | ((1u << (6 * missing)) - 1);
        if (!range_has_valid_scalar(lo, hi, seq_len)) {
            return r.first_invalid = i, r.ends_on_boundary = false, r;
        }
        if (have == seq_len) have = 0;
    }
    r.ends_on_boundary = have == 0;
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    uint32_t seed = data[0];
    const uint8_t* p = data + 1;
    const size_t n = size - 1;

    const Reference ref = reference(p, n);
    const bool ref_valid = ref.first_invalid == SIZE_MAX && ref.ends_on_boundary;

    // One-shot.
    if (utf8_valid(p, n) != ref_valid) die("utf8_valid disagrees with the reference", utf8_valid(p, n), ref_valid);

    // Whole buffer through the incremental validator.
    {
        Utf8Validator v;
        const bool ok = v.feed(p, n);
        if (ok != (ref.first_invalid == SIZE_MAX)) die("whole feed disagrees", ok, ref.first_invalid);
        if (ok && v.complete() != ref.ends_on_boundary) die("whole complete() disagrees", v.complete(), ref.ends_on_boundary);
        if (v.failed() == ok) die("failed() inconsistent with feed()", v.failed(), ok);
    }

    // One byte at a time: must fail exactly at the first invalid byte.
    {
        Utf8Validator v;
        size_t failed_at = SIZE_MAX;
        for (size_t i = 0; i < n; ++i) {
            if (!v.feed(p + i, 1)) {
                failed_at = i;
                break;
            }
        }
        if (failed_at != ref.first_invalid) die("byte-at-a-time fails at a different byte", failed_at, ref.first_invalid);
        if (failed_at == SIZE_MAX && v.complete() != ref.ends_on_boundary) die("byte-at-a-time complete()", v.complete(), ref.ends_on_boundary);
        if (failed_at != SIZE_MAX && v.feed(p, 0)) die("validator recovered after failing", 0, 0);
    }

    // Pieces of pseudo-random sizes (1..32, sometimes 0): the piece holding the first
    // invalid byte is the one that returns false.
    {
        Utf8Validator v;
        size_t pos = 0, failed_piece_end = SIZE_MAX, failed_piece_start = 0;
        while (pos <= n) {
            seed = seed * 1103515245u + 12345u;
            size_t len = (seed >> 16) % 33;
            if (len > n - pos) len = n - pos;
            if (!v.feed(p + pos, len)) {
                failed_piece_start = pos;
                failed_piece_end = pos + len;
                break;
            }
            if (pos == n) break;
            pos += len;
        }
        if (ref.first_invalid == SIZE_MAX) {
            if (failed_piece_end != SIZE_MAX) die("split feed failed on valid input", failed_piece_start, failed_piece_end);
            if (v.complete() != ref.ends_on_boundary) die("split complete()", v.complete(), ref.ends_on_boundary);
        } else if (failed_piece_end == SIZE_MAX || ref.first_invalid < failed_piece_start ||
                   ref.first_invalid >= failed_piece_end) {
            die("split feed failed in the wrong piece", failed_piece_start, ref.first_invalid);
        }
    }
    return 0;
}
