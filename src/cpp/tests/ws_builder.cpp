#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ws/builder.h"
#include "ws/close_codes.h"
#include "ws/mask.h"
#include "ws/random.h"
#include "ws/utf8.h"
#include "ws_guard.h"

namespace fasterapi::ws {
namespace {

using test::hex;
using test::unhex;

TEST(WsBuilder, HeaderSizes) {
    EXPECT_EQ(2u, frame_header_size(0, false));
    EXPECT_EQ(2u, frame_header_size(125, false));
    EXPECT_EQ(4u, frame_header_size(126, false));
    EXPECT_EQ(4u, frame_header_size(65535, false));
    EXPECT_EQ(10u, frame_header_size(65536, false));
    EXPECT_EQ(14u, frame_header_size(65536, true));
    EXPECT_EQ(6u, frame_header_size(0, true));
}

TEST(WsBuilder, WriteHeaderBytes) {
    uint8_t out[kMaxFrameHeaderSize];
    EXPECT_EQ(2u, write_frame_header(out, Opcode::Text, true, false, 5, nullptr));
    EXPECT_EQ("8105", hex(std::string(reinterpret_cast<char*>(out), 2)));
    EXPECT_EQ(4u, write_frame_header(out, Opcode::Binary, true, false, 256, nullptr));
    EXPECT_EQ("827e0100", hex(std::string(reinterpret_cast<char*>(out), 4)));
    EXPECT_EQ(10u, write_frame_header(out, Opcode::Binary, false, true, 65536, nullptr));
    EXPECT_EQ("427f0000000000010000", hex(std::string(reinterpret_cast<char*>(out), 10)));
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    EXPECT_EQ(6u, write_frame_header(out, Opcode::Ping, true, false, 0, key));
    EXPECT_EQ("898037fa213d", hex(std::string(reinterpret_cast<char*>(out), 6)));
    EXPECT_EQ(14u, write_frame_header(out, Opcode::Continuation, true, false, 0x0102030405ull, key));
    EXPECT_EQ("80ff000000010203040537fa213d", hex(std::string(reinterpret_cast<char*>(out), 14)));
}

TEST(WsBuilder, ServerFrameIsUnmasked) {
    std::string out = "prefix";
    append_frame(out, Opcode::Text, "Hello");
    EXPECT_EQ("prefix" + unhex("81 05") + "Hello", out);
    out.clear();
    append_frame(out, Opcode::Binary, "x", false, true);
    EXPECT_EQ(unhex("42 01") + "x", out);
}

TEST(WsBuilder, ClientFrameIsMaskedWithFreshKeys) {
    std::set<std::string> keys;
    for (int i = 0; i < 50; ++i) {
        std::string out;
        append_client_frame(out, Opcode::Text, "Hello");
        ASSERT_EQ(11u, out.size());
        EXPECT_EQ(0x81, static_cast<uint8_t>(out[0]));
        EXPECT_EQ(0x85, static_cast<uint8_t>(out[1]));
        const auto* key = reinterpret_cast<const uint8_t*>(out.data() + 2);
        keys.insert(out.substr(2, 4));
        auto* p = reinterpret_cast<uint8_t*>(out.data() + 6);
        unmask(p, 5, key);
        EXPECT_EQ("Hello", out.substr(6));
    }
    EXPECT_GT(keys.size(), 45u);  // 32-bit random keys: collisions are vanishingly rare
}

TEST(WsBuilder, RandomBytesFillsAndVaries) {
    uint8_t a[64] = {}, b[64] = {};
    random_bytes(a, sizeof a);
    random_bytes(b, sizeof b);
    EXPECT_NE(0, std::memcmp(a, b, sizeof a));
    std::string big(10000, '\0');  // bypasses the pool
    random_bytes(reinterpret_cast<uint8_t*>(big.data()), big.size());
    EXPECT_NE(std::string(10000, '\0'), big);
    random_bytes(a, 0);
}

TEST(WsBuilder, MessageFragmentation) {
    std::string out;
    append_message(out, Opcode::Text, "abcdefg", 3);
    EXPECT_EQ(unhex("01 03") + "abc" + unhex("00 03") + "def" + unhex("80 01") + "g", out);
    out.clear();
    append_message(out, Opcode::Binary, "abcdef", 3, true);  // RSV1 on the first frame only
    EXPECT_EQ(unhex("42 03") + "abc" + unhex("80 03") + "def", out);
    out.clear();
    append_message(out, Opcode::Binary, "abc", 0);
    EXPECT_EQ(unhex("82 03") + "abc", out);
    out.clear();
    append_message(out, Opcode::Text, "", 4);
    EXPECT_EQ(unhex("81 00"), out);
    out.clear();
    append_message(out, Opcode::Text, "abcd", 4);  // exactly one fragment
    EXPECT_EQ(unhex("81 04") + "abcd", out);
}

TEST(WsBuilder, MaskedFragmentsEachHaveAKey) {
    std::string out;
    append_message(out, Opcode::Text, "abcdef", 2, false, true);
    ASSERT_EQ(3u * (2 + 4 + 2), out.size());
    for (size_t f = 0; f < 3; ++f) {
        const size_t at = f * 8;
        EXPECT_EQ(f == 0 ? 0x01 : f == 2 ? 0x80 : 0x00, static_cast<uint8_t>(out[at]));
        EXPECT_EQ(0x82, static_cast<uint8_t>(out[at + 1]));
        unmask(reinterpret_cast<uint8_t*>(out.data() + at + 6), 2, reinterpret_cast<const uint8_t*>(out.data() + at + 2));
        EXPECT_EQ(std::string("abcdef").substr(2 * f, 2), out.substr(at + 6, 2));
    }
}

TEST(WsBuilder, CloseFrames) {
    std::string out;
    append_close(out, close_code::Normal, "");
    EXPECT_EQ(unhex("88 02 03 e8"), out);
    out.clear();
    append_close(out, 4000, "bye");
    EXPECT_EQ(unhex("88 05 0f a0") + "bye", out);
    out.clear();
    append_close(out, close_code::NoStatus, "ignored");
    EXPECT_EQ(unhex("88 00"), out);
    out.clear();
    // A default string_view has a null data(): found by UBSan under the Python tests.
    append_close(out, close_code::Normal, std::string_view{});
    EXPECT_EQ(unhex("88 02 03 e8"), out);
}

TEST(WsBuilder, CloseReasonTruncatedOnUtf8Boundary) {
    for (size_t ascii = 118; ascii <= 124; ++ascii) {
        // ascii bytes then 2-byte and 4-byte code points that may straddle byte 123.
        const std::string reason = std::string(ascii, 'r') + "\xC3\xA9\xF0\x9F\x98\x80\xC3\xA9";
        std::string out;
        append_close(out, 1000, reason);
        const size_t plen = static_cast<uint8_t>(out[1]);
        ASSERT_LE(plen, 125u);
        ASSERT_EQ(plen + 2, out.size());
        const std::string got = out.substr(4);
        EXPECT_LE(got.size(), 123u);
        EXPECT_TRUE(utf8_valid(reinterpret_cast<const uint8_t*>(got.data()), got.size())) << ascii;
        EXPECT_EQ(reason.substr(0, got.size()), got);
        EXPECT_GE(got.size(), 120u);  // only the straddling code point is dropped
    }
    std::string out;
    append_close(out, 1000, std::string(200, 'x'), true);
    EXPECT_EQ(0x88, static_cast<uint8_t>(out[0]));
    EXPECT_EQ(0x80 | 125, static_cast<uint8_t>(out[1]));
}

}  // namespace
}  // namespace fasterapi::ws
