// Payload (un)masking, RFC 6455 5.3: octet i of the payload is XORed with
// octet (i mod 4) of the masking key. Masking and unmasking are the same operation.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fasterapi::ws {

// XOR in place. `phase` is the offset of data[0] within the frame payload, so a payload
// that arrives in chunks can be unmasked chunk by chunk (phase = bytes already done).
// 8 bytes at a time through memcpy loads (alignment-safe), SSE2 16 B and AVX2 32 B
// blocks chosen at run time, scalar tail.
void unmask(uint8_t* data, size_t len, const uint8_t key[4], size_t phase = 0) noexcept;

// Byte-by-byte definition, the reference the fast path is tested against.
void unmask_reference(uint8_t* data, size_t len, const uint8_t key[4], size_t phase = 0) noexcept;

}  // namespace fasterapi::ws
