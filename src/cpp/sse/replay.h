// Bounded history of encoded SSE events by id, for Last-Event-ID resume.
// A ring bounded by event count AND total bytes (oldest evicted first). An id
// appended twice keeps both events; lookups use the newest occurrence.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace fasterapi::sse {

class ReplayBuffer {
public:
    // max_events >= 1 (0 is treated as 1); max_bytes counts encoded bytes.
    ReplayBuffer(size_t max_events, size_t max_bytes);

    // Stores an encoded event, then evicts the oldest until both bounds hold.
    // An event larger than max_bytes is not kept and empties the buffer (older
    // ids must not resume past an event they would miss).
    void append(std::string_view id, std::string_view encoded);

    // Appends to out every event stored after the newest one with last_id.
    // False (out unchanged) when last_id is unknown or evicted: the caller
    // decides whether to send everything it has or nothing.
    bool events_after(std::string_view last_id, std::string& out) const;
    // Same, calling f(encoded) per event; returns false when last_id is unknown.
    template <class F>
    bool for_each_after(std::string_view last_id, F&& f) const {
        size_t idx;
        if (!find(last_id, idx)) return false;
        for (size_t i = idx + 1; i < ring_.size(); ++i) f(std::string_view(ring_[i].bytes));
        return true;
    }
    // Appends every stored event (oldest first).
    void all_events(std::string& out) const;

    bool contains(std::string_view id) const;
    size_t size() const noexcept { return ring_.size(); }
    size_t bytes() const noexcept { return bytes_; }
    uint64_t evicted() const noexcept { return evicted_; }
    size_t max_events() const noexcept { return max_events_; }
    size_t max_bytes() const noexcept { return max_bytes_; }
    void clear();

private:
    struct Entry {
        std::string id;
        std::string bytes;
        uint64_t seq;
    };
    bool find(std::string_view id, size_t& idx) const;
    void evict_front();

    std::deque<Entry> ring_;
    std::unordered_map<std::string, uint64_t> newest_;  // id -> seq of its newest entry
    uint64_t next_seq_ = 0;
    size_t bytes_ = 0;
    uint64_t evicted_ = 0;
    size_t max_events_;
    size_t max_bytes_;
};

}  // namespace fasterapi::sse
