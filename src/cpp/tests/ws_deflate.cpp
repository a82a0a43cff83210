// permessage-deflate: Inflater/Deflater behaviour and negotiate_deflate offers.
#include "ws/deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <string>
#include <vector>

using namespace fasterapi::ws;

namespace {

constexpr size_t kUnlimited = SIZE_MAX;

std::vector<uint8_t> bytes(std::initializer_list<int> v) {
    std::vector<uint8_t> out;
    for (int b : v) out.push_back(static_cast<uint8_t>(b));
    return out;
}

// Deterministic pseudo-random bytes (xorshift) -- no rand(), reproducible.
std::string noise(size_t n, uint32_t seed = 0x9e3779b9u) {
    std::string s(n, '\0');
    uint32_t x = seed;
    for (auto& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x & 0xff);
    }
    return s;
}

std::string text(size_t n) {
    static const char* words[] = {"alpha ", "beta ", "gamma ", "delta ", "websocket ", "frame "};
    std::string s;
    uint32_t x = 12345;
    while (s.size() < n) {
        x = x * 1103515245u + 12345u;
        s += words[(x >> 16) % 6];
    }
    s.resize(n);
    return s;
}

InflateStatus inflate_all(Inflater& inf, const std::string& payload, std::string& out,
                          size_t max_total = kUnlimited) {
    auto st = inf.feed(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), out, max_total);
    if (st != InflateStatus::Ok) return st;
    return inf.finish(out, max_total);
}

InflateStatus inflate_all(Inflater& inf, const std::vector<uint8_t>& payload, std::string& out,
                          size_t max_total = kUnlimited) {
    auto st = inf.feed(payload.data(), payload.size(), out, max_total);
    if (st != InflateStatus::Ok) return st;
    return inf.finish(out, max_total);
}

}  // namespace

// --- RFC 7692 7.2.3 examples ---------------------------------------------------

TEST(Inflater, Rfc7692HelloSingleBlock) {  // 7.2.3.1
    Inflater inf;
    std::string out;
    ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out), InflateStatus::Ok);
    EXPECT_EQ(out, "Hello");
}

TEST(Inflater, Rfc7692SharedWindowSecondMessage) {  // 7.2.3.2
    Inflater inf;
    std::string a, b;
    ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), a), InflateStatus::Ok);
    ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), b), InflateStatus::Ok);
    EXPECT_EQ(a, "Hello");
    EXPECT_EQ(b, "Hello");
}

TEST(Inflater, Rfc7692SharedWindowNeedsTakeover) {
    // The same second message cannot decode when the window was dropped.
    Inflater inf(15, /*no_context_takeover=*/true);
    std::string a, b;
    ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), a), InflateStatus::Ok);
    EXPECT_EQ(inflate_all(inf, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), b), InflateStatus::Corrupt);
}

TEST(Inflater, Rfc7692StoredBlock) {  // 7.2.3.3
    Inflater inf;
    std::string out;
    ASSERT_EQ(inflate_all(inf, bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), out),
              InflateStatus::Ok);
    EXPECT_EQ(out, "Hello");
}

TEST(Inflater, Rfc7692BfinalBlock) {  // 7.2.3.4
    Inflater inf;
    std::string out;
    ASSERT_EQ(inflate_all(inf, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), out), InflateStatus::Ok);
    EXPECT_EQ(out, "Hello");
    // The next message is a new deflate stream and still decodes.
    std::string next;
    ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), next), InflateStatus::Ok);
    EXPECT_EQ(next, "Hello");
}

TEST(Inflater, Rfc7692TwoBlocks) {  // 7.2.3.5
    Inflater inf;
    std::string out;
    ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}),
                          out),
              InflateStatus::Ok);
    EXPECT_EQ(out, "Hello");
}

