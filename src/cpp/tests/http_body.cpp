// Body reader: Content-Length and chunked framing, fed whole, split at every
// point and one byte at a time; all three must agree.
#include "http/body.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace fasterapi::http;

namespace {

struct Outcome {
    BodyReader::Status status = BodyReader::Status::NeedMore;
    std::string body;
    size_t consumed = 0;  // total bytes consumed from the input
    int err_status = 0;
    std::string reason;
    bool operator==(const Outcome&) const = default;
};

void PrintTo(const Outcome& o, std::ostream* os) {
    *os << "{status=" << static_cast<int>(o.status) << " body=" << testing::PrintToString(o.body)
        << " consumed=" << o.consumed << " err=" << o.err_status << " " << o.reason << "}";
}

Request chunked_req() {
    Request r;
    r.chunked = true;
    return r;
}
Request length_req(uint64_t n) {
    Request r;
    r.has_content_length = true;
    r.content_length = n;
    return r;
}

// Feeds the input in pieces whose boundaries are `cuts`; like a server, the
// unconsumed tail of a piece is offered again with the next bytes.
Outcome run(const Request& req, const std::string& in, const std::vector<size_t>& cuts, const Limits& lim) {
    BodyReader br;
    br.start(req, lim);
    Outcome o;
    size_t avail_end = 0;
    std::vector<size_t> ends = cuts;
    ends.push_back(in.size());
    for (size_t end : ends) {
        avail_end = end;
        size_t consumed = 0;
        Error err;
        o.status = br.feed(in.data() + o.consumed, avail_end - o.consumed, consumed, o.body, err);
        EXPECT_LE(consumed, avail_end - o.consumed);
        o.consumed += consumed;
        if (o.status == BodyReader::Status::Error) {
            o.err_status = err.status;
            o.reason = err.reason;
            EXPECT_STRNE(err.reason, "");
            return o;
        }
        if (o.status == BodyReader::Status::Done) return o;
    }
    return o;
}

Outcome decode(const Request& req, const std::string& in, const Limits& lim = {}) {
    Outcome whole = run(req, in, {}, lim);
    for (size_t k = 0; k <= in.size(); ++k)
        EXPECT_EQ(run(req, in, {k}, lim), whole) << "split at " << k;
    std::vector<size_t> bytewise;
    for (size_t k = 0; k < in.size(); ++k) bytewise.push_back(k);
    EXPECT_EQ(run(req, in, bytewise, lim), whole) << "one byte at a time";
    return whole;
}

Outcome chunked(const std::string& in, const Limits& lim = {}) { return decode(chunked_req(), in, lim); }

void chunked_bad(const std::string& in, int status, const Limits& lim = {}) {
    Outcome o = chunked(in, lim);
    EXPECT_EQ(o.status, BodyReader::Status::Error) << testing::PrintToString(in);
    EXPECT_EQ(o.err_status, status) << o.reason << " for " << testing::PrintToString(in);
}

}  // namespace

TEST(HttpBody, NoBody) {
    BodyReader br;
    Error err;
    EXPECT_EQ(br.start(Request{}, Limits{}, err), BodyReader::Status::Done);
    std::string body;
    size_t consumed = 7;
    EXPECT_EQ(br.feed("GET / HTTP/1.1", 14, consumed, body, err), BodyReader::Status::Done);
    EXPECT_EQ(consumed, 0u);
    EXPECT_TRUE(body.empty());
    Outcome o = decode(length_req(0), "next");
    EXPECT_EQ(o.status, BodyReader::Status::Done);
    EXPECT_EQ(o.consumed, 0u);
}

TEST(HttpBody, ContentLength) {
    Outcome o = decode(length_req(5), "hello");
    EXPECT_EQ(o.status, BodyReader::Status::Done);
    EXPECT_EQ(o.body, "hello");
    EXPECT_EQ(o.consumed, 5u);
    o = decode(length_req(5), "hel");
    EXPECT_EQ(o.status, BodyReader::Status::NeedMore);
    EXPECT_EQ(o.body, "hel");
}

TEST(HttpBody, ContentLengthLeavesPipelinedBytes) {
    Outcome o = decode(length_req(3), "abcGET / HTTP/1.1\r\n");
    EXPECT_EQ(o.status, BodyReader::Status::Done);
    EXPECT_EQ(o.body, "abc");
    EXPECT_EQ(o.consumed, 3u);
}

