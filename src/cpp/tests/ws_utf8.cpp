#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ws/utf8.h"
#include "ws_guard.h"

namespace fasterapi::ws {
namespace {

using test::unhex;

bool valid(const std::string& s) { return utf8_valid(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

// Verdict when fed in pieces cut at i and j (0 <= i <= j <= n).
bool valid_split(const std::string& s, size_t i, size_t j) {
    Utf8Validator v;
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    bool ok = v.feed(p, i);
    ok = v.feed(p + i, j - i) && ok;
    ok = v.feed(p + j, s.size() - j) && ok;
    return ok && v.complete();
}

const std::vector<std::string> kValid = {
    "",
    "hello",
    std::string(100, 'a'),
    unhex("c2 80"),                       // U+0080, smallest 2-byte
    unhex("df bf"),                       // U+07FF
    unhex("e0 a0 80"),                    // U+0800, smallest 3-byte
    unhex("ed 9f bf"),                    // U+D7FF, just below the surrogates
    unhex("ee 80 80"),                    // U+E000, just above
    unhex("ef bf bf"),                    // U+FFFF
    unhex("f0 90 80 80"),                 // U+10000, smallest 4-byte
    unhex("f4 8f bf bf"),                 // U+10FFFF, the largest
    unhex("ce ba e1 bd b9 cf 83 ce bc ce b5"),  // "kosme" in Greek (Autobahn 6.2)
    "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!",
    std::string(37, 'x') + "\xE2\x82\xAC" + std::string(40, 'y') + "\xF0\x9F\x98\x80",
    unhex("ef bb bf"),                    // BOM is a valid code point
    unhex("ef bf be"),                    // U+FFFE noncharacter: valid UTF-8
};

const std::vector<std::string> kInvalid = {
    unhex("80"),                    // lone continuation
    unhex("bf"),
    unhex("c0 80"),                 // C0/C1 overlongs
    unhex("c1 bf"),
    unhex("e0 80 80"),              // overlong 3-byte
    unhex("e0 9f bf"),
    unhex("f0 80 80 80"),           // overlong 4-byte
    unhex("f0 8f bf bf"),
    unhex("ed a0 80"),              // U+D800
    unhex("ed bf bf"),              // U+DFFF
    unhex("ed a0 80 ed b0 80"),     // surrogate pair encoded as CESU
    unhex("f4 90 80 80"),           // U+110000
    unhex("f5 80 80 80"),           // F5..FF never appear
    unhex("f7 bf bf bf"),
    unhex("f8 88 80 80 80"),        // 5-byte form
    unhex("fc 84 80 80 80 80"),     // 6-byte form
    unhex("fe"),
    unhex("ff"),
    unhex("c2"),                    // truncated
    unhex("e1 80"),
    unhex("f0 90 80"),
    unhex("c2 41"),                 // missing continuation
    unhex("e1 80 41"),
    unhex("f0 90 80 41"),
    unhex("e1 41 80"),
    "abc" + unhex("c2") + "def",
    unhex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64"),  // Autobahn 6.3.1
    std::string(64, 'a') + unhex("80") + std::string(64, 'a'),             // past the ASCII fast path
    std::string(15, 'a') + unhex("ff"),
};

TEST(WsUtf8, ValidTable) {
    for (const auto& s : kValid) EXPECT_TRUE(valid(s)) << test::hex(s);
}

TEST(WsUtf8, InvalidTable) {
    for (const auto& s : kInvalid) EXPECT_FALSE(valid(s)) << test::hex(s);
}

TEST(WsUtf8, EverySplitGivesTheSameVerdict) {
    for (const auto* table : {&kValid, &kInvalid}) {
        for (const auto& s : *table) {
            const bool expect = valid(s);
            for (size_t i = 0; i <= s.size(); ++i) {
                for (size_t j = i; j <= s.size(); ++j) {
                    ASSERT_EQ(expect, valid_split(s, i, j)) << test::hex(s) << " cut " << i << "," << j;
                }
            }
        }
    }
}

TEST(WsUtf8, EveryCodePointBoundary) {
    // Exhaustive over all scalar values: each encodes to valid UTF-8; each surrogate
    // encoded the 3-byte way is rejected.
    auto encode = [](uint32_t cp) {
        std::string s;
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xE0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
        return s;
    };
    for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        ASSERT_EQ(!surrogate, valid(encode(cp))) << std::hex << cp;
    }
}

TEST(WsUtf8, StickyFailureAndCompleteness) {
    Utf8Validator v;
    const uint8_t bad = 0xFF, good = 'a';
    EXPECT_TRUE(v.feed(&good, 1));
    EXPECT_TRUE(v.complete());
    EXPECT_FALSE(v.feed(&bad, 1));
    EXPECT_FALSE(v.feed(&good, 1));  // stays failed
    EXPECT_FALSE(v.complete());
    v.reset();
    const uint8_t lead = 0xE2;
    EXPECT_TRUE(v.feed(&lead, 1));
    EXPECT_FALSE(v.complete());  // inside a code point
    const uint8_t rest[2] = {0x82, 0xAC};
    EXPECT_TRUE(v.feed(rest, 2));
    EXPECT_TRUE(v.complete());
}

TEST(WsUtf8, GuardPageNoOverRead) {
    for (size_t n = 0; n < 40; ++n) {
        std::string s(n, 'z');
        if (n > 2) s[n - 2] = '\xC3', s[n - 1] = '\xA9';
        test::GuardedBuffer g(s);
        EXPECT_TRUE(utf8_valid(g.data(), g.size()));
    }
}

}  // namespace
}  // namespace fasterapi::ws