TEST(Inflater, BfinalKeepsWindowForTakeover) {
    // Message 1 ends its stream with BFINAL; message 2 is a new stream that refers to
    // message 1's bytes through a preset dictionary, as a takeover peer may do.
    const std::string msg = "the quick brown fox jumps over the lazy dog";
    z_stream z{};
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string p1(256, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(msg.data()));
    z.avail_in = static_cast<uInt>(msg.size());
    z.next_out = reinterpret_cast<Bytef*>(p1.data());
    z.avail_out = static_cast<uInt>(p1.size());
    ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    p1.resize(p1.size() - z.avail_out);
    p1.push_back('\0');  // RFC 7692 7.2.3.4: empty block header after the final block
    ASSERT_EQ(deflateReset(&z), Z_OK);
    ASSERT_EQ(deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(msg.data()), static_cast<uInt>(msg.size())),
              Z_OK);
    std::string p2(256, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(msg.data()));
    z.avail_in = static_cast<uInt>(msg.size());
    z.next_out = reinterpret_cast<Bytef*>(p2.data());
    z.avail_out = static_cast<uInt>(p2.size());
    ASSERT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    p2.resize(p2.size() - z.avail_out - 4);
    deflateEnd(&z);
    ASSERT_LT(p2.size(), msg.size() / 2);  // it really refers to the dictionary

    Inflater inf;
    std::string a, b;
    ASSERT_EQ(inflate_all(inf, p1, a), InflateStatus::Ok);
    ASSERT_EQ(inflate_all(inf, p2, b), InflateStatus::Ok);
    EXPECT_EQ(a, msg);
    EXPECT_EQ(b, msg);
}

// --- Deflater <-> Inflater ------------------------------------------------------

TEST(Deflater, EmptyMessageIsSingleZeroByte) {  // RFC 7692 7.2.3.6
    Deflater def;
    std::string out;
    def.compress("", out);
    EXPECT_EQ(out, std::string(1, '\0'));
    Inflater inf;
    std::string plain;
    ASSERT_EQ(inflate_all(inf, out, plain), InflateStatus::Ok);
    EXPECT_EQ(plain, "");
}

TEST(Deflater, EmptyMessageAfterAnotherIsStillZeroByte) {
    // zlib produces no output for a second flush without input; the payload must
    // still be a valid empty block for peers that always append the tail.
    for (bool nct : {false, true}) {
        Deflater def(15, 8, nct);
        std::string a, b, c;
        def.compress("Hello", a);
        def.compress("", b);
        def.compress("", c);
        EXPECT_EQ(b, std::string(1, '\0'));
        EXPECT_EQ(c, std::string(1, '\0'));
        // Raw zlib, as a peer would do it: payload + tail, one stream.
        z_stream z{};
        ASSERT_EQ(inflateInit2(&z, -15), Z_OK);
        std::string all = a + std::string("\x00\x00\xff\xff", 4) + b + std::string("\x00\x00\xff\xff", 4);
        char buf[64];
        z.next_in = reinterpret_cast<Bytef*>(all.data());
        z.avail_in = static_cast<uInt>(all.size());
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        EXPECT_EQ(inflate(&z, Z_SYNC_FLUSH), Z_OK);
        EXPECT_EQ(std::string(buf, sizeof buf - z.avail_out), "Hello");
        inflateEnd(&z);
    }
}

TEST(Deflater, OutputHasNoTrailingTail) {
    Deflater def;
    std::string out;
    def.compress("Hello", out);
    ASSERT_GE(out.size(), 1u);
    EXPECT_FALSE(out.size() >= 4 && out.compare(out.size() - 4, 4, std::string("\x00\x00\xff\xff", 4)) == 0);
}

TEST(Deflater, AppendsToExistingOutput) {
    Deflater def;
    std::string out = "prefix";
    def.compress("Hello", out);
    ASSERT_EQ(out.compare(0, 6, "prefix"), 0);
    Inflater inf;
    std::string plain;
    ASSERT_EQ(inflate_all(inf, out.substr(6), plain), InflateStatus::Ok);
    EXPECT_EQ(plain, "Hello");
}

