#include <gtest/gtest.h>

#include <algorithm>
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

// Independent oracle: decodes code point values and checks them against the RFC 3629
// ranges (rather than byte ranges as the validator does).
bool reference_valid(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<uint8_t>(s[i]);
        size_t len;
        uint32_t cp;
        if (b < 0x80) {
            ++i;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2, cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3, cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4, cp = b & 0x07;
        } else {
            return false;
        }
        if (i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k) {
            const auto c = static_cast<uint8_t>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

// Inputs long enough for the 32-byte SIMD blocks, each table entry placed at every
// offset across two block boundaries, in ASCII and in multibyte surroundings.
TEST(WsUtf8, TablesEmbeddedAtEveryOffsetOfLongInputs) {
    for (const char* fill : {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
        std::string pad;
        while (pad.size() < 80) pad += fill;
        for (size_t off = 0; off <= 70; ++off) {
            // Cut the padding at a code point boundary near `off`.
            size_t cut = off;
            while (cut > 0 && (static_cast<uint8_t>(pad[cut]) & 0xC0) == 0x80) --cut;
            const std::string before = pad.substr(0, cut);
            for (const auto& v : kValid) {
                const std::string s = before + v + pad;
                ASSERT_TRUE(valid(s)) << test::hex(v) << " at " << cut;
            }
            for (const auto& v : kInvalid) {
                const std::string s = before + v + pad;
                ASSERT_EQ(reference_valid(s), valid(s)) << test::hex(v) << " at " << cut;
                ASSERT_FALSE(valid(s)) << test::hex(v) << " at " << cut;
            }
        }
    }
}

TEST(WsUtf8, RandomDifferentialAgainstReference) {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    const std::vector<std::string> pieces = {"a", "z ", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                             "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "0123456789abcdef"};
    size_t invalid = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        std::string s;
        const size_t target = next() % 300;
        while (s.size() < target) s += pieces[next() % pieces.size()];
        // Mutate a few bytes in most inputs.
        const int mutations = static_cast<int>(next() % 4);
        for (int m = 0; m < mutations && !s.empty(); ++m) s[next() % s.size()] = static_cast<char>(next());
        if (next() % 8 == 0 && !s.empty()) s.pop_back();  // may truncate a code point
        const bool expect = reference_valid(s);
        invalid += !expect;
        ASSERT_EQ(expect, valid(s)) << test::hex(s);
        const size_t cut = s.empty() ? 0 : next() % (s.size() + 1);
        ASSERT_EQ(expect, valid_split(s, cut, cut)) << test::hex(s) << " cut " << cut;
    }
    EXPECT_GT(invalid, 1000u);  // both verdicts well represented
    EXPECT_LT(invalid, 19000u);
}

TEST(WsUtf8, AllCodePointsInOneLongString) {
    std::string all;
    for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        char b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = static_cast<char>(cp), n = 1;
        } else if (cp < 0x800) {
            b[0] = static_cast<char>(0xC0 | (cp >> 6)), b[1] = static_cast<char>(0x80 | (cp & 0x3F)), n = 2;
        } else if (cp < 0x10000) {
            b[0] = static_cast<char>(0xE0 | (cp >> 12)), b[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            b[2] = static_cast<char>(0x80 | (cp & 0x3F)), n = 3;
        } else {
            b[0] = static_cast<char>(0xF0 | (cp >> 18)), b[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            b[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), b[3] = static_cast<char>(0x80 | (cp & 0x3F)), n = 4;
        }
        all.append(b, n);
    }
    EXPECT_TRUE(valid(all));
    std::string bad = all;
    bad.insert(bad.size() / 2, "\xED\xA0\x80");
    EXPECT_FALSE(valid(bad));
    // Fed in 1000-byte slices (the SIMD part ends mid code point in many of them).
    Utf8Validator v;
    bool ok = true;
    for (size_t i = 0; i < all.size(); i += 1000) {
        ok &= v.feed(reinterpret_cast<const uint8_t*>(all.data()) + i, std::min<size_t>(1000, all.size() - i));
    }
    EXPECT_TRUE(ok && v.complete());
}

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
