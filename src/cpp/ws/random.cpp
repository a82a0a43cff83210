#include "ws/random.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace fasterapi::ws {

namespace {

constexpr size_t kPoolSize = 4096;

// Fills exactly n bytes from getrandom(2); falls back to /dev/urandom on kernels
// without the system call. Aborts rather than hand out predictable masks.
void os_random(uint8_t* out, size_t n) {
    size_t done = 0;
    while (done < n) {
        const ssize_t r = getrandom(out + done, n - done, 0);
        if (r > 0) {
            done += static_cast<size_t>(r);
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        break;
    }
    if (done == n) return;
    const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) std::abort();
    while (done < n) {
        const ssize_t r = ::read(fd, out + done, n - done);
        if (r > 0) {
            done += static_cast<size_t>(r);
        } else if (!(r < 0 && errno == EINTR)) {
            ::close(fd);
            std::abort();
        }
    }
    ::close(fd);
}

struct Pool {
    uint8_t bytes[kPoolSize];
    size_t used = kPoolSize;  // empty until first use
};

}  // namespace

void random_bytes(uint8_t* out, size_t n) {
    if (n >= kPoolSize / 4) {  // large requests bypass the pool
        os_random(out, n);
        return;
    }
    thread_local Pool pool;
    while (n > 0) {
        if (pool.used == kPoolSize) {
            os_random(pool.bytes, kPoolSize);
            pool.used = 0;
        }
        const size_t take = n < kPoolSize - pool.used ? n : kPoolSize - pool.used;
        std::memcpy(out, pool.bytes + pool.used, take);
        // Each byte is handed out once: wipe it so a later memory disclosure cannot
        // reveal masks already used.
        std::memset(pool.bytes + pool.used, 0, take);
        pool.used += take;
        out += take;
        n -= take;
    }
}

}  // namespace fasterapi::ws