struct RoundTripCase {
    int window_bits;
    bool no_context_takeover;
    int level;
};

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTrip, ManyMessagesSizesAndKinds) {
    const auto c = GetParam();
    Deflater def(c.window_bits, 8, c.no_context_takeover, c.level);
    Inflater inf(c.window_bits, c.no_context_takeover);
    std::vector<std::string> messages = {"", "a", "Hello", text(100), text(100), noise(1000), text(70000),
                                         std::string(300000, 'z'), noise(200000, 7), "", text(5)};
    for (const auto& m : messages) {
        std::string payload;
        def.compress(m, payload);
        std::string plain;
        ASSERT_EQ(inflate_all(inf, payload, plain), InflateStatus::Ok) << "size " << m.size();
        ASSERT_EQ(plain, m);
    }
}

INSTANTIATE_TEST_SUITE_P(Params, RoundTrip,
                         ::testing::Values(RoundTripCase{15, false, 1}, RoundTripCase{15, true, 1},
                                           RoundTripCase{9, false, 1}, RoundTripCase{9, true, 6},
                                           RoundTripCase{12, false, 9}, RoundTripCase{10, true, 0}));

TEST(Deflater, ContextTakeoverShrinksRepeatedMessage) {
    const std::string m = noise(2000, 5);  // incompressible alone, tiny when it repeats
    Deflater keep(15, 8, false);
    std::string a, b;
    keep.compress(m, a);
    keep.compress(m, b);
    EXPECT_LT(b.size() * 4, a.size());  // the second refers back to the first

    Deflater reset(15, 8, true);
    std::string c, d;
    reset.compress(m, c);
    reset.compress(m, d);
    EXPECT_EQ(c, d);  // fresh window every message
}

TEST(Inflater, TakeoverMismatchIsDetected) {
    const std::string m = noise(2000, 5);
    Deflater def(15, 8, false);
    Inflater inf(15, true);  // wrongly drops the window the sender keeps
    std::string p1, p2, o1, o2;
    def.compress(m, p1);
    def.compress(m, p2);
    ASSERT_EQ(inflate_all(inf, p1, o1), InflateStatus::Ok);
    EXPECT_EQ(inflate_all(inf, p2, o2), InflateStatus::Corrupt);
}

TEST(Inflater, VerdictDoesNotDependOnSplitWhateverTheWindow) {
    // Fuzz finding: a back-reference 2000 bytes away from a peer that agreed to a 9-bit
    // window. zlib with a 9-bit window accepted it when the reference landed in the same
    // call's output and rejected it byte by byte, so one message passed or failed by TCP
    // segmentation. We always inflate with 32 KiB: every split gives the message back.
    const std::string block = noise(2000, 3);
    const std::string m = block + block;
    Deflater wide(15);
    std::string payload;
    wide.compress(m, payload);
    ASSERT_LT(payload.size(), 2100u);
    for (int bits : {9, 11, 15}) {
        for (size_t chunk : {size_t{1}, size_t{5}, payload.size()}) {
            Inflater inf(bits);
            std::string out;
            InflateStatus st = InflateStatus::Ok;
            for (size_t i = 0; i < payload.size() && st == InflateStatus::Ok; i += chunk)
                st = inf.feed(reinterpret_cast<const uint8_t*>(payload.data() + i),
                              std::min(chunk, payload.size() - i), out, kUnlimited);
            ASSERT_EQ(st, InflateStatus::Ok) << "bits " << bits << " chunk " << chunk;
            ASSERT_EQ(inf.finish(out, kUnlimited), InflateStatus::Ok);
            EXPECT_EQ(out, m) << "bits " << bits << " chunk " << chunk;
        }
    }
    // A reference before the start of all output (here: into a preset dictionary the
    // inflater never saw) is Corrupt however it is split.
    const std::string dict = noise(3000, 7);
    z_stream z{};
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    ASSERT_EQ(deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dict.data()),
                                   static_cast<uInt>(dict.size())), Z_OK);
    std::string in = dict.substr(100, 1500), bad(4096, '\0');
    z.next_in = reinterpret_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(bad.data());
    z.avail_out = static_cast<uInt>(bad.size());
    ASSERT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    bad.resize(bad.size() - z.avail_out - 4);  // drop 00 00 ff ff as RFC 7692 does
    deflateEnd(&z);
    for (size_t chunk : {size_t{1}, size_t{3}, bad.size()}) {
        Inflater inf(9);
        std::string out;
        InflateStatus st = InflateStatus::Ok;
        for (size_t i = 0; i < bad.size() && st == InflateStatus::Ok; i += chunk)
            st = inf.feed(reinterpret_cast<const uint8_t*>(bad.data() + i),
                          std::min(chunk, bad.size() - i), out, kUnlimited);
        if (st == InflateStatus::Ok) st = inf.finish(out, kUnlimited);
        EXPECT_EQ(st, InflateStatus::Corrupt) << "chunk " << chunk;
    }

    // The same message from a 9-bit deflater decodes with a 9-bit inflater.
    Deflater small(9);
    std::string p9, o9;
    small.compress(m, p9);
    Inflater inf9(9);
    ASSERT_EQ(inflate_all(inf9, p9, o9), InflateStatus::Ok);
    EXPECT_EQ(o9, m);
}

