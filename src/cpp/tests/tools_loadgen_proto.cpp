// The load generator's client-side protocol pieces, fed at every split point.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tools/lib/loadgen_proto.h"

using namespace fasterapi::loadgen;

namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// Unmasks a client frame built by append_client_frame; returns the payload.
std::vector<uint8_t> unmask(const std::vector<uint8_t>& f, uint8_t& b0, size_t& hdr) {
    b0 = f[0];
    EXPECT_TRUE(f[1] & 0x80) << "client frames must be masked";
    uint64_t len = f[1] & 0x7f;
    hdr = 2;
    if (len == 126) {
        len = static_cast<uint64_t>(f[2]) << 8 | f[3];
        hdr = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 2; i < 10; ++i) len = len << 8 | f[i];
        hdr = 10;
    }
    const uint8_t* mask = f.data() + hdr;
    hdr += 4;
    EXPECT_EQ(f.size(), hdr + len);
    std::vector<uint8_t> out(len);
    for (size_t i = 0; i < len; ++i) out[i] = f[hdr + i] ^ mask[i & 3];
    return out;
}

struct Frame {
    uint8_t op;
    bool fin, rsv1;
    std::string payload;
};

struct Collect {
    std::vector<Frame> frames;
    bool on_frame(uint8_t op, bool fin, bool rsv1, uint64_t) {
        frames.push_back({op, fin, rsv1, {}});
        return true;
    }
    bool on_payload(const uint8_t* p, size_t n) {
        frames.back().payload.append(reinterpret_cast<const char*>(p), n);
        return true;
    }
    bool on_frame_end() { return true; }
};

std::vector<uint8_t> server_frame(uint8_t b0, const std::string& payload) {
    std::vector<uint8_t> f{b0};
    size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<uint8_t>(n));
    } else if (n <= 0xffff) {
        f.push_back(126);
        f.push_back(static_cast<uint8_t>(n >> 8));
        f.push_back(static_cast<uint8_t>(n));
    } else {
        f.push_back(127);
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<uint8_t>(static_cast<uint64_t>(n) >> (8 * i)));
    }
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

}  // namespace

