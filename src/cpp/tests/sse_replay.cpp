// Replay buffer: both bounds, eviction counts, unknown ids, duplicates.
#include "sse/replay.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using fasterapi::sse::ReplayBuffer;

namespace {
std::string ev(int i) { return "id: " + std::to_string(i) + "\ndata: " + std::to_string(i) + "\n\n"; }
std::string after(const ReplayBuffer& rb, std::string_view id, bool* found = nullptr) {
    std::string out;
    bool f = rb.events_after(id, out);
    if (found) *found = f;
    return out;
}
}  // namespace

TEST(SseReplay, EventsAfter) {
    ReplayBuffer rb(10, 1 << 20);
    for (int i = 1; i <= 5; ++i) rb.append(std::to_string(i), ev(i));
    bool found = false;
    EXPECT_EQ(after(rb, "2", &found), ev(3) + ev(4) + ev(5));
    EXPECT_TRUE(found);
    EXPECT_EQ(after(rb, "5", &found), "");
    EXPECT_TRUE(found);  // known and newest: nothing to resend
    std::string out = "keep";
    EXPECT_FALSE(rb.events_after("nope", out));
    EXPECT_EQ(out, "keep");
    EXPECT_EQ(rb.size(), 5u);
    EXPECT_EQ(rb.evicted(), 0u);
    std::vector<std::string> seen;
    EXPECT_TRUE(rb.for_each_after("3", [&](std::string_view b) { seen.emplace_back(b); }));
    EXPECT_EQ(seen, (std::vector<std::string>{ev(4), ev(5)}));
    std::string all;
    rb.all_events(all);
    EXPECT_EQ(all, ev(1) + ev(2) + ev(3) + ev(4) + ev(5));
}

TEST(SseReplay, MaxEventsBound) {
    ReplayBuffer rb(3, 1 << 20);
    for (int i = 1; i <= 7; ++i) rb.append(std::to_string(i), ev(i));
    EXPECT_EQ(rb.size(), 3u);
    EXPECT_EQ(rb.evicted(), 4u);
    bool found = true;
    after(rb, "4", &found);
    EXPECT_FALSE(found);  // evicted: unknown
    EXPECT_FALSE(rb.contains("1"));
    EXPECT_TRUE(rb.contains("5"));
    EXPECT_EQ(after(rb, "5"), ev(6) + ev(7));
}

TEST(SseReplay, MaxBytesBound) {
    const size_t each = ev(1).size();
    ReplayBuffer rb(100, each * 3 + each / 2);
    for (int i = 1; i <= 6; ++i) rb.append(std::to_string(i), ev(i));
    EXPECT_EQ(rb.size(), 3u);
    EXPECT_EQ(rb.bytes(), each * 3);
    EXPECT_LE(rb.bytes(), rb.max_bytes());
    EXPECT_EQ(rb.evicted(), 3u);
    EXPECT_EQ(after(rb, "4"), ev(5) + ev(6));
    // A bigger event evicts as many as needed.
    std::string big(each * 2, 'x');
    rb.append("big", big);
    EXPECT_EQ(rb.size(), 2u);
    EXPECT_EQ(after(rb, "6"), big);
    EXPECT_LE(rb.bytes(), rb.max_bytes());
}

TEST(SseReplay, OversizedEventEmptiesBuffer) {
    ReplayBuffer rb(10, 20);
    rb.append("a", "0123456789");
    rb.append("huge", std::string(21, 'x'));
    EXPECT_EQ(rb.size(), 0u);
    EXPECT_EQ(rb.bytes(), 0u);
    EXPECT_EQ(rb.evicted(), 2u);
    // "a" must not resume: the client would silently miss "huge".
    EXPECT_FALSE(rb.contains("a"));
    EXPECT_FALSE(rb.contains("huge"));
    rb.append("b", "ok");
    rb.append("c", "ok2");
    EXPECT_EQ(after(rb, "b"), "ok2");
}

TEST(SseReplay, DuplicateIdsUseNewest) {
    ReplayBuffer rb(10, 1 << 20);
    rb.append("x", "1");
    rb.append("y", "2");
    rb.append("x", "3");
    rb.append("z", "4");
    EXPECT_EQ(after(rb, "x"), "4");
    EXPECT_EQ(after(rb, "y"), "34");
    ReplayBuffer small(2, 1 << 20);
    small.append("x", "1");
    small.append("x", "2");
    small.append("y", "3");  // evicts the older "x" only
    EXPECT_TRUE(small.contains("x"));
    EXPECT_EQ(after(small, "x"), "3");
}

TEST(SseReplay, ZeroMaxEventsMeansOne) {
    ReplayBuffer rb(0, 100);
    EXPECT_EQ(rb.max_events(), 1u);
    rb.append("a", "1");
    rb.append("b", "2");
    EXPECT_EQ(rb.size(), 1u);
    EXPECT_EQ(after(rb, "b"), "");
    EXPECT_FALSE(rb.contains("a"));
}

TEST(SseReplay, Clear) {
    ReplayBuffer rb(5, 100);
    rb.append("a", "1");
    rb.clear();
    EXPECT_EQ(rb.size(), 0u);
    EXPECT_EQ(rb.bytes(), 0u);
    EXPECT_FALSE(rb.contains("a"));
    rb.append("b", "2");
    rb.append("c", "3");
    EXPECT_EQ(after(rb, "b"), "3");
}

TEST(SseReplay, ManyAppendsStayBounded) {
    ReplayBuffer rb(50, 1000);
    for (int i = 0; i < 10000; ++i) {
        rb.append(std::to_string(i), ev(i));
        ASSERT_LE(rb.size(), 50u);
        ASSERT_LE(rb.bytes(), 1000u);
    }
    EXPECT_EQ(rb.evicted() + rb.size(), 10000u);
    std::string newest = std::to_string(9999);
    EXPECT_TRUE(rb.contains(newest));
    EXPECT_EQ(after(rb, "9998"), ev(9999));
}