TEST(Inflater, WindowBits8IsRaisedTo9) {
    EXPECT_EQ(Inflater(8).window_bits(), 9);
    EXPECT_EQ(Deflater(8).window_bits(), 9);
    EXPECT_EQ(Inflater(20).window_bits(), 15);
}

TEST(Inflater, ByteAtATimeAndAnySplit) {
    const std::string m = text(5000) + noise(500);
    Deflater def;
    std::string payload;
    def.compress(m, payload);
    for (size_t chunk : {size_t{1}, size_t{2}, size_t{7}, size_t{333}, payload.size()}) {
        Inflater inf;
        std::string out;
        for (size_t i = 0; i < payload.size(); i += chunk) {
            size_t n = std::min(chunk, payload.size() - i);
            ASSERT_EQ(inf.feed(reinterpret_cast<const uint8_t*>(payload.data() + i), n, out, kUnlimited),
                      InflateStatus::Ok);
        }
        ASSERT_EQ(inf.finish(out, kUnlimited), InflateStatus::Ok);
        EXPECT_EQ(out, m) << "chunk " << chunk;
    }
}

TEST(Inflater, EmptyPayloadKeepsStream) {
    // RSV1 frame with no payload bytes: an empty message, stream state untouched.
    Deflater def;
    Inflater inf;
    std::string p1, p2, o1, o2, o3;
    def.compress("Hello Hello Hello", p1);
    def.compress("Hello Hello Hello", p2);
    ASSERT_EQ(inflate_all(inf, p1, o1), InflateStatus::Ok);
    ASSERT_EQ(inf.finish(o2, kUnlimited), InflateStatus::Ok);
    EXPECT_EQ(o2, "");
    ASSERT_EQ(inflate_all(inf, p2, o3), InflateStatus::Ok);
    EXPECT_EQ(o3, "Hello Hello Hello");
}

TEST(Inflater, CorruptDataThenRecovers) {
    Inflater inf;
    std::string out;
    // BTYPE=11 is reserved: invalid block type.
    EXPECT_EQ(inflate_all(inf, bytes({0xff, 0xff, 0xff, 0xff}), out), InflateStatus::Corrupt);
    // Distance too far back in a fresh stream.
    std::string out2;
    EXPECT_EQ(inflate_all(inf, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), out2), InflateStatus::Corrupt);
    // The object is reusable for a new message after an error.
    std::string out3;
    ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out3), InflateStatus::Ok);
    EXPECT_EQ(out3, "Hello");
}

TEST(Inflater, LimitExactBoundary) {
    const std::string m = text(10000);
    Deflater def;
    std::string payload;
    def.compress(m, payload);
    {
        Inflater inf;
        std::string out;
        EXPECT_EQ(inflate_all(inf, payload, out, m.size()), InflateStatus::Ok);
        EXPECT_EQ(out, m);
    }
    {
        Inflater inf;
        std::string out;
        EXPECT_EQ(inflate_all(inf, payload, out, m.size() - 1), InflateStatus::TooLarge);
    }
    {
        Inflater inf;
        std::string out;
        EXPECT_EQ(inflate_all(inf, payload, out, 0), InflateStatus::TooLarge);
    }
    {  // an empty message fits a zero limit
        Inflater inf;
        std::string p, out;
        Deflater d2;
        d2.compress("", p);
        EXPECT_EQ(inflate_all(inf, p, out, 0), InflateStatus::Ok);
    }
}

