// fasterapi-bench-core: microbenchmarks of the protocol core (not a test). Each figure
// is printed next to memcpy measured in the same run: on a shared, noisy machine the
// ratio is the meaningful number, not the absolute GB/s.
//
// Method: steady_clock, each measurement repeats its operation until >= 0.3 s, best of 3.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "http/parser.h"
#include "ws/builder.h"
#include "ws/mask.h"
#include "ws/receiver.h"
#include "ws/utf8.h"

using namespace fasterapi;
using Clock = std::chrono::steady_clock;

namespace {

// Keeps the compiler from discarding work whose result is otherwise unused.
inline void clobber(const void* p) { asm volatile("" : : "r"(p) : "memory"); }

// Operations per second of fn (which performs `ops` operations per call): calls it until
// at least 0.3 s have passed, three times, and keeps the best.
template <class Fn>
double best_rate(double ops, Fn&& fn) {
    double best = 0;
    for (int round = 0; round < 3; ++round) {
        size_t calls = 0;
        const auto start = Clock::now();
        double secs = 0;
        do {
            for (int i = 0; i < 16; ++i) fn();
            calls += 16;
            secs = std::chrono::duration<double>(Clock::now() - start).count();
        } while (secs < 0.3);
        const double rate = ops * static_cast<double>(calls) / secs;
        if (rate > best) best = rate;
    }
    return best;
}

double memcpy_gbps(size_t size) {
    std::vector<uint8_t> src(size, 0x5a), dst(size);
    return best_rate(static_cast<double>(size), [&] {
               std::memcpy(dst.data(), src.data(), size);
               clobber(dst.data());
           }) / 1e9;
}

double unmask_gbps(size_t size) {
    std::vector<uint8_t> buf(size, 0x5a);
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    return best_rate(static_cast<double>(size), [&] {
               ws::unmask(buf.data(), size, key);
               clobber(buf.data());
           }) / 1e9;
}

// Deterministic text: `multibyte_share` of the characters are 2-4 byte code points.
std::string make_text(size_t size, double multibyte_share) {
    std::string s;
    s.reserve(size + 4);
    uint32_t x = 12345;
    const char* words = "the quick brown fox jumps over the lazy dog ";
    size_t w = 0;
    const auto threshold = static_cast<uint32_t>(multibyte_share * 1000);
    while (s.size() < size) {
        x = x * 1103515245u + 12345u;
        if ((x >> 16) % 1000 < threshold) {
            switch ((x >> 8) % 3) {
                case 0: s += "\xC3\xA9"; break;          // é
                case 1: s += "\xE2\x82\xAC"; break;      // €
                default: s += "\xF0\x9F\x98\x80"; break;  // 😀
            }
        } else {
            s += words[w++ % 44];
        }
    }
    return s;
}

double utf8_gbps(const std::string& text) {
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    bool all_ok = true;
    const double r = best_rate(static_cast<double>(text.size()), [&] {
        all_ok &= ws::utf8_valid(p, text.size());
        clobber(p);
    });
    if (!all_ok) std::fprintf(stderr, "bench text is not valid UTF-8\n");
    return r / 1e9;
}

struct CountingHandler {
    size_t messages = 0, bytes = 0;
    void on_message(ws::Opcode, std::string_view p) { ++messages, bytes += p.size(); }
    void on_ping(std::string_view) {}
    void on_pong(std::string_view) {}
    void on_close(uint16_t, std::string_view) {}
    void on_error(uint16_t, const char*) {}
};

// 32-byte masked text frames (an echo benchmark's messages) through the Receiver.
// The key has no high bits, so the ASCII payload stays ASCII whether the in-place
// unmasking of the previous round left it masked or not: every round is valid text.
double frames_per_second() {
    constexpr size_t kFrames = 1024;
    const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    const std::string payload = "0123456789abcdefghijklmnopqrstuv";  // 32 bytes
    std::string wire;
    for (size_t i = 0; i < kFrames; ++i) {
        uint8_t hdr[ws::kMaxFrameHeaderSize];
        const size_t n = ws::write_frame_header(hdr, ws::Opcode::Text, true, false, payload.size(), key);
        wire.append(reinterpret_cast<const char*>(hdr), n);
        wire += payload;
    }
    ws::Receiver<CountingHandler> rx;
    CountingHandler h;
    const double r = best_rate(kFrames, [&] {
        rx.feed(reinterpret_cast<uint8_t*>(wire.data()), wire.size(), h);
    });
    if (rx.failed() || h.messages == 0) std::fprintf(stderr, "frame benchmark receiver failed\n");
    return r;
}

double http_requests_per_second() {
    const std::string req =
        "GET /api/items?limit=10&offset=20 HTTP/1.1\r\n"
        "Host: localhost:8000\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench\r\n"
        "Accept: application/json, text/plain, */*\r\n"
        "Accept-Encoding: gzip, deflate\r\n"
        "Accept-Language: en-US,en;q=0.9\r\n"
        "Connection: keep-alive\r\n"
        "Cookie: session=abcdef0123456789; theme=dark\r\n"
        "\r\n";
    static http::Request r;  // large (fixed header array): keep it off the stack
    http::Limits limits;
    http::Error err;
    long ok = 0;
    const double rate = best_rate(1, [&] {
        ok = http::parse_request_head(req.data(), req.size(), r, limits, err);
        clobber(&r);
    });
    if (ok != static_cast<long>(req.size())) std::fprintf(stderr, "http benchmark request did not parse\n");
    return rate;
}

void line_gbps(const char* what, double gbps, double memcpy_ref) {
    std::printf("%-34s %9.2f GB/s   %5.2fx memcpy (%.2f GB/s)\n", what, gbps, gbps / memcpy_ref, memcpy_ref);
}

}  // namespace

int main() {
    std::printf("fasterapi-bench-core (steady_clock, >= 0.3 s per figure, best of 3)\n");
    const double mc16 = memcpy_gbps(16 << 10);
    const double mc1m = memcpy_gbps(1 << 20);
    std::printf("%-34s %9.2f GB/s\n", "memcpy 16 KiB", mc16);
    std::printf("%-34s %9.2f GB/s\n", "memcpy 1 MiB", mc1m);
    line_gbps("unmask 16 KiB", unmask_gbps(16 << 10), mc16);
    line_gbps("unmask 1 MiB", unmask_gbps(1 << 20), mc1m);
    line_gbps("utf8 validate 1 MiB ASCII", utf8_gbps(make_text(1 << 20, 0.0)), mc1m);
    line_gbps("utf8 validate 1 MiB ~30% multibyte", utf8_gbps(make_text(1 << 20, 0.3)), mc1m);
    // Frames and requests are compared with memcpy of their bytes: how many could be
    // copied in the time one is parsed.
    const double fps = frames_per_second();
    std::printf("%-34s %9.2f M/s    %5.2f GB/s of frames (memcpy 16 KiB %.2f GB/s)\n",
                "frames parsed (32 B masked text)", fps / 1e6, fps * 38 / 1e9, mc16);
    const double rps = http_requests_per_second();
    std::printf("%-34s %9.2f M/s    (memcpy 16 KiB %.2f GB/s)\n", "HTTP request heads parsed", rps / 1e6, mc16);
    return 0;
}
