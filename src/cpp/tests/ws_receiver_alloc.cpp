// "No heap allocation per frame on the fast path": counts operator new calls while the
// Receiver parses (a replacement global operator new, so this test has its own binary).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "ws/builder.h"
#include "ws/receiver.h"

namespace {
std::atomic<size_t> g_allocations{0};
// Out of line so the compiler does not pair new with free(3) and warn.
__attribute__((noinline)) void* raw_alloc(size_t n) noexcept { return std::malloc(n ? n : 1); }
__attribute__((noinline)) void raw_free(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = raw_alloc(n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { raw_free(p); }
void operator delete(void* p, size_t) noexcept { raw_free(p); }

namespace fasterapi::ws {
namespace {

struct Counter {
    size_t messages = 0, pings = 0, bytes = 0;
    void on_message(Opcode, std::string_view p) { ++messages, bytes += p.size(); }
    void on_ping(std::string_view) { ++pings; }
    void on_pong(std::string_view) {}
    void on_close(uint16_t, std::string_view) {}
    void on_error(uint16_t, const char*) {}
};

TEST(WsReceiverAlloc, WholeFramesInTheBufferAllocateNothing) {
    std::string wire;
    for (int i = 0; i < 500; ++i) {
        append_client_frame(wire, Opcode::Text, "a 32-byte chat message, roughly");
        append_client_frame(wire, Opcode::Binary, std::string(1000, 'b'));
        if (i % 50 == 0) append_client_frame(wire, Opcode::Ping, "ping");
    }
    Receiver<Counter> rx;
    Counter h;
    const size_t before = g_allocations.load();
    const size_t used = rx.feed(reinterpret_cast<uint8_t*>(wire.data()), wire.size(), h);
    const size_t allocations = g_allocations.load() - before;
    EXPECT_EQ(wire.size(), used);
    EXPECT_EQ(1000u, h.messages);
    EXPECT_EQ(10u, h.pings);
    EXPECT_EQ(0u, allocations);
}

TEST(WsReceiverAlloc, FragmentedMessagesReuseTheBuffer) {
    std::string one;
    append_message(one, Opcode::Text, std::string(4000, 't'), 512, false, true);
    append_client_frame(one, Opcode::Ping, "p");
    Receiver<Counter> rx;
    Counter h;
    std::string warm = one;  // the first message sizes the buffer
    rx.feed(reinterpret_cast<uint8_t*>(warm.data()), warm.size(), h);
    std::string wire;
    for (int i = 0; i < 100; ++i) wire += one;
    const size_t before = g_allocations.load();
    // Cut into 700-byte reads, so frames and headers straddle feeds.
    for (size_t at = 0; at < wire.size(); at += 700) {
        const size_t n = std::min<size_t>(700, wire.size() - at);
        rx.feed(reinterpret_cast<uint8_t*>(wire.data()) + at, n, h);
    }
    const size_t allocations = g_allocations.load() - before;
    EXPECT_FALSE(rx.failed());
    EXPECT_EQ(101u, h.messages);
    EXPECT_EQ(0u, allocations);
}

}  // namespace
}  // namespace fasterapi::ws
