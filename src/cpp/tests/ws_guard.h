// Guard-page buffers for the ws_* tests: input placed at the very end of a mapping
// followed by a PROT_NONE page, so any read or write past it crashes (picohttpparser
// style). Also hex helpers for byte vectors.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace fasterapi::ws::test {

// Bytes placed at the very end of a read-write mapping followed by a PROT_NONE page.
class GuardedBuffer {
public:
    explicit GuardedBuffer(std::string_view bytes) {
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        data_pages_ = (bytes.size() + page - 1) / page;
        if (data_pages_ == 0) data_pages_ = 1;
        map_size_ = (data_pages_ + 1) * page;
        void* m = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) std::abort();
        base_ = static_cast<uint8_t*>(m);
        if (mprotect(base_ + data_pages_ * page, page, PROT_NONE) != 0) std::abort();
        data_ = base_ + data_pages_ * page - bytes.size();
        size_ = bytes.size();
        if (size_) std::memcpy(data_, bytes.data(), size_);
    }
    ~GuardedBuffer() { munmap(base_, map_size_); }

    // Reuses the mapping for other bytes (no larger than its pages), again placed
    // right before the guard page.
    void assign(std::string_view bytes) {
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        if (bytes.size() > data_pages_ * page) std::abort();
        data_ = base_ + data_pages_ * page - bytes.size();
        size_ = bytes.size();
        if (size_) std::memcpy(data_, bytes.data(), size_);
    }
    GuardedBuffer(const GuardedBuffer&) = delete;
    GuardedBuffer& operator=(const GuardedBuffer&) = delete;

    uint8_t* data() { return data_; }
    size_t size() const { return size_; }

private:
    uint8_t* base_ = nullptr;
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
    size_t map_size_ = 0;
    size_t data_pages_ = 0;
};

inline std::string hex(std::string_view s) {
    std::string out;
    char b[4];
    for (unsigned char c : s) {
        std::snprintf(b, sizeof b, "%02x", c);
        out += b;
    }
    return out;
}

inline std::string unhex(std::string_view h) {
    std::string out;
    for (size_t i = 0; i + 1 < h.size(); i += 2) {
        if (h[i] == ' ') {
            --i;
            continue;
        }
        out.push_back(static_cast<char>(std::strtoul(std::string(h.substr(i, 2)).c_str(), nullptr, 16)));
    }
    return out;
}

}  // namespace fasterapi::ws::test
