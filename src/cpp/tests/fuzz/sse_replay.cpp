// libFuzzer target: the SSE replay buffer (sse/replay.h) against a plain vector model.
//
// Input: [max_events byte] [max_bytes byte] then operations, each [op byte] [arg byte]:
//   op % 4 == 0  append(id = "i" + arg % 16, encoded = event of arg * 3 bytes)
//   op % 4 == 1  events_after("i" + arg % 16) / for_each_after / contains
//   op % 4 == 2  all_events
//   op % 4 == 3  clear (rarely: only when arg == 0)
// Checks after every operation: both bounds hold (count and bytes), the stored events
// and the lookup answers (newest occurrence of an id, false when unknown or evicted,
// out unchanged then) equal the model's, evicted() counts every event dropped.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "sse/replay.h"

namespace {

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "fuzz_sse_replay: %s\n", what);
    std::abort();
}
void check(bool ok, const char* what) {
    if (!ok) die(what);
}

struct Model {
    size_t max_events, max_bytes;
    std::vector<std::pair<std::string, std::string>> ring;
    uint64_t evicted = 0;
    size_t bytes() const {
        size_t n = 0;
        for (const auto& e : ring) n += e.second.size();
        return n;
    }
    void append(const std::string& id, const std::string& ev) {
        if (ev.size() > max_bytes) {  // documented: dropped, and the history emptied
            evicted += ring.size() + 1;
            ring.clear();
            return;
        }
        while (!ring.empty() && (ring.size() + 1 > max_events || bytes() + ev.size() > max_bytes)) {
            ring.erase(ring.begin());
            ++evicted;
        }
        ring.emplace_back(id, ev);
    }
    bool after(const std::string& id, std::string& out) const {
        for (size_t i = ring.size(); i-- > 0;) {
            if (ring[i].first != id) continue;
            for (size_t j = i + 1; j < ring.size(); ++j) out += ring[j].second;
            return true;
        }
        return false;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t max_events = data[0] % 12;  // 0 is treated as 1
    const size_t max_bytes = data[1];
    fasterapi::sse::ReplayBuffer rb(max_events, max_bytes);
    Model m{max_events ? max_events : 1, max_bytes, {}, 0};
    uint32_t counter = 0;
    for (size_t i = 2; i + 1 < size; i += 2) {
        const uint8_t op = data[i], arg = data[i + 1];
        const std::string id = "i" + std::to_string(arg % 16);
        switch (op % 4) {
            case 0: {
                std::string ev = "id: " + id + "\ndata: " + std::to_string(counter++) + "\n\n";
                ev.resize(arg * 3u / 2u + ev.size() % 7, '.');
                rb.append(id, ev);
                m.append(id, ev);
                break;
            }
            case 1: {
                std::string got = "keep", want = "keep";
                const bool g = rb.events_after(id, got);
                const bool w = m.after(id, want);
                check(g == w, "events_after found/not found differs from the model");
                check(got == want, "events_after output differs from the model");
                check(rb.contains(id) == w, "contains() differs from the model");
                std::string each;
                check(rb.for_each_after(id, [&](std::string_view e) { each.append(e); }) == w,
                      "for_each_after result differs");
                check("keep" + each == want, "for_each_after output differs");
                break;
            }
            case 2: {
                std::string got, want;
                rb.all_events(got);
                for (const auto& e : m.ring) want += e.second;
                check(got == want, "all_events differs from the model");
                break;
            }
            default:
                if (arg == 0) {
                    rb.clear();
                    m.ring.clear();
                }
                break;
        }
        check(rb.size() == m.ring.size(), "size differs from the model");
        check(rb.bytes() == m.bytes(), "bytes differs from the model");
        check(rb.size() <= m.max_events && rb.bytes() <= max_bytes, "bounds exceeded");
        check(rb.evicted() == m.evicted, "evicted() differs from the model");
    }
    return 0;
}