TEST(LoadgenWsClient, AcceptKeyFromRfc6455Example) {
    EXPECT_EQ(ws_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");  // RFC 6455 1.3
    std::string k = make_ws_key();
    EXPECT_EQ(k.size(), 24u);
    EXPECT_NE(k, make_ws_key());
}

TEST(LoadgenWsClient, MaskedFramesRoundTripAtEveryLengthClass) {
    MaskSource masks;
    for (size_t len : {0u, 1u, 7u, 8u, 9u, 125u, 126u, 65535u, 65536u, 100000u}) {
        std::vector<uint8_t> payload(len);
        for (size_t i = 0; i < len; ++i) payload[i] = static_cast<uint8_t>(i * 31 + 7);
        std::vector<uint8_t> out{0xAA};  // appends, never overwrites
        append_client_frame(out, 2, true, payload.data(), len, masks.next());
        ASSERT_EQ(out[0], 0xAA);
        out.erase(out.begin());
        uint8_t b0;
        size_t hdr;
        EXPECT_EQ(unmask(out, b0, hdr), payload) << len;
        EXPECT_EQ(b0, 0x80 | 0x40 | 2);
        EXPECT_EQ(hdr, (len < 126 ? 2u : len <= 0xffff ? 4u : 10u) + 4u);
    }
}

TEST(LoadgenWsClient, MasksVary) {
    MaskSource m;
    uint32_t first = m.next();
    bool differs = false;
    for (int i = 0; i < 2000; ++i) differs |= m.next() != first;  // crosses a pool refill
    EXPECT_TRUE(differs);
}

TEST(LoadgenWsClient, ServerFramesParseAtEverySplit) {
    std::vector<uint8_t> stream;
    std::string big(70000, 'b'), mid(300, 'm');
    for (auto& f : {server_frame(0x81, "hello"), server_frame(0x01, "frag"), server_frame(0x89, "ping!"),
                    server_frame(0x80, "ment"), server_frame(0x82, mid), server_frame(0xC1, big),
                    server_frame(0x88, std::string("\x03\xe8", 2)), server_frame(0x81, "")})
        stream.insert(stream.end(), f.begin(), f.end());
    for (size_t split = 0; split <= stream.size(); split += (split < 400 ? 1 : 997)) {
        ServerFrameParser p;
        Collect c;
        ASSERT_TRUE(p.feed(stream.data(), split, c));
        ASSERT_TRUE(p.feed(stream.data() + split, stream.size() - split, c));
        ASSERT_EQ(c.frames.size(), 8u) << split;
        EXPECT_EQ(c.frames[0].payload, "hello");
        EXPECT_TRUE(c.frames[0].fin);
        EXPECT_FALSE(c.frames[1].fin);
        EXPECT_EQ(c.frames[2].op, 9);
        EXPECT_EQ(c.frames[3].op, 0);
        EXPECT_EQ(c.frames[4].payload, mid);
        EXPECT_TRUE(c.frames[5].rsv1);
        EXPECT_EQ(c.frames[5].payload.size(), big.size());
        EXPECT_EQ(c.frames[6].op, 8);
        EXPECT_EQ(c.frames[7].payload, "");
    }
    // One byte at a time.
    ServerFrameParser p;
    Collect c;
    for (uint8_t b : stream) ASSERT_TRUE(p.feed(&b, 1, c));
    EXPECT_EQ(c.frames.size(), 8u);
    EXPECT_EQ(c.frames[4].payload, mid);
}

TEST(LoadgenWsClient, ServerFrameErrors) {
    Collect c;
    {
        ServerFrameParser p;
        uint8_t masked[] = {0x81, 0x81, 1, 2, 3, 4, 'x'};
        EXPECT_FALSE(p.feed(masked, sizeof masked, c));
        EXPECT_EQ(p.error, ServerFrameParser::Error::Masked);
    }
    {
        ServerFrameParser p;
        uint8_t rsv2[] = {0xA1, 0x00};
        EXPECT_FALSE(p.feed(rsv2, sizeof rsv2, c));
        EXPECT_EQ(p.error, ServerFrameParser::Error::ReservedBits);
    }
    {
        ServerFrameParser p;
        uint8_t huge[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
        EXPECT_FALSE(p.feed(huge, sizeof huge, c));
        EXPECT_EQ(p.error, ServerFrameParser::Error::BadLength);
    }
}

TEST(LoadgenDeflate, ParsesServerAnswers) {
    DeflateParams d;
    ASSERT_TRUE(parse_deflate_response("permessage-deflate", d));
    EXPECT_EQ(d.client_window_bits, 15);
    EXPECT_FALSE(d.client_no_context_takeover);
    ASSERT_TRUE(parse_deflate_response(
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=\"10\"", d));
    EXPECT_TRUE(d.client_no_context_takeover);
    EXPECT_FALSE(d.server_no_context_takeover);
    EXPECT_EQ(d.server_window_bits, 12);
    EXPECT_EQ(d.client_window_bits, 10);
    EXPECT_FALSE(parse_deflate_response("x-webkit-deflate-frame", d));
    EXPECT_FALSE(parse_deflate_response("permessage-deflate; client_max_window_bits=16", d));
    EXPECT_FALSE(parse_deflate_response("permessage-deflate; unknown", d));
    EXPECT_FALSE(parse_deflate_response("permessage-deflate, permessage-deflate", d));
}

TEST(LoadgenDeflate, CompressedMessagesInflateBack) {
    std::string msg;
    for (int i = 0; i < 500; ++i) msg += "the quick brown fox " + std::to_string(i % 7) + " ";
    MessageDeflater d(15);
    MessageInflater inf;
    ASSERT_TRUE(inf.ok());
    std::vector<uint8_t> z;
    uint8_t scratch[100];  // small: forces several output rounds
    for (int round = 0; round < 3; ++round) {  // inflater keeps its window across messages
        ASSERT_TRUE(d.compress(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), z));
        ASSERT_LT(z.size(), msg.size() / 4);
        std::string out;
        auto sink = [&](const uint8_t* p, size_t n) { out.append(reinterpret_cast<const char*>(p), n); };
        for (size_t i = 0; i < z.size(); i += 7)  // fed in pieces, as frames arrive
            ASSERT_TRUE(inf.feed(z.data() + i, std::min<size_t>(7, z.size() - i), scratch, sizeof scratch, sink));
        ASSERT_TRUE(inf.finish(scratch, sizeof scratch, sink));
        EXPECT_EQ(out, msg);
    }
    ASSERT_TRUE(d.compress(nullptr, 0, z));  // empty message
    EXPECT_FALSE(z.empty());
}

TEST(LoadgenDeflate, CorruptInputFails) {
    MessageInflater inf;
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t scratch[64];
    EXPECT_FALSE(inf.feed(junk, sizeof junk, scratch, sizeof scratch, [](const uint8_t*, size_t) {}));
}

namespace {
struct HttpCollect {
    std::vector<int> statuses;
    std::vector<std::string> bodies;
    std::string body;
    int completes = 0;
    bool on_head(int s) {
        statuses.push_back(s);
        body.clear();
        return true;
    }
    bool on_body(const uint8_t* p, size_t n) {
        body.append(reinterpret_cast<const char*>(p), n);
        return true;
    }
    bool on_complete() {
        ++completes;
        bodies.push_back(body);
        return true;
    }
};
}  // namespace

TEST(LoadgenHttpResponse, KeepAliveStreamAtEverySplit) {
    std::string s =
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n"
        "5;name=val\r\nHello\r\n8\r\n, World!\r\n0\r\nTrailer: x\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n\r\n"
        "HTTP/1.1 404 Not Found\nContent-Length: 0\n\n"
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    auto b = bytes(s);
    for (size_t split = 0; split <= b.size(); ++split) {
        HttpResponseParser p;
        HttpCollect h;
        ASSERT_TRUE(p.feed(b.data(), split, h)) << p.error();
        ASSERT_TRUE(p.feed(b.data() + split, b.size() - split, h)) << p.error();
        ASSERT_EQ(h.completes, 5) << split;
        EXPECT_EQ(h.statuses, (std::vector<int>{200, 200, 204, 404, 200}));
        EXPECT_EQ(h.bodies, (std::vector<std::string>{"Hello, World!", "Hello, World!", "", "", "ok"}));
        EXPECT_TRUE(p.keep_alive());
        EXPECT_TRUE(p.idle());
    }
}

TEST(LoadgenHttpResponse, CloseDelimitedAndConnectionClose) {
    HttpResponseParser p;
    HttpCollect h;
    auto b = bytes("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n");
    ASSERT_TRUE(p.feed(b.data(), b.size(), h));
    EXPECT_EQ(h.completes, 0);
    EXPECT_TRUE(p.eof(h));
    EXPECT_EQ(h.completes, 1);
    EXPECT_EQ(h.bodies[0], "data: 1\n\n");
    EXPECT_FALSE(p.keep_alive());

    HttpResponseParser q;
    auto c = bytes("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx");
    ASSERT_TRUE(q.feed(c.data(), c.size(), h));
    EXPECT_FALSE(q.keep_alive());
    HttpResponseParser r;
    auto d = bytes("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx");
    ASSERT_TRUE(r.feed(d.data(), d.size(), h));
    EXPECT_FALSE(r.keep_alive());
    EXPECT_FALSE(r.eof(h));  // nothing pending
}

TEST(LoadgenHttpResponse, Malformed) {
    for (std::string s : {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
        HttpResponseParser p;
        HttpCollect h;
        auto b = bytes(s);
        EXPECT_FALSE(p.feed(b.data(), b.size(), h)) << s;
        EXPECT_NE(p.error(), nullptr);
    }
    HttpResponseParser p;
    HttpCollect h;
    std::string huge = "HTTP/1.1 200 OK\r\nX: " + std::string(HttpResponseParser::kMaxHead, 'a');
    auto b = bytes(huge);
    EXPECT_FALSE(p.feed(b.data(), b.size(), h));
}

namespace {
struct SseCollect {
    std::vector<std::pair<bool, uint64_t>> events;
    void on_event(bool has, uint64_t ts) { events.emplace_back(has, has ? ts : 0); }
};
}  // namespace

TEST(LoadgenSse, EventsAtEverySplit) {
    std::string long_line = "data: 42 " + std::string(5000, 'z') + "\n";
    std::string s = ": keep-alive\n\n"                       // comment only: no event
                    "id: 1\nevent: tick\ndata: 123456789 hello\ndata: 999 more\n\n"
                    "data:77\r\n\r\n"                         // no space after the colon, CRLF lines
                    "data: hello 5\n\n"                       // not a timestamp
                    "data\n\n"                                // empty data still dispatches
                    "id: 9\n\n"                               // no data: not dispatched
                    + long_line + "\n"
                    + "data: 12345678901234567890123 x\n\n"  // too many digits
                    + "data: 5";                              // incomplete: never dispatched
    auto b = bytes(s);
    std::vector<std::pair<bool, uint64_t>> want{{true, 123456789}, {true, 77}, {false, 0},
                                                {false, 0},       {true, 42},  {false, 0}};
    for (size_t split = 0; split <= b.size(); split += (split < 300 ? 1 : 211)) {
        SseParser p;
        SseCollect c;
        p.feed(b.data(), split, c);
        p.feed(b.data() + split, b.size() - split, c);
        EXPECT_EQ(c.events, want) << split;
    }
    SseParser p;
    SseCollect c;
    for (uint8_t x : b) p.feed(&x, 1, c);
    EXPECT_EQ(c.events, want);
}

TEST(LoadgenSse, TimestampGrammar) {
    uint64_t ts = 0;
    EXPECT_TRUE(SseParser::parse_timestamp("123", 3, ts));
    EXPECT_EQ(ts, 123u);
    EXPECT_TRUE(SseParser::parse_timestamp("9 x", 3, ts));
    EXPECT_EQ(ts, 9u);
    EXPECT_FALSE(SseParser::parse_timestamp("", 0, ts));
    EXPECT_FALSE(SseParser::parse_timestamp("12a", 3, ts));
    EXPECT_FALSE(SseParser::parse_timestamp("x12", 3, ts));
    EXPECT_FALSE(SseParser::parse_timestamp("12345678901234567890", 20, ts));
}