TEST(HttpBody, ContentLengthOverLimitFailsBeforeReading) {
    Limits lim;
    lim.max_body_size = 10;
    BodyReader br;
    Error err;
    EXPECT_EQ(br.start(length_req(11), lim, err), BodyReader::Status::Error);
    EXPECT_EQ(err.status, 413);
    br.start(length_req(11), lim);
    std::string body;
    size_t consumed = 1;
    Error err2;
    EXPECT_EQ(br.feed(nullptr, 0, consumed, body, err2), BodyReader::Status::Error);
    EXPECT_EQ(err2.status, 413);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(decode(length_req(10), std::string(10, 'x'), lim).body, std::string(10, 'x'));
}

TEST(HttpBody, Chunked) {
    Outcome o = chunked("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    EXPECT_EQ(o.status, BodyReader::Status::Done);
    EXPECT_EQ(o.body, "hello world");
    EXPECT_EQ(o.consumed, 26u);
    o = chunked("0\r\n\r\n");
    EXPECT_EQ(o.status, BodyReader::Status::Done);
    EXPECT_EQ(o.body, "");
    o = chunked("A\r\n0123456789\r\na\r\nabcdefghij\r\n000\r\n\r\n");
    EXPECT_EQ(o.body, "0123456789abcdefghij");
    o = chunked("0000000000000000000000000003\r\nabc\r\n0\r\n\r\n");
    EXPECT_EQ(o.body, "abc");
}

TEST(HttpBody, ChunkedPartial) {
    Outcome o = chunked("5\r\nhel");
    EXPECT_EQ(o.status, BodyReader::Status::NeedMore);
    EXPECT_EQ(o.body, "hel");
    EXPECT_EQ(chunked("5\r\nhello\r\n0\r\n").status, BodyReader::Status::NeedMore);
    EXPECT_EQ(chunked("5\r\nhello\r\n0\r\nX: y\r\n").status, BodyReader::Status::NeedMore);
}

TEST(HttpBody, ChunkedLeavesPipelinedBytes) {
    std::string body = "3\r\nabc\r\n0\r\n\r\n";
    Outcome o = chunked(body + "GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(o.status, BodyReader::Status::Done);
    EXPECT_EQ(o.consumed, body.size());
    EXPECT_EQ(o.body, "abc");
}

TEST(HttpBody, ChunkExtensionsIgnored) {
    EXPECT_EQ(chunked("3;name=value\r\nabc\r\n0;last\r\n\r\n").body, "abc");
    EXPECT_EQ(chunked("3 ; a = b ; c\r\nabc\r\n0\r\n\r\n").body, "abc");
    EXPECT_EQ(chunked("3;q=\"a;b\\\"\r\nc\"\r\nabc\r\n0\r\n\r\n").status, BodyReader::Status::Error);
    EXPECT_EQ(chunked("3;q=\"a;b\\\" c\"\r\nabc\r\n0\r\n\r\n").body, "abc");
    chunked_bad("3;a\x01\r\nabc\r\n0\r\n\r\n", 400);
    chunked_bad("3;a=\"\x7f\"\r\nabc\r\n0\r\n\r\n", 400);
    chunked_bad("3;a\nabc\r\n0\r\n\r\n", 400);
    chunked_bad("3;a=\"x\ny\"\r\nabc\r\n0\r\n\r\n", 400);
}

TEST(HttpBody, ChunkSizeErrors) {
    chunked_bad("\r\nabc\r\n0\r\n\r\n", 400);       // empty size
    chunked_bad("x\r\nabc\r\n0\r\n\r\n", 400);       // non-hex
    chunked_bad("-3\r\nabc\r\n0\r\n\r\n", 400);
    chunked_bad("0x3\r\nabc\r\n0\r\n\r\n", 400);
    chunked_bad(" 3\r\nabc\r\n0\r\n\r\n", 400);
    chunked_bad("3 \r\nabc\r\n0\r\n\r\n", 400);      // whitespace only before ';'
    chunked_bad("3\nabc\r\n0\r\n\r\n", 400);         // bare LF
    chunked_bad("3\rabc\r\n0\r\n\r\n", 400);         // bare CR
    chunked_bad(";x\r\nabc\r\n0\r\n\r\n", 400);
    Limits big;
    big.max_body_size = ~uint64_t{0};
    chunked_bad("10000000000000000\r\n", 400, big);  // 2^64: overflow
    chunked_bad("fffffffffffffffff\r\n", 400, big);
}

TEST(HttpBody, ChunkHeaderLineLimit) {
    std::string ext(BodyReader::kMaxChunkLine, 'a');
    chunked_bad("3;" + ext + "\r\nabc\r\n0\r\n\r\n", 400);
    chunked_bad(std::string(BodyReader::kMaxChunkLine + 1, '0') + "\r\n\r\n", 400);
    EXPECT_EQ(chunked("3;" + std::string(BodyReader::kMaxChunkLine - 4, 'a') + "\r\nabc\r\n0\r\n\r\n").body, "abc");
}

TEST(HttpBody, ChunkDataMustEndWithCrlf) {
    chunked_bad("3\r\nabcd\r\n0\r\n\r\n", 400);
    chunked_bad("3\r\nabc\n0\r\n\r\n", 400);
    chunked_bad("3\r\nabc\rX0\r\n\r\n", 400);
}

TEST(HttpBody, Trailers) {
    Outcome o = chunked("3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other:  v v \r\n\r\nNEXT");
    EXPECT_EQ(o.status, BodyReader::Status::Done);
    EXPECT_EQ(o.body, "abc");
    EXPECT_EQ(o.consumed, 39u);
    chunked_bad("0\r\nX-Sum 1\r\n\r\n", 400);
    chunked_bad("0\r\n: 1\r\n\r\n", 400);
    chunked_bad(std::string("0\r\nX: a\0b\r\n\r\n", 13), 400);
    chunked_bad("0\r\nX: 1\n\r\n", 400);
    chunked_bad("0\r\nX: 1\r\n\n", 400);
    chunked_bad("0\r\n\rX", 400);
    chunked_bad("0\r\n folded\r\n\r\n", 400);
    Limits lim;
    lim.max_header_bytes = 20;
    EXPECT_EQ(chunked("0\r\nX: 0123456789abc\r\n\r\n", lim).status, BodyReader::Status::Done);  // 20 bytes
    chunked_bad("0\r\nX: 0123456789abcd\r\n\r\n", 431, lim);
    chunked_bad("0\r\nX: " + std::string(1000, 'v'), 431, lim);  // fails before the end
}

TEST(HttpBody, ChunkedBodyLimit413AsSoonAsKnown) {
    Limits lim;
    lim.max_body_size = 10;
    EXPECT_EQ(chunked("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", lim).body, "helloworld");
    Outcome o = chunked("5\r\nhello\r\n6\r\n", lim);
    EXPECT_EQ(o.err_status, 413);
    EXPECT_EQ(o.body, "hello");  // the oversized chunk's data was never read
    o = chunked("ffffffff\r\n", lim);
    EXPECT_EQ(o.err_status, 413);
    chunked_bad("B\r\n", 413, lim);
}

TEST(HttpBody, ErrorIsSticky) {
    BodyReader br;
    br.start(chunked_req(), Limits{});
    std::string body;
    size_t consumed = 0;
    Error err;
    EXPECT_EQ(br.feed("zz", 2, consumed, body, err), BodyReader::Status::Error);
    Error err2;
    EXPECT_EQ(br.feed("3\r\nabc\r\n0\r\n\r\n", 13, consumed, body, err2), BodyReader::Status::Error);
    EXPECT_EQ(err2.status, 400);
    EXPECT_EQ(consumed, 0u);
}

TEST(HttpBody, ReaderIsReusable) {
    BodyReader br;
    std::string body;
    size_t consumed = 0;
    Error err;
    br.start(chunked_req(), Limits{});
    EXPECT_EQ(br.feed("zz", 2, consumed, body, err), BodyReader::Status::Error);
    br.start(length_req(2), Limits{});
    EXPECT_EQ(br.feed("okXX", 4, consumed, body, err), BodyReader::Status::Done);
    EXPECT_EQ(body, "ok");
    EXPECT_EQ(consumed, 2u);
    EXPECT_TRUE(br.done());
    EXPECT_EQ(br.body_size(), 2u);
}