TEST(Inflater, LimitCountsWholeMessageAcrossFrames) {
    const std::string m = text(30000);
    Deflater def;
    std::string payload;
    def.compress(m, payload);
    Inflater inf;
    std::string out;
    const size_t half = payload.size() / 2;
    const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
    InflateStatus st1 = inf.feed(p, half, out, 20000);
    InflateStatus st2 = st1 == InflateStatus::Ok ? inf.feed(p + half, payload.size() - half, out, 20000) : st1;
    EXPECT_EQ(st1, InflateStatus::Ok);  // first half alone is under the limit
    EXPECT_EQ(st2, InflateStatus::TooLarge);
}

TEST(Inflater, BombIsStoppedWithBoundedMemory) {
    // 10 MiB of zeros compresses to about 10 KiB.
    const size_t plain_size = 10u << 20;
    Deflater def(15, 8, false, 9);
    std::string payload;
    def.compress(std::string(plain_size, '\0'), payload);
    ASSERT_LT(payload.size(), 64u * 1024);

    const size_t limit = 1u << 20;
    Inflater inf;
    std::string out;
    InflateStatus st = inflate_all(inf, payload, out, limit);
    EXPECT_EQ(st, InflateStatus::TooLarge);
    EXPECT_LE(out.size(), limit + Inflater::kMaxStep);
    EXPECT_LE(out.capacity(), limit + Inflater::kMaxStep + 64);

    // Fed as many small frames: stops at the frame that crosses the limit.
    Inflater inf2;
    std::string out2;
    InflateStatus last = InflateStatus::Ok;
    size_t frames = 0;
    for (size_t i = 0; i < payload.size() && last == InflateStatus::Ok; i += 100, ++frames)
        last = inf2.feed(reinterpret_cast<const uint8_t*>(payload.data() + i), std::min<size_t>(100, payload.size() - i),
                         out2, limit);
    EXPECT_EQ(last, InflateStatus::TooLarge);
    EXPECT_LT(frames * 100, payload.size());  // stopped early
    EXPECT_LE(out2.capacity(), limit + Inflater::kMaxStep + 64);
}

TEST(Inflater, ReleaseFreesStateAndRestarts) {
    Deflater def(15, 8, true);
    Inflater inf(15, true);
    for (int i = 0; i < 3; ++i) {
        std::string p, o;
        def.compress("Hello Hello", p);
        ASSERT_EQ(inflate_all(inf, p, o), InflateStatus::Ok);
        EXPECT_EQ(o, "Hello Hello");
        inf.release();
        def.release();
    }
}

TEST(Inflater, MoveKeepsContext) {
    Deflater def;
    Inflater a;
    std::string p1, p2, o1, o2;
    def.compress("Hello Hello Hello", p1);
    def.compress("Hello Hello Hello", p2);
    ASSERT_EQ(inflate_all(a, p1, o1), InflateStatus::Ok);
    Inflater b = std::move(a);
    ASSERT_EQ(inflate_all(b, p2, o2), InflateStatus::Ok);
    EXPECT_EQ(o2, "Hello Hello Hello");
    Deflater def2 = std::move(def);
    std::string p3;
    def2.compress("Hello Hello Hello", p3);
    std::string o3;
    ASSERT_EQ(inflate_all(b, p3, o3), InflateStatus::Ok);
    EXPECT_EQ(o3, "Hello Hello Hello");
}

// --- Negotiation --------------------------------------------------------------

struct Offer {
    const char* header;
    bool accepted;
    const char* response;
    DeflateParams params;
};

static DeflateParams P(bool snct, bool cnct, int smwb, int cmwb) {
    DeflateParams p;
    p.server_no_context_takeover = snct;
    p.client_no_context_takeover = cnct;
    p.server_max_window_bits = smwb;
    p.client_max_window_bits = cmwb;
    return p;
}

