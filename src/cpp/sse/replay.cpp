#include "sse/replay.h"

namespace fasterapi::sse {

ReplayBuffer::ReplayBuffer(size_t max_events, size_t max_bytes)
    : max_events_(max_events ? max_events : 1), max_bytes_(max_bytes) {}

void ReplayBuffer::evict_front() {
    Entry& e = ring_.front();
    auto it = newest_.find(e.id);
    if (it != newest_.end() && it->second == e.seq) newest_.erase(it);
    bytes_ -= e.bytes.size();
    ring_.pop_front();
    ++evicted_;
}

void ReplayBuffer::append(std::string_view id, std::string_view encoded) {
    const uint64_t seq = next_seq_++;
    if (encoded.size() > max_bytes_) {
        while (!ring_.empty()) evict_front();
        ++evicted_;  // the new event itself
        return;
    }
    while (!ring_.empty() && (ring_.size() + 1 > max_events_ || bytes_ + encoded.size() > max_bytes_))
        evict_front();
    ring_.push_back(Entry{std::string(id), std::string(encoded), seq});
    bytes_ += encoded.size();
    newest_[ring_.back().id] = seq;
}

bool ReplayBuffer::find(std::string_view id, size_t& idx) const {
    if (ring_.empty()) return false;
    auto it = newest_.find(std::string(id));
    if (it == newest_.end()) return false;
    idx = static_cast<size_t>(it->second - ring_.front().seq);
    return true;
}

bool ReplayBuffer::contains(std::string_view id) const {
    size_t idx;
    return find(id, idx);
}

bool ReplayBuffer::events_after(std::string_view last_id, std::string& out) const {
    size_t idx;
    if (!find(last_id, idx)) return false;
    size_t n = 0;
    for (size_t i = idx + 1; i < ring_.size(); ++i) n += ring_[i].bytes.size();
    out.reserve(out.size() + n);
    for (size_t i = idx + 1; i < ring_.size(); ++i) out.append(ring_[i].bytes);
    return true;
}

void ReplayBuffer::all_events(std::string& out) const {
    out.reserve(out.size() + bytes_);
    for (const Entry& e : ring_) out.append(e.bytes);
}

void ReplayBuffer::clear() {
    ring_.clear();
    newest_.clear();
    bytes_ = 0;
}

}  // namespace fasterapi::sse
