// Bytes from the OS CSPRNG (getrandom(2)), for client masking keys (RFC 6455 10.3:
// masks must not be predictable). A small thread_local pool makes a 4-byte key cost
// a memcpy instead of a system call.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fasterapi::ws {

// Never returns weak bytes: aborts if the kernel CSPRNG is unavailable.
void random_bytes(uint8_t* out, size_t n);

}  // namespace fasterapi::ws