class NegotiateDefault : public ::testing::TestWithParam<Offer> {};

TEST_P(NegotiateDefault, Table) {
    const Offer& o = GetParam();
    NegotiationResult r = negotiate_deflate(o.header, DeflateOptions{});
    EXPECT_EQ(r.accepted, o.accepted) << o.header;
    EXPECT_EQ(r.response, o.response) << o.header;
    if (o.accepted) {
        EXPECT_EQ(r.params.server_no_context_takeover, o.params.server_no_context_takeover) << o.header;
        EXPECT_EQ(r.params.client_no_context_takeover, o.params.client_no_context_takeover) << o.header;
        EXPECT_EQ(r.params.server_max_window_bits, o.params.server_max_window_bits) << o.header;
        EXPECT_EQ(r.params.client_max_window_bits, o.params.client_max_window_bits) << o.header;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Offers, NegotiateDefault,
    ::testing::Values(
        // Plain offers, including what browsers and Autobahn send.
        Offer{"permessage-deflate", true, "permessage-deflate", P(false, false, 15, 15)},
        Offer{"permessage-deflate; client_max_window_bits", true, "permessage-deflate", P(false, false, 15, 15)},
        Offer{"PerMessage-Deflate; Client_Max_Window_Bits", true, "permessage-deflate", P(false, false, 15, 15)},
        Offer{"permessage-deflate;client_max_window_bits", true, "permessage-deflate", P(false, false, 15, 15)},
        Offer{"  permessage-deflate \t;\t client_max_window_bits  ", true, "permessage-deflate",
              P(false, false, 15, 15)},
        // Autobahn 13.*: no context takeover both ways.
        Offer{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover", P(true, true, 15, 15)},
        Offer{"permessage-deflate; client_no_context_takeover; client_max_window_bits", true,
              "permessage-deflate; client_no_context_takeover", P(false, true, 15, 15)},
        Offer{"permessage-deflate; server_no_context_takeover", true, "permessage-deflate; server_no_context_takeover",
              P(true, false, 15, 15)},
        // Autobahn 13.*: server_max_window_bits 9..15 must be answered.
        Offer{"permessage-deflate; client_max_window_bits; server_max_window_bits=9", true,
              "permessage-deflate; server_max_window_bits=9", P(false, false, 9, 15)},
        Offer{"permessage-deflate; server_max_window_bits=10", true, "permessage-deflate; server_max_window_bits=10",
              P(false, false, 10, 15)},
        Offer{"permessage-deflate; server_max_window_bits=15", true, "permessage-deflate; server_max_window_bits=15",
              P(false, false, 15, 15)},
        Offer{"permessage-deflate; server_no_context_takeover; server_max_window_bits=9", true,
              "permessage-deflate; server_no_context_takeover; server_max_window_bits=9", P(true, false, 9, 15)},
        Offer{"permessage-deflate; server_max_window_bits=\"12\"", true,
              "permessage-deflate; server_max_window_bits=12", P(false, false, 12, 15)},
        // The client announcing its own window limit.
        Offer{"permessage-deflate; client_max_window_bits=10", true, "permessage-deflate; client_max_window_bits=10",
              P(false, false, 15, 10)},
        Offer{"permessage-deflate; client_max_window_bits=15", true, "permessage-deflate", P(false, false, 15, 15)},
        Offer{"permessage-deflate; client_max_window_bits=8", true, "permessage-deflate; client_max_window_bits=8",
              P(false, false, 15, 8)},
        // server_max_window_bits=8: zlib cannot compress raw with 8 -> declined.
        Offer{"permessage-deflate; server_max_window_bits=8", false, "", P(false, false, 15, 15)},
        Offer{"permessage-deflate; server_max_window_bits=8, permessage-deflate", true, "permessage-deflate",
              P(false, false, 15, 15)},
        // Invalid offers are declined and the next one is considered.
        Offer{"permessage-deflate; server_max_window_bits=7", false, "", {}},
        Offer{"permessage-deflate; server_max_window_bits=16", false, "", {}},
        Offer{"permessage-deflate; server_max_window_bits=09", false, "", {}},
        Offer{"permessage-deflate; server_max_window_bits=010", false, "", {}},
        Offer{"permessage-deflate; server_max_window_bits", false, "", {}},
        Offer{"permessage-deflate; server_max_window_bits=abc", false, "", {}},
        Offer{"permessage-deflate; client_max_window_bits=0", false, "", {}},
        Offer{"permessage-deflate; client_max_window_bits=\"1 0\"", false, "", {}},
        Offer{"permessage-deflate; server_no_context_takeover=1", false, "", {}},
        Offer{"permessage-deflate; client_no_context_takeover=\"\"", false, "", {}},
        Offer{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", false, "", {}},
        Offer{"permessage-deflate; client_max_window_bits; client_max_window_bits=10", false, "", {}},
        Offer{"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", false, "", {}},
        Offer{"permessage-deflate; foo", false, "", {}},
        Offer{"permessage-deflate; foo=bar", false, "", {}},
        Offer{"permessage-deflate; foo, permessage-deflate; client_max_window_bits", true, "permessage-deflate",
              P(false, false, 15, 15)},
        Offer{"permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=11", true,
              "permessage-deflate; server_max_window_bits=11", P(false, false, 11, 15)},
        // First acceptable offer wins, in order (Autobahn 13.7 style lists).
        Offer{"permessage-deflate; server_no_context_takeover; server_max_window_bits=9, "
              "permessage-deflate; server_no_context_takeover, permessage-deflate",
              true, "permessage-deflate; server_no_context_takeover; server_max_window_bits=9", P(true, false, 9, 15)},
        // Other extensions are ignored; empty list elements accepted.
        Offer{"x-webkit-deflate-frame", false, "", {}},
        Offer{"x-webkit-deflate-frame, permessage-deflate", true, "permessage-deflate", P(false, false, 15, 15)},
        Offer{"foo; bar=\"baz\\\"q\", permessage-deflate", true, "permessage-deflate", P(false, false, 15, 15)},
        Offer{", , permessage-deflate ,", true, "permessage-deflate", P(false, false, 15, 15)},
        Offer{"permessage-deflate-x", false, "", {}},
        // Syntax errors decline everything.
        Offer{"", false, "", {}},
        Offer{"permessage-deflate;", false, "", {}},
        Offer{"permessage-deflate; =1", false, "", {}},
        Offer{"permessage-deflate; server_max_window_bits=", false, "", {}},
        Offer{"permessage-deflate; server_max_window_bits=\"10", false, "", {}},
        Offer{"permessage-deflate server_no_context_takeover", false, "", {}},
        Offer{"permessage-deflate; a b", false, "", {}},
        Offer{"\"permessage-deflate\"", false, "", {}},
        Offer{"permessage-deflate, foo;", false, "", {}}));

TEST(Negotiate, Disabled) {
    DeflateOptions o;
    o.enabled = false;
    NegotiationResult r = negotiate_deflate("permessage-deflate", o);
    EXPECT_FALSE(r.accepted);
    EXPECT_EQ(r.response, "");
}

TEST(Negotiate, ServerOptionsAddParameters) {
    DeflateOptions o;
    o.server_no_context_takeover = true;
    o.client_no_context_takeover = true;
    o.server_max_window_bits = 10;
    o.client_max_window_bits = 11;
    // Client allows a client window limit: we ask for ours.
    NegotiationResult r = negotiate_deflate("permessage-deflate; client_max_window_bits", o);
    ASSERT_TRUE(r.accepted);
    EXPECT_EQ(r.response,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
              "server_max_window_bits=10; client_max_window_bits=11");
    EXPECT_EQ(r.params.server_max_window_bits, 10);
    EXPECT_EQ(r.params.client_max_window_bits, 11);
    EXPECT_TRUE(r.params.server_no_context_takeover);
    EXPECT_TRUE(r.params.client_no_context_takeover);

    // Client did not say it can limit its window: we must not ask, and inflate with 15.
    r = negotiate_deflate("permessage-deflate", o);
    ASSERT_TRUE(r.accepted);
    EXPECT_EQ(r.response,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10");
    EXPECT_EQ(r.params.client_max_window_bits, 15);

    // Client asks for a smaller server window than ours: the smaller wins.
    r = negotiate_deflate("permessage-deflate; server_max_window_bits=9; client_max_window_bits=14", o);
    ASSERT_TRUE(r.accepted);
    EXPECT_EQ(r.params.server_max_window_bits, 9);
    EXPECT_EQ(r.params.client_max_window_bits, 11);
    // Client asks for a larger server window than ours: ours wins (never larger than offered).
    r = negotiate_deflate("permessage-deflate; server_max_window_bits=12", o);
    ASSERT_TRUE(r.accepted);
    EXPECT_EQ(r.params.server_max_window_bits, 10);
    EXPECT_NE(r.response.find("server_max_window_bits=10"), std::string::npos);
}

TEST(Negotiate, ConfiguredWindow8IsRaisedTo9) {
    DeflateOptions o;
    o.server_max_window_bits = 8;
    o.client_max_window_bits = 8;
    NegotiationResult r = negotiate_deflate("permessage-deflate; client_max_window_bits", o);
    ASSERT_TRUE(r.accepted);
    EXPECT_EQ(r.response, "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9");
}

TEST(Negotiate, AgreedParamsDriveWorkingCodecs) {
    // End to end: the params chosen here build a Deflater/Inflater pair that interoperates.
    NegotiationResult r = negotiate_deflate(
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits", {});
    ASSERT_TRUE(r.accepted);
    Deflater def(r.params.server_max_window_bits, 8, r.params.server_no_context_takeover);
    Inflater peer(r.params.server_max_window_bits, r.params.server_no_context_takeover);
    for (int i = 0; i < 3; ++i) {
        std::string p, o;
        def.compress(text(3000), p);
        ASSERT_EQ(inflate_all(peer, p, o), InflateStatus::Ok);
        EXPECT_EQ(o, text(3000));
    }
}

// --- robustness: mutated inputs never crash and always report a status -----------

TEST(Robustness, MutatedPayloadsAndHeaders) {
    Deflater def;
    std::string base;
    def.compress(text(4000) + noise(300), base);
    uint32_t x = 0xdeadbeef;
    auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return x;
    };
    size_t bad = 0;
    for (int round = 0; round < 2000; ++round) {
        std::string p = base;
        for (int k = 0, n = 1 + static_cast<int>(next() % 4); k < n; ++k)
            p[next() % p.size()] = static_cast<char>(next() & 0xff);
        if (next() % 4 == 0) p.resize(next() % p.size());
        Inflater inf(9 + static_cast<int>(next() % 7), next() % 2 == 0);
        std::string out;
        InflateStatus st = inflate_all(inf, p, out, 8192);
        if (st != InflateStatus::Ok) ++bad;
        EXPECT_LE(out.size(), 8192u + Inflater::kMaxStep);
    }
    EXPECT_GT(bad, 0u);  // the mutations really broke streams

    const std::string pieces[] = {"permessage-deflate", ";", ",", "=", "\"", "\\", " ", "server_max_window_bits",
                                  "client_max_window_bits", "10", "8", "server_no_context_takeover", "x", "\t"};
    for (int round = 0; round < 5000; ++round) {
        std::string h;
        for (int k = 0, n = static_cast<int>(next() % 12); k < n; ++k) h += pieces[next() % std::size(pieces)];
        NegotiationResult r = negotiate_deflate(h, DeflateOptions{});
        if (r.accepted) {
            EXPECT_EQ(r.response.rfind("permessage-deflate", 0), 0u) << h;
            EXPECT_GE(r.params.server_max_window_bits, 9) << h;
            EXPECT_LE(r.params.server_max_window_bits, 15) << h;
        } else {
            EXPECT_EQ(r.response, "") << h;
        }
    }
}
