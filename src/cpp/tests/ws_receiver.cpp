// Receiver rules (RFC 6455 5.x, 7.4, 8.1; RFC 7692 6), each checked with the input fed
// whole, one byte at a time and cut at every split point: all must give identical events.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ws/builder.h"
#include "ws/deflate.h"
#include "ws_test_util.h"

namespace fasterapi::ws {
namespace {

using test::RunResult;
using test::run_bytewise;
using test::run_pieces;
using test::run_whole;
using test::unhex;

constexpr uint8_t FIN = 0x80, RSV1 = 0x40, RSV2 = 0x20, RSV3 = 0x10;
constexpr uint8_t kKey[4] = {0x37, 0xfa, 0x21, 0x3d};

enum class Len { Minimal, Bits16, Bits64 };

// A raw frame written by hand (independent of builder.cpp): first byte as given,
// payload masked with kKey unless masked=false.
std::string raw(uint8_t b0, std::string_view payload, bool masked = true, Len form = Len::Minimal) {
    std::string f;
    f += static_cast<char>(b0);
    const uint8_t m = masked ? 0x80 : 0;
    const uint64_t n = payload.size();
    if (form == Len::Minimal && n < 126) {
        f += static_cast<char>(m | n);
    } else if (form != Len::Bits64 && n <= 0xFFFF) {
        f += static_cast<char>(m | 126);
        f += static_cast<char>(n >> 8);
        f += static_cast<char>(n & 0xFF);
    } else {
        f += static_cast<char>(m | 127);
        for (int i = 7; i >= 0; --i) f += static_cast<char>((n >> (8 * i)) & 0xFF);
    }
    if (masked) f.append(reinterpret_cast<const char*>(kKey), 4);
    for (size_t i = 0; i < payload.size(); ++i) {
        f += static_cast<char>(static_cast<uint8_t>(payload[i]) ^ (masked ? kKey[i & 3] : 0));
    }
    return f;
}

std::string close_payload(uint16_t code, std::string_view reason = "") {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xFF);
    p += reason;
    return p;
}

struct Options {
    ReceiverConfig cfg{};
    bool deflate = false;     // give the receiver an Inflater (permessage-deflate negotiated)
    bool all_splits = true;   // every single cut point (quadratic: small inputs only)
};

RunResult run_with(std::string_view input, const std::vector<size_t>& cuts, const Options& o) {
    std::unique_ptr<Inflater> inf;
    if (o.deflate) inf = std::make_unique<Inflater>();
    return run_pieces(input, cuts, o.cfg, inf.get());
}

// Runs whole, byte by byte and at every split; asserts identical results equal to `expected`.
void expect_events(std::string_view input, const std::vector<std::string>& expected, Options o = {}) {
    const RunResult whole = run_with(input, {}, o);
    EXPECT_EQ(expected, whole.events) << "whole input " << test::hex(input.substr(0, 64));
    const bool ends_in_error = !expected.empty() && expected.back().rfind("error:", 0) == 0;
    const bool ends_in_close = !expected.empty() && expected.back().rfind("close:", 0) == 0;
    EXPECT_EQ(ends_in_error, whole.failed);
    EXPECT_EQ(ends_in_close, whole.closed);
    std::vector<size_t> bytewise;
    for (size_t i = 1; i < input.size(); ++i) bytewise.push_back(i);
    const RunResult one = run_with(input, bytewise, o);
    EXPECT_EQ(whole, one) << "byte at a time";
    if (o.all_splits) {
        for (size_t cut = 1; cut < input.size(); ++cut) {
            const RunResult split = run_with(input, {cut}, o);
            ASSERT_EQ(whole, split) << "split at " << cut;
        }
        // And three pieces for short inputs (header/payload boundaries in all combinations).
        if (input.size() <= 40) {
            for (size_t a = 1; a < input.size(); ++a)
                for (size_t b = a + 1; b < input.size(); ++b) ASSERT_EQ(whole, run_with(input, {a, b}, o)) << a << "," << b;
        }
    }
}

std::string err(int code, const char* reason) { return "error:" + std::to_string(code) + ":" + reason; }

// --- valid traffic -------------------------------------------------------------

TEST(WsReceiver, RfcExampleMaskedHello) {
    expect_events(unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58"), {"text:Hello"});
}

TEST(WsReceiver, FragmentedMessageAndInterleavedControlFrames) {
    // RFC 6455 5.4: control frames may be injected in the middle of a fragmented message.
    const std::string in = raw(0x01, "Hel") + raw(FIN | 0x09, "p1") + raw(0x00, "l") + raw(FIN | 0x0A, "q") +
                           raw(FIN | 0x09, "") + raw(FIN | 0x00, "o") + raw(FIN | 0x02, "bin");
    expect_events(in, {"ping:p1", "pong:q", "ping:", "text:Hello", "binary:bin"});
}

TEST(WsReceiver, EmptyFramesAndEmptyFragments) {
    const std::string in = raw(FIN | 0x01, "") + raw(0x02, "") + raw(0x00, "") + raw(FIN | 0x00, "") +
                           raw(0x01, "") + raw(FIN | 0x00, "x");
    expect_events(in, {"text:", "binary:", "text:x"});
}

TEST(WsReceiver, NonMinimalLengthEncodingsAreAccepted) {
    const std::string in = raw(FIN | 0x01, "abc", true, Len::Bits16) + raw(FIN | 0x02, "defg", true, Len::Bits64) +
                           raw(FIN | 0x09, "pp", true, Len::Bits16);
    expect_events(in, {"text:abc", "binary:defg", "ping:pp"});
}

TEST(WsReceiver, ControlFrameOf125BytesIsAccepted) {
    const std::string p(125, 'z');
    expect_events(raw(FIN | 0x09, p) + raw(FIN | 0x0A, p), {"ping:" + p, "pong:" + p}, {.all_splits = false});
}

TEST(WsReceiver, CloseFramesWithAndWithoutPayload) {
    expect_events(raw(FIN | 0x08, ""), {"close:1005:"});
    expect_events(raw(FIN | 0x08, close_payload(1000)), {"close:1000:"});
    expect_events(raw(FIN | 0x08, close_payload(4999, "bye \xC3\xA9")), {"close:4999:bye \xC3\xA9"});
}

TEST(WsReceiver, ValidCloseCodes) {
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
        const auto c = static_cast<uint16_t>(code);
        EXPECT_TRUE(is_valid_close_code_on_wire(c)) << code;
        expect_events(raw(FIN | 0x08, close_payload(c, "r")), {"close:" + std::to_string(code) + ":r"});
    }
}

TEST(WsReceiver, StopsAfterCloseAndConsumesNothingMore) {
    const std::string close = raw(FIN | 0x08, close_payload(1000));
    const std::string in = raw(FIN | 0x01, "a") + close + raw(FIN | 0x01, "after");
    expect_events(in, {"text:a", "close:1000:"});
    test::GuardedBuffer buf(in);
    Receiver<test::Recorder> rx;
    test::Recorder rec;
    EXPECT_EQ(raw(FIN | 0x01, "a").size() + close.size(), rx.feed(buf.data(), buf.size(), rec));
    EXPECT_TRUE(rx.closed());
    test::GuardedBuffer more(raw(FIN | 0x01, "b"));
    EXPECT_EQ(0u, rx.feed(more.data(), more.size(), rec));
    EXPECT_EQ(2u, rec.events.size());
}

TEST(WsReceiver, CloseInsideFragmentedMessage) {
    expect_events(raw(0x01, "ab") + raw(FIN | 0x08, close_payload(1001, "gone")) + raw(FIN | 0x00, "c"),
                  {"close:1001:gone"});
}

TEST(WsReceiver, ClientSideReceiverAcceptsUnmaskedRejectsMasked) {
    Options client;
    client.cfg.require_mask = false;
    expect_events(raw(FIN | 0x01, "srv", false) + raw(FIN | 0x08, "", false), {"text:srv", "close:1005:"}, client);
    expect_events(raw(FIN | 0x01, "srv", true), {err(1002, "server frame masked")}, client);
}

// --- protocol errors: 1002 ------------------------------------------------------

TEST(WsReceiver, UnmaskedClientFrame) {
    expect_events(raw(FIN | 0x01, "hi", false), {err(1002, "client frame not masked")});
    expect_events(raw(FIN | 0x09, "", false), {err(1002, "client frame not masked")});
}

TEST(WsReceiver, ReservedBits) {
    expect_events(raw(FIN | RSV1 | 0x01, "x"), {err(1002, "RSV1 set without permessage-deflate")});
    expect_events(raw(FIN | RSV2 | 0x01, "x"), {err(1002, "reserved bit set")});
    expect_events(raw(FIN | RSV3 | 0x01, "x"), {err(1002, "reserved bit set")});
    expect_events(raw(FIN | RSV2 | RSV3 | 0x09, ""), {err(1002, "reserved bit set")});
    // Events before the bad frame are still delivered.
    expect_events(raw(FIN | 0x01, "ok") + raw(FIN | RSV2 | 0x02, "x"), {"text:ok", err(1002, "reserved bit set")});
}

TEST(WsReceiver, ReservedOpcodes) {
    for (int op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
        expect_events(raw(static_cast<uint8_t>(FIN | op), "x"), {err(1002, "reserved opcode")});
    }
}

TEST(WsReceiver, ControlFrameTooLongOrFragmented) {
    expect_events(raw(FIN | 0x09, std::string(126, 'a')), {err(1002, "control frame too long")}, {.all_splits = false});
    // The header alone decides: no payload needed.
    expect_events(unhex("89 fe 10 00") + std::string(reinterpret_cast<const char*>(kKey), 4),
                  {err(1002, "control frame too long")});
    expect_events(raw(0x09, "p"), {err(1002, "fragmented control frame")});
    expect_events(raw(0x08, ""), {err(1002, "fragmented control frame")});
    expect_events(raw(0x0A, "p"), {err(1002, "fragmented control frame")});
}

TEST(WsReceiver, ContinuationWithoutMessage) {
    expect_events(raw(FIN | 0x00, "x"), {err(1002, "continuation without a message")});
    expect_events(raw(0x00, "x"), {err(1002, "continuation without a message")});
    // After a complete message there is nothing to continue either.
    expect_events(raw(FIN | 0x01, "a") + raw(FIN | 0x00, "b"), {"text:a", err(1002, "continuation without a message")});
}

TEST(WsReceiver, NewDataFrameInsideFragmentedMessage) {
    expect_events(raw(0x01, "a") + raw(FIN | 0x01, "b"), {err(1002, "new message inside a fragmented one")});
    expect_events(raw(0x02, "a") + raw(0x02, "b"), {err(1002, "new message inside a fragmented one")});
}

TEST(WsReceiver, SixtyFourBitLengthWithHighBit) {
    expect_events(unhex("82 ff 80 00 00 00 00 00 00 01") + std::string(reinterpret_cast<const char*>(kKey), 4),
                  {err(1002, "64-bit payload length with the high bit set")});
}

TEST(WsReceiver, CloseWithOneBytePayload) {
    expect_events(raw(FIN | 0x08, "\x03"), {err(1002, "close frame with a 1-byte payload")});
}

TEST(WsReceiver, InvalidCloseCodes) {
    for (int code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        const auto c = static_cast<uint16_t>(code);
        EXPECT_FALSE(is_valid_close_code_on_wire(c)) << code;
        expect_events(raw(FIN | 0x08, close_payload(c)), {err(1002, "invalid close code")});
    }
}

TEST(WsReceiver, Rsv1OnContinuationOrControlWithDeflate) {
    Options d{.deflate = true};
    expect_events(raw(0x01, "a") + raw(FIN | RSV1 | 0x00, "b"), {err(1002, "RSV1 on a continuation frame")}, d);
    expect_events(raw(FIN | RSV1 | 0x09, "p"), {err(1002, "RSV1 on a control frame")}, d);
    expect_events(raw(FIN | RSV1 | 0x08, ""), {err(1002, "RSV1 on a control frame")}, d);
}

// --- 1007: UTF-8 -----------------------------------------------------------------

TEST(WsReceiver, InvalidUtf8InTextMessage) {
    expect_events(raw(FIN | 0x01, "ab\xFF" "cd"), {err(1007, "invalid UTF-8 in a text message")});
    expect_events(raw(FIN | 0x01, unhex("ed a0 80")), {err(1007, "invalid UTF-8 in a text message")});
    expect_events(raw(FIN | 0x01, unhex("c0 af")), {err(1007, "invalid UTF-8 in a text message")});
    expect_events(raw(FIN | 0x01, unhex("f4 90 80 80")), {err(1007, "invalid UTF-8 in a text message")});
    // Binary messages are not UTF-8 checked.
    expect_events(raw(FIN | 0x02, "\xFF\xFE"), {"binary:\xFF\xFE"});
}

TEST(WsReceiver, Utf8CodePointSplitAcrossFragmentsIsValid) {
    // U+20AC (E2 82 AC) cut across three frames, with a ping in between.
    expect_events(raw(0x01, "\xE2") + raw(FIN | 0x09, "") + raw(0x00, "\x82") + raw(FIN | 0x00, "\xAC!"),
                  {"ping:", "text:\xE2\x82\xAC!"});
}

TEST(WsReceiver, TextEndingInsideCodePoint) {
    expect_events(raw(FIN | 0x01, "a\xE2\x82"), {err(1007, "text message ends inside a UTF-8 sequence")});
    expect_events(raw(0x01, "a\xE2") + raw(FIN | 0x00, "\x82"), {err(1007, "text message ends inside a UTF-8 sequence")});
}

TEST(WsReceiver, InvalidUtf8InCloseReason) {
    expect_events(raw(FIN | 0x08, close_payload(1000, "ok\xC0\x80")), {err(1007, "invalid UTF-8 in the close reason")});
    expect_events(raw(FIN | 0x08, close_payload(1000, "\xE2\x82")), {err(1007, "invalid UTF-8 in the close reason")});
}

// The error comes at the first invalid byte: later bytes (even the rest of the frame)
// are not needed. Fed one byte at a time, failed() turns true exactly there.
TEST(WsReceiver, Utf8ErrorDetectedAtFirstInvalidByteMidFragment) {
    const std::string first = raw(0x01, "valid start ");
    const std::string payload = "more\xC3\xA9 then \xF8 and more text after it";
    const std::string second = raw(0x00, payload);
    const std::string in = first + second;
    const size_t bad = first.size() + 6 + payload.find('\xF8');  // 6 = header + mask of `second`
    Receiver<test::Recorder> rx;
    test::Recorder rec;
    size_t failed_at = 0;
    for (size_t i = 0; i < in.size(); ++i) {
        test::GuardedBuffer b(in.substr(i, 1));
        rx.feed(b.data(), 1, rec);
        if (rx.failed()) {
            failed_at = i;
            break;
        }
    }
    EXPECT_EQ(bad, failed_at);
    ASSERT_EQ(1u, rec.events.size());
    EXPECT_EQ(err(1007, "invalid UTF-8 in a text message"), rec.events[0]);
    // Fed in one go but truncated right after the bad byte: same verdict, no FIN needed.
    expect_events(in.substr(0, bad + 1), {err(1007, "invalid UTF-8 in a text message")}, {.all_splits = false});
    // Inside the first frame of a message, before its end.
    const std::string partial = raw(FIN | 0x01, "abc\xFF" "defghij");
    expect_events(partial.substr(0, 6 + 4), {err(1007, "invalid UTF-8 in a text message")});
}

// --- 1009: size limit ------------------------------------------------------------

TEST(WsReceiver, MessageTooBigFromHeaderAlone) {
    Options o;
    o.cfg.max_message_size = 1000;
    // 2^62 bytes declared: refused at the header, nothing is read or allocated for it.
    expect_events(unhex("82 ff 40 00 00 00 00 00 00 00") + std::string(reinterpret_cast<const char*>(kKey), 4),
                  {err(1009, "message too big")}, o);
    expect_events(raw(FIN | 0x02, std::string(1001, 'x')).substr(0, 8), {err(1009, "message too big")}, o);
    // Exactly at the limit is fine.
    expect_events(raw(FIN | 0x02, std::string(1000, 'x')), {"binary:" + std::string(1000, 'x')},
                  {.cfg = o.cfg, .all_splits = false});
}

TEST(WsReceiver, FragmentedMessageLimitCountsAllFragments) {
    Options o;
    o.cfg.max_message_size = 10;
    expect_events(raw(0x01, "123456") + raw(0x00, "7890") + raw(FIN | 0x00, "1"), {err(1009, "message too big")}, o);
    expect_events(raw(0x01, "123456") + raw(FIN | 0x09, "ping is not counted") + raw(FIN | 0x00, "7890"),
                  {"ping:ping is not counted", "text:1234567890"}, o);
    // The next message starts from zero again.
    expect_events(raw(FIN | 0x02, "1234567890") + raw(FIN | 0x02, "abcdefghij"),
                  {"binary:1234567890", "binary:abcdefghij"}, o);
}

// --- permessage-deflate ----------------------------------------------------------

std::string deflate_payload(std::string_view msg) {
    Deflater d;
    std::string out;
    d.compress(msg, out);
    return out;
}

TEST(WsReceiver, CompressedMessageRfc7692Example) {
    // RFC 7692 7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00.
    expect_events(raw(FIN | RSV1 | 0x01, unhex("f2 48 cd c9 c9 07 00")), {"text:Hello"}, {.deflate = true});
    // 7.2.3.2: the same, fragmented (RSV1 on the first frame only).
    expect_events(raw(RSV1 | 0x01, unhex("f2 48")) + raw(FIN | 0x00, unhex("cd c9 c9 07 00")), {"text:Hello"},
                  {.deflate = true});
}

TEST(WsReceiver, CompressedAndPlainMessagesMixed) {
    const std::string text = "compress me compress me compress me \xE2\x82\xAC";
    const std::string c = deflate_payload(text);
    const std::string in = raw(FIN | RSV1 | 0x01, c) + raw(FIN | 0x02, "plain") +
                           raw(RSV1 | 0x02, c.substr(0, 5)) + raw(FIN | 0x09, "x") + raw(FIN | 0x00, c.substr(5));
    expect_events(in, {"text:" + text, "binary:plain", "ping:x", "binary:" + text}, {.deflate = true});
}

TEST(WsReceiver, CompressedInvalidUtf8AndCorruptData) {
    expect_events(raw(FIN | RSV1 | 0x01, deflate_payload("abc\xFF" "def")), {err(1007, "invalid UTF-8 in a text message")},
                  {.deflate = true});
    expect_events(raw(FIN | RSV1 | 0x02, unhex("ff ff ff ff ff")), {err(1007, "invalid compressed data")}, {.deflate = true});
}

TEST(WsReceiver, CompressedBombRefusedWith1009) {
    Options o{.deflate = true, .all_splits = false};
    o.cfg.max_message_size = 64 * 1024;
    const std::string bomb = deflate_payload(std::string(8u << 20, '\0'));  // 8 MiB of zeros -> ~8 KiB
    ASSERT_LT(bomb.size(), o.cfg.max_message_size);  // small on the wire, 128x the limit inflated
    expect_events(raw(FIN | RSV1 | 0x02, bomb), {err(1009, "message too big")}, o);
}

// --- zero copy -------------------------------------------------------------------

struct PointerRecorder {
    const char* last = nullptr;
    size_t size = 0;
    void on_message(Opcode, std::string_view p) { last = p.data(), size = p.size(); }
    void on_ping(std::string_view) {}
    void on_pong(std::string_view) {}
    void on_close(uint16_t, std::string_view) {}
    void on_error(uint16_t, const char*) {}
};

TEST(WsReceiver, WholeMessageIsDeliveredAsViewIntoInput) {
    const std::string f = raw(FIN | 0x02, std::string(1000, 'q'));
    test::GuardedBuffer buf(f);
    Receiver<PointerRecorder> rx;
    PointerRecorder rec;
    EXPECT_EQ(f.size(), rx.feed(buf.data(), buf.size(), rec));
    EXPECT_EQ(reinterpret_cast<const char*>(buf.data()) + 8, rec.last);  // 2 + 2 + 4 header bytes
    EXPECT_EQ(1000u, rec.size);
    // A message split across feeds is assembled in the receiver's own buffer.
    Receiver<PointerRecorder> rx2;
    test::GuardedBuffer a(f.substr(0, 500)), b(f.substr(500));
    rx2.feed(a.data(), a.size(), rec);
    rx2.feed(b.data(), b.size(), rec);
    EXPECT_EQ(1000u, rec.size);
    EXPECT_FALSE(rec.last >= reinterpret_cast<const char*>(b.data()) &&
                 rec.last < reinterpret_cast<const char*>(b.data()) + b.size());
}

// --- round trips with the builder ----------------------------------------------

TEST(WsReceiver, RoundTripSizesWholeBytewiseAndSplits) {
    for (size_t size : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 70000u}) {
        std::string payload(size, '\0');
        for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
        for (bool text : {true, false}) {
            const Opcode op = text ? Opcode::Text : Opcode::Binary;
            const std::string expect = (text ? "text:" : "binary:") + payload;
            std::string in;
            append_client_frame(in, op, payload);
            EXPECT_EQ(std::vector<std::string>{expect}, run_whole(in).events) << size;
            EXPECT_EQ(std::vector<std::string>{expect}, run_bytewise(in).events) << size;
            for (size_t cut : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 10u, 13u, 14u, 15u, 100u, 1000u, 65541u}) {
                if (cut >= in.size()) continue;
                ASSERT_EQ(std::vector<std::string>{expect}, run_pieces(in, {cut}).events) << size << " cut " << cut;
            }
            for (size_t frag : {1u, 7u, 125u, 4096u}) {
                if (size > 5000 && frag < 125) continue;  // keeps the test quick
                std::string m;
                append_message(m, op, payload, frag, false, true);
                EXPECT_EQ(std::vector<std::string>{expect}, run_whole(m).events) << size << " frag " << frag;
                if (size <= 1000) {
                    EXPECT_EQ(std::vector<std::string>{expect}, run_bytewise(m).events);
                }
            }
        }
    }
}

TEST(WsReceiver, RoundTripControlFramesAndClose) {
    std::string in;
    append_message(in, Opcode::Text, "fragmented text \xC3\xA9\xC3\xA9", 3, false, true);
    append_client_frame(in, Opcode::Ping, "pi");
    append_client_frame(in, Opcode::Pong, "po");
    append_close(in, 1001, "going", true);
    expect_events(in, {"text:fragmented text \xC3\xA9\xC3\xA9", "ping:pi", "pong:po", "close:1001:going"},
                  {.all_splits = true});
}

TEST(WsReceiver, RoundTripCompressedFragmented) {
    const std::string text(3000, 'w');
    std::string in;
    append_message(in, Opcode::Text, deflate_payload(text), 4, true, true);
    expect_events(in, {"text:" + text}, {.deflate = true, .all_splits = false});
    EXPECT_EQ(std::vector<std::string>{"text:" + text}, [&] {
        Inflater inf;
        return run_bytewise(in, {}, &inf).events;
    }());
}

}  // namespace
}  // namespace fasterapi::ws
