#include <gtest/gtest.h>

#include <string>

#include "ws/frame.h"
#include "ws_guard.h"

namespace fasterapi::ws {
namespace {

using test::unhex;

// Parses from a guard-page buffer so a read past the header crashes.
int parse(const std::string& bytes, FrameHeader& h) {
    test::GuardedBuffer g(bytes);
    return parse_frame_header(g.data(), g.size(), h);
}

TEST(WsFrame, Opcodes) {
    for (int v = 0; v < 16; ++v) {
        const bool known = v == 0 || v == 1 || v == 2 || v == 8 || v == 9 || v == 10;
        EXPECT_EQ(known, is_known_opcode(static_cast<uint8_t>(v))) << v;
        EXPECT_EQ(v >= 8, is_control(static_cast<uint8_t>(v))) << v;
    }
    EXPECT_TRUE(is_control(Opcode::Ping));
    EXPECT_FALSE(is_control(Opcode::Text));
}

TEST(WsFrame, RfcExamples) {
    FrameHeader h;
    // RFC 6455 5.7: single-frame unmasked text "Hello".
    ASSERT_EQ(2, parse(unhex("81 05 48 65 6c 6c 6f"), h));
    EXPECT_TRUE(h.fin);
    EXPECT_EQ(1, h.opcode);
    EXPECT_FALSE(h.masked);
    EXPECT_EQ(5u, h.payload_len);
    // Masked "Hello".
    ASSERT_EQ(6, parse(unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58"), h));
    EXPECT_TRUE(h.masked);
    EXPECT_EQ(0x37, h.mask[0]);
    EXPECT_EQ(0x3d, h.mask[3]);
    // First fragment of an unmasked text message.
    ASSERT_EQ(2, parse(unhex("01 03 48 65 6c"), h));
    EXPECT_FALSE(h.fin);
    // 256 bytes binary in one unmasked frame, 16-bit length.
    ASSERT_EQ(4, parse(unhex("82 7E 01 00"), h));
    EXPECT_EQ(256u, h.payload_len);
    // 64 KiB, 64-bit length.
    ASSERT_EQ(10, parse(unhex("82 7F 00 00 00 00 00 01 00 00"), h));
    EXPECT_EQ(65536u, h.payload_len);
}

TEST(WsFrame, ReservedBitsAndRawOpcode) {
    FrameHeader h;
    ASSERT_EQ(2, parse(unhex("f3 00"), h));
    EXPECT_TRUE(h.fin && h.rsv1 && h.rsv2 && h.rsv3);
    EXPECT_EQ(3, h.opcode);  // reserved opcodes are decoded; the receiver refuses them
}

TEST(WsFrame, EveryPrefixIsPartial) {
    for (const std::string& full : {unhex("81 85 37 fa 21 3d"), unhex("82 fe 01 00 01 02 03 04"),
                                    unhex("82 ff 00 00 00 00 00 01 00 00 01 02 03 04"), unhex("89 00")}) {
        FrameHeader h;
        for (size_t n = 0; n < full.size(); ++n) {
            EXPECT_EQ(kHeaderPartial, parse(full.substr(0, n), h)) << test::hex(full) << " n=" << n;
        }
        EXPECT_EQ(static_cast<int>(full.size()), parse(full, h));
        EXPECT_EQ(full.size(), frame_header_size_from_byte1(static_cast<uint8_t>(full[1])));
    }
}

TEST(WsFrame, SixtyFourBitHighBitIsAnError) {
    FrameHeader h;
    EXPECT_EQ(kHeaderBadLength, parse(unhex("82 7f 80 00 00 00 00 00 00 00"), h));
    EXPECT_EQ(kHeaderBadLength, parse(unhex("82 ff ff ff ff ff ff ff ff ff 01 02 03 04"), h));
    ASSERT_EQ(10, parse(unhex("82 7f 7f ff ff ff ff ff ff ff"), h));
    EXPECT_EQ(0x7fffffffffffffffull, h.payload_len);
}

TEST(WsFrame, NonMinimalLengthsDecode) {
    FrameHeader h;
    ASSERT_EQ(4, parse(unhex("81 7e 00 05"), h));
    EXPECT_EQ(5u, h.payload_len);
    ASSERT_EQ(10, parse(unhex("81 7f 00 00 00 00 00 00 00 00"), h));
    EXPECT_EQ(0u, h.payload_len);
}

}  // namespace
}  // namespace fasterapi::ws
